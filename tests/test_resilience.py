"""Crash safety: SIGKILL mid-batch, a dropped IMAP connection, a new UIDVALIDITY, a locked
database, a message that never parses. After each, every message is there exactly once."""
from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from helpdesk import database
from helpdesk.domain import faults
from helpdesk.inbox_worker.pipeline import Worker
from helpdesk.models import InboundMail, Message, Quarantine, Ticket
from tests.conftest import REPO
from tests.mailfactory import make_mail
from tests.postgres import sqlite_only

pytestmark = pytest.mark.slow


def conversation(n: int) -> list[bytes]:
    """n messages: every third one a reply to the one before it, the rest new tickets."""
    out = []
    for i in range(n):
        headers = {"Message_ID": f"<m{i}@example.com>", "Subject": f"Problem {i}",
                   "From": f"user{i % 17}@example.com"}
        if i % 3 == 2:
            headers["In_Reply_To"] = f"<m{i - 1}@example.com>"
        out.append(make_mail(f"Message number {i}\n", **headers))
    return out


def pending_on_server(dovecot, url) -> int:
    """Messages not yet marked done on the IMAP server."""
    return len(dovecot.uids(url, criteria=["UNKEYWORD", "$HelpdeskDone"]))


def filled_mailbox(dovecot, n: int) -> str:
    """A new IMAP mailbox holding conversation(n)."""
    url = dovecot.new_mailbox()
    for raw in conversation(n):
        dovecot.append(url, raw)
    return url


def expected_tickets(n: int) -> int:
    return n - sum(1 for i in range(n) if i % 3 == 2)


def assert_each_once(n: int) -> None:
    """Every message in exactly one ledger row and one ticket message; the replies threaded."""
    ledger = Counter(row.message_id for row in InboundMail.select())
    assert ledger == Counter({f"m{i}@example.com": 1 for i in range(n)})
    stored = Counter(m.message_id for m in Message.select())
    assert stored == Counter({f"m{i}@example.com": 1 for i in range(n)})
    assert Ticket.select().count() == expected_tickets(n)
    for i in range(2, n, 3):
        reply = Message.get(Message.message_id == f"m{i}@example.com")
        parent = Message.get(Message.message_id == f"m{i - 1}@example.com")
        assert reply.ticket_id == parent.ticket_id


