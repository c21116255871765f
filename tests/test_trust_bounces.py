"""Threat: bounces and limits that silence people (issue 13, item 3).

A stranger's forged delivery report must not mark an address undeliverable; only a report
that arrives on the signed return path of one of our mails, or quotes the Message-ID of a
mail we sent to the address it names, may; a size refusal (552, 5.3.4), a temporary code or
a policy refusal never does. The per-ticket hourly cap never drops an engineer's answer.
And the other way round: every genuine bounce, however non-standard, opens no ticket.
End to end: mail in through the Maildir, mail out through aiosmtpd, the staff page through
the app.
"""
from __future__ import annotations

import datetime as dt

import pytest

from helpdesk.domain import outbox, security_events, tokens
from helpdesk.inbox_worker.classify import classify
from helpdesk.inbox_worker.parse import parse
from helpdesk.models import AddressStatus, InboundMail, Message, Outbox, Role, SecurityEvent, Ticket, User, db, utcnow
from helpdesk.outgoing.sender import Sender
from tests.conftest import CORPUS, corpus_rows, need_corpus
from tests.mailfactory import make_mail

SUPPORT = "support@helpdesk.localhost"


def report(recipient: str, *, to: str = SUPPORT, original: str | None = None, status: str = "5.1.1",
           diagnostic: str = "550 5.1.1 User unknown", action: str = "failed") -> bytes:
    """An RFC 3464 delivery report for `recipient`, quoting `original` as the returned mail's Message-ID."""
    returned = f"Message-ID: <{original}>\r\n" if original else ""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{abs(hash((recipient, to, original, status)))}@mx.example.org>\r\n"
        "Return-Path: <>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {SUPPORT}\r\nTo: {recipient}\r\nSubject: [HD-1] Printer broken\r\n{returned}"
        "--B--\r\n"
    ).encode()


@pytest.fixture
def engineer(db):
    return User.create(email="eng@helpdesk.localhost", first_name="Ewa", last_name="Nowak",
                       role=Role.ENGINEER.value, is_active=True)


@pytest.fixture
def sender(config, smtp_server):
    return Sender(config.with_(smtp_url=smtp_server.url))


def delivered(sender, smtp_server, *, now=None) -> dict:
    sender.send_due(now=now)
    got = {}
    for r in smtp_server.received:
        got.setdefault(r.rcpt_tos[0], []).append(r)
    smtp_server.received.clear()
    return got


def marked(address: str) -> bool:
    row = AddressStatus.get_or_none(AddressStatus.email == address)
    return row is not None and row.bounced_at is not None


def answer(config, engineer, ticket_id: int, text: str = "Proszę zrestartować rejestrator.") -> None:
    """An engineer's answer, as the staff page sends it."""
    from helpdesk.domain import conversation

    conversation.reply(config, ticket_id, engineer, text)


# --- forged reports -------------------------------------------------------------------------


def test_a_forged_report_marks_nothing_and_answers_still_reach_the_address(desk, config, sender, smtp_server,
                                                                            engineer):
    desk.receive(make_mail(From="alice@customer.example", Cc="bob@customer.example", Subject="Rejestrator"))
    delivered(sender, smtp_server)
    # Mallory writes a delivery report naming Alice, about no mail of ours.
    row = desk.receive(report("alice@customer.example", original="made-up@attacker.example"))

    assert row.outcome == "bounce" and "nothing marked" in row.reason and row.ticket_id is None
    assert not marked("alice@customer.example")
    [event] = SecurityEvent.select().where(SecurityEvent.kind == "bounce_refused")
    assert "alice@customer.example" in event.addresses and event.inbound_id == row.id
    assert security_events.events(kind="bounce_refused")[0]["sender"] == "mailer-daemon@mx.example.org"
    answer(config, engineer, 1)
    assert "alice@customer.example" in delivered(sender, smtp_server)


def test_a_report_without_any_message_id_marks_nothing(desk, config, sender, smtp_server):
    desk.receive(make_mail(From="alice@customer.example"))
    row = desk.receive(report("alice@customer.example"))
    assert row.outcome == "bounce" and not marked("alice@customer.example")


