"""A private Dovecot IMAP server for tests (a pytest plugin: `pytest_plugins = ["tests.dovecot"]`).

Fixtures:
  dovecot     (session) a running server on 127.0.0.1 with helpers, stopped at session end
  imap_url    (function) a fresh, empty mailbox: imap://user:pass@127.0.0.1:PORT/INBOX
  imap_proxy  (function) a TcpProxy to the server whose connections a test can cut

Without Dovecot installed the tests skip (`apt-get install dovecot-imapd`), or fail
when CI=true. The recipe is in ../shared/NOTES.md ("Dovecot as a test server").
"""
from __future__ import annotations

import contextlib
import grp
import itertools
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import quote, unquote, urlsplit

import pytest
from imapclient import IMAPClient

from tests.conftest import IN_CI
from tests.tcpproxy import TcpProxy

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
USER_BATCH = 50

CONF = """\
# A private test instance; see tests/dovecot.py.
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
instance_name = helpdesk-test-{port}
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/mail
# New mail shows up in IDLE promptly even where inotify is not available.
mailbox_idle_check_interval = 1 secs
# A wrong-password test need not wait the default two seconds. (Dovecot still makes
# the next login from 127.0.0.1 wait a few seconds once: its per-IP auth penalty.)
auth_failure_delay = 0
{unprivileged}
{extra}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
{mechanisms}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""

# Running as an ordinary user: every service runs as that user, without chroot.
UNPRIVILEGED = """\
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


