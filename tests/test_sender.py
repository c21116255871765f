"""The outbox and its sender against a real SMTP server (aiosmtpd on 127.0.0.1)."""
from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest

from helpdesk.domain import outbox, tickets
from helpdesk.models import AddressStatus, KnownMessageId, Message, Outbox, db, utcnow
from helpdesk.outgoing.sender import MAX_ATTEMPTS, FolderTransport, Sender, backoff

SUPPORT = "support@helpdesk.localhost"


def mail(to: str, *, subject: str = "[HD-1] Drukarka", ticket=None, **extra):
    msg = outbox.build(mail_from=SUPPORT, from_name="Pomoc", to=to, subject=subject, text="Treść\n",
                       message_id=outbox.new_message_id("helpdesk.localhost", ticket.id if ticket else None),
                       loop_marker=SUPPORT, **extra)
    return outbox.queue(msg, kind="notice", recipient=to, ticket=ticket)


@pytest.fixture
def sender(config, db, smtp_server):
    return Sender(config.with_(smtp_url=smtp_server.url))


def test_queued_mail_is_delivered_once_with_its_headers(sender, smtp_server):
    ticket = tickets.open_ticket(subject="Drukarka", requester_email="jan@example.com")
    with db.atomic():
        row = mail("jan@example.com", ticket=ticket, in_reply_to="first@example.com",
                   references=("first@example.com",))
    assert sender.send_due() == {"sent": 1}
    assert sender.send_due() == {}  # nothing twice

    [got] = smtp_server.received
    assert got.mail_from.startswith("support+b") and got.mail_from.endswith("@helpdesk.localhost")
    assert got.rcpt_tos == ["jan@example.com"]
    m = got.message
    assert m["Message-ID"] == f"<{row.message_id}>" and m["In-Reply-To"] == "<first@example.com>"
    assert m["Auto-Submitted"] == "auto-generated" and m["X-Helpdesk-Loop"] == SUPPORT
    assert Outbox.get_by_id(row.id).status == "sent"
    # Its Message-ID is known as ours, for threading replies and recognising loops.
    assert KnownMessageId.get(KnownMessageId.message_id == row.message_id).outgoing


def test_smtp_down_then_up_delivers_everything_once(sender, smtp_server):
    for i in range(5):
        mail(f"user{i}@example.com")
    smtp_server.stop()
    now = utcnow()
    assert sender.send_due(now=now) == {"retry": 5}
    assert all(r.next_attempt_at >= now + backoff(1) for r in Outbox.select())
    assert sender.send_due(now=now) == {}  # not due yet

    smtp_server.start()
    later = now + backoff(1) + dt.timedelta(seconds=1)
    assert sender.send_due(now=later) == {"sent": 5}
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == [f"user{i}@example.com" for i in range(5)]
    assert sender.send_due(now=later + dt.timedelta(hours=1)) == {}


def test_a_permanent_refusal_fails_one_mail_and_marks_the_address(sender, smtp_server):
    smtp_server.refuse["gone@example.com"] = "550 5.1.1 no such user"
    smtp_server.refuse["full@example.com"] = "452 4.2.2 mailbox full"
    ticket = tickets.open_ticket(subject="Drukarka", requester_email="jan@example.com")
    for to in ("a@example.com", "gone@example.com", "full@example.com", "b@example.com"):
        mail(to, ticket=ticket)
    assert sender.send_due() == {"sent": 2, "failed": 1, "retry": 1}

    gone = Outbox.get(Outbox.recipient == "gone@example.com")
    assert gone.status == "failed" and "550" in gone.last_error
    assert AddressStatus.get(AddressStatus.email == "gone@example.com").bounced_at is not None
    assert Outbox.get(Outbox.recipient == "full@example.com").status == "pending"
    [why] = Message.select().where(Message.ticket == ticket, Message.kind == "system")
    assert "gone@example.com was refused: 550" in why.body_text
    # The system stops mailing a marked address.
    mail("gone@example.com", subject="again")
    assert sender.send_due() == {"failed": 1}
    assert "undeliverable" in Outbox.select().order_by(Outbox.id.desc()).get().last_error
    assert len(smtp_server.received) == 2