def worker_env(config, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update({
        "HELPDESK_DATA_DIR": str(config.data_dir), "HELPDESK_SECRET_KEY": config.secret_key,
        "HELPDESK_DATABASE_URL": config.database_url,
        "HELPDESK_SUPPORT_ADDRESS": ",".join(config.support_addresses), "HELPDESK_MAILBOX_URL": config.mailbox_url,
        "HELPDESK_FETCH_BATCH": "25", "PYTHONPATH": str(REPO), **extra,
    })
    return env


def ledger_count(config) -> int:
    if not config.database_url.startswith("sqlite:"):
        import psycopg2

        conn = psycopg2.connect(config.database_url)
        try:
            with conn.cursor() as cursor:
                cursor.execute("select count(*) from inbound_mail")
                return cursor.fetchone()[0]
        finally:
            conn.close()
    path = config.database_url[len("sqlite:///"):]
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return conn.execute("select count(*) from inbound_mail").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet


def kill_mid_run(config, env, at: int) -> None:
    """Start `helpdesk worker --once`, SIGKILL it once `at` messages are in the ledger."""
    proc = subprocess.Popen([sys.executable, "-m", "helpdesk.cli", "worker", "--once"], env=env, cwd=config.data_dir.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while ledger_count(config) < at:
        assert proc.poll() is None, f"the worker ended before the kill: {proc.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()


def finish(config, env) -> None:
    done = subprocess.run([sys.executable, "-m", "helpdesk.cli", "worker", "--once"], env=env, cwd=config.data_dir.parent,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("kills", [1, 3])
def test_sigkill_mid_batch_then_restart_keeps_every_message_once(desk, config, kills):
    n = 300
    for raw in conversation(n):
        desk.deliver(raw)
    env = worker_env(config)
    for k in range(kills):
        kill_mid_run(config, env, at=40 + k * 60)
    assert 0 < ledger_count(config) < n, "the kills should land mid-run"
    finish(config, env)

    assert_each_once(n)
    assert desk.waiting() == 0


def test_sigkill_on_imap_then_restart_keeps_every_message_once(db, config, dovecot):
    n = 300
    url = filled_mailbox(dovecot, n)
    config = config.with_(mailbox_url=url)
    env = worker_env(config)
    kill_mid_run(config, env, at=60)
    finish(config, env)

    assert_each_once(n)
    assert InboundMail.select().where(InboundMail.mailbox == config.mailbox.name).count() == n
    assert pending_on_server(dovecot, url) == 0


@sqlite_only
def test_a_locked_database_delays_the_worker_and_loses_nothing(desk, config, caplog):
    n = 30
    for raw in conversation(n):
        desk.deliver(raw)
    path = config.database_url[len("sqlite:///"):]
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(10)
        conn.execute("ROLLBACK")
        conn.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(5)
    threading.Timer(2.5, release.set).start()
    from tests.harness import Desk

    impatient = database.open_database(config.database_url, busy_timeout_ms=200)
    try:
        with caplog.at_level(logging.WARNING):
            summary = Desk(config).run(max_failures=20)
    finally:
        impatient.close()
        holder.join()

    assert "database unavailable" in caplog.text
    assert summary.processed == n
    assert_each_once(n)
    assert desk.waiting() == 0


def test_a_message_that_never_parses_is_quarantined_and_the_rest_processed(desk, monkeypatch):
    from helpdesk.inbox_worker import pipeline

    def parse(raw):
        if b"<poison@example.com>" in raw:
            raise ValueError("this message defeats the parser")
        return real_parse(raw)

    real_parse = pipeline.parse
    monkeypatch.setattr(pipeline, "parse", parse)
    for raw in conversation(10):
        desk.deliver(raw)
    desk.deliver(make_mail(Message_ID="<poison@example.com>"))
    summary = desk.run()
    desk.deliver(make_mail(Message_ID="<later@example.com>"))
    desk.run()

    assert summary.outcomes["quarantined"] == 1
    entry = Quarantine.get()
    assert "defeats the parser" in entry.error
    assert InboundMail.select().where(InboundMail.outcome != "quarantined").count() == 11
    assert desk.waiting() == 0
    # Re-processing it while the parser still fails keeps it in quarantine, counting attempts.
    from helpdesk.inbox_worker.pipeline import reprocess

    assert reprocess(desk.config, entry.inbound_id).outcome == "quarantined"
    assert Quarantine.get_by_id(entry.id).attempts == 2


def test_imap_connection_dropped_mid_fetch_reconnects_and_loses_nothing(db, config, dovecot, imap_proxy):
    from helpdesk.inbox_worker.imap import ImapSource

    n = 120
    url = filled_mailbox(dovecot, n)
    proxy = imap_proxy
    proxied = config.with_(mailbox_url=dovecot.url_through(url, proxy), fetch_batch=20)

    class CutOnce(ImapSource):
        """Cuts the connection once, in the middle of the second batch's fetch."""

        fetches = 0

        def fetch(self, uids, max_bytes):
            for fetched in super().fetch(uids, max_bytes):
                yield fetched
                CutOnce.fetches += 1
                if CutOnce.fetches == 30:
                    proxy.cut()

    with Worker(proxied, source=CutOnce(proxied.mailbox), parse_workers=0) as worker:
        worker.run_once(max_failures=5)

    assert CutOnce.fetches > 30
    assert_each_once(n)
    assert pending_on_server(dovecot, url) == 0


def test_a_new_uidvalidity_rescans_without_duplicates(db, config, dovecot):
    url = dovecot.new_mailbox()
    imap = config.with_(mailbox_url=url)
    first = conversation(6)
    for raw in first:
        dovecot.append(url, raw)
    with Worker(imap, parse_workers=0) as worker:
        worker.run_once()
    old = {row.uidvalidity for row in InboundMail.select()}

    dovecot.recreate_folder(url)  # the server forgets its UIDs: same messages, new UIDVALIDITY
    for raw in first + [make_mail(Message_ID="<new@example.com>")]:
        dovecot.append(url, raw)
    with Worker(imap, parse_workers=0) as worker:
        summary = worker.run_once()

    assert summary.outcomes == {"duplicate": 6, "new_ticket": 1}
    assert Ticket.select().count() == expected_tickets(6) + 1
    assert {row.uidvalidity for row in InboundMail.select()} - old
    assert pending_on_server(dovecot, url) == 0


def misbehaving_mail(n: int) -> list[bytes]:
    """A conversation of n with a message that kills its parser and one that hangs it
    (tests/crashers.py's `prepare_or_misbehave`) among them."""
    mail = conversation(n)
    mail.insert(3, make_mail(Message_ID="<kills-the-parser@example.com>"))
    mail.insert(8, make_mail(Message_ID="<hangs-the-parser@example.com>"))
    return mail


def assert_only_the_misbehaving_quarantined(summary, n: int) -> None:
    """After `misbehaving_mail(n)` with a parse timeout of 3 s: those two quarantined, each
    with its reason, the n others processed."""
    assert summary.outcomes["quarantined"] == 2
    reasons = {q.inbound.message_id: q.error for q in Quarantine.select()}
    assert "ended abruptly" in reasons["kills-the-parser@example.com"]
    assert "took longer than 3 s" in reasons["hangs-the-parser@example.com"]
    assert InboundMail.select().where(InboundMail.outcome != "quarantined").count() == n


def test_a_message_that_kills_or_hangs_its_parser_is_quarantined_and_the_rest_processed(desk, config):
    from tests.crashers import prepare_or_misbehave

    for raw in misbehaving_mail(12):
        desk.deliver(raw)
    impatient = config.with_(parse_timeout_seconds=3, fetch_batch=5)
    with Worker(impatient, parse_workers=2, prepare=prepare_or_misbehave) as worker:
        summary = worker.run_once()

    assert_only_the_misbehaving_quarantined(summary, 12)
    assert desk.waiting() == 0


def every_new_python_process_first_runs(code: str, tmp_path, monkeypatch) -> None:
    """`code` at the start of every Python process started from now on in this test (a
    sitecustomize on PYTHONPATH): the parsing processes, as a busy or broken machine would
    start them."""
    first = tmp_path / "at-start"
    first.mkdir()
    (first / "sitecustomize.py").write_text(code)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(first), os.environ.get("PYTHONPATH")])))