def test_our_message_id_sent_to_someone_else_does_not_mark_the_address_the_report_names(desk, config, sender,
                                                                                        smtp_server):
    # Bob, a participant, got our notice and quotes its Message-ID in a report naming Alice.
    desk.receive(make_mail(From="alice@customer.example", Cc="bob@customer.example"))
    to_bob = delivered(sender, smtp_server)["bob@customer.example"][0].message
    row = desk.receive(report("alice@customer.example", original=to_bob["Message-ID"].strip("<>")))
    assert row.outcome == "bounce" and "sent to bob@customer.example" in row.reason
    assert not marked("alice@customer.example") and not marked("bob@customer.example")


def test_notices_never_show_one_participant_the_message_id_of_our_mail_to_another(desk, config, sender,
                                                                                   smtp_server):
    """Else Alice could quote it in a forged report naming Bob."""
    desk.receive(make_mail(From="alice@customer.example", Cc="bob@customer.example"))
    to_bob = delivered(sender, smtp_server)["bob@customer.example"][0].message
    bobs_id = to_bob["Message-ID"].strip("<>")
    desk.receive(make_mail("Potwierdzam.\n", From="bob@customer.example", To=to_bob["Reply-To"].addresses[0].addr_spec,
                           Subject=f"Re: {to_bob['Subject']}", In_Reply_To=to_bob["Message-ID"],
                           References=to_bob["Message-ID"]))
    to_alice = delivered(sender, smtp_server)["alice@customer.example"][0].message
    assert bobs_id not in str(to_alice["References"] or "") and bobs_id not in to_alice.as_string()
    row = desk.receive(report("bob@customer.example", original="hd.1.guessed@helpdesk.localhost"))
    assert not marked("bob@customer.example") and "nothing marked" in row.reason


def test_a_forged_report_does_not_stop_account_mail(desk, config, sender, smtp_server):
    desk.receive(report("new.customer@customer.example", original="hd.0.0000@helpdesk.localhost"))
    with db.atomic():
        outbox.queue(outbox.build(mail_from=SUPPORT, from_name="Portal", to="new.customer@customer.example",
                                  subject="Aktywacja konta", text="Link", message_id="act-1@helpdesk.localhost",
                                  loop_marker=SUPPORT), kind="activation", recipient="new.customer@customer.example")
    assert "new.customer@customer.example" in delivered(sender, smtp_server)


# --- genuine reports ------------------------------------------------------------------------


def test_a_report_on_our_signed_return_path_marks_the_recipient_of_that_mail(desk, config, sender, smtp_server):
    desk.receive(make_mail(From="alice@customer.example", Cc="gone@customer.example"))
    [to_gone] = delivered(sender, smtp_server)["gone@customer.example"]
    # The envelope sender names the outbox row, signed; the report comes back to it.
    row_id = tokens.returned_row([to_gone.mail_from], (SUPPORT,), config.secret_key)
    assert Outbox.get_by_id(row_id).recipient == "gone@customer.example"

    row = desk.receive(report("gone@customer.example", to=to_gone.mail_from))

    assert row.outcome == "bounce" and row.ticket_id == 1 and "signed return path" in row.reason
    assert marked("gone@customer.example") and len(desk.tickets()) == 1
    assert "marked undeliverable" in desk.messages(1)[-1].body_text


def test_a_forged_return_path_marks_nothing(desk, config, sender, smtp_server):
    desk.receive(make_mail(From="alice@customer.example"))
    delivered(sender, smtp_server)
    forged = tokens.return_path(SUPPORT, "not-our-secret", 1)
    row = desk.receive(report("alice@customer.example", to=forged))
    assert row.outcome == "bounce" and not marked("alice@customer.example")


def test_a_report_quoting_our_message_id_to_that_address_marks_it(desk, config, sender, smtp_server):
    desk.receive(make_mail(From="alice@customer.example", Cc="gone@customer.example"))
    [to_gone] = delivered(sender, smtp_server)["gone@customer.example"]
    row = desk.receive(report("gone@customer.example", original=to_gone.message["Message-ID"].strip("<>")))
    assert row.outcome == "bounce" and marked("gone@customer.example")


