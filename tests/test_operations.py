"""Operations (issue 8): `helpdesk check`, the /healthz endpoint and structured log lines."""
from __future__ import annotations

import datetime as dt
import io
import json
import logging

from helpdesk import logs
from helpdesk.checks import checks
from helpdesk.models import MailboxState, utcnow


def test_check_says_what_is_reachable_and_what_is_not(config, db, dovecot, imap_url, smtp_server):
    good = checks(config.with_(mailbox_url=imap_url, smtp_url=smtp_server.url))
    assert [(c.name, c.ok) for c in good] == [("configuration", True), ("database", True), ("store", True),
                                              ("mailbox", True), ("smtp", True)]
    assert "schema up to date" in good[1].detail and "0 message(s) waiting" in good[3].detail

    smtp_server.stop()
    bad_url = imap_url.replace("imap://", "imap://nobody-", 1)  # an unknown user
    bad = {c.name: c for c in checks(config.with_(mailbox_url=bad_url, smtp_url=smtp_server.url))}
    assert not bad["mailbox"].ok and "cannot read" in bad["mailbox"].detail
    assert not bad["smtp"].ok and "cannot use SMTP server" in bad["smtp"].detail
    assert "test-secret" not in json.dumps([c.detail for c in bad.values()])


def test_check_finds_an_unreachable_database(config):
    broken = config.with_(database_url="postgresql://nobody@127.0.0.1:1/none")
    check = {c.name: c for c in checks(broken)}["database"]
    assert not check.ok and check.detail.startswith("cannot use the PostgreSQL database")


def test_healthz_reports_the_database_and_the_last_fetch_age(app, db):
    client = app.test_client()
    first = client.get("/healthz")
    assert first.status_code == 200 and first.json == {"status": "ok", "database": True, "store": True, "problem": "",
                                                   "mailboxes": []}
    MailboxState.create(mailbox="imap://support@mail.example.com:993/INBOX",
                        last_fetch_at=utcnow() - dt.timedelta(seconds=42))
    body = client.get("/healthz").json
    assert 41 <= body["mailboxes"][0]["last_fetch_age_seconds"] <= 60
    assert "example.com" not in json.dumps(body)  # nothing about where or who


def test_log_lines_carry_the_message_id_and_ticket():
    record = logging.LogRecord("helpdesk.inbox_worker.pipeline", logging.INFO, __file__, 1, "message %s -> %s", ("a@b", "reply"),
                               None)
    for key, value in logs.about("a@b", 12, uid="7", outcome="reply").items():
        setattr(record, key, value)
    text = logs.TextFormatter().format(record)
    assert text.endswith("message a@b -> reply message_id=a@b ticket=12 uid=7 outcome=reply")
    entry = json.loads(logs.JsonFormatter().format(record))
    assert entry["message_id"] == "a@b" and entry["ticket"] == 12 and entry["message"] == "message a@b -> reply"


def test_the_worker_logs_each_message_with_its_id_and_ticket(desk):
    from tests.mailfactory import make_mail

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # pytest's own, put back after
    stream = io.StringIO()
    logs.configure(logging.INFO, "json", stream)
    try:
        desk.deliver(make_mail(Message_ID="<printer@example.com>"))
        desk.run()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    about = [line for line in lines if line.get("message_id") == "printer@example.com"]
    assert about and about[0]["ticket"] and about[0]["outcome"] == "new_ticket"
