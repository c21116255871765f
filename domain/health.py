"""Is the system alive? `status` for the portal's /healthz (`helpdesk check` is `checks.py`).

`status(now)` is what a load balancer asks every few seconds: whether the database
answers and how long ago each mailbox was last fetched; nothing secret (no URL, no
user name), and only the database is touched.
"""
from __future__ import annotations

import datetime as dt


def status(now: dt.datetime) -> tuple[bool, dict]:
    """(healthy, what /healthz shows): the database answers; the age of each mailbox's
    last fetch in seconds (None before the first)."""
    from peewee import DatabaseError, InterfaceError

    from helpdesk.models import MailboxState, db

    try:
        db.execute_sql("SELECT 1").fetchone()
        boxes = list(MailboxState.select(MailboxState.last_fetch_at, MailboxState.last_error).order_by(MailboxState.id))
    except (DatabaseError, InterfaceError):
        return False, {"status": "unavailable", "database": False}
    return True, {
        "status": "ok", "database": True,
        "mailboxes": [{"last_fetch_age_seconds": round((now - b.last_fetch_at).total_seconds()) if b.last_fetch_at
                       else None, "error": bool(b.last_error)} for b in boxes],
    }
