"""ImapSource: the `Source` of fetch.py over IMAP (imapclient).

In: a MailboxURL (imap:// or imaps://) and the done policy ("flag" or "move:Folder").
Out: pending UIDs, `Fetched` values read with BODY.PEEK (never \\Seen), and
`mark_done` on the server. Never parses, never touches the database.

- Transport: imaps:// is implicit TLS; imap:// upgrades with STARTTLS when the
  server offers it (and `url.starttls`, the default); plain text only to a loopback
  host. Certificates are verified with the default SSL context.
- Done = "flag": the keyword `$HelpdeskDone` is added; pending = UNDELETED UNKEYWORD
  $HelpdeskDone. A folder whose PERMANENTFLAGS do not allow keywords is refused at
  open() (use "move:Folder" there): falling back to \\Flagged would silently skip
  any mail a person flagged before we processed it.
- Done = "move:Folder": MOVE (or COPY + \\Deleted + UID EXPUNGE) into Folder, created
  at open() if missing; pending = every undeleted message. Without UIDPLUS the
  copied originals stay behind marked \\Deleted (pending skips them); we never run a
  plain EXPUNGE, which would also remove other people's deleted mail.
- Login: the URL's password, or (`?auth=oauth2`) an OAuth2 access token from `tokens`
  (domain/oauth.py) with SASL XOAUTH2 (or OAUTHBEARER where the server offers only that,
  or the URL asks for it); a refused token is refreshed once and tried again, and a
  token that cannot be had (the refresh token died, the provider is down) is a SourceError.
- `readonly=True` (a parsing process's connection, by_uid.py): EXAMINE instead of SELECT,
  no done folder made, and mark_done refused; it only fetches.
- Every network or protocol failure is raised as SourceError; the connection is then
  dropped and stays dropped until open() is called again (never silently re-opened,
  since a new session may have a different UIDVALIDITY). close() never raises.
"""
from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import ssl
import time
from typing import Iterator

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from helpdesk.config import MailboxURL, is_loopback
from helpdesk.domain.oauth import OAuthUnavailable

from .message import Fetched
from .source import SourceError

log = logging.getLogger(__name__)

DONE_KEYWORD = "$HelpdeskDone"
DELETED = "\\Deleted"
# Everything the libraries raise for a broken connection or a refused command
# (imaplib.IMAP4.error is also the base of all imapclient exceptions; ssl and
# socket errors, timeouts included, are OSError; ValueError is an I/O on a closed file).
NETWORK_ERRORS = (OSError, EOFError, ValueError, imaplib.IMAP4.error)


IMAPLIB_LOG = logging.getLogger("imapclient.imaplib")


def quiet_imaplib(client: IMAPClient) -> None:
    """IMAPClient sets imaplib's debug level to 5 so that imaplib's own trace goes to the
    "imapclient.imaplib" logger. At that level imaplib formats every response with %r before
    the logger drops it: each fetched message's bytes twice, about a tenth of a parsing
    process's CPU. The trace stays on when that logger is set to DEBUG."""
    if not IMAPLIB_LOG.isEnabledFor(logging.DEBUG):
        client._imap.debug = 0