@pytest.mark.parametrize("status, diagnostic, action", [
    ("5.3.4", "552 5.3.4 Message size exceeds fixed limit", "failed"),
    ("5.2.3", "552 5.2.3 Message length exceeds administrative limit", "failed"),
    ("4.2.2", "452 4.2.2 Mailbox full", "delayed"),
    ("4.4.1", "421 4.4.1 Connection timed out", "failed"),
    ("5.7.1", "550 5.7.1 Message rejected as spam", "failed"),
], ids=["size-5.3.4", "size-5.2.3", "temporary-full", "temporary-timeout", "policy"])
def test_a_genuine_report_of_size_temporary_or_policy_failure_marks_nothing(desk, config, sender, smtp_server,
                                                                         engineer, status, diagnostic, action):
    desk.receive(make_mail(From="alice@customer.example", Cc="carol@customer.example"))
    [to_carol] = delivered(sender, smtp_server)["carol@customer.example"]
    row = desk.receive(report("carol@customer.example", to=to_carol.mail_from, status=status,
                              diagnostic=diagnostic, action=action))
    assert row.outcome == "bounce" and "nothing marked" in row.reason
    assert not marked("carol@customer.example")
    answer(config, engineer, 1)
    assert "carol@customer.example" in delivered(sender, smtp_server)


# --- our own SMTP server's answers ------------------------------------------------------------


@pytest.mark.parametrize("answer_", ["552 5.3.4 Message too big for system", "550 5.7.1 Relaying denied",
                                     "554 5.7.1 Rejected by policy"])
def test_a_refusal_that_is_not_about_the_address_fails_one_mail_and_marks_nothing(desk, config, sender,
                                                                               smtp_server, engineer, answer_):
    desk.receive(make_mail(From="alice@customer.example"))
    delivered(sender, smtp_server)
    smtp_server.refuse["alice@customer.example"] = answer_
    answer(config, engineer, 1)
    assert delivered(sender, smtp_server) == {}
    assert not marked("alice@customer.example")
    [why] = Message.select().where(Message.ticket == 1, Message.kind == "system")
    assert "stays in use" in why.body_text
    del smtp_server.refuse["alice@customer.example"]
    answer(config, engineer, 1, "Druga odpowiedź.")
    assert "alice@customer.example" in delivered(sender, smtp_server)


def test_a_refusal_of_the_address_still_marks_it(desk, config, sender, smtp_server, engineer):
    desk.receive(make_mail(From="alice@customer.example"))
    delivered(sender, smtp_server)
    smtp_server.refuse["alice@customer.example"] = "550 5.1.1 No such user"
    answer(config, engineer, 1)
    delivered(sender, smtp_server)
    assert marked("alice@customer.example")


# --- the hourly cap ---------------------------------------------------------------------------


def test_the_hourly_cap_delays_an_engineers_answer_and_never_drops_it(desk, config, sender, smtp_server,
                                                                      engineer):
    from helpdesk.domain.notify import NOTICES_PER_TICKET_HOUR

    desk.receive(make_mail(From="alice@customer.example", Cc="bob@customer.example",
                           Message_ID="<first@customer.example>", Subject="Rejestrator"))
    for i in range(NOTICES_PER_TICKET_HOUR + 2):  # Alice writes a lot: Bob's hour is full
        desk.receive(make_mail(f"Jeszcze jedno {i}.\n", From="alice@customer.example",
                               In_Reply_To="<first@customer.example>", Subject="Re: [HD-1] Rejestrator"))
    to_bob = Outbox.select().where(Outbox.recipient == "bob@customer.example")
    assert to_bob.count() == NOTICES_PER_TICKET_HOUR  # automated relays stop at the cap
    delivered(sender, smtp_server)

    answer(config, engineer, 1, "Odpowiedź inżyniera.")
    queued = Outbox.select().where(Outbox.recipient == "bob@customer.example").order_by(Outbox.id.desc()).get()
    assert queued.status == "pending" and queued.next_attempt_at > utcnow()
    assert "alice@customer.example" in delivered(sender, smtp_server)  # not held up
    later = queued.next_attempt_at + dt.timedelta(seconds=1)
    got = delivered(sender, smtp_server, now=later)
    assert "Odpowiedź inżyniera" in got["bob@customer.example"][0].message.get_body(("plain",)).get_content()


