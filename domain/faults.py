"""Faults of the places we write to, each in one line an operator can act on: the file
store (raw mail and attachments: read-only, full) and the database (locked, read-only,
full, unavailable).

In: an exception, or a folder or database to probe. Out: a `Fault` (component, kind, a
one-line detail), or None when all is well. Probes never raise. `record` and `clear`
keep the open faults in the `fault` table (one open row per component), which the
admins' health job (scheduler.run_mailbox_health) reads to tell them once when a fault
starts and once when it is over; `open_faults` is what status pages show.
"""
from __future__ import annotations

import datetime as dt
import errno
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from helpdesk.models import FaultRecord, db

READ_ONLY, FULL, LOCKED, UNAVAILABLE = "read-only", "full", "locked", "unavailable"
STORE, DATABASE = "store", "database"

_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


@dataclass(frozen=True)
class Fault:
    component: str  # STORE | DATABASE
    kind: str  # READ_ONLY | FULL | LOCKED | UNAVAILABLE
    detail: str  # one line, no secrets

    def line(self) -> str:
        return f"{self.component} {self.kind}: {self.detail}"


class StoreUnavailable(Exception):
    """The file store cannot be written at all (not one message's fault): retry later."""

    def __init__(self, fault: Fault):
        super().__init__(fault.line())
        self.fault = fault


class ParsersUnavailable(RuntimeError):
    """The mail worker's parsing processes could not be started: no message's fault (the
    pass fails, its mail waits on the server)."""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def of_os_error(exc: OSError, component: str = STORE) -> Fault:
    """What a failed write of a file says about its folder."""
    if exc.errno in _READ_ONLY_ERRNOS:
        kind = READ_ONLY
    elif exc.errno in _FULL_ERRNOS:
        kind = FULL
    else:
        kind = UNAVAILABLE
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return Fault(component, kind, f"{os.strerror(exc.errno) if exc.errno else first_line(exc)}{where}")


def of_db_error(exc: BaseException) -> Fault:
    """What a database error says: locked past the timeout, read-only, full, or unreachable."""
    text = first_line(exc)
    low = text.lower()
    if "locked" in low or "lock timeout" in low or "could not obtain lock" in low:
        kind = LOCKED
    elif "readonly" in low or "read-only" in low or "read only" in low:
        kind = READ_ONLY
    elif "disk is full" in low or "no space left" in low or "disk full" in low:
        kind = FULL
    else:
        kind = UNAVAILABLE
    return Fault(DATABASE, kind, text)


# --- probes ------------------------------------------------------------------------------


def probe_store(folders: list[Path], *, size: int = 4096) -> Fault | None:
    """Write (and remove) a small file in each folder: None when every one takes it. Cheap
    enough for /healthz (no fsync: a full or read-only filesystem refuses the write itself)."""
    for folder in folders:
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-") as f:
                f.write(b"\0" * size)
                f.flush()
        except OSError as exc:
            return of_os_error(exc)
    return None


def probe_database(database, *, timeout_ms: int = 500) -> Fault | None:
    """Whether the database takes a write now, without writing anything and without
    waiting longer than `timeout_ms`: SQLite takes and drops the write lock; PostgreSQL is
    asked whether it is read-only and whether another session holds a table locked."""
    from peewee import DatabaseError, InterfaceError

    try:
        if "sqlite" in database.__class__.__name__.lower():  # pooled too
            return _probe_sqlite(database, timeout_ms)
        return _probe_postgresql(database, timeout_ms)
    except (DatabaseError, InterfaceError, OSError) as exc:
        return of_db_error(exc)


def _probe_sqlite(database, timeout_ms: int) -> Fault | None:
    if database.in_transaction():
        return None  # our own write lock, or a read: nothing to learn without disturbing it
    cursor = database.execute_sql("PRAGMA busy_timeout")
    before = cursor.fetchone()[0]
    database.execute_sql(f"PRAGMA busy_timeout = {int(timeout_ms)}")
    try:
        database.execute_sql("BEGIN IMMEDIATE")
        database.execute_sql("ROLLBACK")
    finally:
        database.execute_sql(f"PRAGMA busy_timeout = {int(before)}")
    return None


def _probe_postgresql(database, timeout_ms: int) -> Fault | None:
    # Waiting would tell no more: whoever holds a table exclusively blocks every writer now.
    read_only, recovery = database.execute_sql(
        "SELECT current_setting('transaction_read_only') = 'on', pg_is_in_recovery()").fetchone()
    if read_only or recovery:
        return Fault(DATABASE, READ_ONLY, "the database takes no writes (read-only transactions or a standby)")
    row = database.execute_sql(
        "SELECT c.relname, EXTRACT(EPOCH FROM now() - a.xact_start)::int FROM pg_locks l "
        "JOIN pg_class c ON c.oid = l.relation JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.granted AND l.mode IN ('AccessExclusiveLock', 'ExclusiveLock') AND l.locktype = 'relation' "
        "AND l.pid <> pg_backend_pid() AND c.relnamespace = 'public'::regnamespace ORDER BY 2 DESC LIMIT 1"
    ).fetchone()
    if row:
        return Fault(DATABASE, LOCKED, f"table {row[0]} locked by another session for {row[1]} s")
    return None


# --- the record of open faults -------------------------------------------------------------


def record(fault: Fault, now: dt.datetime) -> bool:
    """Note a fault (the open one of its component is updated); True when it is new."""
    with db.atomic():
        updated = (FaultRecord.update(kind=fault.kind, detail=fault.detail[:500], last_seen_at=now)
                   .where(FaultRecord.component == fault.component, FaultRecord.cleared_at.is_null()).execute())
        if not updated:
            FaultRecord.create(component=fault.component, kind=fault.kind, detail=fault.detail[:500], since=now,
                               last_seen_at=now)
    return not updated


def clear(component: str, now: dt.datetime) -> int:
    """The component works again: its open fault is over (0 when there was none)."""
    return (FaultRecord.update(cleared_at=now)
            .where(FaultRecord.component == component, FaultRecord.cleared_at.is_null()).execute())


def is_open(component: str) -> bool:
    return FaultRecord.select().where(FaultRecord.component == component, FaultRecord.cleared_at.is_null()).exists()


def open_faults() -> list[Fault]:
    return [Fault(r.component, r.kind, r.detail) for r in
            FaultRecord.select().where(FaultRecord.cleared_at.is_null()).order_by(FaultRecord.id)]