def test_a_mail_that_keeps_failing_gives_up_after_the_last_attempt(sender, smtp_server):
    smtp_server.refuse["slow@example.com"] = "451 4.3.0 try later"
    row = mail("slow@example.com")
    Outbox.update(attempts=MAX_ATTEMPTS - 1).where(Outbox.id == row.id).execute()
    assert sender.send_due() == {"failed": 1}
    assert "gave up" in Outbox.get_by_id(row.id).last_error


def test_two_senders_never_send_the_same_mail(config, db, smtp_server):
    for i in range(30):
        mail(f"user{i}@example.com")
    first, second = (Sender(config.with_(smtp_url=smtp_server.url), owner=name) for name in ("a", "b"))
    now = utcnow()
    claimed = first._claim(now, 20)
    assert len(claimed) == 20
    assert len(second._claim(now, 100)) == 10  # the other ten; the first twenty are leased


def test_a_sender_that_died_lets_its_mail_go_after_the_lease(config, db, smtp_server):
    mail("x@example.com")
    dead = Sender(config.with_(smtp_url=smtp_server.url), owner="dead")
    now = utcnow()
    assert len(dead._claim(now, 10)) == 1  # ... and then it was killed
    alive = Sender(config.with_(smtp_url=smtp_server.url), owner="alive")
    assert alive.send_due(now=now) == {}
    assert alive.send_due(now=now + dt.timedelta(minutes=6)) == {"sent": 1}


def test_without_an_smtp_server_mail_goes_to_the_outbox_folder(config, db):
    sender = Sender(config)
    assert isinstance(sender.transport, FolderTransport)
    row = mail("jan@example.com")
    assert sender.send_due() == {"sent": 1}
    [eml] = config.outbox_dir.glob("*.eml")
    assert row.message_id.split("@")[0] in eml.name and b"X-Envelope-To: jan@example.com" in eml.read_bytes()


@pytest.mark.parametrize("field, value", [
    ("to", "jan@example.com\nBcc: victim@example.com"),
    ("reply_to", "support@helpdesk.localhost\0"),
])
def test_header_injection_is_refused_before_anything_is_written(db, field, value):
    parts = dict(mail_from=SUPPORT, from_name="Pomoc", to="jan@example.com", subject="s", text="t",
                 message_id="m@helpdesk.localhost", loop_marker=SUPPORT)
    parts[field] = value
    with pytest.raises(outbox.HeaderInjection):
        outbox.build(**parts)
    assert Outbox.select().count() == 0


@pytest.mark.parametrize("field, value", [
    ("subject", "Hello\r\nBcc: victim@example.com"),
    ("to_name", "Jan\r\nX-Evil: 1"),
    ("subject", "Drukarka\0 HD"),
])
def test_a_subject_or_name_with_line_breaks_is_cleaned_and_injects_nothing(db, field, value):
    parts = dict(mail_from=SUPPORT, from_name="Pomoc", to="jan@example.com", subject="s", text="t",
                 message_id="m@helpdesk.localhost", loop_marker=SUPPORT)
    parts[field] = value
    msg = email.message_from_bytes(outbox.build(**parts).as_bytes(policy=outbox.SMTP_POLICY),
                                   policy=email.policy.default)
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert "\0" not in str(msg["Subject"]) and "\n" not in str(msg["Subject"])


def test_sigkill_mid_batch_then_restart_loses_nothing_and_resends_at_most_the_mail_on_the_wire(
        config, db, smtp_server, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from collections import Counter

    from tests.conftest import REPO

    n = 200
    ids = [mail(f"user{i}@example.com").message_id for i in range(n)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(config.data_dir), HELPDESK_SMTP_URL=smtp_server.url,
               HELPDESK_DATABASE_URL=config.database_url, PYTHONPATH=str(REPO))
    send = [sys.executable, "-m", "helpdesk.cli", "send", "--once"]
    proc = subprocess.Popen(send, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(smtp_server.received) < 60:
        assert proc.poll() is None and time.monotonic() < deadline, "the sender ended before the kill"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(smtp_server.received) < n, "the kill should land mid-batch"

    done = subprocess.run(send, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = Counter(r.message["Message-ID"].strip("<>") for r in smtp_server.received)
    assert set(got) == set(ids)  # nothing lost
    assert sum(got.values()) - n <= 1  # at most the one mail in flight at the kill, same Message-ID
    assert Outbox.select().where(Outbox.status != "sent").count() == 0
