"""Audit entries: who did what to which object, written in the caller's transaction.

In: the acting user (None for the system), an action name, the object's type and id, a
detail line (cut to 2,000 characters), the time. Out: one `AuditLog` row. Nothing else.
"""
from __future__ import annotations

import datetime as dt

from helpdesk.models import AuditLog, User


def record(actor: User | None, action: str, object_type: str, object_id, detail: str, now: dt.datetime) -> None:
    AuditLog.create(actor=actor, action=action, object_type=object_type, object_id=str(object_id),
                    detail=detail[:2000], at=now)
