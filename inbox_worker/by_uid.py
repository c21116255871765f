"""Fetching by UID in the parsing processes: the writer lists, the parsing processes fetch.

In: a `FetchOrder` (the mailbox's URL, the UIDVALIDITY the writer saw, the size cap, and the
writer's OAuth2 access token for ?auth=oauth2) and a few UIDs. Out: per message found, a
`Fetched` (its place, size and truncation; its bytes only when the writer may need them:
a message that did not parse or could not be stored) with what `prepare` made of it. A
UID expunged by another client since the writer listed it is left out, as `Source.fetch`
leaves it out.

Each parsing process keeps one read-only connection per mailbox (EXAMINE, BODY.PEEK: no
flag changes), opened on first use, and opens it again once when it fails during a fetch.
A second failure, a refused token or a UIDVALIDITY other than the writer's is raised as
SourceError: the writer rolls back nothing (it has written nothing of the batch yet) and
retries its pass as after a dropped connection of its own. Never marks anything done,
never touches the database, never asks the OAuth2 provider for a token: the writer alone
commits, then marks, and refreshes tokens.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from helpdesk.config import MailboxURL
from helpdesk.domain.oauth import OAuthUnavailable

from .imap import ImapSource
from .message import Fetched, Inbound
from .source import SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchOrder:
    """What a parsing process needs to fetch a mailbox's messages on its own connection."""

    # With its password: it goes to a child process over a pipe, never to disk or a log line.
    url: MailboxURL = field(repr=False)
    uidvalidity: int  # the writer's: a different one means the UIDs name other messages
    max_bytes: int  # over this, only the header (as the writer's own fetch does)
    token: str | None = field(default=None, repr=False)  # an access token the writer got, for ?auth=oauth2
    timeout: float = 60.0


@dataclass(frozen=True)
class Remote:
    """One message fetched and prepared in a parsing process."""

    fetched: Fetched
    prepared: object  # pipeline.Prepared, or the OSError storing it raised


class GivenToken:
    """The token source of a parsing process's connection: the writer's token, never a
    refresh (a refused token is the writer's to renew: it raises, and the pass is retried)."""

    def __init__(self, token: str | None):
        self.token = token

    def get(self, account: str, *, force: bool = False) -> str:
        if force or not self.token:
            raise OAuthUnavailable(f"OAuth2 for {account}: the server refused the access token the worker "
                                   "passed on; the worker gets a new one")
        return self.token


_connections: dict[MailboxURL, ImapSource] = {}  # this process's, one per mailbox


def fetch_and_prepare(prepare, order: FetchOrder, uids: list[str], store, max_attachment_bytes: int, *,
                      max_attachments: int = 100) -> list[Remote]:
    """In a parsing process: fetch these UIDs and `prepare` each message (pipeline.prepare)."""
    out: list[Remote] = []
    for fetched in fetched_by_uid(order, uids):
        prepared: object
        try:
            prepared = prepare(fetched.raw, store, max_attachment_bytes, max_attachments=max_attachments)
        except OSError as exc:  # raised again when the writer writes this message, as pipeline.prepare_chunk does
            prepared = exc
        out.append(Remote(_to_send(fetched, prepared), prepared))
    return out


def _to_send(fetched: Fetched, prepared: object) -> Fetched:
    """The bytes stay here once stored: the writer needs them only to quarantine a message
    that did not parse (its Message-ID) or to store one again after a store error."""
    if isinstance(getattr(prepared, "parsed", None), Inbound):
        return replace(fetched, raw=b"")
    return fetched


def fetched_by_uid(order: FetchOrder, uids: list[str]) -> list[Fetched]:
    """The messages in UID order, on this process's connection, reconnecting once."""
    for attempt in (1, 2):
        try:
            source = connection(order)
            found = list(source.fetch(uids, order.max_bytes))
            missing = set(uids) - {f.uid for f in found}
            if missing:
                # New to this session (it has not heard of them yet), or expunged meanwhile.
                source.sync()
                found = sorted([*found, *source.fetch(sorted(missing, key=int), order.max_bytes)],
                               key=lambda f: int(f.uid))
            return found
        except SourceError as exc:
            forget(order)
            if attempt == 2:
                raise
            log.warning("%s; connecting again", exc)
    raise AssertionError("unreachable")


def connection(order: FetchOrder) -> ImapSource:
    """This process's open connection to the order's mailbox, at the writer's UIDVALIDITY."""
    source = _connections.get(order.url)
    if source is None:
        source = _connections[order.url] = ImapSource(order.url, timeout=order.timeout, idle=False,
                                                      tokens=GivenToken(order.token), readonly=True)
    source.tokens = GivenToken(order.token)  # the newest, for a (re)connection
    if not source.connected:
        source.open()
    if (seen := source.uidvalidity()) != order.uidvalidity:
        forget(order)
        raise SourceError(f"{order.url.name}: UIDVALIDITY is {seen} here, {order.uidvalidity} for the worker: "
                          "the pass starts again")
    return source


def forget(order: FetchOrder) -> None:
    """Close and drop this process's connection to the order's mailbox; never raises."""
    source = _connections.pop(order.url, None)
    if source is not None:
        source.close()
