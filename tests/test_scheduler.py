"""Scheduled jobs (SPEC D1-D5) called as plain functions with fixed times: who gets what,
in their own day or week (daylight-saving changes included), and nothing twice."""
from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from peewee import IntegrityError

from helpdesk import config as config_mod, scheduler
from helpdesk.domain import digests, tickets
from helpdesk.models import (
    Company,
    Contract,
    ContractAccess,
    DigestSent,
    InboundMail,
    MailboxState,
    MessageKind,
    Outbox,
    PartnerApplication,
    Quarantine,
    Status,
    Ticket,
    User,
)
from helpdesk.outgoing.sender import Sender

T = dt.datetime
LONG_AGO = T(2026, 3, 1, 9, 0)
SHOW = False


def person(email, role="customer", *, tz="Europe/Warsaw", language="pl", opt_in=False, company=None, active=True):
    return User.create(email=email, first_name=email.split("@")[0].title(), role=role, timezone=tz,
                       language=language, digest_opt_in=opt_in, company=company, is_active=active)


def ticket(subject, *, requester="jan@example.com", status=Status.NEW, assignee=None, at=LONG_AGO,
           staff_answer_at=None):
    """A ticket opened by a customer message at `at`; optionally answered by us later."""
    t = tickets.open_ticket(subject=subject, requester_email=requester, now=at)
    tickets.add_message(t, kind=MessageKind.CUSTOMER, author_email=requester, body_text="Pomocy", now=at)
    if staff_answer_at:
        tickets.add_message(t, kind=MessageKind.STAFF, author_email="eng@firma.pl", body_text="Już", now=staff_answer_at)
    if status is not Status.NEW:
        tickets.set_status(t, status, now=staff_answer_at or at)
    if assignee:
        Ticket.update(assignee=assignee).where(Ticket.id == t.id).execute()
    return t


def mails(job=None) -> dict[str, list[dict]]:
    """The queued digests, by recipient, each as its spec."""
    out: dict[str, list[dict]] = {}
    query = Outbox.select().order_by(Outbox.id)
    if job:
        query = query.where(Outbox.kind == job)
    for row in query:
        out.setdefault(row.recipient, []).append(json.loads(row.spec))
    return out


def sections(spec) -> dict[str, list[int]]:
    return {name: [t["id"] for t in spec["context"][name]["rows"]]
            for name in ("no_answer", "new", "unassigned", "waiting")}


# --- periods: the recipient's own day and week -------------------------------------------------


@pytest.mark.parametrize("utc, warsaw_day", [
    # Spring forward, Sunday 29 March 2026 (02:00 CET -> 03:00 CEST): a 23-hour day.
    (T(2026, 3, 28, 22, 59), "2026-03-28"),
    (T(2026, 3, 28, 23, 0), "2026-03-29"),  # midnight is still UTC+1
    (T(2026, 3, 29, 21, 59), "2026-03-29"),
    (T(2026, 3, 29, 22, 0), "2026-03-30"),  # ... and the next one UTC+2
    # Fall back, Sunday 25 October 2026 (03:00 CEST -> 02:00 CET): a 25-hour day.
    (T(2026, 10, 24, 21, 59), "2026-10-24"),
    (T(2026, 10, 24, 22, 0), "2026-10-25"),
    (T(2026, 10, 25, 22, 59), "2026-10-25"),
    (T(2026, 10, 25, 23, 0), "2026-10-26"),
])
def test_a_day_starts_at_midnight_in_warsaw_whatever_daylight_saving_does(utc, warsaw_day):
    assert digests.day_key(utc, "Europe/Warsaw") == warsaw_day


def test_weeks_are_iso_weeks_in_the_readers_zone():
    assert digests.week_key(T(2026, 3, 29, 21, 59), "Europe/Warsaw") == "2026-W13"  # Sunday 23:59 CEST
    assert digests.week_key(T(2026, 3, 29, 22, 0), "Europe/Warsaw") == "2026-W14"  # Monday 00:00
    assert digests.week_key(T(2026, 3, 29, 22, 0), "America/New_York") == "2026-W13"
    assert digests.week_key(T(2026, 12, 31, 23, 30), "Europe/Warsaw") == "2026-W53"
    assert digests.day_key(T(2026, 3, 29, 12, 0), "No/Such_Zone") == "2026-03-29"  # the default zone


