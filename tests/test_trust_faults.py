"""Trust, faults (issue 13, item 6): a read-only or full attachment folder, a locked or
read-only database, a worker killed by the out-of-memory killer. Each for real: a private
read-only bind mount or a tiny tmpfs in a mount namespace of the process under test
(`unshare -m`; we run as root, so permissions alone stop nothing), a writer holding the
SQLite lock (BEGIN EXCLUSIVE) or a PostgreSQL LOCK TABLE, SIGKILL. Each test checks that
the processes stay up, that nothing received or typed is lost, and what the operator and
the admins are told. Each fails on the code before it."""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from helpdesk import database, scheduler
from helpdesk.domain import passwords
from helpdesk.models import (
    Attachment,
    FaultRecord,
    InboundMail,
    Message,
    Outbox,
    Quarantine,
    Role,
    Ticket,
    User,
    utcnow,
)
from tests.conftest import IN_CI, REPO
from tests.mailfactory import make_mail
from tests.portal import Portal

PASSWORD = "correct horse battery"


def need_mount_namespaces():
    if shutil.which("unshare") is None or os.geteuid() != 0:
        if IN_CI:
            pytest.fail("unshare and root are needed for the fault tests (CI=true)")
        pytest.skip("needs unshare and root")


def wait_for(predicate, timeout=60.0, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return None


def env_for(config, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update({
        "HELPDESK_DATA_DIR": str(config.data_dir), "HELPDESK_SECRET_KEY": config.secret_key,
        "HELPDESK_DATABASE_URL": config.database_url, "HELPDESK_SUPPORT_ADDRESS": ",".join(config.support_addresses),
        "HELPDESK_BASE_URL": config.base_url, "PYTHONPATH": str(REPO), "HELPDESK_POLL_SECONDS": "1",
        "HELPDESK_RECONNECT_MAX_SECONDS": "1", **extra,
    })
    return env


def cli(*args, env, pid_namespace: int | None = None, **kwargs) -> subprocess.CompletedProcess:
    """`helpdesk ARGS`, in the mount namespace of process `pid_namespace` when given."""
    prefix = ["nsenter", "-t", str(pid_namespace), "-m", "--"] if pid_namespace else []
    return subprocess.run([*prefix, sys.executable, "-m", "helpdesk.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=REPO, **kwargs)


def in_mount_namespace(setup: str, argv: list[str], env: dict) -> subprocess.Popen:
    """Run argv in a private mount namespace after the shell commands `setup` (mounts that
    nobody else sees); the Popen's pid is argv's own (unshare and sh exec it)."""
    return subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", f"{setup} && exec \"$@\"",
                             "sh", *argv], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def read_lines(stream, into: list) -> threading.Thread:
    thread = threading.Thread(target=lambda: [into.append(line) for line in stream], daemon=True)
    thread.start()
    return thread


def admin() -> User:
    return User.create(email="boss@helpdesk.example", role=Role.ADMIN.value, is_active=True,
                       activated_at=dt.datetime(2026, 1, 1), language="en")


def told(template: str) -> int:
    return sum(1 for r in Outbox.select().where(Outbox.recipient == "boss@helpdesk.example")
               if r.spec and json.loads(r.spec)["template"] == template)


def healthz(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url + "healthz", timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextlib.contextmanager
def stopped_at_the_end(process: subprocess.Popen):
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


# --- the attachment folder read-only: `helpdesk run` stays up, the mail waits --------------------


def test_a_read_only_attachment_folder_keeps_helpdesk_run_up_and_loses_no_mail(desk, config):
    need_mount_namespaces()
    admin()
    config.blob_dir.mkdir(parents=True, exist_ok=True)
    desk.deliver(make_mail(Message_ID="<with-file@example.com>", Subject="Invoice",
                           attachments=[("invoice.pdf", "application/pdf", b"%PDF-1.4 the invoice")]))
    desk.deliver(make_mail(Message_ID="<plain@example.com>", Subject="Plain"))
    env = env_for(config, HELPDESK_WEB_LISTEN="127.0.0.1:0", HELPDESK_PARSE_WORKERS="1")
    blobs = str(config.blob_dir)
    run = in_mount_namespace(f"mount --bind {blobs} {blobs} && mount -o remount,bind,ro {blobs}",
                             [sys.executable, "-m", "helpdesk.cli", "run"], env)
    out, err = [], []
    read_lines(run.stdout, out), read_lines(run.stderr, err)
    with stopped_at_the_end(run):
        url = wait_for(lambda: next((line.split("portal at ", 1)[1].strip() for line in out if "portal at" in line),
                                    None))
        assert url, "".join(err)[-3000:]
        # The worker found the store read-only, keeps trying, and says so everywhere.
        assert wait_for(lambda: FaultRecord.select().where(FaultRecord.cleared_at.is_null()).exists()), \
            "".join(err)[-3000:]
        first_seen = FaultRecord.get().last_seen_at
        assert wait_for(lambda: FaultRecord.get().last_seen_at > first_seen), "the batch is not retried"
        assert run.poll() is None, "".join(err)[-3000:]
        assert InboundMail.select().count() == 0 and desk.waiting() == 2  # nothing half-done, nothing lost

        status = cli("mail", "status", env=env)
        assert "PROBLEM: store read-only: Read-only file system" in status.stdout
        check = cli("check", env=env, pid_namespace=run.pid)
        assert check.returncode == 1
        [line] = [line for line in check.stdout.splitlines() if " store:" in line]
        assert line.startswith("FAIL store: store read-only: Read-only file system")
        code, body = healthz(url)
        assert code == 503 and body["problem"] == "store read-only" and body["store"] is False
        assert "Traceback" not in "".join(err)

        # The admins are told once, however often the job runs.
        for _ in range(3):
            scheduler.run_mailbox_health(config, utcnow())
        assert told("fault") == 1 and told("fault_over") == 0

        # Writable again: the waiting mail comes in, whole; the admins hear it once.
        subprocess.run(["nsenter", "-t", str(run.pid), "-m", "--", "mount", "-o", "remount,bind,rw", blobs],
                       check=True)
        assert wait_for(lambda: Ticket.select().count() == 2 and desk.waiting() == 0), "".join(err)[-3000:]
        assert wait_for(lambda: not FaultRecord.select().where(FaultRecord.cleared_at.is_null()).exists())
        for _ in range(3):
            scheduler.run_mailbox_health(config, utcnow())
        assert told("fault") == 1 and told("fault_over") == 1
        [attachment] = Attachment.select()
        assert attachment.filename == "invoice.pdf" and attachment.blob_id is not None
        assert Quarantine.select().count() == 0
        code, body = healthz(url)
        assert code == 200 and body["problem"] == ""
        assert run.poll() is None
    assert run.returncode == 0, "".join(err)[-3000:]


class Browser:
    """Just enough of a browser for a portal in another process: cookies, CSRF tokens, forms."""

    def __init__(self, base: str):
        import http.cookiejar

        self.base = base.rstrip("/")
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def open(self, path: str, data: bytes | None = None, content_type: str = "") -> tuple[int, str]:
        request = urllib.request.Request(self.base + path, data=data)
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode()

    def token(self, path: str) -> str:
        import re

        return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', self.open(path)[1]).group(1)

    def post(self, path: str, fields: dict, files: list[tuple[str, str, bytes]] = (), *,
             page: str | None = None) -> tuple[int, str]:
        """POST a form as the page holding it (default: the same path) would send it."""
        fields = {"csrf_token": self.token(page or path), **fields}
        boundary = "----helpdesk-test-boundary"
        body = b""
        for name, value in fields.items():
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
        for name, filename, payload in files:
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                     f"Content-Type: application/octet-stream\r\n\r\n").encode() + payload + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        return self.open(path, body, f"multipart/form-data; boundary={boundary}")


def test_a_reply_with_a_file_while_the_attachment_folder_is_read_only_comes_back_in_a_503_page(db, config):
    need_mount_namespaces()
    customer = User.create(email="ewa@firma.example", is_active=True, activated_at=dt.datetime(2026, 1, 1),
                           password_hash=passwords.hash_password(PASSWORD))
    ticket = Ticket.create(subject="Printer", requester=customer, requester_email=customer.email)
    config.blob_dir.mkdir(parents=True, exist_ok=True)
    blobs = str(config.blob_dir)
    env = env_for(config, HELPDESK_WEB_LISTEN="127.0.0.1:0")
    web = in_mount_namespace(f"mount --bind {blobs} {blobs} && mount -o remount,bind,ro {blobs}",
                             [sys.executable, "-m", "helpdesk.cli", "web"], env)
    out, err = [], []
    read_lines(web.stdout, out), read_lines(web.stderr, err)
    with stopped_at_the_end(web):
        url = wait_for(lambda: next((line.split("portal at ", 1)[1].strip() for line in out if "portal at" in line),
                                    None))
        assert url, "".join(err)[-3000:]
        browser = Browser(url)
        assert browser.post("/login", {"email": customer.email, "password": PASSWORD})[0] == 200  # (redirect followed)
        typed = "The paper tray is cracked, photo attached."
        code, page = browser.post(f"/tickets/{ticket.id}/reply", {"text": typed}, [("attachments", "tray.jpg", b"JPEG")],
                                  page=f"/tickets/{ticket.id}")
        assert code == 503, page[:2000]
        assert typed in page and "tray.jpg" in page and "tylko do odczytu" in page
        assert Message.select().count() == 0
        assert web.poll() is None  # the portal is still up
        code, page = browser.post(f"/tickets/{ticket.id}/reply", {"text": typed},  # without the file: it goes in
                                  page=f"/tickets/{ticket.id}")
        assert code == 200 and Message.get().body_text == typed


# --- a full disk: one message that does not fit is quarantined alone -------------------------------


def test_a_message_too_big_for_the_space_left_is_quarantined_alone_and_the_rest_comes_in(desk, config):
    need_mount_namespaces()
    config.blob_dir.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        desk.deliver(make_mail(Message_ID=f"<small{i}@example.com>", Subject=f"Small {i}",
                               attachments=[("note.txt", "text/plain", f"note {i}".encode())]))
    desk.deliver(make_mail(Message_ID="<huge@example.com>", Subject="Huge",
                           attachments=[("scan.tif", "image/tiff", os.urandom(1024 * 1024))]))
    env = env_for(config, HELPDESK_PARSE_WORKERS="0")
    blobs = str(config.blob_dir)
    worker = in_mount_namespace(f"mount -t tmpfs -o size=512k tmpfs {blobs}",
                                [sys.executable, "-m", "helpdesk.cli", "worker", "--once"], env)
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err[-3000:]
    assert {m.message_id for m in Message.select()} == {f"small{i}@example.com" for i in range(3)}
    [entry] = Quarantine.select()
    assert entry.inbound.message_id == "huge@example.com"
    assert "cannot store its files: the file store is full for it: No space left on device" in entry.error
    assert desk.waiting() == 0 and InboundMail.select().count() == 4


def test_a_store_full_for_everything_waits_and_says_so_in_one_line(desk, config):
    need_mount_namespaces()
    config.blob_dir.mkdir(parents=True, exist_ok=True)
    desk.deliver(make_mail(Message_ID="<waits@example.com>", attachments=[("a.txt", "text/plain", b"abc")]))
    env = env_for(config, HELPDESK_PARSE_WORKERS="0")
    blobs = str(config.blob_dir)
    fill = f"mount -t tmpfs -o size=64k tmpfs {blobs} && (dd if=/dev/zero of={blobs}/filler bs=4k 2>/dev/null; true)"
    worker = in_mount_namespace(fill, [sys.executable, "-m", "helpdesk.cli", "worker", "--once"], env)
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 1
    assert err.strip().splitlines()[-1] == "helpdesk: store full: No space left on device"
    assert "Traceback" not in err
    assert desk.waiting() == 1 and InboundMail.select().count() == 0  # still on the server
    assert "PROBLEM: store full: No space left on device" in cli("mail", "status", env=env).stdout
    # Room again (the filesystem as it is outside that namespace): the mail comes in.
    assert cli("worker", "--once", env=env).returncode == 0
    assert desk.waiting() == 0 and Message.get().message_id == "waits@example.com"


# --- the database locked past its timeout: the portal answers 503 and keeps what was typed ---------


@contextlib.contextmanager
def database_locked(config):
    """Another writer holds the database (SQLite: BEGIN EXCLUSIVE; PostgreSQL: LOCK TABLE)."""
    if config.database_url.startswith("sqlite:"):
        conn = sqlite3.connect(config.database_url[len("sqlite:///"):], isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
    else:
        import psycopg2

        conn = psycopg2.connect(config.database_url)
        conn.cursor().execute("LOCK TABLE message, ticket IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        conn.rollback()
        conn.close()


def test_a_reply_typed_while_the_database_is_locked_comes_back_in_a_503_page(config, db):
    from helpdesk.web import create_app

    impatient = database.open_database(config.database_url, busy_timeout_ms=300)
    app = create_app(config.with_(db_busy_timeout_ms=300), db=impatient)
    customer = User.create(email="ewa@firma.example", is_active=True, activated_at=dt.datetime(2026, 1, 1),
                           password_hash=passwords.hash_password(PASSWORD))
    ticket = Ticket.create(subject="Printer", requester=customer, requester_email=customer.email)
    portal = Portal(app)
    assert portal.post("/login", {"email": customer.email, "password": PASSWORD}).status_code == 302
    token = portal.token(f"/tickets/{ticket.id}")
    typed = "Dzień dobry,\nprinter still jams on page 2.\n<script>alert(1)</script>"
    form = {"csrf_token": token, "text": typed,
            "attachments": [(io.BytesIO(b"photo"), "jam.jpg"), (io.BytesIO(b"log"), "printer.log")]}
    try:
        with database_locked(config):
            response = portal.client.post(f"/tickets/{ticket.id}/reply", data=form, content_type="multipart/form-data",
                                          environ_base={"REMOTE_ADDR": portal.ip})
            page = response.get_data(as_text=True)
            assert response.status_code == 503, page[:3000]
            assert "printer still jams on page 2." in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
            assert "jam.jpg" in page and "printer.log" in page
            assert f'action="/tickets/{ticket.id}/reply"' in page and 'name="csrf_token"' in page
            assert "locked" in page.lower() or "zablokowana" in page.lower() or "zajęta" in page.lower()
            code = app.test_client().get("/healthz")
            assert code.status_code == 503 and code.json["problem"] == "database locked"
        assert Message.select().count() == 0  # nothing half-saved
        # Sent again from the 503 page once the lock is gone: it arrives.
        again = portal.client.post(f"/tickets/{ticket.id}/reply", data={"csrf_token": token, "text": typed},
                                   environ_base={"REMOTE_ADDR": portal.ip})
        assert again.status_code == 302
        assert Message.get().body_text.startswith("Dzień dobry,\nprinter still jams")
    finally:
        impatient.close()


def test_check_and_mail_status_say_the_database_is_locked(config, db):
    env = env_for(config, HELPDESK_DB_BUSY_TIMEOUT_MS="300")
    with database_locked(config):
        check = cli("check", env=env)
        [line] = [line for line in check.stdout.splitlines() if " database:" in line]
        assert check.returncode == 1 and line.startswith("FAIL database: database locked")
    check = cli("check", env=env)
    assert [line for line in check.stdout.splitlines() if " database:" in line][0].startswith("ok")


# --- a read-only database: one line -------------------------------------------------------------------


def test_a_read_only_database_gives_one_line_not_a_traceback(desk, config):
    desk.deliver(make_mail(Message_ID="<ro@example.com>"))
    env = env_for(config, HELPDESK_PARSE_WORKERS="0")
    if config.database_url.startswith("sqlite:"):
        need_mount_namespaces()
        path = config.database_url[len("sqlite:///"):]  # the database file alone, read-only
        worker = in_mount_namespace(f"mount --bind {path} {path} && mount -o remount,bind,ro {path}",
                                    [sys.executable, "-m", "helpdesk.cli", "worker", "--once"], env)
        out, err = worker.communicate(timeout=120)
    else:
        import psycopg2

        name = config.database_url.rsplit("/", 1)[1]
        conn = psycopg2.connect(config.database_url)
        conn.autocommit = True
        conn.cursor().execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        try:
            done = cli("worker", "--once", env=env)
            err = done.stderr
            worker = done
        finally:
            conn.cursor().execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off')
            conn.close()
    assert worker.returncode == 1
    lines = [line for line in err.splitlines() if line.startswith("helpdesk:")]
    assert len(lines) == 1 and "database read-only" in lines[0], err[-3000:]
    assert "Traceback" not in err
    assert desk.waiting() == 1  # the mail waits on the server


# --- parsing processes die with their worker ------------------------------------------------------------


def children_of(pid: int) -> set[int]:
    found = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
            found.update(int(p) for p in f.read().split())
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_parsing_processes_end_when_their_worker_is_killed(desk, config):
    desk.deliver(make_mail(Message_ID="<first@example.com>"))
    env = env_for(config, HELPDESK_PARSE_WORKERS="2")
    worker = subprocess.Popen([sys.executable, "-m", "helpdesk.cli", "worker"], env=env, cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: Ticket.select().count() == 1), "the worker did not start"
        parsers = wait_for(lambda: {p for p in children_of(worker.pid) if "multiprocessing" in cmdline(p)} or None)
        assert parsers and len(parsers) >= 2
    finally:
        worker.send_signal(signal.SIGKILL)  # as the out-of-memory killer does
        worker.wait()
    assert wait_for(lambda: not any(alive(p) for p in parsers), timeout=30), "orphaned parsing processes"