# --- genuine bounces open no ticket -------------------------------------------------------------

# A row the shared corpus labels a bounce that is not one: opening a ticket for it is right.
NOT_A_BOUNCE = {"bounceparser/spam-lots-of-bogus-addresses.msg": "plain spam; BounceParser's test of a non-bounce"}


def _corpus_bounces():
    return [r for r in corpus_rows() if (r["kind"] == "bounce" or r["is_bounce"] == "1")
            and r["path"] not in NOT_A_BOUNCE]


@pytest.mark.slow
def test_every_bounce_of_the_corpus_is_a_bounce_and_opens_no_ticket(desk):
    need_corpus()
    rows = _corpus_bounces()
    assert len(rows) > 150
    kinds = {r["path"]: classify(parse((CORPUS / r["path"]).read_bytes()), support_addresses=(SUPPORT,)).kind
             for r in rows}
    assert {p: k for p, k in kinds.items() if k != "bounce"} == {}
    keys = {desk.deliver((CORPUS / r["path"]).read_bytes()): r["path"] for r in rows}
    desk.run()
    outcomes = {keys[e.uid]: e.outcome for e in InboundMail.select()}
    assert len(outcomes) == len(rows)
    # Some corpus files share a Message-ID: the second is a duplicate, which opens nothing either.
    assert {p: o for p, o in outcomes.items() if o not in ("bounce", "duplicate")} == {}
    assert Ticket.select().count() == 0 and not AddressStatus.select().where(AddressStatus.bounced_at.is_null(False))


def _plain(sender_: str, subject: str, body: str, **headers) -> bytes:
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return (f"From: {sender_}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash((sender_, subject, body)))}@mx.example.net>\r\n{extra}\r\n{body}").encode()


