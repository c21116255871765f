"""Service levels on real tickets: clocks set by mail and portal, stopped while waiting for
the customer, moved on a change of contract or policy; escalations exactly once; time spent;
the `sla` object of `helpdesk ticket show --json`; `helpdesk sla set/list`."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from helpdesk import database, scheduler
from helpdesk.domain import local_time, service_levels, tickets, timespent, tokens
from helpdesk.domain.business_hours import calendar_of
from helpdesk.domain.validation import Invalid
from helpdesk.models import Company, Contract, DigestSent, Message, Outbox, Role, Status, Ticket, User
from tests.mailfactory import make_mail
from tests.test_cli import helpdesk  # noqa: F401  (the fixture)

H = dt.timedelta(hours=1)
CLOCKS = ("sla_policy", "first_response_due", "first_response_warn", "resolution_due", "resolution_warn",
          "sla_paused_at", "sla_next_due")


def clocks(ticket_id: int) -> dict:
    t = Ticket.get_by_id(ticket_id)
    return {name: getattr(t, name) for name in CLOCKS}


@pytest.fixture
def settings(config):
    return service_levels.settings_of(config.with_(sla_default="Standard"))


def test_mail_opens_the_clocks_an_answer_by_mail_stops_them_and_a_customer_reply_moves_them_on(
        desk, config, settings):
    service_levels.set_policy(settings, "Standard", "1h", "8h", "24x7")
    desk.config = config.with_(sla_default="Standard")
    engineer = User.create(email="eng@helpdesk.localhost", role=Role.ENGINEER.value, is_active=True)
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    ticket = Ticket.get_by_id(1)
    assert ticket.sla_policy == "Standard"
    assert ticket.first_response_due == ticket.created_at + H
    assert ticket.resolution_due == ticket.created_at + 8 * H
    assert ticket.first_response_warn == ticket.created_at + dt.timedelta(minutes=48)
    assert ticket.sla_next_due == ticket.first_response_due

    address = tokens.reply_address(config.support_address, config.secret_key, 1, f"u{engineer.id}")
    desk.receive(make_mail(From="eng@helpdesk.localhost", To=address, body="#time 1h30m\nRestart it.\n"))
    ticket = Ticket.get_by_id(1)
    assert ticket.status == Status.WAITING_CUSTOMER.value
    assert ticket.first_response_at is not None and ticket.sla_paused_at is not None
    assert ticket.sla_next_due is None  # nothing runs while we wait for the customer
    assert [m.minutes for m in desk.messages(1)] == [None, 90]
    assert "#time" not in desk.messages(1)[1].display

    desk.receive(make_mail(In_Reply_To="<first@example.com>", body="Still broken."))
    after = clocks(1)
    ticket = Ticket.get_by_id(1)
    assert ticket.status == Status.WAITING_US.value and ticket.sla_paused_at is None
    waited = ticket.updated_at - desk.messages(1)[1].created_at
    assert after["resolution_due"] == ticket.created_at + 8 * H + waited
    assert after["sla_next_due"] == after["resolution_due"]
    # the same as computing the whole history again
    service_levels.refresh(settings, [1])
    assert clocks(1) == after


def test_a_change_of_contract_or_of_its_level_or_of_the_policy_recomputes_the_deadlines(db, settings):
    service_levels.set_policy(settings, "Gold", "1h", "4h", "24x7")
    service_levels.set_policy(settings, "Standard", "1d", "5d", "business")
    company = Company.create(nip="5260250274", name="Klient")
    gold = Contract.create(number="A123456", company=company, service_level="Gold", starts_on=dt.date(2026, 1, 1),
                           ends_on=dt.date(2027, 1, 1))
    other = Contract.create(number="B123456", company=company, service_level="Unknown",
                            starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2027, 1, 1))
    opened = dt.datetime(2026, 11, 20, 14, 0)  # Friday 15:00 in Warsaw
    ticket = tickets.open_ticket(subject="Kamera", requester_email="jan@example.com", now=opened, contract=gold,
                                 sla=settings)
    assert clocks(ticket.id)["first_response_due"] == opened + H
    # another contract whose level has no policy: the default (Standard, business hours)
    service_levels.set_contract(settings, ticket.id, other)
    assert clocks(ticket.id)["sla_policy"] == "Standard"
    assert clocks(ticket.id)["first_response_due"] == dt.datetime(2026, 11, 23, 14, 0)  # Monday 15:00
    # the contract's level changes (as a CSV import does), then the policy itself
    Contract.update(service_level="Gold").where(Contract.id == other.id).execute()
    assert service_levels.refresh_contracts(settings, [other.id]) == 1
    assert clocks(ticket.id)["sla_policy"] == "Gold"
    _, changed = service_levels.set_policy(settings, "Gold", "2h", "4h", "24x7")
    assert changed == 1 and clocks(ticket.id)["first_response_due"] == opened + 2 * H
    with pytest.raises(Invalid):
        service_levels.set_policy(settings, "Gold", "soon", "4h")
    # a ticket without contract and without a default has no clocks
    bare = tickets.open_ticket(subject="?", requester_email="x@example.com", now=opened,
                               sla=service_levels.Settings("", settings.calendar))
    assert clocks(bare.id)["sla_policy"] is None


def escalations() -> list[tuple[str, int, str, str]]:
    out = []
    for row in Outbox.select().where(Outbox.kind == "sla_escalations").order_by(Outbox.id):
        context = json.loads(row.spec)["context"]
        out.append((row.recipient, context["id"], context["clock"], context["stage"]))
    return sorted(out)


def test_escalations_at_80_percent_and_at_the_breach_each_once(db, config, settings):
    service_levels.set_policy(settings, "Standard", "1h", "10h", "24x7")
    anna = User.create(email="anna@firma.pl", role="engineer", is_active=True)
    User.create(email="bob@firma.pl", role="engineer", is_active=True)
    User.create(email="old@firma.pl", role="engineer", is_active=False)
    opened = dt.datetime(2026, 11, 23, 8, 0)
    mine = tickets.open_ticket(subject="Mine", requester_email="jan@example.com", now=opened, sla=settings)
    Ticket.update(assignee=anna).where(Ticket.id == mine.id).execute()
    nobody = tickets.open_ticket(subject="Nobody", requester_email="ewa@example.com", now=opened, sla=settings)
    waiting = tickets.open_ticket(subject="Waiting", requester_email="ola@example.com", now=opened, sla=settings)
    tickets.set_status(waiting, Status.WAITING_CUSTOMER, now=opened + dt.timedelta(minutes=10))

    assert scheduler.run_sla_escalations(config, opened + dt.timedelta(minutes=47)).queued == 0
    first = scheduler.run_sla_escalations(config, opened + dt.timedelta(minutes=50))
    again = scheduler.run_sla_escalations(config, opened + dt.timedelta(minutes=55))
    assert (first.queued, again.queued) == (3, 0)
    assert escalations() == [("anna@firma.pl", mine.id, "fr", "80"), ("anna@firma.pl", nobody.id, "fr", "80"),
                             ("bob@firma.pl", nobody.id, "fr", "80")]
    tickets.add_message(nobody, kind=tickets.MessageKind.STAFF, author_email="bob@firma.pl", body_text="On it",
                        now=opened + dt.timedelta(minutes=58))
    late = scheduler.run_sla_escalations(config, opened + 2 * H)
    assert late.queued == 1  # only the unanswered one is breached; the answered one's clock stopped
    assert ("anna@firma.pl", mine.id, "fr", "100") in escalations()
    # a run long after both stages of the resolution clock: the breach only, the warning claimed
    scheduler.run_sla_escalations(config, opened + 11 * H)
    resolution = [e for e in escalations() if e[2] == "res"]
    assert sorted(resolution) == [("anna@firma.pl", mine.id, "res", "100"), ("anna@firma.pl", nobody.id, "res", "100"),
                                  ("bob@firma.pl", nobody.id, "res", "100")]
    assert scheduler.run_sla_escalations(config, opened + 12 * H).queued == 0
    assert not [e for e in escalations() if e[1] == waiting.id]
    assert DigestSent.select().where(DigestSent.period == f"T{nobody.id}:res:80").count() == 1


def test_the_engineers_digest_lists_breaches_and_deadlines_of_the_day(db, config, settings):
    service_levels.set_policy(settings, "Standard", "1h", "30h", "24x7")
    User.create(email="anna@firma.pl", role="engineer", is_active=True)
    opened = dt.datetime(2026, 11, 23, 6, 0)  # 7:00 in Warsaw
    late = tickets.open_ticket(subject="Late one", requester_email="jan@example.com", now=opened, sla=settings)
    tickets.add_message(late, kind=tickets.MessageKind.CUSTOMER, author_email="jan@example.com", body_text="?",
                        now=opened)
    soon = tickets.open_ticket(subject="Due today", requester_email="ewa@example.com", now=opened + 2 * H,
                               sla=settings)
    tickets.add_message(soon, kind=tickets.MessageKind.STAFF, author_email="anna@firma.pl", body_text="Hi",
                        now=opened + 2 * H)
    Ticket.update(resolution_due=opened + 10 * H, sla_next_due=opened + 10 * H).where(Ticket.id == soon.id).execute()
    summary = scheduler.run_engineer_digest(config, opened + 3 * H)
    assert summary.queued == 1
    context = json.loads(Outbox.get(Outbox.kind == "engineer_digest").spec)["context"]
    assert [r["subject"] for r in context["sla_breached"]["rows"]] == ["Late one"]
    assert [r["subject"] for r in context["sla_due_today"]["rows"]] == ["Due today"]


def test_time_spent_totals(db):
    company = Company.create(nip="5260250274", name="Klient")
    contract = Contract.create(number="A123456", company=company, customer_name="Klient",
                               starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2027, 1, 1))
    anna = User.create(email="anna@firma.pl", role="engineer", is_active=True)
    t1 = tickets.open_ticket(subject="1", requester_email="jan@example.com", contract=contract)
    t2 = tickets.open_ticket(subject="2", requester_email="jan@example.com")
    for ticket, minutes in ((t1, 15), (t1, 30), (t2, 60)):
        tickets.add_message(ticket, kind=tickets.MessageKind.NOTE, author_email="anna@firma.pl", body_text="x",
                            minutes=minutes, author=anna)
    tickets.add_message(t2, kind=tickets.MessageKind.STAFF, author_email="bob@firma.pl", body_text="x", minutes=5)
    assert (timespent.ticket_total(t1.id), timespent.ticket_total(t2.id)) == (45, 65)
    assert timespent.contract_total(contract.id) == 45
    assert timespent.engineer_total(anna) == 105
    assert timespent.per_engineer() == {"anna@firma.pl": 105, "bob@firma.pl": 5}
    assert timespent.per_contract() == [("", "", 65), ("A123456", "Klient", 45)]
    assert Message.select().where(Message.minutes.is_null(False)).count() == 4


@pytest.mark.parametrize("text, minutes", [("15", 15), ("15m", 15), ("1h", 60), ("1h30m", 90), ("2h 5m", 125),
                                           ("0", None), ("25h", None), ("abc", None), ("", None)])
def test_minutes_of(text, minutes):
    assert timespent.minutes_of(text) == minutes


def test_helpdesk_sla_set_list_and_ticket_show_json(helpdesk, tmp_path):  # noqa: F811
    assert "first response 240 min" in helpdesk("sla", "set", "Gold", "--first-response", "4h",
                                                 "--resolution", "2d").stdout
    helpdesk("sla", "set", "Fast", "--first-response", "30m", "--resolution", "1d", "--hours", "24x7")
    bad = helpdesk("sla", "set", "Gold", "--first-response", "soon", "--resolution", "2d", ok=False)
    assert bad.returncode == 1 and "duration" in bad.stderr
    listed = json.loads(helpdesk("sla", "list", "--json", HELPDESK_SLA_DEFAULT="Fast").stdout)
    assert listed == [
        {"name": "Fast", "first_response_minutes": 30, "resolution_minutes": 1440, "hours": "24x7", "default": True},
        {"name": "Gold", "first_response_minutes": 240, "resolution_minutes": 960, "hours": "business",
         "default": False}]  # a business "2d" is two working days of 8 h
    (tmp_path / "m.eml").write_bytes(make_mail())
    helpdesk("mail", "drop", str(tmp_path / "m.eml"), HELPDESK_SLA_DEFAULT="Fast")
    helpdesk("worker", "--once", HELPDESK_SLA_DEFAULT="Fast")
    shown = json.loads(helpdesk("ticket", "show", "HD-1", "--json", HELPDESK_SLA_DEFAULT="Fast").stdout)
    s = shown["sla"]
    assert s["policy"] == "Fast" and s["first_response_at"] is None
    assert s["first_response_breached"] is False and s["resolution_breached"] is False
    opened = dt.datetime.fromisoformat(s["first_response_due"]) - dt.timedelta(minutes=30)
    assert opened.utcoffset() is not None
    assert dt.datetime.fromisoformat(s["resolution_due"]) == opened + dt.timedelta(days=1)
    assert shown["time_spent_minutes"] == 0


def test_helpdesk_report_and_a_contract_import_that_changes_the_level(helpdesk, tmp_path,  # noqa: F811
                                                                     empty_database_url):
    helpdesk("sla", "set", "Gold", "--first-response", "1h", "--resolution", "4h", "--hours", "24x7")
    bound = database.open_database(empty_database_url)
    request_close = bound.close
    helpdesk("sla", "set", "Silver", "--first-response", "8h", "--resolution", "2d", "--hours", "24x7")
    header = "contract_number,nip,customer_name,service_level,starts_on,ends_on,partner_nip,model,serial,address\n"
    csv = tmp_path / "contracts.csv"
    csv.write_text(header + "A123456,5260250274,Klient,Gold,2026-01-01,2030-01-01,,NVR,SN-1,Łódź\n")
    helpdesk("contracts", "import", str(csv))
    from helpdesk.models import Contract

    contract = Contract.get(Contract.number == "A123456")
    ticket = tickets.open_ticket(subject="Kamera", requester_email="jan@example.com", contract=contract,
                                 sla=service_levels.Settings("", calendar_of("mon-fri 8-16", "Europe/Warsaw")))
    assert Ticket.get_by_id(ticket.id).resolution_due == ticket.created_at + 4 * H
    csv.write_text(header + "A123456,5260250274,Klient,Silver,2026-01-01,2030-01-01,,NVR,SN-1,Łódź\n")
    helpdesk("contracts", "import", str(csv))
    stored = Ticket.get_by_id(ticket.id)
    assert stored.sla_policy == "Silver" and stored.resolution_due == ticket.created_at + 48 * H

    today = local_time.today("Europe/Warsaw", ticket.created_at).isoformat()  # the CLI's default zone's day
    opened = json.loads(helpdesk("report", "opened_closed", "--from", today, "--to", today, "--json").stdout)
    assert opened["name"] == "opened_closed" and sum(r["opened"] for r in opened["rows"]) == 1
    backlog = json.loads(helpdesk("report", "backlog", "--json").stdout)
    assert [r["total"] for r in backlog["rows"] if r["status"] == "new"] == [1]
    table = helpdesk("report", "sla_compliance").stdout
    assert "Silver" in table and "first_response_met" in table
    assert helpdesk("report", "backlog", "--from", "yesterday", ok=False).returncode == 1
    assert helpdesk("report", "nothing", ok=False).returncode == 2
    request_close()


def test_a_split_ticket_gets_its_own_clocks_from_the_split(db, settings):
    from helpdesk.domain import merge

    service_levels.set_policy(settings, "Standard", "1h", "8h", "24x7")
    opened = dt.datetime(2026, 11, 23, 8, 0)
    ticket = tickets.open_ticket(subject="Two problems", requester_email="jan@example.com", now=opened, sla=settings)
    tickets.add_message(ticket, kind=tickets.MessageKind.CUSTOMER, author_email="jan@example.com", body_text="1",
                        now=opened)
    second = tickets.add_message(ticket, kind=tickets.MessageKind.CUSTOMER, author_email="jan@example.com",
                                 body_text="2", now=opened + H)
    split_at = opened + 2 * H
    new = merge.split(second.id, None, now=split_at, sla=settings)
    stored = Ticket.get_by_id(new.id)
    assert stored.sla_policy == "Standard" and stored.first_response_at is None
    assert stored.first_response_due == split_at + H and stored.resolution_due == split_at + 8 * H
    assert stored.sla_next_due == stored.first_response_due