# --- D1 ---------------------------------------------------------------------------------------


def test_engineers_get_one_digest_a_day_in_their_own_zone_across_daylight_saving(config, db):
    person("anna@firma.pl", "engineer")
    person("bob@firma.pl", "engineer", tz="America/New_York", language="en")
    ticket("Drukarka")
    runs = [T(2026, 3, 28, 6, 0), T(2026, 3, 28, 22, 59), T(2026, 3, 28, 23, 0), T(2026, 3, 29, 21, 59),
            T(2026, 3, 29, 22, 0),
            T(2026, 10, 24, 21, 59), T(2026, 10, 24, 22, 0), T(2026, 10, 25, 22, 59), T(2026, 10, 25, 23, 0)]
    for now in runs:
        scheduler.run_engineer_digest(config, now)
        scheduler.run_engineer_digest(config, now)  # a restart, or a run by hand: nothing more
    sent = {(d.recipient, d.period) for d in DigestSent.select()}
    assert sorted(p for r, p in sent if r == "anna@firma.pl") == [
        "2026-03-28", "2026-03-29", "2026-03-30", "2026-10-24", "2026-10-25", "2026-10-26"]
    # New York: 06:00Z is 02:00 there; 23:00Z on the 28th still the 28th; and so on.
    assert sorted(p for r, p in sent if r == "bob@firma.pl") == [
        "2026-03-28", "2026-03-29", "2026-10-24", "2026-10-25"]
    queued = mails()
    assert len(queued["anna@firma.pl"]) == 6 and len(queued["bob@firma.pl"]) == 4
    assert Outbox.select().count() == DigestSent.select().count()
    assert queued["bob@firma.pl"][0]["language"] == "en"


def test_who_gets_what_in_the_engineers_digest(config, db):
    anna = person("anna@firma.pl", "engineer")
    bob = person("bob@firma.pl", "engineer")
    person("ola@firma.pl", "engineer", active=False)
    person("jan@example.com")
    now = T(2026, 6, 10, 5, 0)
    fresh = ticket("Nowe dziś", at=now - dt.timedelta(hours=2))
    stale = ticket("Bez odpowiedzi, nieprzypisane", status=Status.WAITING_US, at=now - dt.timedelta(hours=30))
    annas_stale = ticket("Bez odpowiedzi, Anny", status=Status.WAITING_US, assignee=anna,
                         at=now - dt.timedelta(hours=48))
    answered = ticket("Odpowiedziane, czeka na klienta", status=Status.WAITING_CUSTOMER, assignee=bob,
                      at=now - dt.timedelta(hours=50), staff_answer_at=now - dt.timedelta(hours=40))
    loose = ticket("Otwarte, nieprzypisane", status=Status.OPEN, at=now - dt.timedelta(hours=60),
                   staff_answer_at=now - dt.timedelta(hours=59))
    ticket("Zamknięte", status=Status.CLOSED, at=now - dt.timedelta(hours=70))

    summary = scheduler.run_engineer_digest(config, now)
    assert (summary.recipients, summary.queued, summary.nothing) == (2, 2, 0)
    queued = mails()
    assert set(queued) == {"anna@firma.pl", "bob@firma.pl"}
    [a], [b] = queued["anna@firma.pl"], queued["bob@firma.pl"]
    # Unanswered beyond 24 h: to the assignee, or to everyone when unassigned; oldest first.
    assert sections(a) == {"no_answer": [annas_stale.id, stale.id], "new": [fresh.id], "unassigned": [loose.id],
                           "waiting": []}
    assert sections(b) == {"no_answer": [stale.id], "new": [fresh.id], "unassigned": [loose.id],
                           "waiting": [answered.id]}
    since = a["context"]["no_answer"]["rows"][0]["since"]
    assert since == "2026-06-08 07:00 CEST"  # 48 h before 05:00Z, shown in Warsaw summer time


