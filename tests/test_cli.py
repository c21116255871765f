"""The `helpdesk` command as an operator or a script uses it: real processes, --json out."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.mailfactory import make_mail


@pytest.fixture
def helpdesk(tmp_path, empty_database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_DATABASE_URL=empty_database_url, PYTHONPATH=str(REPO))

    def run(*args, ok=True, **extra_env):
        done = subprocess.run([sys.executable, "-m", "helpdesk.cli", *args], cwd=tmp_path, env={**env, **extra_env},
                              capture_output=True, text=True, timeout=120)
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    return run


def test_a_newcomer_drops_mail_and_sees_tickets(helpdesk, tmp_path):
    first = helpdesk("init-db").stdout
    assert "database ready" in first and "(0 migration(s)" not in first
    assert "0 migration(s) applied" in helpdesk("init-db").stdout  # idempotent
    assert "rebuilt for" not in first  # the reports' sums are built for the default zone by the migration
    assert "sums per day rebuilt for Asia/Kolkata" in helpdesk("init-db", HELPDESK_TIMEZONE="Asia/Kolkata").stdout
    assert "rebuilt" not in helpdesk("init-db", HELPDESK_TIMEZONE="Asia/Kolkata").stdout

    first = tmp_path / "first.eml"
    first.write_bytes(make_mail(Message_ID="<one@example.com>", Cc="anna@example.com",
                                attachments=[("log.txt", "text/plain", b"error 42")]))
    reply = tmp_path / "reply.eml"
    reply.write_bytes(make_mail("Still broken.\n\n> the printer is broken\n", In_Reply_To="<one@example.com>",
                                Subject="Re: Printer broken"))
    helpdesk("mail", "drop", str(first), str(reply))

    summary = json.loads(helpdesk("worker", "--once", "--json").stdout)
    assert summary["outcomes"] == {"new_ticket": 1, "reply": 1}

    [ticket] = json.loads(helpdesk("ticket", "list", "--json").stdout)
    assert ticket["ref"] == "HD-1" and ticket["messages"] == 2
    shown = json.loads(helpdesk("ticket", "show", "HD-1", "--json").stdout)
    assert [m["thread_rule"] for m in shown["messages"]] == ["in_reply_to", "new"]  # newest first
    assert shown["messages"][1]["attachments"][0]["filename"] == "log.txt"
    assert {p["email"] for p in shown["participants"]} == {"jan@example.com", "anna@example.com"}
    text = helpdesk("ticket", "show", "1").stdout
    assert "rule: in_reply_to" in text and "attachment: log.txt" in text
    # Internal names in the pages' words (issue 17): roles, kinds and statuses; --json keeps the names.
    assert "anna@example.com (in copy)" in text and "(requester)" in text and "  Customer  from" in text
    assert shown["status"] in ("new", "waiting_us") and f"status {shown['status']}," not in text

    log = json.loads(helpdesk("mail", "log", "--json").stdout)
    assert [(r["message_id"], r["outcome"], r["ticket"]) for r in log] == [
        (log[0]["message_id"], "reply", 1), ("one@example.com", "new_ticket", 1)]
    status = json.loads(helpdesk("mail", "status", "--json").stdout)
    assert status["outcomes"] == {"new_ticket": 1, "reply": 1} and status["quarantine_pending"] == 0
    assert status["mailboxes"][0]["last_error"] == ""


def test_errors_are_clear_and_exit_non_zero(helpdesk):
    bad = helpdesk("ticket", "show", "HD-99", ok=False)
    assert bad.returncode == 1 and "no ticket HD-99" in bad.stderr
    bad = helpdesk("mail", "reprocess", "5", ok=False)
    assert bad.returncode == 1 and "no ingested message #5" in bad.stderr
    bad = helpdesk("init-db", ok=False, HELPDESK_MAILBOX_URL="ftp://example.com/")
    assert bad.returncode == 1 and "HELPDESK_MAILBOX_URL" in bad.stderr
    assert "Traceback" not in bad.stderr
    # Clear text only on loopback: refused before any connection is tried.
    bad = helpdesk("worker", "--once", ok=False, HELPDESK_MAILBOX_URL="imap://u:p@mail.example.com/INBOX?starttls=no")
    assert bad.returncode == 1 and "loopback" in bad.stderr


def test_send_and_outbox_list(helpdesk, tmp_path, smtp_server, empty_database_url):
    from helpdesk import config as config_mod, database
    from helpdesk.domain import outbox

    helpdesk("init-db")
    cfg = config_mod.load_config({"HELPDESK_DATA_DIR": str(tmp_path / "var"),
                                  "HELPDESK_DATABASE_URL": empty_database_url}, dotenv=None)
    database.open_database(cfg.database_url)
    msg = outbox.build(mail_from="support@helpdesk.localhost", from_name="Pomoc", to="jan@example.com",
                       subject="s", text="t", message_id="m1@helpdesk.localhost", loop_marker="x")
    outbox.queue(msg, kind="notice", recipient="jan@example.com")

    assert json.loads(helpdesk("outbox", "list", "--json").stdout)[0]["status"] == "pending"
    done = helpdesk("send", "--once", "--json", HELPDESK_SMTP_URL=smtp_server.url)
    assert json.loads(done.stdout) == {"sent": 1} and len(smtp_server.received) == 1
    [row] = json.loads(helpdesk("outbox", "list", "--json").stdout)
    assert row["status"] == "sent" and row["message_id"] == "m1@helpdesk.localhost"
    bad = helpdesk("send", "--once", ok=False, HELPDESK_SMTP_URL="pop3://x")
    assert bad.returncode == 1 and "HELPDESK_SMTP_URL" in bad.stderr


def test_user_add_makes_the_first_admin_who_sets_a_password_by_the_printed_link(helpdesk, tmp_path,
                                                                             empty_database_url):
    import re

    from helpdesk import config as config_mod, database
    from helpdesk.models import User
    from helpdesk.web import create_app
    from tests.portal import Portal

    done = helpdesk("user", "add", "Boss@Firma.example", "--role", "admin", "--first-name", "Ala")
    assert "boss@firma.example created as admin" in done.stdout
    path = re.search(r"http://[^/]+(/password/set/\S+)", done.stdout).group(1)
    assert "is now engineer" in helpdesk("user", "add", "boss@firma.example", "--role", "engineer").stdout
    assert "is now admin" in helpdesk("user", "add", "boss@firma.example", "--role", "admin").stdout
    bad = helpdesk("user", "add", "not-an-address", ok=False)
    assert bad.returncode == 1 and "not an email address" in bad.stderr

    config = config_mod.load_config({"HELPDESK_DATA_DIR": str(tmp_path / "var"),
                                     "HELPDESK_DATABASE_URL": empty_database_url}, dotenv=None)
    portal = Portal(create_app(config, db=database.open_database(config.database_url)))
    response = portal.post(path, {"password": "the boss password", "repeat": "the boss password"}, page=path)
    assert response.status_code == 302
    assert portal.get("/staff/users").status_code == 200
    assert User.get(User.email == "boss@firma.example").role == "admin"


def test_dotenv_sets_the_log_format_as_it_sets_every_setting(helpdesk, tmp_path):
    (tmp_path / ".env").write_text("HELPDESK_LOG_FORMAT=json\n")
    lines = [line for line in helpdesk("-v", "init-db").stderr.splitlines() if line.strip()]
    assert lines and all(json.loads(line)["level"] for line in lines)
    (tmp_path / ".env").write_text("HELPDESK_LOG_FORMAT=yaml\n")
    refused = helpdesk("init-db", ok=False)
    assert refused.returncode == 1 and "HELPDESK_LOG_FORMAT" in refused.stderr
