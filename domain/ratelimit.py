"""Rate limits on logins, contract verification and mail we send on request.

Every attempt is an `AuthAttempt` row (kind, key, ok, time): the log an admin reads and
the count a limit checks. Failures within the window are counted per key; one key over
its limit refuses the attempt whatever the others say.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from peewee import fn

from helpdesk.models import AuthAttempt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    count: int  # failures allowed within the window
    window: dt.timedelta


LOGIN = {"account": Limit(5, dt.timedelta(minutes=15)), "ip": Limit(20, dt.timedelta(minutes=15))}
VERIFY = {"user": Limit(5, dt.timedelta(minutes=15)), "nip": Limit(5, dt.timedelta(minutes=15)),
          "ip": Limit(5, dt.timedelta(minutes=15))}
# The current password asked for before a change (password, address, deletion): a stolen
# session must not become a way to guess the password.
CURRENT_PASSWORD = {"user": Limit(5, dt.timedelta(minutes=15)), "ip": Limit(20, dt.timedelta(minutes=15))}
# Mail sent because somebody typed an address (registration, reset, email change): every
# request counts, so nobody can use us to flood an inbox.
MAIL = {"address": Limit(3, dt.timedelta(hours=1)), "ip": Limit(20, dt.timedelta(hours=1))}


def _key(name: str, value: str) -> str:
    return f"{name}:{value}".lower()[:320]


def blocked(kind: str, limits: dict[str, Limit], keys: dict[str, str], now: dt.datetime,
            *, count_successes: bool = False) -> bool:
    """Whether any key has used up its limit (failures, or every attempt) in its window."""
    for name, value in keys.items():
        limit = limits[name]
        query = AuthAttempt.select(fn.COUNT(AuthAttempt.id)).where(
            AuthAttempt.kind == kind, AuthAttempt.key == _key(name, value), AuthAttempt.at > now - limit.window)
        if not count_successes:
            query = query.where(AuthAttempt.ok == False)  # noqa: E712
        if query.scalar() >= limit.count:
            log.warning("%s refused: %s %s is over its limit of %d", kind, name, value, limit.count)
            return True
    return False


def record(kind: str, keys: dict[str, str], *, ok: bool, now: dt.datetime, detail: str = "") -> None:
    AuthAttempt.insert_many(
        [{"kind": kind, "key": _key(name, value), "ok": ok, "detail": detail[:300], "at": now}
         for name, value in keys.items()]
    ).execute()