def test_no_digest_when_there_is_nothing_to_say(config, db):
    person("anna@firma.pl", "engineer")
    person("adam@firma.pl", "admin")
    person("jan@example.com", opt_in=True)
    ticket("Zamknięte dawno", status=Status.CLOSED, at=LONG_AGO)
    now = T(2026, 6, 10, 5, 0)
    for job in scheduler.JOBS.values():
        job.run(config, now)
    assert Outbox.select().count() == 0 and DigestSent.select().count() == 0


# --- D2 ---------------------------------------------------------------------------------------


def test_customers_who_opt_in_get_their_open_tickets_and_the_weeks_changes_once_a_week(config, db):
    jan = person("jan@example.com", opt_in=True)
    person("ewa@example.com", opt_in=False)
    person("ola@example.com", opt_in=True, language="en")  # opted in, but nothing to say
    person("anna@firma.pl", "engineer", opt_in=True)  # staff get the engineers' digest instead
    now = T(2026, 3, 29, 21, 0)  # Sunday 23:00 in Warsaw (summer time since this morning)
    waiting = ticket("Drukarka", requester="jan@example.com", status=Status.WAITING_CUSTOMER,
                     at=now - dt.timedelta(days=10), staff_answer_at=now - dt.timedelta(days=2))
    done = ticket("Skaner", requester="jan@example.com", status=Status.CLOSED, at=now - dt.timedelta(days=20),
                  staff_answer_at=now - dt.timedelta(days=3))
    ticket("Stare", requester="jan@example.com", status=Status.CLOSED, at=now - dt.timedelta(days=40),
           staff_answer_at=now - dt.timedelta(days=30))
    ticket("Cudze", requester="ewa@example.com")

    summary = scheduler.run_customer_digest(config, now)
    assert (summary.recipients, summary.queued, summary.nothing) == (2, 1, 1)
    [spec] = mails()["jan@example.com"]
    context = spec["context"]
    assert [t["id"] for t in context["open"]["rows"]] == [waiting.id]
    assert [t["id"] for t in context["closed"]["rows"]] == [done.id]
    assert context["open"]["rows"][0]["staff_messages"] == 1
    assert context["open"]["rows"][0]["changes"] == [{"status": "waiting_customer", "when": "2026-03-27 22:00 CET"}]  # 21:00Z, CET
    assert DigestSent.get().period == "2026-W13"

    # Later the same (local) week: nothing; an hour later it is Monday in Warsaw: the next one.
    assert scheduler.run_customer_digest(config, T(2026, 3, 29, 21, 59)).queued == 0
    assert scheduler.run_customer_digest(config, T(2026, 3, 29, 22, 0)).queued == 1
    assert scheduler.run_customer_digest(config, T(2026, 4, 1, 8, 0)).queued == 0
    assert [d.period for d in DigestSent.select().where(DigestSent.recipient == jan.email)] == ["2026-W13",
                                                                                               "2026-W14"]


# --- D3 ---------------------------------------------------------------------------------------


@pytest.fixture
def contract(db):
    customer = Company.create(nip="5260250274", name="Klient sp. z o.o.")
    partner = Company.create(nip="7740001454", name="Instalator", role="installer")
    c = Contract.create(number="A123456", company=customer, partner=partner, customer_name="Klient sp. z o.o.",
                        starts_on=dt.date(2025, 4, 29), ends_on=dt.date(2026, 4, 28))
    reader = person("jan@example.com", company=customer)
    ContractAccess.create(user=reader, contract=c)
    person("piotr@instalator.pl", "partner", company=partner, language="en")
    person("nieaktywny@instalator.pl", "partner", company=partner, active=False)
    return c


