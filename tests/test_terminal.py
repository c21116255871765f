"""The operator's terminal (issue 17, item 10): long commands show progress on a terminal,
and nothing of it when their output is piped or `--json` is asked for.

The commands run as real processes; "a terminal" is a pseudo-terminal (pty) given to them
as stdout and stderr, read back as a person's screen would get it.
"""
from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios

import pytest

from tests.conftest import REPO
from tests.mailfactory import make_mail

HEADER = "contract_number,nip,customer_name,service_level,starts_on,ends_on,partner_nip,model,serial,address"
BAR = "\r"  # tqdm redraws its line with carriage returns


@pytest.fixture
def env(tmp_path, database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_DATABASE_URL=database_url, PYTHONPATH=str(REPO),
               HELPDESK_FETCH_BATCH="5", HELPDESK_PARSE_WORKERS="0")
    return env


def on_a_terminal(args, env, cwd, timeout=120.0) -> tuple[int, str]:
    """Run `helpdesk ARGS` with a pty as stdout and stderr; (exit status, what the screen got)."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))  # 30 rows, 100 columns
    process = subprocess.Popen([sys.executable, "-m", "helpdesk.cli", *args], cwd=cwd, env=env,
                               stdin=subprocess.DEVNULL, stdout=child, stderr=child, close_fds=True)
    os.close(child)
    screen = b""
    try:
        while True:
            ready, _, _ = select.select([main], [], [], timeout)
            if not ready:
                raise AssertionError(f"no output for {timeout} s: {screen[-2000:]!r}")
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other side closed: the process ended
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(main)
        status = process.wait(timeout=timeout)
    return status, screen.decode("utf-8", "replace")


def piped(args, env, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpdesk.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def contracts_file(path, count: int):
    rows = [f"P{n:06d},5260001246,Firma {n},Gold,2025-01-01,2027-12-31,,NVR,SN-{n},Kraków" for n in range(count)]
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_contracts_import_shows_progress_on_a_terminal_only(env, tmp_path):
    path = contracts_file(tmp_path / "umowy.csv", 2500)
    status, screen = on_a_terminal(["contracts", "import", str(path)], env, tmp_path)
    assert status == 0, screen
    assert "storing" in screen and "contract" in screen and "%|" in screen and BAR in screen, screen[-2000:]
    assert "2500 row(s) read: 2500 contract(s) created" in screen

    again = piped(["contracts", "import", str(path)], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 contract(s) created" in again.stdout
    assert "%|" not in again.stderr + again.stdout and BAR not in again.stderr + again.stdout

    status, screen = on_a_terminal(["contracts", "import", str(path), "--json"], env, tmp_path)
    assert status == 0, screen
    assert "%|" not in screen and "storing" not in screen
    assert json.loads(screen[screen.index("{"):])["contracts_created"] == 0


def mail(n: int) -> bytes:
    return make_mail(Subject=f"Awaria {n}", From=f"k{n}@example.com", Message_ID=f"<m{n}@example.com>")


def drop(env, tmp_path, count: int) -> None:
    new = tmp_path / "var" / "Maildir" / "new"
    for d in ("new", "cur", "tmp"):
        (tmp_path / "var" / "Maildir" / d).mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (new / f"{n}.eml").write_bytes(mail(n))


def test_worker_once_shows_progress_over_a_backlog_on_a_terminal_only(env, tmp_path):
    drop(env, tmp_path, 20)
    status, screen = on_a_terminal(["worker", "--once"], env, tmp_path)
    assert status == 0, screen
    assert "%|" in screen and "mail" in screen and BAR in screen, screen[-2000:]
    assert "processed 20: new_ticket 20" in screen

    drop(env, tmp_path, 0)
    for n in range(20, 30):
        (tmp_path / "var" / "Maildir" / "new" / f"{n}.eml").write_bytes(
            mail(n))
    done = piped(["worker", "--once"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "processed 10: new_ticket 10\n"
    assert "%|" not in done.stderr and BAR not in done.stderr

    for n in range(30, 35):
        (tmp_path / "var" / "Maildir" / "new" / f"{n}.eml").write_bytes(
            mail(n))
    status, screen = on_a_terminal(["worker", "--once", "--json"], env, tmp_path)
    assert status == 0, screen
    assert "%|" not in screen
    assert json.loads(screen[screen.index("{"):])["processed"] == 5
