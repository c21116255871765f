"""Several mailboxes, each feeding its own queue: two Dovecot users read by one worker process,
tickets in their mailbox's queue, notices from that queue's address with its own signed
reply addresses, engineers limited to some queues, and a failing mailbox that leaves the
others working."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from helpdesk.domain import conversation, reports
from helpdesk.inbox_worker import mailboxes
from helpdesk.inbox_worker.imap import DONE_KEYWORD
from helpdesk.models import Company, MailboxState, Role, Ticket, User
from helpdesk.outgoing.sender import Sender
from tests.conftest import REPO
from tests.mailfactory import make_mail

SERWIS, PARTNERZY = "serwis@firma.test", "partnerzy@firma.test"


def two_queues(config, dovecot, **env):
    """A config reading two new Dovecot mailboxes: queue serwis and queue partnerzy."""
    first, second = dovecot.new_mailbox(), dovecot.new_mailbox()
    url = f"{first}?queue=serwis&address={SERWIS} {second}?queue=partnerzy&address={PARTNERZY}"
    return config.with_(mailbox_url=url, support_addresses=(*config.support_addresses, SERWIS, PARTNERZY),
                        parse_workers=0, **env), first, second


def staff(email: str, queues: str = "") -> User:
    return User.create(email=email, role=Role.ENGINEER.value, is_active=True, queues=queues)


def received(smtp_server) -> dict[tuple[str, str], object]:
    """(recipient, ticket subject) -> the message, for everything the SMTP server got."""
    return {(r.rcpt_tos[0], str(r.message["Subject"])): r.message for r in smtp_server.received}


def test_each_mailbox_feeds_its_queue_and_answers_from_its_address(db, config, dovecot, smtp_server):
    c, first, second = two_queues(config, dovecot, smtp_url=smtp_server.url)
    staff("ogolny@firma.test")
    staff("partner-desk@firma.test", queues="partnerzy")
    dovecot.append(first, make_mail("Drukarka nie drukuje.\n", To=SERWIS, Subject="Drukarka",
                                    From="jan@example.com", Message_ID="<s1@example.com>"))
    dovecot.append(second, make_mail("Chcemy zostać partnerem.\n", To=PARTNERZY, Subject="Współpraca",
                                     From="ewa@example.com", Message_ID="<p1@example.com>"))

    summary, errors = mailboxes.run_once(c)
    assert summary.outcomes == {"new_ticket": 2} and errors == {}
    queues = {t.subject: t.queue for t in Ticket.select()}
    assert queues == {"Drukarka": "serwis", "Współpraca": "partnerzy"}
    assert [r["subject"] for r in reports.ticket_rows(queue="partnerzy")] == ["Współpraca"]
    assert reports.ticket_detail("1")["queue"] == "serwis"
    assert all(DONE_KEYWORD in f for url in (first, second) for f in dovecot.flags(url).values())

    Sender(c).send_due()
    got = {(r.rcpt_tos[0], r.message["From"].addresses[0].addr_spec): r.message for r in smtp_server.received}
    ack_jan, ack_ewa = got[("jan@example.com", SERWIS)], got[("ewa@example.com", PARTNERZY)]
    assert ack_jan["Reply-To"].addresses[0].addr_spec.startswith("serwis+")
    assert ack_ewa["Reply-To"].addresses[0].addr_spec.startswith("partnerzy+")
    assert ack_ewa["Reply-To"].addresses[0].domain == "firma.test"
    # Engineers: the one limited to partnerzy hears of that queue only; the other of both.
    engineer_mail = sorted((to, frm) for to, frm in got if to.endswith("@firma.test"))
    assert engineer_mail == [("ogolny@firma.test", PARTNERZY), ("ogolny@firma.test", SERWIS),
                             ("partner-desk@firma.test", PARTNERZY)]

    # A reply to the partner queue's signed address comes back into that mailbox and joins the ticket.
    dovecot.append(second, make_mail("Dziękujemy.\n", From="ewa@example.com", Subject="Re: Współpraca",
                                     To=ack_ewa["Reply-To"].addresses[0].addr_spec, Message_ID="<p2@example.com>"))
    summary, errors = mailboxes.run_once(c)
    assert summary.outcomes == {"reply": 1}
    partner_ticket = Ticket.get(Ticket.subject == "Współpraca")
    assert partner_ticket.messages.count() == 2 and Ticket.select().count() == 2


def test_a_mailbox_with_a_wrong_password_leaves_the_other_working(db, config, dovecot):
    c, first, second = two_queues(config, dovecot)
    user, password = second.split("//", 1)[1].split("@", 1)[0].split(":")
    broken_url = second.replace(f"{user}:{password}@", f"{user}:wrong@")
    c = c.with_(mailbox_url=c.mailbox_url.replace(second, broken_url), reconnect_max_seconds=1, poll_seconds=1)
    dovecot.append(first, make_mail(To=SERWIS, Subject="Pierwsza", Message_ID="<a1@example.com>"))
    dovecot.append(second, make_mail(To=PARTNERZY, Subject="Czeka", Message_ID="<b1@example.com>"))

    summary, errors = mailboxes.run_once(c, max_failures=1)
    assert summary.outcomes == {"new_ticket": 1}
    [(name, error)] = errors.items()
    assert name == c.mailboxes[1].name and "login" in error and "wrong" not in error  # no password in messages

    # One worker process serving both: the good mailbox goes on while the other keeps failing.
    stop = threading.Event()
    running = threading.Thread(target=mailboxes.run, args=(c, stop))
    running.start()
    try:
        dovecot.append(first, make_mail(To=SERWIS, Subject="Druga", Message_ID="<a2@example.com>"))
        deadline = time.monotonic() + 60
        while Ticket.select().count() < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        running.join(60)
    assert not running.is_alive()
    assert sorted(t.subject for t in Ticket.select()) == ["Druga", "Pierwsza"]
    assert {t.queue for t in Ticket.select()} == {"serwis"}
    state = MailboxState.get(MailboxState.mailbox == c.mailboxes[1].name)
    assert "login" in state.last_error and state.last_fetch_at is None
    assert dovecot.uids(second, criteria=["UNKEYWORD", DONE_KEYWORD]) != []  # its mail waits on the server


def test_portal_tickets_go_to_the_default_queue_or_by_rule(db, config):
    c = config.with_(mailbox_url="maildir:///tmp/a?queue=serwis maildir:///tmp/b?queue=partnerzy",
                     portal_queue_rules=(("partner", "partnerzy"),))
    installer = Company.create(nip="5260250995", name="Instalator", role="installer")
    customer = User(email="k@example.com", role=Role.CUSTOMER.value)
    partner_user = User(email="p@example.com", role=Role.CUSTOMER.value, company=installer)
    partner_account = User(email="q@example.com", role=Role.PARTNER.value)
    assert conversation.portal_queue(c, customer) == "serwis"
    assert conversation.portal_queue(c, partner_user) == "partnerzy"
    assert conversation.portal_queue(c, partner_account) == "partnerzy"
    assert conversation.portal_queue(c.with_(portal_queue_rules=()), partner_account) == "serwis"


def test_staff_queue_and_cli_filter_by_queue(db, config, tmp_path):
    from helpdesk.domain import passwords, tickets
    from helpdesk.web import create_app
    from tests.portal import Portal

    c = config.with_(mailbox_url="maildir:///tmp/a?queue=serwis maildir:///tmp/b?queue=partnerzy")
    tickets.open_ticket(subject="Serwisowe zgloszenie", requester_email="a@example.com", queue="serwis")
    tickets.open_ticket(subject="Partnerskie zgloszenie", requester_email="b@example.com", queue="partnerzy")
    User.create(email="eng@firma.test", role=Role.ENGINEER.value, is_active=True,
                password_hash=passwords.hash_password("correct horse battery"))
    portal = Portal(create_app(c, db=db))
    assert portal.post("/login", {"email": "eng@firma.test", "password": "correct horse battery"}).status_code == 302
    both = portal.text("/staff?queue=all")
    assert "Serwisowe zgloszenie" in both and "Partnerskie zgloszenie" in both and "box=partnerzy" in both
    partners = portal.text("/staff?queue=all&box=partnerzy")
    assert "Partnerskie zgloszenie" in partners and "Serwisowe zgloszenie" not in partners
    assert "Serwisowe zgloszenie" in portal.text("/staff?queue=all&box=nonsense")  # an unknown queue: all

    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(c.data_dir), HELPDESK_DATABASE_URL=c.database_url, PYTHONPATH=str(REPO),
               HELPDESK_MAILBOX_URL=c.mailbox_url)

    def helpdesk(*args):
        done = subprocess.run([sys.executable, "-m", "helpdesk.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = json.loads(helpdesk("ticket", "list", "--queue", "partnerzy", "--json"))
    assert [(r["subject"], r["queue"]) for r in listed] == [("Partnerskie zgloszenie", "partnerzy")]
    assert json.loads(helpdesk("ticket", "show", "1", "--json"))["queue"] == "serwis"
    assert "partnerzy" in helpdesk("user", "queues", "eng@firma.test", "partnerzy")
    assert User.get(User.email == "eng@firma.test").queue_names == ("partnerzy",)