def test_contract_reminders_thirty_and_seven_days_before_the_end_to_readers_and_the_partner(config, contract):
    # The contract ends on 28 April; 30 days before is 29 March, the day summer time starts.
    def run(now):
        return scheduler.run_contract_reminders(config, now).queued

    assert run(T(2026, 3, 28, 22, 59)) == 0  # 23:59 on the 28th in Warsaw: 31 days left
    assert run(T(2026, 3, 28, 23, 0)) == 2  # midnight: the 30-day reminder, to both
    assert run(T(2026, 3, 29, 12, 0)) == 0
    assert run(T(2026, 4, 10, 12, 0)) == 0
    assert run(T(2026, 4, 20, 21, 59)) == 0  # 23:59 CEST on the 20th: 8 days left
    assert run(T(2026, 4, 20, 22, 0)) == 2  # the 7-day reminder
    assert run(T(2026, 4, 27, 12, 0)) == 0
    assert run(T(2026, 4, 29, 12, 0)) == 0  # ended
    queued = mails()
    assert set(queued) == {"jan@example.com", "piotr@instalator.pl"}
    assert [s["context"]["contracts"][0]["reminder"] for s in queued["jan@example.com"]] == [30, 7]
    assert [s["context"]["contracts"][0]["as_partner"] for s in queued["piotr@instalator.pl"]] == [True, True]
    assert queued["jan@example.com"][0]["context"]["contracts"][0]["as_partner"] is False


def test_a_reminder_missed_while_down_is_sent_late_and_only_the_current_one(config, contract):
    assert scheduler.run_contract_reminders(config, T(2026, 4, 23, 9, 0)).queued == 2  # 5 days left
    reminders = {s["context"]["contracts"][0]["reminder"] for specs in mails().values() for s in specs}
    assert reminders == {7}
    # An extended contract is reminded again, for its new end.
    Contract.update(ends_on=dt.date(2026, 5, 20)).where(Contract.id == contract.id).execute()
    assert scheduler.run_contract_reminders(config, T(2026, 4, 24, 9, 0)).queued == 2


def test_several_contracts_due_for_one_reader_make_one_mail(config, contract):
    second = Contract.create(number="B000001", company=contract.company, customer_name="Klient",
                             starts_on=dt.date(2025, 5, 1), ends_on=dt.date(2026, 4, 25))
    ContractAccess.create(user=User.get(User.email == "jan@example.com"), contract=second)
    assert scheduler.run_contract_reminders(config, T(2026, 4, 20, 9, 0)).queued == 2
    [spec] = mails()["jan@example.com"]
    assert [c["number"] for c in spec["context"]["contracts"]] == ["B000001", "A123456"]
    assert DigestSent.select().where(DigestSent.recipient == "jan@example.com").count() == 2


# --- D4 ---------------------------------------------------------------------------------------


def test_admins_get_what_waits_for_them_and_the_mailboxes_health(config, db):
    person("adam@firma.pl", "admin")
    person("anna@firma.pl", "engineer")
    company = Company.create(nip="5260250274", name="Instalator", role="installer")
    PartnerApplication.create(company=company, declared_level="authorised", submitted_at=T(2026, 6, 9, 8, 0))
    PartnerApplication.create(company=company, declared_level="basic", status="rejected")
    inbound = InboundMail.create(mailbox="m", uidvalidity=1, uid="1", message_id="q@x", raw_sha256="0" * 64,
                                 outcome="quarantined", from_addr="zly@example.com")
    Quarantine.create(inbound=inbound, error="cannot parse", created_at=T(2026, 6, 9, 9, 0))
    MailboxState.create(mailbox="imaps://support@mail:993/INBOX", last_fetch_at=T(2026, 6, 10, 4, 59))
    now = T(2026, 6, 10, 5, 0)

    summary = scheduler.run_admin_digest(config, now)
    assert (summary.recipients, summary.queued) == (1, 1)
    [spec] = mails()["adam@firma.pl"]
    context = spec["context"]
    assert context["applications"]["total"] == 1 and context["applications"]["rows"][0]["who"] == "Instalator"
    assert context["quarantine"]["rows"][0]["at"] == "2026-06-09 11:00 CEST"
    assert context["role_changes"]["total"] == 0
    assert context["mailboxes"][0]["stalled"] is False
    assert scheduler.run_admin_digest(config, now + dt.timedelta(hours=3)).queued == 0