@pytest.mark.parametrize("fetch_in_parsers", [False, True], ids=["maildir", "imap"])
def test_parsing_processes_slow_to_start_quarantine_nothing(desk, config, dovecot, tmp_path, monkeypatch,
                                                            fetch_in_parsers):
    """A message's parse timeout counts from when the parsing processes are up: their start
    (an interpreter and the parser's imports) takes seconds on a busy machine, and a good
    message must not be quarantined as one that hangs its parser. Every new Python process
    here sleeps 2 s before it starts (a sitecustomize on PYTHONPATH), against a timeout of 1 s."""
    every_new_python_process_first_runs("import time\ntime.sleep(2)\n", tmp_path, monkeypatch)
    mail = conversation(6)
    if fetch_in_parsers:
        url = dovecot.new_mailbox()
        for raw in mail:
            dovecot.append(url, raw)
        impatient = config.with_(mailbox_url=url, parse_timeout_seconds=1, fetch_batch=5)
    else:
        for raw in mail:
            desk.deliver(raw)
        impatient = config.with_(parse_timeout_seconds=1, fetch_batch=5)
    with Worker(impatient, parse_workers=2) as worker:
        summary = worker.run_once()

    assert Quarantine.select().count() == 0
    assert summary.processed == 6 and "quarantined" not in summary.outcomes
    assert_each_once(6)


