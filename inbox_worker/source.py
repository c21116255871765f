"""What every mail source is (`Source`) and how it fails (`SourceError`).

Sources live in `fetch.py` (Maildir, and `open_source`, which opens either) and
`imap.py` (IMAP); `imap.py` takes its error from here, not from `fetch.py`, so the two
do not import each other in a circle.
"""
from __future__ import annotations

from typing import Iterator, Protocol

from .message import Fetched


class SourceError(RuntimeError):
    """The mailbox cannot be reached or read; the caller reconnects with backoff."""


class Source(Protocol):
    name: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def uidvalidity(self) -> int: ...

    def pending(self) -> list[str]:
        """UIDs of messages not yet marked done, oldest first."""

    def fetch(self, uids: list[str], max_bytes: int) -> Iterator[Fetched]:
        """The messages with these UIDs; over `max_bytes` only the header, truncated=True.
        A UID that vanished in the meantime is left out."""

    def mark_done(self, uids: list[str]) -> None:
        """Flag or move these messages on the server; called only after their commit."""

    def wait(self, timeout: float) -> None:
        """Block until new mail may be there (IMAP IDLE) or `timeout` seconds pass."""
