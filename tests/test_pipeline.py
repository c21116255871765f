"""End to end on the embedded Maildir: raw mail in, rows out, one test per routing decision."""
from __future__ import annotations

import errno
from dataclasses import replace

import pytest

from helpdesk.domain import faults, reports, tickets, tokens
from helpdesk.domain.storage import BlobStore
from helpdesk.models import (
    AddressStatus,
    Attachment,
    Blob,
    InboundMail,
    KnownMessageId,
    MailboxState,
    Participant,
    Quarantine,
    Role,
    Status,
    StatusChange,
    Ticket,
    User,
)
from tests.mailfactory import make_mail

SUPPORT = "support@helpdesk.localhost"


def dsn(original_message_id: str, recipient: str = "gone@example.org", status: str = "5.1.1") -> bytes:
    """An RFC 3464 delivery report about one of our mails."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {SUPPORT}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.org>\r\n"
        "Return-Path: <>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {SUPPORT}\r\nTo: {recipient}\r\nSubject: [HD-1] Printer broken\r\n"
        f"Message-ID: <{original_message_id}>\r\n"
        "--B--\r\n"
    ).encode()


def test_new_ticket_keeps_everything_and_marks_the_mail_done(desk, config):
    raw = make_mail(Message_ID="<first@example.com>", Cc="Anna <anna@example.com>, " + SUPPORT,
                    Reply_To="office@example.com", To=SUPPORT)
    row = desk.receive(raw)

    assert row.outcome == "new_ticket"
    [ticket] = desk.tickets()
    assert row.ticket_id == ticket.id
    assert ticket.subject == "Printer broken" and ticket.status == Status.NEW.value
    assert ticket.requester_email == "jan@example.com"
    assert desk.participants(ticket.id) == {
        "jan@example.com": "requester", "anna@example.com": "cc", "office@example.com": "cc"}
    [message] = desk.messages(ticket.id)
    assert "the printer is broken" in message.body_text
    assert message.message_id == "first@example.com" and message.thread_rule == "new"
    # The raw bytes are kept, compressed, and give back the exact message.
    store = BlobStore(config.blob_dir, config.raw_dir)
    assert store.raw_path(row.raw_sha256).read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # zstd frame
    assert store.get_raw(row.raw_sha256) == raw
    # Marked done only after the commit: the inbox is empty now.
    assert desk.waiting() == 0


@pytest.mark.parametrize("headers, rule", [
    ({"In_Reply_To": "<first@example.com>"}, "in_reply_to"),
    ({"References": "<unknown@elsewhere> <first@example.com> <also-unknown@x>"}, "references"),
    ({"Subject": "Odp: AW: RE: Fwd: SV: Printer broken [HD-1]"}, "subject_tag"),
])
def test_a_reply_joins_its_ticket(desk, headers, rule):
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    row = desk.receive(make_mail(Message_ID="<second@example.com>", **headers))

    assert row.outcome == "reply"
    assert len(desk.tickets()) == 1
    assert [m.thread_rule for m in desk.messages(1)] == ["new", rule]


def test_a_subject_tag_from_a_stranger_opens_a_new_ticket(desk):
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    row = desk.receive(make_mail(From="mallory@evil.example", Subject="Re: [HD-1] give me the data"))

    assert row.outcome == "new_ticket"
    assert len(desk.tickets()) == 2
    assert "mallory@evil.example" not in desk.participants(1)


def test_a_signed_reply_address_threads_even_without_headers(desk, config):
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    jan = Participant.get(Participant.email == "jan@example.com")
    address = tokens.reply_address(SUPPORT, config.secret_key, 1, f"p{jan.id}")
    row = desk.receive(make_mail(To=address, Cc="boss@example.com", Subject="another topic"))

    assert row.outcome == "reply"
    assert desk.messages(1)[-1].thread_rule == "reply_token"
    assert "boss@example.com" in desk.participants(1)  # its holder brought a CC (issue 13: only this path does)


def test_a_forged_reply_token_is_not_trusted(desk, config):
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    forged = tokens.reply_address(SUPPORT, "another-secret", 1, "0")
    row = desk.receive(make_mail(From="boss@example.com", To=forged, Subject="another topic"))
    assert row.outcome == "new_ticket"


def test_a_signed_reply_adds_new_cc_and_reply_to_but_never_the_support_address(desk, config):
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    jan = Participant.get(Participant.email == "jan@example.com")
    address = tokens.reply_address(SUPPORT, config.secret_key, 1, f"p{jan.id}")
    desk.receive(make_mail(To=address, In_Reply_To="<first@example.com>", Cc=f"piotr@example.com, {SUPPORT}",
                           Reply_To="jan.private@example.com"))
    assert desk.participants(1) == {
        "jan@example.com": "requester", "piotr@example.com": "cc", "jan.private@example.com": "cc"}


def test_a_reply_by_in_reply_to_adds_nobody(desk):
    """Issue 13: a From proves nothing; only a signed reply address adds participants."""
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    desk.receive(make_mail(In_Reply_To="<first@example.com>", Cc=f"piotr@example.com, {SUPPORT}",
                           Reply_To="jan.private@example.com"))
    assert desk.participants(1) == {"jan@example.com": "requester"}


def test_a_customer_reply_reopens_a_closed_ticket(desk):
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    ticket = Ticket.get_by_id(1)
    tickets.set_status(ticket, Status.CLOSED, reason="solved")

    row = desk.receive(make_mail(In_Reply_To="<first@example.com>", body="It broke again"))

    assert row.outcome == "reply" and "reopened" in row.reason
    ticket = Ticket.get_by_id(1)
    assert ticket.status == Status.WAITING_US.value and ticket.closed_at is None
    last = StatusChange.select().order_by(StatusChange.id.desc()).get()
    assert (last.old_status, last.new_status) == ("closed", "waiting_us")


@pytest.mark.parametrize("headers", [
    {"Auto_Submitted": "auto-replied"},
    {"X_Autoreply": "yes"},
    {"Precedence": "bulk"},
    {"Subject": "Odpowiedź automatyczna: Printer broken"},
    {"Subject": "Out of Office: Printer broken"},
])
def test_auto_replies_open_nothing_and_reopen_nothing(desk, headers):
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    tickets.set_status(Ticket.get_by_id(1), Status.CLOSED)

    row = desk.receive(make_mail(In_Reply_To="<first@example.com>", **headers))

    assert row.outcome == "autoreply" and row.reason
    assert len(desk.tickets()) == 1 and Ticket.get_by_id(1).status == "closed"
    assert len(desk.messages(1)) == 1


def test_a_bounce_of_our_mail_marks_the_address_and_opens_nothing(desk):
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    tickets.remember_message_id("hd-out-1@helpdesk.localhost", Ticket.get_by_id(1), outgoing=True,
                                recipient="gone@example.org")

    row = desk.receive(dsn("hd-out-1@helpdesk.localhost"))

    assert row.outcome == "bounce" and row.ticket_id == 1
    assert len(desk.tickets()) == 1
    status = AddressStatus.get(AddressStatus.email == "gone@example.org")
    assert status.bounced_at is not None and "5.1.1" in status.bounce_reason
    assert "gone@example.org" in desk.messages(1)[-1].body_text


@pytest.mark.parametrize("raw", [
    make_mail(From=SUPPORT, Subject="Re: [HD-1] answer"),
    make_mail(From="support+1-0-abc@helpdesk.localhost"),
    make_mail(Message_ID="<hd-out-2@helpdesk.localhost>"),
], ids=["from-support", "from-plus-address", "own-message-id"])
def test_our_own_mail_coming_back_is_a_loop(desk, raw):
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    tickets.remember_message_id("hd-out-2@helpdesk.localhost", Ticket.get_by_id(1), outgoing=True)

    row = desk.receive(raw)

    assert row.outcome == "loop"
    assert len(desk.tickets()) == 1 and len(desk.messages(1)) == 1


def test_the_same_message_twice_is_stored_once(desk):
    raw = make_mail(Message_ID="<same@example.com>")
    desk.deliver(raw)
    desk.deliver(raw)
    summary = desk.run()

    assert summary.outcomes == {"new_ticket": 1, "duplicate": 1}
    assert len(desk.tickets()) == 1
    assert desk.waiting() == 0


def test_an_engineer_with_a_token_replies_as_staff_but_a_forged_from_does_not(desk, config):
    engineer = User.create(email="eng@helpdesk.localhost", role=Role.ENGINEER.value, is_active=True)
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    address = tokens.reply_address(SUPPORT, config.secret_key, 1, f"u{engineer.id}")

    staff = desk.receive(make_mail(From="eng@helpdesk.localhost", To=address, body="Restart it.\n\n> old"))
    forged = desk.receive(make_mail(From="eng@helpdesk.localhost", In_Reply_To="<first@example.com>"))

    assert staff.outcome == "staff_reply"
    assert Ticket.get_by_id(1).status in (Status.WAITING_CUSTOMER.value, Status.WAITING_US.value)
    assert forged.outcome == "reply"
    kinds = [m.kind for m in desk.messages(1)]
    assert kinds == ["customer", "staff", "customer"]


def test_attachments_are_stored_once_by_hash_and_oversize_ones_are_refused(desk, config):
    pdf = b"%PDF-1.4 " + b"x" * 1000
    big = b"B" * (config.max_attachment_bytes + 1)
    desk.receive(make_mail(Message_ID="<a@example.com>", attachments=[("faktura.pdf", "application/pdf", pdf)]))
    desk.receive(make_mail(Message_ID="<b@example.com>", attachments=[
        ("kopia.pdf", "application/pdf", pdf), ("dump.bin", "application/octet-stream", big)]))

    assert Blob.select().count() == 1
    rows = {a.filename: a for a in Attachment.select()}
    assert rows["faktura.pdf"].blob_id == rows["kopia.pdf"].blob_id
    assert rows["dump.bin"].blob_id is None and "limit" in rows["dump.bin"].skipped_reason
    # The parsing stage sends the writer no attachment bytes, only their sizes.
    assert (rows["faktura.pdf"].size, rows["dump.bin"].size) == (len(pdf), len(big))
    assert BlobStore(config.blob_dir, config.raw_dir).get(rows["kopia.pdf"].blob.sha256) == pdf


def test_a_message_over_the_size_limit_keeps_its_header_and_says_why(desk, config, db):
    from tests.harness import Desk

    small = Desk(config.with_(max_message_bytes=2000))
    row = small.receive(make_mail(body="x" * 5000, Subject="Huge"))

    assert row.outcome == "new_ticket" and row.size > 2000
    [message] = small.messages(row.ticket_id)
    assert "over the limit" in message.body_text
    assert Ticket.get_by_id(row.ticket_id).subject == "Huge"


def test_a_bad_message_is_quarantined_and_the_rest_go_on(desk, monkeypatch):
    from helpdesk.inbox_worker.pipeline import Worker

    original = Worker.decide

    def decide(self, inbound, view, **kw):
        if inbound.message_id == "poison@example.com":
            raise RuntimeError("simulated bug in a stage")
        return original(self, inbound, view, **kw)

    monkeypatch.setattr(Worker, "decide", decide)
    desk.deliver(make_mail(Message_ID="<ok1@example.com>"))
    desk.deliver(make_mail(Message_ID="<poison@example.com>", Subject="poison"))
    desk.deliver(make_mail(Message_ID="<ok2@example.com>", Subject="after"))
    summary = desk.run()

    assert summary.outcomes == {"new_ticket": 2, "quarantined": 1}
    entry = Quarantine.get()
    assert "simulated bug" in entry.error and "Traceback" in entry.detail
    assert entry.inbound.message_id == "poison@example.com"
    assert desk.waiting() == 0

    # Once the bug is gone, an admin re-processes it from the stored raw bytes.
    monkeypatch.setattr(Worker, "decide", original)
    from helpdesk.inbox_worker.pipeline import reprocess

    applied = reprocess(desk.config, entry.inbound_id)
    assert applied.outcome == "new_ticket"
    assert Quarantine.get_by_id(entry.id).resolved_at is not None
    assert InboundMail.get_by_id(entry.inbound_id).ticket_id == applied.ticket_id
    with pytest.raises(ValueError, match="not quarantined"):
        reprocess(desk.config, entry.inbound_id)


def test_mail_without_a_sender_is_quarantined_with_a_clear_reason(desk):
    row = desk.receive(make_mail(From=None))
    assert row.outcome == "quarantined" and "no sender" in row.reason
    assert Quarantine.pending().count() == 1


def test_the_conversation_is_shown_newest_first(desk):
    desk.receive(make_mail(Message_ID="<first@example.com>", body="one"))
    desk.receive(make_mail(In_Reply_To="<first@example.com>", Message_ID="<m2@example.com>", body="two"))
    desk.receive(make_mail(In_Reply_To="<m2@example.com>", body="three"))

    detail = reports.ticket_detail("HD-1")
    assert [m["body"].strip().splitlines()[0] for m in detail["messages"]] == ["three", "two", "one"]
    assert KnownMessageId.select().where(KnownMessageId.outgoing == False).count() == 3  # noqa: E712


def test_mail_in_one_batch_threads_to_a_ticket_opened_earlier_in_that_batch(desk):
    desk.deliver(make_mail(Message_ID="<first@example.com>", Cc="anna@example.com"))
    desk.deliver(make_mail(Message_ID="<second@example.com>", In_Reply_To="<first@example.com>"))
    desk.deliver(make_mail(From="anna@example.com", Subject="Re: [HD-1] Printer broken"))
    desk.deliver(make_mail(From="stranger@example.com", Subject="Re: [HD-1] Printer broken"))
    summary = desk.run()

    assert summary.outcomes == {"new_ticket": 2, "reply": 2}
    assert [m.thread_rule for m in desk.messages(1)] == ["new", "in_reply_to", "subject_tag"]
    assert desk.tickets()[1].requester_email == "stranger@example.com"


def test_an_empty_file_in_the_inbox_is_quarantined_with_the_parse_error(desk):
    desk.deliver(b"")
    desk.deliver(make_mail(Message_ID="<after@example.com>"))
    summary = desk.run()

    assert summary.outcomes == {"quarantined": 1, "new_ticket": 1}
    entry = Quarantine.get()
    assert entry.error.startswith("cannot parse: ParseError")
    assert entry.inbound.size == 0 and desk.waiting() == 0


class _StoreThatCannotSync(BlobStore):
    """A disk that takes the files but cannot make them durable (a failing syncfs)."""

    def sync(self) -> None:
        raise OSError(errno.EIO, "syncfs: Input/output error")


def test_a_batch_whose_files_cannot_be_made_durable_is_not_committed(desk, config):
    """The batch's sync runs while its rows are made but ends before the commit: when it
    fails, no row refers to files a crash could lose, and the mail waits on the server."""
    from helpdesk.inbox_worker.pipeline import Worker

    desk.deliver(make_mail(Message_ID="<durable@example.com>"))
    with Worker(config, parse_workers=0) as worker:
        worker.ctx = replace(worker.ctx, store=_StoreThatCannotSync(config.blob_dir, config.raw_dir, sync_each=False))
        # the store's fault, as a store that takes no file at all: tried again, then said in one line
        with pytest.raises(faults.StoreUnavailable) as raised:
            worker.run_once(max_failures=1)

    assert raised.value.fault.line() == "store unavailable: Input/output error"
    assert InboundMail.select().count() == 0 and not desk.tickets()
    assert desk.waiting() == 1
    [state] = MailboxState.select()  # what `helpdesk mail status`, `check` and /healthz say
    assert state.last_error == "store unavailable: Input/output error"
