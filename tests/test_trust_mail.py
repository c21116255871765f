"""Trust, mail (issue 13, items 1 and 8): who may join a ticket by mail, and what a forged
mail gets. The threat model, one case per test: mail in through the Maildir (the worker as
`helpdesk worker` runs it) or the real Dovecot, pages through the app, mail out through
aiosmtpd.

The rule: a From header proves nothing; a signed reply address (support+<ticket>-<who>-<mac>@)
proves its holder received our mail. Only such a reply, from its holder, adds participants.
Every refused or flagged attempt is a security event, which admins read on /staff/security
and with `helpdesk security log [--json]`.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from helpdesk.domain import security_events
from helpdesk.models import Message, Participant, Role, SecurityEvent, Status, Ticket, db as models_db
from tests.conftest import REPO
from tests.mailfactory import make_mail
from tests.portal import Portal
from tests.trust import SUPPORT, deliver_all, person, reply_address, signed_in, text_of

FIRST = "Hello,\n\nthe printer is broken. Serial SN-SECRET-42.\n"


@pytest.fixture
def engineer(db):
    return person("eng@helpdesk.localhost", Role.ENGINEER)


@pytest.fixture
def admin(db):
    return person("admin@helpdesk.localhost", Role.ADMIN)


@pytest.fixture
def ticket(desk, config, smtp_server, engineer):
    """HD-1 from jan@ with anna@ in Cc; the first notices delivered (jan's ack, anna's copy,
    the engineer's notice), each with its own signed reply address."""
    desk.receive(make_mail(FIRST, Message_ID="<first@example.com>", Cc="anna@example.com",
                           Subject="Drukarka nie drukuje"))
    got = deliver_all(config, smtp_server)
    assert set(got) == {"jan@example.com", "anna@example.com", engineer.email}
    return {to: mails[0] for to, mails in got.items()}


def events(kind=None):
    return [e for e in security_events.events(kind=kind)]


def everyone_mailed(got) -> set[str]:
    return set(got)


# --- 1. a From proves nothing: mails matched without a signed reply address add nobody ------------


def test_the_issues_attack_forged_from_subject_tag_reply_to_and_cc_adds_nobody(
        desk, config, smtp_server, ticket, app, engineer):
    """Before: From forged to a participant + [HD-1] + Reply-To + Cc made both attackers
    participants, mailed them the whole history and let them read the ticket in the portal.
    After: the message is on the ticket, nobody joins, nobody new is mailed, staff see it."""
    row = desk.receive(make_mail("Please add my colleagues.\n", From="jan@example.com",
                                 Subject="Re: [HD-1] Drukarka nie drukuje", Reply_To="attacker@evil.example",
                                 Cc="attacker2@evil.example"))
    assert row.outcome == "reply" and row.ticket_id == 1
    assert desk.messages(1)[-1].thread_rule == "subject_tag"
    assert desk.participants(1) == {"jan@example.com": "requester", "anna@example.com": "cc"}
    got = deliver_all(config, smtp_server)
    assert not {"attacker@evil.example", "attacker2@evil.example"} & set(got)
    [event] = events("unsigned_participants")
    assert (event["ticket"], event["sender"]) == (1, "jan@example.com")
    assert event["addresses"] == ["attacker@evil.example", "attacker2@evil.example"]

    # Registered, the attacker reads nothing of the ticket or its files.
    attacker = signed_in(app, person("attacker@evil.example"))
    assert attacker.get("/tickets/1").status_code == 404
    assert "Drukarka" not in attacker.text("/tickets")


@pytest.mark.parametrize("how", ["in_reply_to", "references"])
def test_a_reply_matched_by_its_headers_adds_nobody_and_staff_add_with_one_click(
        desk, config, smtp_server, ticket, app, engineer, how):
    headers = {"In_Reply_To": "<first@example.com>"} if how == "in_reply_to" else \
        {"References": "<first@example.com>"}
    desk.receive(make_mail("Dodaję kolegę.\n", Subject="Re: Drukarka", Cc="Piotr <piotr@example.com>",
                           Reply_To="jan.home@example.com", **headers))
    assert set(desk.participants(1)) == {"jan@example.com", "anna@example.com"}
    message = desk.messages(1)[-1]
    assert message.thread_rule == how
    deliver_all(config, smtp_server)

    staff = signed_in(app, engineer)
    page = staff.text("/staff/tickets/1")
    assert f'id="flags-{message.id}"' in page and 'data-kind="unsigned_participants"' in page
    assert "jan.home@example.com, piotr@example.com" in page  # the one-click button names them
    response = staff.post(f"/staff/tickets/1/messages/{message.id}/add-people", page="/staff/tickets/1")
    assert response.status_code == 302
    assert set(desk.participants(1)) == {"jan@example.com", "anna@example.com", "jan.home@example.com",
                                         "piotr@example.com"}
    assert Participant.get(Participant.email == "piotr@example.com").added_by == "staff"
    assert "Dodaj do zgłoszenia" not in staff.text("/staff/tickets/1")  # nothing left to add
    # The form cannot smuggle in other addresses: they come from what was recorded.
    response = staff.post(f"/staff/tickets/1/messages/{message.id}/add-people",
                          {"addresses": "x@evil.example"}, page="/staff/tickets/1")
    assert "x@evil.example" not in desk.participants(1)


def test_someone_elses_reply_address_from_another_sender_is_flagged_and_mails_nobody(
        desk, config, smtp_server, ticket, engineer):
    """Before: a reply to jan's reply address from mallory@ made mallory (and his Cc) a
    participant. After: appended and flagged, nobody added, nothing mailed to mallory, and
    the customers on the ticket are not mailed his text either (the engineers are)."""
    jans_address = reply_address(ticket["jan@example.com"])
    row = desk.receive(make_mail("Send me the invoices.\n", From="mallory@evil.example", To=jans_address,
                                 Cc="mallory2@evil.example", Subject="Re: [HD-1] Drukarka"))
    assert row.outcome == "reply" and row.ticket_id == 1 and "forged_reply_address" in row.reason
    assert set(desk.participants(1)) == {"jan@example.com", "anna@example.com"}
    got = deliver_all(config, smtp_server)
    assert set(got) == {engineer.email}
    assert "Send me the invoices" in text_of(got[engineer.email][0])
    [event] = events("forged_reply_address")
    assert event["sender"] == "mallory@evil.example" and "jan@example.com" in event["reason"]
    assert event["addresses"] == ["mallory@evil.example", "mallory2@evil.example"]
    assert desk.messages(1)[-1].body_text.startswith("Send me the invoices")  # kept, not dropped


def test_a_removed_cc_is_not_added_back_by_its_old_reply_address(desk, config, smtp_server, ticket, app):
    annas_address = reply_address(ticket["anna@example.com"])
    jan = signed_in(app, person("jan@example.com"))
    anna_row = Participant.get(Participant.email == "anna@example.com")
    assert jan.post(f"/tickets/1/cc/{anna_row.id}/remove", page="/tickets/1").status_code == 302
    assert "anna@example.com" not in desk.participants(1)

    row = desk.receive(make_mail("I am still here.\n", From="anna@example.com", To=annas_address,
                                 Cc="anna.friend@example.com", Subject="Re: [HD-1] Drukarka"))
    assert row.outcome == "reply" and row.ticket_id == 1
    assert set(desk.participants(1)) == {"jan@example.com"}
    got = deliver_all(config, smtp_server)
    assert "anna@example.com" not in got and "anna.friend@example.com" not in got
    [event] = events("stale_reply_address")
    assert event["sender"] == "anna@example.com" and "no longer on the ticket" in event["reason"]


@pytest.mark.parametrize("change", ["demoted", "deactivated"])
def test_a_former_engineers_reply_address_no_longer_acts_as_staff(
        desk, config, smtp_server, ticket, app, engineer, admin, change):
    """Before: the old reply address kept working (a #close closed the ticket) or added the
    former engineer as a participant. After: a customer message, flagged; no command runs."""
    engineers_address = reply_address(ticket[engineer.email])
    boss = signed_in(app, admin)
    data = {"action": "role", "role": "customer"} if change == "demoted" else {"action": "deactivate"}
    assert boss.post(f"/staff/users/{engineer.id}", data, page="/staff/users").status_code == 302

    row = desk.receive(make_mail("#close\nDone.\n", From=engineer.email, To=engineers_address,
                                 Cc="friend@evil.example", Subject="Re: [HD-1] Drukarka"))
    assert row.outcome == "reply"
    assert Ticket.get_by_id(1).status != Status.CLOSED.value
    message = desk.messages(1)[-1]
    assert message.kind == "customer" and message.display.startswith("#close")
    assert set(desk.participants(1)) == {"jan@example.com", "anna@example.com"}
    [event] = events("stale_reply_address")
    assert "no longer an active engineer" in event["reason"]
    got = deliver_all(config, smtp_server)
    assert engineer.email not in got and "friend@evil.example" not in got


def test_a_forged_engineer_from_never_acts_as_staff(desk, config, smtp_server, ticket, engineer):
    """An engineer's address in From, without that engineer's reply address: no #commands,
    not a staff answer, not shown as the engineer's."""
    row = desk.receive(make_mail("#close\n#assign me\nClosing this.\n", From=engineer.email,
                                 In_Reply_To="<first@example.com>", Subject="Re: Drukarka"))
    assert row.outcome == "reply"
    ticket_row = Ticket.get_by_id(1)
    assert ticket_row.status != Status.CLOSED.value and ticket_row.assignee_id is None
    message = desk.messages(1)[-1]
    assert (message.kind, message.author_id) == ("customer", None)
    [event] = events("staff_impersonation")
    assert event["sender"] == engineer.email
    got = deliver_all(config, smtp_server)
    assert "jan@example.com" not in got and "anna@example.com" not in got  # held: staff only
    # The same with the engineer's real reply address is a staff answer.
    row = desk.receive(make_mail("#close\nDone.\n", From=engineer.email, To=reply_address(ticket[engineer.email]),
                                 Subject="Re: [HD-1] Drukarka"))
    assert row.outcome == "staff_reply" and Ticket.get_by_id(1).status == Status.CLOSED.value


def test_a_signed_reply_from_its_holder_adds_its_cc_who_gets_only_what_is_new(
        desk, config, smtp_server, ticket, app):
    """Before: a participant added later was mailed the history quoted under the notice (the
    ticket's earlier messages). After: only what came since they joined, by mail and in the portal."""
    row = desk.receive(make_mail("Piotr will follow this.\n", To=reply_address(ticket["jan@example.com"]),
                                 Cc="Piotr <piotr@example.com>", Subject="Re: [HD-1] Drukarka"))
    assert row.outcome == "reply" and "flagged" not in row.reason
    assert desk.participants(1)["piotr@example.com"] == "cc"
    got = deliver_all(config, smtp_server)
    [to_piotr] = got["piotr@example.com"]
    body = text_of(to_piotr)
    assert "Piotr will follow this" in body and "SN-SECRET-42" not in body
    assert "SN-SECRET-42" in text_of(got["anna@example.com"][0])  # anna was there from the start
    assert events() == []

    piotr = signed_in(app, person("piotr@example.com"))
    page = piotr.text("/tickets/1")
    assert "Piotr will follow this" in page and "SN-SECRET-42" not in page


def test_a_participant_added_by_mail_cannot_open_earlier_files_in_the_portal(
        desk, config, smtp_server, engineer, app):
    desk.receive(make_mail(FIRST, Message_ID="<first@example.com>",
                           attachments=[("invoice.pdf", "application/pdf", b"%PDF-1.4 secret")]))
    [ack] = deliver_all(config, smtp_server)["jan@example.com"]
    desk.receive(make_mail("Adding Piotr.\n", To=reply_address(ack), Cc="piotr@example.com",
                           Subject="Re: [HD-1] Drukarka"))
    from helpdesk.models import Attachment

    [attachment] = Attachment.select()
    piotr = signed_in(app, person("piotr@example.com"))
    assert piotr.get(f"/attachments/{attachment.id}/invoice.pdf").status_code == 404
    jan = signed_in(app, person("jan@example.com"), ip="192.0.2.31")
    with jan.get(f"/attachments/{attachment.id}/invoice.pdf") as response:
        assert response.status_code == 200 and response.data == b"%PDF-1.4 secret"
    assert "Adding Piotr" in piotr.text("/tickets/1") and "invoice.pdf" not in piotr.text("/tickets/1")


def test_the_whole_attack_through_dovecot(db, config, dovecot, smtp_server, engineer):
    """The forged-From attack and a borrowed reply address, mail in through the real Dovecot."""
    from helpdesk.inbox_worker.pipeline import Worker

    url = dovecot.new_mailbox()
    imap = config.with_(mailbox_url=url)

    def receive(raw):
        dovecot.append(url, raw)
        with Worker(imap, parse_workers=0) as worker:
            return worker.run_once()

    receive(make_mail(FIRST, Message_ID="<first@example.com>", Subject="Kamera"))
    got = deliver_all(config, smtp_server)
    receive(make_mail("x\n", From="jan@example.com", Subject="Re: [HD-1] Kamera", Reply_To="a1@evil.example",
                      Cc="a2@evil.example"))
    receive(make_mail("y\n", From="mallory@evil.example", To=reply_address(got["jan@example.com"][0]),
                      Subject="Re: [HD-1] Kamera"))
    assert {p.email for p in Participant.select()} == {"jan@example.com"}
    assert set(deliver_all(config, smtp_server)) == {engineer.email}
    assert {e["kind"] for e in events()} == {"unsigned_participants", "forged_reply_address"}
    assert Message.select().count() == 3


# --- 8. what still holds: a new ticket's people, and reopening ---------------------------------------


def test_a_new_tickets_sender_reply_to_and_cc_become_participants(desk, config, smtp_server, engineer):
    desk.receive(make_mail(From="Jan <jan@example.com>", Reply_To="jan.office@example.com",
                           To=f"{SUPPORT}, kasia@example.com", Cc="anna@example.com, Piotr <piotr@example.com>"))
    assert desk.participants(1) == {"jan@example.com": "requester", "jan.office@example.com": "cc",
                                    "kasia@example.com": "cc", "anna@example.com": "cc", "piotr@example.com": "cc"}
    got = deliver_all(config, smtp_server)
    assert set(got) == {"jan@example.com", "jan.office@example.com", "kasia@example.com", "anna@example.com",
                        "piotr@example.com", engineer.email}
    assert events() == []


def test_a_closed_ticket_is_reopened_by_a_reply_at_any_time(desk, config, smtp_server, ticket):
    long_ago = dt.datetime(2024, 1, 1)
    Ticket.update(status=Status.CLOSED.value, closed_at=long_ago, updated_at=long_ago).execute()
    row = desk.receive(make_mail("It broke again.\n", In_Reply_To="<first@example.com>", Subject="Re: Drukarka"))
    assert row.outcome == "reply" and "reopened" in row.reason
    assert Ticket.get_by_id(1).status == Status.WAITING_US.value
    row = desk.receive(make_mail("And again.\n", To=reply_address(ticket["anna@example.com"]),
                                 From="anna@example.com", Subject="Re: [HD-1] Drukarka"))
    assert row.outcome == "reply"


# --- the security-event log ---------------------------------------------------------------------


def test_security_events_are_listed_for_admins_only(app, db):
    ticket = Ticket.create(subject="Drukarka", requester_email="jan@example.com")
    with models_db.atomic():
        security_events.record("forged_reply_address", "mallory used jan's reply address",
                               sender="mallory@evil.example", ticket_id=ticket.id,
                               addresses=["mallory@evil.example", "m2@evil.example"])
        security_events.record("participant_cap", "<b>x</b> \x1b[2J\u202egpj.exe " + "y" * 5000,
                               sender="spam@evil.example\x1b]0;pwned\x07")
    [cap, forged] = security_events.events()
    assert (forged["kind"], forged["sender"], forged["ticket"]) == \
           ("forged_reply_address", "mallory@evil.example", ticket.id)
    assert forged["addresses"] == ["mallory@evil.example", "m2@evil.example"] and forged["at"]
    assert len(cap["reason"]) == security_events.MAX_REASON
    assert "\x1b" not in cap["reason"] + cap["sender"] and "\u202e" not in cap["reason"]  # nothing a terminal obeys

    admin = signed_in(app, person("admin@helpdesk.example", Role.ADMIN))
    page = admin.text("/staff/security")
    assert "mallory used jan&#39;s reply address" in page and "HD-%d" % ticket.id in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page  # escaped
    only = admin.text("/staff/security?kind=participant_cap")
    assert "spam@evil.example" in only and "mallory used" not in only
    assert "mallory used" in admin.text(f"/staff/security?ticket={ticket.id}")
    assert admin.get("/staff/security?ticket=99999999999999999999999").status_code == 200  # beyond 64 bits
    engineer = signed_in(app, person("eng@helpdesk.example", Role.ENGINEER))
    assert engineer.get("/staff/security").status_code == 404
    assert Portal(app).get("/staff/security").status_code == 302  # to the login page


def test_helpdesk_security_log_lists_events_as_text_and_json(config, db, tmp_path):
    ticket = Ticket.create(subject="Drukarka", requester_email="jan@example.com")
    security_events.record("stale_reply_address", "the participant was removed", sender="anna@example.com",
                           ticket_id=ticket.id)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(config.data_dir), HELPDESK_DATABASE_URL=config.database_url,
               PYTHONPATH=str(REPO))

    def helpdesk(*args):
        done = subprocess.run([sys.executable, "-m", "helpdesk.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    [event] = json.loads(helpdesk("security", "log", "--json"))
    assert (event["kind"], event["sender"], event["ticket"], event["reason"]) == \
           ("stale_reply_address", "anna@example.com", ticket.id, "the participant was removed")
    assert event["at"]
    text = helpdesk("security", "log")
    assert f"HD-{ticket.id}" in text and "anna@example.com" in text and "the participant was removed" in text
    assert json.loads(helpdesk("security", "log", "--json", "--kind", "participant_cap")) == []
    assert SecurityEvent.select().count() == 1
