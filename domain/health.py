"""Is the system alive? `status` for the portal's /healthz (`helpdesk check` is `checks.py`).

`status(now, config)` is what a load balancer asks every few seconds: whether the
database answers and takes writes (not locked, not read-only), whether the file store
takes files (not read-only, not full), in one line when not (`problem`), and how long
ago each mailbox was last fetched; nothing secret (no URL, no user name, no path).
"""
from __future__ import annotations

import datetime as dt

from helpdesk.config import Config

from . import faults


def status(now: dt.datetime, config: Config) -> tuple[bool, dict]:
    """(healthy, what /healthz shows): the database answers and takes writes, the file
    store takes files (`problem`: what is wrong, in one line); the age of each mailbox's
    last fetch in seconds (None before the first)."""
    from peewee import DatabaseError, InterfaceError

    from helpdesk.models import MailboxState, db

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