class ImapSource:
    """An IMAP folder as a `Source`; one connection, used from one thread."""

    # RFC 2177: re-issue IDLE at least every 29 minutes; we stay well inside that.
    idle_max = 25 * 60.0
    # Without IDLE, how often wait() asks the server whether new mail came.
    poll_every = 10.0
    # Upper bound on the bytes of one BODY.PEEK[] command (besides `batch` UIDs).
    batch_bytes = 32 * 1024 * 1024
    # UIDs per STORE/MOVE command in mark_done: keeps command lines short.
    mark_batch = 500

    def __init__(
        self,
        url: MailboxURL,
        done: str = "flag",
        *,
        batch: int = 100,
        timeout: float = 60.0,
        idle: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        tokens=None,
        readonly: bool = False,
    ):
        if url.scheme not in ("imap", "imaps"):
            raise ValueError(f"ImapSource needs an imap:// or imaps:// URL, not {url.scheme}://")
        if done == "flag":
            self.done_folder = None
        elif done.startswith("move:") and len(done) > 5:
            self.done_folder = done[5:]
        else:
            raise ValueError(f"done must be 'flag' or 'move:Folder', not {done!r}")
        if self.done_folder == url.folder:
            raise ValueError(f"move:{self.done_folder} names the folder mail is read from")
        self.url = url
        self.name = url.name
        self.batch = max(1, batch)
        self.timeout = timeout
        self.use_idle = idle
        self.ssl_context = ssl_context
        self.tokens = tokens  # domain.oauth.AccessTokens, for ?auth=oauth2
        # EXAMINE instead of SELECT: for a connection that only fetches (a parsing process's,
        # inbox_worker/by_uid.py); it never changes a flag, and mark_done is refused.
        self.readonly = readonly
        if url.oauth and tokens is None:
            raise ValueError(f"{self.name}: auth={url.auth} needs an OAuth2 token source")
        self._client: IMAPClient | None = None
        self._uidvalidity = 0
        self._seen_uid = 0  # the highest UID we know of: wait() looks for anything above
        self._lost: str | None = None  # why the last connection was dropped

    def __repr__(self) -> str:
        state = "open" if self._client else "closed"
        return f"<ImapSource {self.name} {state}>"

    def __enter__(self) -> "ImapSource":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- connection ------------------------------------------------------------------

    def open(self) -> None:
        """Connect, secure, log in and select the folder (read-write)."""
        self.close()
        self._lost = None
        plain_ok = self._check_transport()
        url = self.url
        where = f"{url.host}:{url.port}"
        try:
            client = IMAPClient(
                url.host,
                url.port,
                ssl=url.scheme == "imaps",
                ssl_context=self._context() if url.scheme == "imaps" else None,
                timeout=self.timeout,
            )
        except NETWORK_ERRORS as exc:
            raise SourceError(f"{self.name}: cannot connect to {where}: {_describe(exc)}") from exc
        quiet_imaplib(client)
        self._client = client
        try:
            transport = "TLS" if url.scheme == "imaps" else "plain text (loopback)"
            if url.scheme == "imap" and url.starttls and client.has_capability("STARTTLS"):
                client.starttls(self._context())
                transport = "STARTTLS"
            elif url.scheme == "imap" and not plain_ok:
                raise SourceError(
                    f"{self.name}: {where} does not offer STARTTLS, and the password is not sent "
                    "in plain text to a host that is not loopback; use imaps:// or a server "
                    "with STARTTLS"
                )
            self._login(client)
            self._select(client)
            if self.done_folder and not self.readonly:
                self._ensure_folder(client, self.done_folder)
        except SourceError:
            self._drop("open failed")
            raise
        except NETWORK_ERRORS as exc:
            self._drop("open failed")
            raise SourceError(f"{self.name}: cannot open the mailbox: {_describe(exc)}") from exc
        log.info("opened %s over %s, UIDVALIDITY %s", self.name, transport, self._uidvalidity)

    def _login(self, client: IMAPClient) -> None:
        url = self.url
        if not url.oauth:
            try:
                client.login(url.username, url.password)
            except LoginError as exc:
                raise SourceError(
                    f"{self.name}: login as {url.username!r} failed: {_describe(exc)} "
                    "(check the user name and password in HELPDESK_MAILBOX_URL)"
                ) from exc
            return
        mechanism = self._mechanism(client)
        for force in (False, True):  # a token the server refuses is refreshed once
            try:
                token = self.tokens.get(url.username, force=force)
            except OAuthUnavailable as exc:
                raise SourceError(f"{self.name}: {exc}") from exc
            try:
                if mechanism == "OAUTHBEARER":
                    client.oauthbearer_login(url.username, token)
                else:
                    client.oauth2_login(url.username, token)
                return
            except LoginError as exc:
                refused = exc
                log.warning("%s: the server refused the OAuth2 token (%s)%s", self.name, _describe(exc),
                            "" if force else "; refreshing it")
        raise SourceError(f"{self.name}: {mechanism} login as {url.username!r} refused even with a fresh token: "
                          f"{_describe(refused)} (check the scopes and that IMAP is enabled for the mailbox)")

    def _mechanism(self, client: IMAPClient) -> str:
        """XOAUTH2 or OAUTHBEARER: the URL's choice, or XOAUTH2 unless the server offers only OAUTHBEARER."""
        if self.url.auth in ("xoauth2", "oauthbearer"):
            return self.url.auth.upper()
        if not client.has_capability("AUTH=XOAUTH2") and client.has_capability("AUTH=OAUTHBEARER"):
            return "OAUTHBEARER"
        return "XOAUTH2"

    def _check_transport(self) -> bool:
        """Before connecting: refuse imap:// without STARTTLS to a host that is not
        loopback. Returns whether plain text is acceptable if STARTTLS is missing."""
        plain_ok = is_loopback(self.url.host)
        if self.url.scheme == "imap" and not self.url.starttls and not plain_ok:
            raise SourceError(
                f"{self.name}: refusing to log in over plain text to {self.url.host} "
                "(starttls=no is only allowed for a loopback host); use imaps:// or "
                "imap:// with STARTTLS"
            )
        return plain_ok

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _select(self, client: IMAPClient) -> None:
        info = client.select_folder(self.url.folder, readonly=self.readonly)
        self._uidvalidity = int(info[b"UIDVALIDITY"])
        self._seen_uid = max(0, int(info.get(b"UIDNEXT", 1)) - 1)
        permanent = info.get(b"PERMANENTFLAGS")
        # No PERMANENTFLAGS at all means every flag is permanent (RFC 3501 7.1).
        if self.done_folder is None and not self.readonly and permanent is not None and not (
            b"\\*" in permanent or DONE_KEYWORD.encode() in permanent
        ):
            raise SourceError(
                f"{self.name}: the server does not keep keywords on this folder, so "
                f"{DONE_KEYWORD} cannot mark processed mail; set HELPDESK_MAILBOX_DONE=move:Processed"
            )

    def _ensure_folder(self, client: IMAPClient, folder: str) -> None:
        if client.folder_exists(folder):
            return
        try:
            client.create_folder(folder)
        except imaplib.IMAP4.error:
            if not client.folder_exists(folder):  # someone else may have made it meanwhile
                raise
        with contextlib.suppress(imaplib.IMAP4.error):
            client.subscribe_folder(folder)
        log.info("%s: created the folder %s for processed mail", self.name, folder)

    @property
    def connected(self) -> bool:
        return self._client is not None

    def close(self) -> None:
        """Log out and close the socket; never raises."""
        client, self._client = self._client, None
        if client is None:
            return
        self._lost = "closed"
        try:
            client.socket().settimeout(min(5.0, self.timeout))
            client.logout()
        except Exception:
            _shutdown(client)

    def _drop(self, reason: str) -> None:
        """Close the socket without a goodbye, after a failure."""
        client, self._client = self._client, None
        self._lost = reason
        if client is not None:
            _shutdown(client)

    @contextlib.contextmanager
    def _io(self, doing: str) -> Iterator[IMAPClient]:
        """The live client; any library failure inside becomes SourceError and drops it."""
        if self._client is None:
            if self._lost is not None:
                raise SourceError(f"{self.name}: not connected ({self._lost}); call open() again")
            self.open()  # first use, like MaildirSource; never after a close or a failure
        try:
            yield self._client
        except SourceError:
            raise
        except NETWORK_ERRORS as exc:
            self._drop(f"{doing} failed")
            raise SourceError(f"{self.name}: {doing} failed: {_describe(exc)}") from exc

    # -- the Source protocol -----------------------------------------------------------

    def uidvalidity(self) -> int:
        with self._io("select"):
            return self._uidvalidity

    def pending(self) -> list[str]:
        """UIDs of undeleted messages not marked done, ascending, as decimal strings."""
        criteria = ["UNDELETED"]
        if self.done_folder is None:
            criteria += ["UNKEYWORD", DONE_KEYWORD]
        with self._io("UID SEARCH") as client:
            _sync(client)
            uids = sorted(int(u) for u in client.search(criteria))
        if uids:
            self._seen_uid = max(self._seen_uid, uids[-1])
        return [str(u) for u in uids]

    def sync(self) -> None:
        """Let the server tell this session of mail that arrived since its last command (a
        UID FETCH of a UID the session has not heard of yet finds nothing)."""
        with self._io("NOOP") as client:
            _sync(client)

    def fetch(self, uids: list[str], max_bytes: int) -> Iterator[Fetched]:
        """The messages in UID order, `batch` UIDs per round trip; over `max_bytes` only
        the header (truncated=True, size = the server's). Vanished UIDs are left out."""
        wanted = sorted({int(u) for u in uids})
        for start in range(0, len(wanted), self.batch):
            yield from self._fetch_batch(wanted[start:start + self.batch], max_bytes)

    def _fetch_batch(self, uids: list[int], max_bytes: int) -> Iterator[Fetched]:
        with self._io("FETCH RFC822.SIZE") as client:
            found = _fetch(client, uids, "RFC822.SIZE")
        sizes = {uid: int(d[b"RFC822.SIZE"]) for uid, d in found.items() if b"RFC822.SIZE" in d}
        for whole, group in self._groups([u for u in uids if u in sizes], sizes, max_bytes):
            item, key = ("BODY.PEEK[]", b"BODY[]") if whole else ("BODY.PEEK[HEADER]", b"BODY[HEADER]")
            with self._io(f"FETCH {item}") as client:
                found = _fetch(client, group, item)
            for uid in group:
                raw = found.get(uid, {}).get(key)
                if raw is None:
                    continue  # expunged by someone else meanwhile
                yield Fetched(self.name, self._uidvalidity, str(uid), bytes(raw), sizes[uid], not whole)

    def _groups(self, uids: list[int], sizes: dict[int, int], max_bytes: int):
        """Consecutive runs of UIDs fetched alike (whole or header only), each run's
        bodies under `batch_bytes`, so memory stays bounded and order is kept."""
        group: list[int] = []
        whole_group = True
        total = 0
        for uid in uids:
            whole = sizes[uid] <= max_bytes
            cost = sizes[uid] if whole else 0
            if group and (whole != whole_group or total + cost > self.batch_bytes):
                yield whole_group, group
                group, total = [], 0
            group.append(uid)
            whole_group = whole
            total += cost
        if group:
            yield whole_group, group

    def mark_done(self, uids: list[str]) -> None:
        """Add $HelpdeskDone, or move to the done folder; a UID already done or gone is skipped."""
        if self.readonly:
            raise ValueError(f"{self.name}: a read-only connection marks nothing done")
        wanted = sorted({int(u) for u in uids})
        for start in range(0, len(wanted), self.mark_batch):
            chunk = wanted[start:start + self.mark_batch]
            with self._io("mark done") as client:
                if self.done_folder is None:
                    client.add_flags(chunk, [DONE_KEYWORD], silent=True)
                else:
                    self._move(client, chunk)

    def _move(self, client: IMAPClient, uids: list[int]) -> None:
        present = client.search(["UID", ",".join(map(str, uids)), "UNDELETED"])
        if not present:
            return
        if client.has_capability("MOVE"):
            client.move(present, self.done_folder)
            return
        client.copy(present, self.done_folder)
        client.add_flags(present, [DELETED], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(present)

    def wait(self, timeout: float) -> None:
        """Return when new mail may have arrived (IMAP IDLE) or after `timeout` seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._io("check for new mail") as client:
            if self._has_new(client):
                return
            idle = self.use_idle and client.has_capability("IDLE")
        if idle:
            self._idle_until(deadline)
        else:
            self._poll_until(deadline)

    def _has_new(self, client: IMAPClient) -> bool:
        _sync(client)
        # "n:*" always matches the last message, even below n: compare.
        return any(int(u) > self._seen_uid for u in client.search(["UID", f"{self._seen_uid + 1}:*"]))

    def _idle_until(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            with self._io("IDLE") as client:
                client.idle()
                news = False
                try:
                    news = _idle_for(client, min(deadline, time.monotonic() + self.idle_max))
                finally:
                    client.idle_done()  # also how a dropped connection shows up
            if news:
                return

    def _poll_until(self, deadline: float) -> None:
        next_check = time.monotonic() + self.poll_every
        while (now := time.monotonic()) < deadline:
            time.sleep(min(1.0, deadline - now))
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self.poll_every
                with self._io("check for new mail") as client:
                    if self._has_new(client):
                        return


def _idle_for(client: IMAPClient, until: float) -> bool:
    """Inside IDLE: True on EXISTS/RECENT, False when `until` passes or the socket looks
    closed (idle_check swallows EOF; the caller's idle_done then raises)."""
    while (left := until - time.monotonic()) > 0:
        step = min(left, 60.0)
        started = time.monotonic()
        responses = client.idle_check(timeout=step)
        for response in responses:
            if len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT") and response[0]:
                return True
        if not responses and time.monotonic() - started < step * 0.9:
            return False  # woken with nothing to read: EOF, most likely
    return False


def _sync(client: IMAPClient) -> None:
    """NOOP: lets the server announce mail that arrived since our last command (Dovecot
    shows it to SEARCH only after such a sync). imaplib keeps every unsolicited response
    for the whole session; drop the ones we do not read, so a long session stays small."""
    client.noop()
    for key in ("EXISTS", "RECENT", "EXPUNGE", "FETCH"):
        client._imap.untagged_responses.pop(key, None)


def _fetch(client: IMAPClient, uids: list[int], item: str) -> dict:
    """UID FETCH, retried once after NOOP if the server says some UIDs were expunged
    by another session (RFC 2180 [EXPUNGEISSUED]); the vanished ones are left out."""
    try:
        return client.fetch(uids, [item])
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:
        if "EXPUNGEISSUED" not in str(exc).upper():
            raise
    client.noop()
    return client.fetch(uids, [item])


def _describe(exc: BaseException) -> str:
    """The server's words without b'...' wrapping, or the exception's class and text."""
    text = str(exc)
    text = re.sub(r"""^b(['"])(.*)\1$""", r"\2", text)
    if isinstance(exc, TimeoutError) or "timed out" in text:
        return f"timed out ({text or type(exc).__name__})"
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError):
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or type(exc).__name__


def _shutdown(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # already closed or half-closed: nothing left to free
        pass