class Dovecot:
    """A running private Dovecot, and helpers that talk to it as an ordinary client."""

    host = "127.0.0.1"
    extra_conf = ""  # more configuration (tests/oauth.py adds an oauth2 passdb)
    password_mechanisms = ""  # the mechanisms the passwd-file serves; "" for all

    def __init__(self, binary: str, base_dir: Path):
        self.binary = binary
        self.base_dir = base_dir
        self.port = 0
        self._process: subprocess.Popen | None = None
        self._users = itertools.count(1)
        self._spare: list[tuple[str, str]] = []  # users in the passwd-file, not handed out yet
        if os.geteuid() == 0:
            self._uid, self._gid, self._unprivileged = "nobody", "nogroup", ""
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            self._uid, self._gid = os.geteuid(), os.getegid()
            group = grp.getgrgid(os.getegid()).gr_name
            self._unprivileged = UNPRIVILEGED.format(user=me, group=group)

    # -- life cycle ------------------------------------------------------------

    def start(self) -> None:
        for d in ("run", "state", "home"):
            (self.base_dir / d).mkdir(exist_ok=True)
        # The auth process reads the passwd-file as user dovecot: the dir must be readable.
        os.chmod(self.base_dir, 0o755)
        (self.base_dir / "passwd").touch(mode=0o644)
        self._add_users(USER_BATCH)  # before the start: no wait
        last_error = ""
        for _ in range(3):  # a free port can be taken between choosing and binding
            self.port = _free_port()
            conf = self.base_dir / "dovecot.conf"
            conf.write_text(
                CONF.format(
                    dir=self.base_dir, port=self.port, uid=self._uid, gid=self._gid,
                    unprivileged=self._unprivileged.strip(), extra=self.extra_conf.strip(),
                    mechanisms=f"  mechanisms = {self.password_mechanisms}" if self.password_mechanisms else "",
                )
            )
            log = open(self.base_dir / "stderr.log", "ab")
            try:
                self._process = subprocess.Popen(
                    [self.binary, "-F", "-c", str(conf)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            finally:
                log.close()
            if self._wait_ready():
                return
            last_error = self.log_tail()
            self.stop()
        raise RuntimeError(f"Dovecot did not start (logs in {self.base_dir}):\n{last_error}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop the master (PID from base_dir/run/master.pid) and wait for every child."""
        process, self._process = self._process, None
        if process is None:
            return
        pid = process.pid
        pid_file = self.base_dir / "run" / "master.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().split()[0])
        children = _descendants(pid) | _descendants(process.pid)
        for target in {pid, process.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)
        # Children (auth, imap, log...) notice the master is gone and exit; make sure.
        deadline = time.monotonic() + STOP_TIMEOUT
        while children and time.monotonic() < deadline:
            children = {c for c in children if _alive(c)}
            time.sleep(0.05)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for name in ("stderr.log", "dovecot.log"):
            path = self.base_dir / name
            if path.is_file():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- mailboxes ---------------------------------------------------------------

    def new_mailbox(self, folder: str = "INBOX") -> str:
        """A new user with an empty mailbox; returns imap://user:pass@127.0.0.1:PORT/FOLDER.
        A folder other than INBOX is created."""
        if not self._spare:
            self._add_users(USER_BATCH)
        user, password = self._spare.pop(0)
        url = f"imap://{user}:{password}@{self.host}:{self.port}/{quote(folder)}"
        if folder.upper() != "INBOX":
            with self.client(url) as c:
                c.create_folder(folder)
        return url

    def _add_users(self, count: int) -> None:
        """Append users to the passwd-file. Its reader re-reads it at most once a second,
        and a failed login would cost a per-IP penalty, so users are made in batches and
        we wait out that second once per batch."""
        lines = []
        for _ in range(count):
            user = f"u{next(self._users)}{secrets.token_hex(3)}"
            password = secrets.token_hex(8)
            home = self.base_dir / "home" / user
            home.mkdir()
            if os.geteuid() == 0:
                shutil.chown(home, "nobody", "nogroup")
            lines.append(f"{user}:{{PLAIN}}{password}::::::\n")
            self._spare.append((user, password))
        with open(self.base_dir / "passwd", "a") as f:
            f.writelines(lines)
        if self._process is not None:
            time.sleep(1.1)

    @contextlib.contextmanager
    def client(self, url: str, select: bool = False, folder: str | None = None) -> Iterator[IMAPClient]:
        """A logged-in IMAPClient for `url` (logged out after); with select, its folder
        (or `folder`) is selected read-only, so \\Recent and \\Seen stay as they are."""
        parts = urlsplit(url)
        c = IMAPClient(parts.hostname, parts.port, ssl=False, timeout=30)
        try:
            c.login(unquote(parts.username), unquote(parts.password))
            if select or folder:
                c.select_folder(folder or _folder(url), readonly=True)
            yield c
        finally:
            try:
                c.logout()
            except Exception:
                c.shutdown()

    def append(self, url: str, raw: bytes, flags=(), folder: str | None = None) -> str:
        """Append one message; returns its UID as a decimal string."""
        with self.client(url) as c:
            response = c.append(folder or _folder(url), raw, flags=tuple(flags))
        # [APPENDUID <uidvalidity> <uid>] (UIDPLUS)
        return response.split(b"]")[0].split()[-1].decode()

    def uids(self, url: str, folder: str | None = None, criteria="ALL") -> list[str]:
        with self.client(url, folder=folder or _folder(url)) as c:
            return [str(u) for u in sorted(c.search(criteria))]

    def flags(self, url: str, folder: str | None = None) -> dict[str, set[str]]:
        """{uid: {flag, ...}} for every message, flags as str (e.g. "\\Seen", "$HelpdeskDone")."""
        with self.client(url, folder=folder or _folder(url)) as c:
            found = c.fetch(c.search("ALL"), ["FLAGS"])
            return {str(uid): {f.decode() for f in d[b"FLAGS"]} for uid, d in found.items()}

    def folders(self, url: str) -> list[str]:
        with self.client(url) as c:
            return [name for _, _, name in c.list_folders()]

    def uidvalidity(self, url: str, folder: str | None = None) -> int:
        with self.client(url) as c:
            return c.folder_status(folder or _folder(url), ["UIDVALIDITY"])[b"UIDVALIDITY"]

    def recreate_folder(self, url: str, folder: str | None = None) -> int:
        """Delete and re-create the folder (its messages are lost) so that it gets a new
        UIDVALIDITY, which is returned. INBOX cannot be deleted over IMAP, so for INBOX
        the maildir's files are removed on disk and Dovecot rebuilds it."""
        folder = folder or _folder(url)
        before = self.uidvalidity(url, folder)
        if folder.upper() == "INBOX":
            user = urlsplit(url).username
            maildir = self.base_dir / "home" / unquote(user) / "mail"
            for path in maildir.iterdir():
                if path.name in ("cur", "new", "tmp") or path.name.startswith("dovecot-uidlist") \
                        or path.name.startswith("dovecot.index"):
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        else:
            with self.client(url) as c:
                c.delete_folder(folder)
                c.create_folder(folder)
        after = self.uidvalidity(url, folder)
        if after == before:
            raise AssertionError(f"UIDVALIDITY of {folder} did not change ({before})")
        return after

    def url_through(self, url: str, proxy: TcpProxy) -> str:
        """The same mailbox URL, but connecting through `proxy`."""
        return url.replace(f"@{self.host}:{self.port}/", f"@{proxy.host}:{proxy.port}/", 1)


def _folder(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/")) or "INBOX"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, read from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    binary = dovecot_binary()
    if binary is None:
        message = "Dovecot is not installed; install it with `apt-get install dovecot-imapd`"
        if IN_CI:
            pytest.fail(f"{message} (CI=true, so this is an error)")
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="dovecot-") as tmp:
        server = Dovecot(binary, Path(tmp))
        try:
            server.start()
            yield server
        finally:
            server.stop()


@pytest.fixture
def imap_url(dovecot: Dovecot) -> str:
    """A fresh user with an empty INBOX: imap://user:pass@127.0.0.1:PORT/INBOX."""
    return dovecot.new_mailbox()


@pytest.fixture
def imap_proxy(dovecot: Dovecot) -> Iterator[TcpProxy]:
    """A loopback proxy to the Dovecot; `dovecot.url_through(url, imap_proxy)` uses it."""
    with TcpProxy(dovecot.port) as proxy:
        yield proxy