def test_the_admins_digest_is_daily_in_each_admins_zone_across_the_autumn_change(config, db):
    person("adam@firma.pl", "admin")
    person("tokyo@firma.pl", "admin", tz="Asia/Tokyo")
    company = Company.create(nip="5260250274", name="Instalator", role="installer")
    PartnerApplication.create(company=company, declared_level="authorised", submitted_at=LONG_AGO)
    runs = [T(2026, 10, 24, 14, 59), T(2026, 10, 24, 15, 0), T(2026, 10, 24, 21, 59), T(2026, 10, 24, 22, 0),
            T(2026, 10, 25, 22, 59), T(2026, 10, 25, 23, 0)]
    for now in runs:
        scheduler.run_admin_digest(config, now)
    sent = sorted((d.recipient, d.period) for d in DigestSent.select())
    assert sent == [("adam@firma.pl", "2026-10-24"), ("adam@firma.pl", "2026-10-25"), ("adam@firma.pl", "2026-10-26"),
                    ("tokyo@firma.pl", "2026-10-24"), ("tokyo@firma.pl", "2026-10-25"),  # 00:00 JST is 15:00Z
                    ("tokyo@firma.pl", "2026-10-26")]
    assert Outbox.select().count() == 6


def test_a_stalled_mailbox_alerts_once_and_its_recovery_is_told_once(config, db):
    person("adam@firma.pl", "admin")
    person("ewa@firma.pl", "admin", language="en")
    fetched = T(2026, 6, 10, 5, 0)
    box = MailboxState.create(mailbox="imaps://support@mail:993/INBOX", last_fetch_at=fetched,
                              last_error="connection refused")

    def run(minutes):
        scheduler.run_mailbox_health(config, fetched + dt.timedelta(minutes=minutes))
        return {(o.kind, o.recipient) for o in Outbox.select()}

    assert run(29) == set()
    stalled = {("mailbox_stalled", "adam@firma.pl"), ("mailbox_stalled", "ewa@firma.pl")}
    assert run(31) == stalled
    Outbox.delete().execute()
    assert run(120) == set()  # still stalled: no second alert
    MailboxState.update(last_fetch_at=fetched + dt.timedelta(minutes=125), last_error="").where(
        MailboxState.id == box.id).execute()
    assert run(126) == {("mailbox_recovered", "adam@firma.pl"), ("mailbox_recovered", "ewa@firma.pl")}
    Outbox.delete().execute()
    assert run(130) == set()
    assert run(125 + 31) == stalled  # a new stall is a new alert
    [spec] = [json.loads(o.spec) for o in Outbox.select().where(Outbox.recipient == "adam@firma.pl")]
    assert spec["context"]["last_fetch"] == "2026-06-10 09:05 CEST"


# --- D5: exactly once ------------------------------------------------------------------------


def test_schedulers_running_a_job_at_the_same_time_send_each_digest_once(config, db):
    for i in range(40):
        person(f"eng{i}@firma.pl", "engineer")
    ticket("Drukarka")
    now = T(2026, 6, 10, 5, 0)
    start = threading.Barrier(4)
    results = []

    def run():
        start.wait()
        results.append(scheduler.run_engineer_digest(config, now))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.queued for r in results) == 40 and sum(r.already for r in results) == 3 * 40
    assert Outbox.select().count() == 40 and DigestSent.select().count() == 40
    assert len({o.recipient for o in Outbox.select()}) == 40


