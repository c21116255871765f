"""Security events: every refused or flagged attempt, for admins (issue 13).

In: what happened (`kind`, one of `KINDS` or another short name), in words (`reason`), who
it came from, and the ticket, message and inbound mail it concerns. Out: a `SecurityEvent`
row, written in the caller's transaction (or handed to its `sink`, as the mail worker's
batch does); `events` reads them back as plain dicts for the staff page and
`helpdesk security log`. Never raises for an over-long value: everything is cut to fit.

A refusal that the caller rolls back (a form it answers with an error) is recorded after
the rollback, outside the failed transaction, or it would be rolled back with it.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable

from helpdesk.domain.prepared import prepared
from helpdesk.domain.rows import Immediate
from helpdesk.models import SecurityEvent, utcnow

log = logging.getLogger(__name__)

# The kinds this issue records; other callers may add their own (at most 40 characters).
KINDS = {
    "forged_reply_address": "someone else's reply address used from another sender",
    "stale_reply_address": "the reply address of a removed participant or a former engineer",
    "unsigned_participants": "new addresses on a mail that did not come through a signed reply address",
    "participant_cap": "addresses not added: the cap per mail or per ticket",
    "message_id_reused": "a different mail reusing an earlier mail's Message-ID",
    "staff_impersonation": "a staff address in From without a signed reply address",
    "bounce_refused": "a delivery report that names an address but proves no mail of ours failed",
    "current_password_limited": "too many wrong current passwords on the account forms",
    "mail_request_limited": "mail on request (registration, password reset) over its limit",
}
MAX_REASON = 2000
# What never goes into a stored value: control characters (a terminal reading
# `helpdesk security log` would obey them) and bidi overrides (they reorder what admins read).
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MAX_ADDRESSES = 32000  # about a thousand addresses; the reason says how many there were


def record(kind: str, reason: str, *, sender: str = "", ticket_id: int | None = None,
           message_id: int | None = None, inbound_id: int | None = None, addresses: Iterable[str] = (),
           now: dt.datetime | None = None, sink=None) -> None:
    """Record one security event. `message_id` and `inbound_id` are row ids (a `Message`,
    an `InboundMail`), not Message-ID headers; `addresses`: those refused or not added."""
    now = now or utcnow()
    listed = " ".join(_safe(a).replace(" ", "") for a in addresses if a)
    (sink or Immediate()).add(SecurityEvent, {
        "at": now, "kind": _safe(kind)[:40], "sender": _safe(sender)[:320], "ticket": ticket_id,
        "message": message_id, "inbound": inbound_id, "reason": _safe(reason)[:MAX_REASON],
        "addresses": listed[:MAX_ADDRESSES].rsplit(" ", 1)[0] if len(listed) > MAX_ADDRESSES else listed})
    log.warning("security event %s from %s: %s", kind, sender or "-", reason, extra={"ticket": ticket_id})


def _safe(text: str | None) -> str:
    return _UNSAFE.sub("\uFFFD", text or "").replace("\n", " ").replace("\t", " ")


def events(*, limit: int = 200, kind: str | None = None, ticket_id: int | None = None,
           before_id: int | None = None) -> list[dict]:
    """The newest events first, as plain dicts (time, kind, sender, ticket, reason, ...)."""
    query = SecurityEvent.select().order_by(SecurityEvent.id.desc()).limit(max(1, min(limit, 5000)))
    if kind:
        query = query.where(SecurityEvent.kind == kind)
    if ticket_id is not None:
        query = query.where(SecurityEvent.ticket == ticket_id)
    if before_id is not None:
        query = query.where(SecurityEvent.id < before_id)
    return [_as_dict(e) for e in query]


def of_ticket(ticket_id: int, limit: int) -> list[dict]:
    """`events(limit=limit, ticket_id=ticket_id)`, its SQL built once (the staff ticket page)."""
    return [_as_dict(e) for e in _of_ticket(ticket_id, limit)]


@prepared
def _of_ticket(ticket_id: int, limit: int):
    return SecurityEvent.select().where(SecurityEvent.ticket == ticket_id).order_by(SecurityEvent.id.desc()).limit(limit)


def _as_dict(e: SecurityEvent) -> dict:
    return {"id": e.id, "at": e.at, "kind": e.kind, "sender": e.sender, "ticket": e.ticket_id,
            "message": e.message_id, "inbound": e.inbound_id, "reason": e.reason,
            "addresses": e.addresses.split() if e.addresses else []}