def test_parsing_processes_that_cannot_start_fail_the_pass_and_quarantine_nothing(desk, config, tmp_path,
                                                                                  monkeypatch):
    """Processes that end as they start (here every new Python process) are no message's
    fault: the pass fails with one line to say so, and the mail waits on the server."""
    every_new_python_process_first_runs("import os\nos._exit(3)\n", tmp_path, monkeypatch)
    for raw in conversation(3):
        desk.deliver(raw)
    with Worker(config, parse_workers=2) as worker:
        with pytest.raises(faults.ParsersUnavailable, match="could not be started"):
            worker.run_once()

    assert Quarantine.select().count() == 0 and InboundMail.select().count() == 0
    assert desk.waiting() == 3


def test_mail_handed_over_after_a_parser_died_waits_for_the_new_parsers(desk, config):
    """A parsing process dies on a message while the writer still hands over later ones (it
    reads results after): the pool is broken for those too. They are parsed again on their
    own, and only the killer is quarantined; handing them over had raised, and the pass
    failed with the pool's error (the writer fetching ahead made this a race)."""
    from tests.crashers import prepare_or_misbehave

    mail = conversation(6)
    mail.insert(0, make_mail(Message_ID="<kills-the-parser@example.com>"))
    for raw in mail:
        desk.deliver(raw)
    with Worker(config.with_(fetch_batch=20), parse_workers=1, prepare=prepare_or_misbehave) as worker:
        original = worker._parsers
        first = original()
        handed = []

        def after_the_death():  # on the first pool, every hand-over after the first waits for the death
            pool = original()
            if pool is first and handed:
                deadline = time.monotonic() + 30
                while not pool._broken and time.monotonic() < deadline:
                    time.sleep(0.01)
            handed.append(pool)
            return pool

        worker._parsers = after_the_death  # type: ignore[method-assign]
        summary = worker.run_once()

    assert len(handed) > 2 and handed[1] is first  # a hand-over did meet the broken pool
    assert summary.outcomes["quarantined"] == 1
    [entry] = Quarantine.select()
    assert entry.inbound.message_id == "kills-the-parser@example.com" and "ended abruptly" in entry.error
    assert InboundMail.select().where(InboundMail.outcome != "quarantined").count() == 6
    assert Counter(m.message_id for m in Message.select()) == Counter({f"m{i}@example.com": 1 for i in range(6)})
    assert desk.waiting() == 0


def test_a_store_error_in_a_parsing_process_quarantines_that_message_and_not_its_chunk_mates(desk, config):
    from tests.crashers import prepare_or_fail_to_store

    n = 12
    mail = conversation(n)
    mail.insert(4, make_mail(Message_ID="<cannot-be-stored@example.com>"))
    for raw in mail:
        desk.deliver(raw)
    with Worker(config.with_(fetch_batch=20), parse_workers=2, prepare=prepare_or_fail_to_store) as worker:
        summary = worker.run_once()

    assert summary.outcomes["quarantined"] == 1
    [entry] = Quarantine.select()
    assert entry.inbound.message_id == "cannot-be-stored@example.com"
    assert "cannot store its files: the file store is full for it" in entry.error
    assert InboundMail.select().where(InboundMail.outcome != "quarantined").count() == n
    assert desk.waiting() == 0


def test_move_mode_moves_each_message_once_after_its_commit(db, config, dovecot):
    n = 40
    url = filled_mailbox(dovecot, n)
    moving = config.with_(mailbox_url=url, mailbox_done="move:Processed", fetch_batch=15)
    with Worker(moving, parse_workers=0) as worker:
        summary = worker.run_once()

    assert summary.processed == n
    assert dovecot.uids(url) == [] and len(dovecot.uids(url, folder="Processed")) == n
    assert_each_once(n)


def test_the_same_message_in_two_mailboxes_is_stored_once(desk, config, dovecot):
    raw = make_mail(Message_ID="<cc-to-both@example.com>", To="support@helpdesk.localhost, sales@example.com")
    desk.deliver(raw)
    desk.run()
    url = dovecot.new_mailbox()
    dovecot.append(url, raw)
    with Worker(config.with_(mailbox_url=url), parse_workers=0) as worker:
        summary = worker.run_once()

    assert summary.outcomes == {"duplicate": 1}
    assert Ticket.select().count() == 1
    second = InboundMail.select().order_by(InboundMail.id.desc()).get()
    assert second.mailbox.startswith("imap://") and "ledger #1" in second.reason