# Reports without an RFC 3464 part, as the MTAs in flufl.bounce's detectors and sisimai's
# list write them, and the names postmasters go by.
NON_STANDARD = {
    "qmail": _plain("MAILER-DAEMON@mx.example.net", "failure notice",
                    "Hi. This is the qmail-send program at mx.example.net.\r\nI'm afraid I wasn't able to deliver "
                    "your message to the following addresses.\r\n\r\n<gone@example.net>:\r\nSorry, no mailbox here "
                    "by that name. (#5.1.1)\r\n"),
    "exim": _plain("Mail Delivery System <Mailer-Daemon@mx.example.net>", "Mail delivery failed: returning message "
                   "to sender", "This message was created automatically by mail delivery software.\r\n\r\nA message "
                   "that you sent could not be delivered to one or more of its\r\nrecipients. This is a permanent "
                   "error. The following address(es) failed:\r\n\r\n  gone@example.net\r\n    SMTP error from remote "
                   "mail server after RCPT TO:<gone@example.net>:\r\n    550 5.1.1 User unknown\r\n",
                   X_Failed_Recipients="gone@example.net"),
    "sendmail": _plain("Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>", "Returned mail: see transcript "
                       "for details", "The original message was received at Mon, 2 Nov 2026 10:00:00 +0100\r\n\r\n"
                       "   ----- The following addresses had permanent fatal errors -----\r\n<gone@example.net>\r\n"
                       "    (reason: 550 5.1.1 <gone@example.net>... User unknown)\r\n"),
    "lotus-domino": _plain("Postmaster@notes.example.net", "DELIVERY FAILURE: User gone (gone@example.net) not "
                           "listed in Domino Directory", "Your message\r\n\r\n  Subject: [HD-1] Printer broken\r\n\r\n"
                           "was not delivered to:\r\n\r\n  gone@example.net\r\n\r\nbecause:\r\n\r\n  User gone "
                           "(gone@example.net) not listed in Domino Directory\r\n"),
    "exchange-2003": _plain("System Administrator <postmaster@exchange.example.net>", "Undeliverable: [HD-1] Printer "
                            "broken", "Your message did not reach some or all of the intended recipients.\r\n\r\n"
                            "      Subject:\t[HD-1] Printer broken\r\n\r\nThe following recipient(s) cannot be "
                            "reached:\r\n\r\n      gone@example.net on 02.11.2026 10:00\r\n            The e-mail "
                            "account does not exist at the organization this message was sent to.\r\n"),
    "yahoo": _plain("MAILER-DAEMON@yahoo.example.net", "Failure Notice", "Sorry, we were unable to deliver your "
                    "message to the following address.\r\n\r\n<gone@example.net>:\r\nRemote host said: 554 "
                    "delivery error: dd This user doesn't have an account [RCPT_TO]\r\n"),
    "postfix-plain": _plain("MAILER-DAEMON (Mail Delivery System) <mailer_daemon@mx.example.net>",
                            "Undelivered Mail Returned to Sender", "This is the mail system at host mx.example.net."
                            "\r\n\r\nI'm sorry to have to inform you that your message could not\r\nbe delivered "
                            "to one or more recipients.\r\n\r\n<gone@example.net>: host mx2.example.net said: 550 "
                            "5.1.1 Recipient address rejected\r\n"),
    "mdaemon": _plain("MDaemon@mail.example.net", "Permanent Delivery Failure", "The attached message had "
                      "PERMANENT fatal delivery errors!\r\n\r\nAfter one or more unsuccessful delivery attempts the "
                      "attached message has been removed from the mail queue on this server.\r\n"),
    "postmaster-polish": _plain("Administrator poczty <postmaster@poczta.example.pl>", "Niedostarczona wiadomość",
                                "Wiadomość nie może zostać dostarczona do odbiorcy gone@example.pl: skrzynka nie "
                                "istnieje.\r\n"),
    "fml-not-member": _plain("neko-admin@example.org", "You gone@example.org are not member (neko-nyaan ML)",
                             "You are not a member of this mailing list <neko-nyaan@example.org>.\r\n",
                             X_MLServer="fml [fml 4.0.3 release (20011202/4.0.3)]"),
    "gmail-no-dsn": _plain("Mail Delivery Subsystem <mailer-daemon@googlemail.example.net>",
                           "Delivery Status Notification (Failure)", "** Address not found **\r\n\r\nYour message "
                           "wasn't delivered to gone@example.net because the address couldn't be found, or is unable "
                           "to receive mail.\r\n"),
    "mailerdaemon-invalid": _plain("mailerdaemon@mx.example.net", "Returned", "The recipient gone@example.net is "
                                   "invalid.\r\n"),
    "double-bounce": _plain("double-bounce@mx.example.net", "bounce", "550 5.1.1 gone@example.net unknown\r\n"),
    "courier": _plain("Courier mail server at mx.example.net <@>", "NOTICE: mail delivery status.",
                      "This is a delivery status notification from mx.example.net,\r\nrunning the Courier mail "
                      "server.\r\n\r\nThe original message was received on Mon, 02 Nov 2026.\r\n\r\n-------------"
                      "--------------------------\r\n                        UNDELIVERABLE MAIL\r\n"
                      "---------------------------------------\r\n\r\nYour message to the following recipients "
                      "cannot be delivered:\r\n\r\n<gone@example.net>:\r\n    550 User unknown\r\n",
                      Return_Path="<>"),
}


@pytest.mark.parametrize("name", sorted(NON_STANDARD))
def test_a_non_standard_bounce_is_a_bounce_and_opens_no_ticket(desk, name):
    row = desk.receive(NON_STANDARD[name])
    assert row.outcome == "bounce", row.reason
    assert Ticket.select().count() == 0


def test_a_person_writing_about_a_bounce_still_opens_a_ticket(desk):
    row = desk.receive(make_mail("Dzień dobry, wasz mail do mnie wrócił z błędem 'user unknown'. Proszę o pomoc.\n",
                                 From="alice@customer.example", Subject="Mail returned?"))
    assert row.outcome == "new_ticket"
