"""Is everything reachable? `checks` for `helpdesk check`, `status` for the portal's /healthz.

`checks(config)` tries each thing the system needs, in order (configuration, database
and its schema, whether it takes writes, the file store, mailbox, SMTP server or outbox
folder) and returns one `Check` per thing with a sentence an operator can act on; it
never raises for a failed check. `status(now, config)` is what a load balancer asks
every few seconds: whether the database answers and takes writes (not locked, not
read-only), whether the file store takes files (not read-only, not full), in one line
when not, and how long ago each mailbox was last fetched; nothing secret (no URL, no
user name, no path).
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from config import Config

from . import faults


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _database_kind(url: str) -> str:
    return "SQLite" if url.startswith("sqlite:") else "PostgreSQL"


def checks(config: Config) -> list[Check]:
    results = [Check("configuration", True, f"{_database_kind(config.database_url)} database, mailbox "
                     f"{config.mailbox.name}, mail out {'by SMTP to ' + config.smtp.host if config.smtp.scheme else 'into ' + str(config.outbox_dir)}")]
    results.append(_database(config))
    results.append(_store(config))
    results.append(_mailbox(config))
    results.append(_smtp(config))
    return results


def _database(config: Config) -> Check:
    import database
    from peewee import DatabaseError, InterfaceError

    try:
        db = database.open_database(config.database_url, busy_timeout_ms=config.db_busy_timeout_ms)
        db.execute_sql("SELECT 1").fetchone()
        missing = database.pending_migrations(db)
    except (DatabaseError, InterfaceError, OSError, ValueError) as exc:
        return Check("database", False, f"cannot use the {_database_kind(config.database_url)} database: "
                                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
    if missing:
        return Check("database", False, f"reachable, but {len(missing)} migration(s) not applied "
                                        f"({', '.join(missing)}): run `helpdesk init-db`")
    fault = faults.probe_database(db, timeout_ms=min(config.db_busy_timeout_ms, 2000))
    if fault is not None:
        return Check("database", False, fault.line())
    return Check("database", True, f"{_database_kind(config.database_url)} reachable, schema up to date")


def _store(config: Config) -> Check:
    fault = faults.probe_store([config.blob_dir, config.raw_dir])
    if fault is not None:
        return Check("store", False, fault.line())
    return Check("store", True, f"{config.data_dir} takes files")


def _mailbox(config: Config) -> Check:
    from inbox_worker.fetch import SourceError, open_source

    source = open_source(config.mailbox, done=config.mailbox_done, batch=config.fetch_batch)
    try:
        source.open()
        pending = len(source.pending())
    except (SourceError, OSError) as exc:
        return Check("mailbox", False, f"cannot read {config.mailbox.name}: {exc}")
    finally:
        try:
            source.close()
        except (SourceError, OSError):
            pass
    return Check("mailbox", True, f"{config.mailbox.name} answered; {pending} message(s) waiting")


def _smtp(config: Config) -> Check:
    from inbox_worker.sender import SmtpTransport, TransportDown

    smtp = config.smtp
    if not smtp.scheme:
        folder = config.outbox_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return Check("smtp", False, f"no SMTP server set, and the outbox folder {folder} cannot be made: {exc}")
        if not os.access(folder, os.W_OK):
            return Check("smtp", False, f"no SMTP server set, and the outbox folder {folder} is not writable")
        return Check("smtp", True, f"no SMTP server set (HELPDESK_SMTP_URL): mail goes to {folder} as .eml files")
    transport = SmtpTransport(smtp, timeout=15)
    try:
        transport.open()
    except TransportDown as exc:
        return Check("smtp", False, str(exc))
    finally:
        transport.close()
    return Check("smtp", True, f"{smtp.host}:{smtp.port} accepted us" + (" (logged in)" if smtp.username else ""))


def status(now: dt.datetime, config: Config) -> tuple[bool, dict]:
    """(healthy, what /healthz shows): the database answers and takes writes, the file
    store takes files (`problem`: what is wrong, in one line); the age of each mailbox's
    last fetch in seconds (None before the first)."""
    from peewee import DatabaseError, InterfaceError

    from models import MailboxState, db

    store = faults.probe_store([config.blob_dir, config.raw_dir])
    store_line = f"{store.component} {store.kind}" if store else ""  # no path: nothing about where
    try:
        db.execute_sql("SELECT 1").fetchone()
        boxes = list(MailboxState.select(MailboxState.last_fetch_at, MailboxState.last_error).order_by(MailboxState.id))
    except (DatabaseError, InterfaceError) as exc:
        fault = faults.of_db_error(exc)
        return False, {"status": "unavailable", "database": False, "store": store is None,
                       "problem": "; ".join(filter(None, [f"database {fault.kind}", store_line]))}
    database = faults.probe_database(db.obj, timeout_ms=min(config.db_busy_timeout_ms, 500))
    problem = "; ".join(filter(None, [f"database {database.kind}" if database else "", store_line]))
    return not problem, {
        "status": "unavailable" if problem else "ok", "database": database is None, "store": store is None,
        "problem": problem,
        "mailboxes": [{"last_fetch_age_seconds": round((now - b.last_fetch_at).total_seconds()) if b.last_fetch_at
                       else None, "error": bool(b.last_error)} for b in boxes],
    }
