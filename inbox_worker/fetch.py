"""Fetch: where raw mail comes from.

In: a mailbox URL. Out: `Fetched` values (raw bytes + mailbox, UIDVALIDITY, UID) in
the server's order, and `mark_done` for the ones whose ticket write has committed.
Never parses, never touches the database, never marks a message before it is told to.

Sources: `MaildirSource` here (the embedded default) and `ImapSource` in `imap.py`.
"""
from __future__ import annotations

import logging
import mailbox as stdlib_mailbox
import os
import time
from pathlib import Path
from typing import Iterator

from helpdesk.config import MailboxURL

from .message import Fetched
from .source import Source, SourceError

log = logging.getLogger(__name__)


def open_source(url: MailboxURL, done: str = "flag", *, batch: int = 100, tokens=None) -> Source:
    """The source for a mailbox URL; `tokens` (domain.oauth.AccessTokens) for ?auth=oauth2."""
    if url.scheme == "maildir":
        return MaildirSource(url.path, done=done)  # type: ignore[arg-type]
    from .imap import ImapSource

    return ImapSource(url, done=done, batch=batch, tokens=tokens)


class MaildirSource:
    """A local Maildir: mail dropped into new/ or cur/ is pending; done moves it to a
    sub-folder (`.Processed` by default, or the one named by move:Folder)."""

    def __init__(self, path: Path, done: str = "flag"):
        self.path = Path(path)
        self.name = f"maildir:{self.path}"
        folder = done.split(":", 1)[1] if done.startswith("move:") else "Processed"
        self.done_folder = folder
        self._box: stdlib_mailbox.Maildir | None = None

    def open(self) -> None:
        try:
            self._box = stdlib_mailbox.Maildir(self.path, create=True)
            if self.done_folder not in self._box.list_folders():
                self._box.add_folder(self.done_folder)
        except OSError as exc:
            raise SourceError(f"cannot open Maildir {self.path}: {exc}") from exc

    def close(self) -> None:
        self._box = None

    @property
    def box(self) -> stdlib_mailbox.Maildir:
        if self._box is None:
            self.open()
        return self._box  # type: ignore[return-value]

    def uidvalidity(self) -> int:
        return 0

    def pending(self) -> list[str]:
        box = self.box
        box._refresh()  # type: ignore[attr-defined]  # the stdlib caches the listing for two seconds
        keys = list(box.iterkeys())
        # Oldest first, by the delivery time Maildir names start with, then by name.
        return sorted(keys, key=lambda k: (_mtime(box, k), k))

    def fetch(self, uids: list[str], max_bytes: int) -> Iterator[Fetched]:
        box = self.box
        for key in uids:
            try:
                path = self.path / box._lookup(key)  # type: ignore[attr-defined]
                size = path.stat().st_size
                with open(path, "rb") as f:
                    raw = f.read() if size <= max_bytes else _read_header(f)
            except (KeyError, FileNotFoundError):
                continue  # removed by someone else meanwhile
            yield Fetched(self.name, 0, key, raw, size, truncated=size > max_bytes)

    def mark_done(self, uids: list[str]) -> None:
        box = self.box
        target = self.path / f".{self.done_folder}"
        for key in uids:
            try:
                src = self.path / box._lookup(key)  # type: ignore[attr-defined]
            except KeyError:
                continue
            sub = "cur" if src.parent.name == "cur" else "new"
            os.replace(src, target / sub / src.name)
        box._refresh()  # type: ignore[attr-defined]

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        new = self.path / "new"
        while time.monotonic() < deadline:
            if any(new.iterdir()):
                return
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def _mtime(box: stdlib_mailbox.Maildir, key: str) -> float:
    try:
        return (box._path and os.path.getmtime(os.path.join(box._path, box._lookup(key))))  # type: ignore[attr-defined, return-value]
    except (KeyError, OSError):
        return 0.0


def _read_header(f) -> bytes:
    """The header block of a message file, up to the first empty line."""
    lines: list[bytes] = []
    for line in f:
        if line in (b"\n", b"\r\n") or len(lines) > 5000:
            break
        lines.append(line)
    return b"".join(lines)