def test_a_digest_is_recorded_as_sent_only_with_its_mail(config, db, monkeypatch):
    """Claim and outbox row commit together: a failure queuing the mail leaves no claim
    behind, so the next run sends it (nothing skipped)."""
    person("anna@firma.pl", "engineer")
    person("bob@firma.pl", "engineer")
    ticket("Drukarka")
    now = T(2026, 6, 10, 5, 0)
    monkeypatch.setattr(scheduler.outbox, "new_message_id", lambda domain, ticket_id=None: "same@helpdesk")
    with pytest.raises(IntegrityError):  # the second mail's Message-ID collides with the first's
        scheduler.run_engineer_digest(config, now)
    assert DigestSent.select().count() == 0 and Outbox.select().count() == 0
    monkeypatch.undo()
    assert scheduler.run_engineer_digest(config, now).queued == 2


def test_a_lease_lets_one_scheduler_run_a_job_at_a_time(config, db):
    assert scheduler.take_lease("job:x", "a")
    assert not scheduler.take_lease("job:x", "b")
    assert scheduler.take_lease("job:x", "a")  # its own, renewed
    scheduler.release_lease("job:x", "a")
    assert scheduler.take_lease("job:x", "b")
    scheduler.take_lease("job:engineer_digest", "b")
    assert scheduler.run_job(config, "engineer_digest", owner="a") is None
    assert scheduler.run_job(config, "engineer_digest", owner="b") is not None


# --- the mails themselves -----------------------------------------------------------------


def test_digests_are_rendered_by_the_sender_in_the_readers_language_with_portal_links(config, contract,
                                                                                       smtp_server):
    person("anna@firma.pl", "engineer")
    person("adam@firma.pl", "admin", language="en")
    User.update(digest_opt_in=True).where(User.email == "jan@example.com").execute()
    t = ticket("Drukarka <b>nie</b> drukuje", requester="jan@example.com", at=T(2026, 4, 20, 8, 0))
    MailboxState.create(mailbox="imaps://support@mail:993/INBOX", last_fetch_at=T(2026, 4, 19, 8, 0))
    now = T(2026, 4, 21, 6, 0)
    for name in scheduler.JOBS:
        scheduler.run_job(config, name, now)
    sender = Sender(config.with_(smtp_url=smtp_server.url))
    assert sender.send_due() == {"sent": Outbox.select().count()}
    got = {(r.rcpt_tos[0], r.message["X-Helpdesk-Digest"]): r.message for r in smtp_server.received}
    assert set(got) == {
        ("anna@firma.pl", "engineer_digest"), ("adam@firma.pl", "engineer_digest"),
        ("jan@example.com", "customer_digest"), ("jan@example.com", "contract_reminders"),
        ("piotr@instalator.pl", "contract_reminders"), ("adam@firma.pl", "admin_digest"),
        ("adam@firma.pl", "mailbox_stalled")}

    def text(m):
        return m.get_body(("plain",)).get_content()

    def html(m):
        return m.get_body(("html",)).get_content()

    if SHOW:
        for m in got.values():
            print(m["Subject"], text(m), html(m), sep="\n----\n", end="\n=======\n")
    engineer = got[("anna@firma.pl", "engineer_digest")]
    assert engineer["Subject"].startswith("Zgłoszenia na dziś: bez odpowiedzi 0, nowe 1")
    assert engineer["Auto-Submitted"] == "auto-generated" and engineer["Reply-To"] == config.support_address
    assert f"[HD-{t.id}] Drukarka <b>nie</b> drukuje" in text(engineer)
    assert f"http://helpdesk.test/staff/tickets/{t.id}" in text(engineer)
    assert "Drukarka &lt;b&gt;nie&lt;/b&gt; drukuje" in html(engineer)  # escaped in HTML
    assert "od 2026-04-20 10:00 CEST" in text(engineer)  # Warsaw time
    customer = got[("jan@example.com", "customer_digest")]
    assert f"http://helpdesk.test/tickets/{t.id}" in text(customer) and "http://helpdesk.test/account" in text(customer)
    reminder = got[("piotr@instalator.pl", "contract_reminders")]
    assert reminder["Subject"] == "Contract A123456 ends on 2026-04-28"
    assert f"http://helpdesk.test/contracts/{contract.id}" in html(reminder) and "sold by your company" in text(reminder)
    admin = got[("adam@firma.pl", "admin_digest")]
    assert "MAILBOX NOT FETCHED" in admin["Subject"] and "FETCHING HAS STALLED" in text(admin)
    assert "Mailbox imaps://support@mail:993/INBOX not fetched since 2026-04-19 10:00 CEST" == \
        got[("adam@firma.pl", "mailbox_stalled")]["Subject"].strip()  # folded by the email package


