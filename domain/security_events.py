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
from collections.abc import Iterable

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
MAX_ADDRESSES = 8000


def record(kind: str, reason: str, *, sender: str = "", ticket_id: int | None = None,
           message_id: int | None = None, inbound_id: int | None = None, addresses: Iterable[str] = (),
           now: dt.datetime | None = None, sink=None) -> None:
    """Record one security event. `message_id` and `inbound_id` are row ids (a `Message`,
    an `InboundMail`), not Message-ID headers; `addresses`: those refused or not added."""
    now = now or utcnow()
    listed = " ".join(a for a in addresses if a)
    (sink or Immediate()).add(SecurityEvent, {
        "at": now, "kind": kind[:40], "sender": (sender or "")[:320], "ticket": ticket_id, "message": message_id,
        "inbound": inbound_id, "reason": (reason or "")[:MAX_REASON],
        "addresses": listed[:MAX_ADDRESSES].rsplit(" ", 1)[0] if len(listed) > MAX_ADDRESSES else listed})
    log.warning("security event %s from %s: %s", kind, sender or "-", reason, extra={"ticket": ticket_id})


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
    return [{"id": e.id, "at": e.at, "kind": e.kind, "sender": e.sender, "ticket": e.ticket_id,
             "message": e.message_id, "inbound": e.inbound_id, "reason": e.reason,
             "addresses": e.addresses.split() if e.addresses else []} for e in query]
