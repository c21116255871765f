"""Trust, duplicates (issue 13, item 5): nothing is silently dropped. Only the same mail
fetched twice (the same bytes, or the same mail as its author wrote it, whatever trace
headers the servers added on the way) is a duplicate; a different mail that reuses an
earlier mail's Message-ID is kept and threaded like any other, and flagged for admins.
Mail in through the Maildir and the real Dovecot, mail out through aiosmtpd.
"""
from __future__ import annotations

import pytest

from helpdesk.domain import security_events
from helpdesk.inbox_worker.parse import parse
from helpdesk.models import InboundMail, Message, Role, Ticket
from tests.mailfactory import make_mail
from tests.trust import deliver_all, person, text_of


@pytest.fixture
def engineer(db):
    return person("eng@helpdesk.localhost", Role.ENGINEER)


def test_the_same_mail_fetched_twice_is_a_duplicate(desk):
    raw = make_mail(Message_ID="<once@example.com>")
    desk.deliver(raw)
    desk.deliver(raw)  # two copies in the mailbox: two keys, one mail
    desk.run()
    assert [r.outcome for r in InboundMail.select().order_by(InboundMail.id)] == ["new_ticket", "duplicate"]
    assert Message.select().count() == 1
    assert security_events.events() == []


def test_the_same_mail_by_two_routes_is_a_duplicate(desk):
    """The same mail delivered twice, each copy with its own trace headers (Received,
    Delivered-To, Return-Path), is still one mail."""
    raw = make_mail(Message_ID="<routes@example.com>", Cc="support-alias@helpdesk.localhost")
    desk.receive(b"Received: from mx1.example by mx.helpdesk; Mon, 2 Nov 2026 10:00:01 +0000\n"
                 b"Delivered-To: support@helpdesk.localhost\n" + raw)
    row = desk.receive(b"Return-Path: <jan@example.com>\nReceived: from mx2.example by mx.helpdesk; "
                       b"Mon, 2 Nov 2026 10:00:09 +0000\nDelivered-To: support-alias@helpdesk.localhost\n"
                       + raw.replace(b"\n", b"\r\n"))
    assert row.outcome == "duplicate" and Message.select().count() == 1


def test_a_different_mail_reusing_a_message_id_is_kept_and_threaded(desk, config, smtp_server, engineer):
    """Before: logged as a duplicate; its content was on no ticket. After: a message of its
    own, threaded like any other (here: a reply by In-Reply-To), mailed like any other, and
    a security event."""
    desk.receive(make_mail("The printer is broken.\n", Message_ID="<reused@example.com>"))
    deliver_all(config, smtp_server)
    row = desk.receive(make_mail("It also makes a loud noise now.\n", Message_ID="<reused@example.com>",
                                 In_Reply_To="<reused@example.com>", Subject="Re: Printer broken"))
    assert row.outcome == "reply" and row.ticket_id == 1
    texts = [m.body_text for m in Message.select().order_by(Message.id)]
    assert texts == ["The printer is broken.", "It also makes a loud noise now."]
    [event] = security_events.events(kind="message_id_reused")
    assert event["ticket"] == 1 and event["message"] == Message.select().order_by(Message.id.desc()).get().id
    # The engineer's notice is about the second mail, not the first one with the same id.
    [notice] = deliver_all(config, smtp_server)[engineer.email]
    assert text_of(notice).index("loud noise") < text_of(notice).index("printer is broken")


def test_a_mail_pre_empting_a_message_id_does_not_silence_the_real_one(desk):
    """A stranger who guesses a Message-ID and sends first no longer makes the real mail a
    'duplicate': both are kept, each as a ticket of its own."""
    desk.receive(make_mail("spam\n", From="mallory@evil.example", Message_ID="<guessable-1@example.com>",
                           Subject="hi"))
    row = desk.receive(make_mail("The real request.\n", Message_ID="<guessable-1@example.com>"))
    assert row.outcome == "new_ticket"
    assert Ticket.select().count() == 2
    assert Message.get(Message.ticket == row.ticket_id).body_text == "The real request."


def test_a_different_mail_with_the_same_id_in_the_same_batch_is_kept(desk):
    desk.deliver(make_mail("first\n", Message_ID="<same@example.com>"))
    desk.deliver(make_mail("second, different\n", Message_ID="<same@example.com>", Subject="Other"))
    desk.run()
    assert sorted(r.outcome for r in InboundMail.select()) == ["new_ticket", "new_ticket"]
    assert Message.select().count() == 2


def test_the_fingerprint_ignores_trace_headers_and_line_ends_only():
    raw = make_mail(Message_ID="<f@example.com>")
    base = parse(raw).fingerprint
    assert parse(b"Received: from x by y; Mon, 2 Nov 2026 10:00:00 +0000\n" + raw).fingerprint == base
    assert parse(raw.replace(b"\n", b"\r\n")).fingerprint == base
    assert parse(raw.replace(b"printer is broken", b"printer is fine")).fingerprint != base
    assert parse(raw.replace(b"Subject: Printer broken", b"Subject: Printer fixed")).fingerprint != base


def test_duplicates_and_reused_ids_through_dovecot(db, config, dovecot, engineer):
    from helpdesk.inbox_worker.pipeline import Worker

    url = dovecot.new_mailbox()
    imap = config.with_(mailbox_url=url)
    raw = make_mail("Camera offline.\n", Message_ID="<cam@example.com>")
    dovecot.append(url, raw)
    dovecot.append(url, raw)
    dovecot.append(url, make_mail("Different text, same id.\n", Message_ID="<cam@example.com>",
                                  In_Reply_To="<cam@example.com>"))
    with Worker(imap, parse_workers=0) as worker:
        worker.run_once()
    assert [r.outcome for r in InboundMail.select().order_by(InboundMail.id)] == ["new_ticket", "duplicate",
                                                                                   "reply"]
    assert Message.select().count() == 2
    assert [e["kind"] for e in security_events.events()] == ["message_id_reused"]