# --- the schedule ---------------------------------------------------------------------------


@pytest.mark.parametrize("cron, period, now, runs_at_start", [
    ("0 7 * * *", "day", T(2026, 6, 10, 7, 30), True),  # 09:30 in Warsaw: today's 07:00 was missed
    ("0 7 * * *", "day", T(2026, 6, 10, 3, 0), False),  # 05:00: today's has not come yet
    ("0 7 * * *", "day", T(2026, 3, 29, 5, 0), True),  # 07:00 CEST on the short day
    ("0 8 * * mon", "week", T(2026, 6, 10, 7, 30), True),  # Wednesday: Monday's was missed
    ("0 8 * * 1", "week", T(2026, 6, 8, 5, 0), False),  # Monday 07:00 (crontab weekday 1 is Monday)
    ("*/5 * * * *", None, T(2026, 6, 10, 7, 30), True),
])
def test_a_scheduler_started_late_catches_up_the_current_period_once(cron, period, now, runs_at_start):
    now_local = digests.local(now, "Europe/Warsaw")
    trigger = digests.cron_trigger(cron, digests.zone("Europe/Warsaw"))
    assert digests.missed_this_period(trigger, period, now_local) is runs_at_start


def test_build_scheduler_wires_every_job_to_its_cron_schedule_without_starting(config):
    now = T(2026, 6, 10, 3, 0)  # 05:00 in Warsaw, a Wednesday
    built = scheduler.build_scheduler(config.with_(schedule_admin_digest="0 4 * * *"), now=now)
    assert not built.running
    jobs = {j.id: j for j in built.get_jobs()}
    assert set(jobs) == set(scheduler.JOBS)
    for job in jobs.values():
        assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time >= 3600
    assert str(jobs["customer_digest"].trigger).startswith("cron[")
    catching_up = {name for name, job in jobs.items() if getattr(job, "next_run_time", None)}
    assert catching_up == {"admin_digest", "customer_digest", "mailbox_health", "sla_escalations", "search_upkeep"}


def test_schedules_are_cron_expressions_in_the_configuration():
    env = {"HELPDESK_DATA_DIR": "/tmp/unused", "HELPDESK_SECRET_KEY": "x",
           "HELPDESK_SCHEDULE_CUSTOMER_DIGEST": "0 9 * * 5", "HELPDESK_SCHEDULE_MAILBOX_HEALTH": "*/10 * * * * *"}
    config = config_mod.load_config(env, dotenv=None)
    assert config.schedule_customer_digest == "0 9 * * 5" and config.schedule_engineer_digest == "0 7 * * *"
    friday = digests.cron_trigger(config.schedule_customer_digest, digests.zone("Europe/Warsaw")).get_next_fire_time(
        None, dt.datetime(2026, 6, 8, tzinfo=digests.zone("Europe/Warsaw")))
    assert friday.strftime("%a %H:%M") == "Fri 09:00"
    for bad in ("61 * * * *", "* * *", "0 7 * * funday"):
        with pytest.raises(config_mod.ConfigError, match="HELPDESK_SCHEDULE_ADMIN_DIGEST"):
            config_mod.load_config({**env, "HELPDESK_SCHEDULE_ADMIN_DIGEST": bad}, dotenv=None)


def test_every_job_has_a_schedule_setting_and_a_name_for_digest_run():
    from helpdesk import cli

    assert set(config_mod.SCHEDULES) == set(scheduler.JOBS)
    parser = cli.build_parser()
    for name in scheduler.JOBS:
        assert parser.parse_args(["digest", "run", name]).name == name
        assert getattr(config_mod.Config, f"schedule_{name}") == config_mod.SCHEDULES[name]
