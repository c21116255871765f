"""Read-only views of tickets and the mail ledger as plain dicts, for the CLI (and its
--json output) and later the staff pages. Never writes."""
from __future__ import annotations

import re

from peewee import fn

from helpdesk.domain import devices, faults, tags
from helpdesk.models import (
    Attachment,
    InboundMail,
    MailboxState,
    Message,
    Participant,
    Quarantine,
    Ticket,
)


def ticket_id_of(ref: str, prefix: str = "HD") -> int | None:
    """12, #12, HD-12 or [HD-12] -> 12."""
    m = re.fullmatch(rf"\s*\[?\s*(?:{re.escape(prefix)}\s*-?\s*|#)?(\d{{1,12}})\s*\]?\s*", ref or "", re.IGNORECASE)
    return int(m.group(1)) if m else None


def ticket_rows(*, status: str | None = None, queue: str | None = None, limit: int = 100, prefix: str = "HD",
                tag: str | None = None) -> list[dict]:
    count = Message.select(fn.COUNT(Message.id)).where(Message.ticket == Ticket.id)
    query = Ticket.select(Ticket, count.alias("message_count")).order_by(Ticket.id.desc()).limit(limit)
    if status:
        query = query.where(Ticket.status == status)
    if queue:
        query = query.where(Ticket.queue == queue)
    if tag:
        query = tags.tagged(query, tag)
    rows = list(query)
    tags_of = tags.of_tickets([t.id for t in rows])
    return [
        {"id": t.id, "ref": t.ref(prefix), "subject": t.subject, "status": t.status, "queue": t.queue,
         "requester": t.requester_email, "messages": t.message_count, "created_at": t.created_at,
         "updated_at": t.updated_at, "tags": tags_of.get(t.id, []),
         "merged_into": f"{prefix}-{t.merged_into_id}" if t.merged_into_id else None}
        for t in rows
    ]


def ticket_detail(ref: str, *, prefix: str = "HD") -> dict | None:
    ticket_id = ticket_id_of(ref, prefix)
    ticket = Ticket.get_or_none(Ticket.id == ticket_id) if ticket_id else None
    if ticket is None:
        return None
    messages = list(Message.newest_first(ticket))
    attachments: dict[int, list[dict]] = {}
    for a in Attachment.select().where(Attachment.message.in_([m.id for m in messages])).order_by(Attachment.id):
        attachments.setdefault(a.message_id, []).append(
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "inline": a.inline,
             "sha256": a.blob.sha256 if a.blob_id else None, "skipped_reason": a.skipped_reason})
    return {
        "id": ticket.id, "ref": ticket.ref(prefix), "subject": ticket.subject, "status": ticket.status,
        "queue": ticket.queue, "requester": ticket.requester_email, "created_at": ticket.created_at,
        "closed_at": ticket.closed_at,
        # The contract, its service level and the device line the ticket is about (issue 17).
        "device": device.as_dict() if (device := devices.of_ticket(ticket.id)) else None,
        "tags": tags.of(ticket.id),
        "merged_into": f"{prefix}-{ticket.merged_into_id}" if ticket.merged_into_id else None,
        "participants": [
            {"email": p.email, "name": p.name, "role": p.role, "added_by": p.added_by}
            for p in Participant.select().where(Participant.ticket == ticket).order_by(Participant.id)
        ],
        "messages": [
            {"id": m.id, "kind": m.kind, "author": m.author_email, "author_name": m.author_name,
             "subject": m.subject, "created_at": m.created_at, "message_id": m.message_id,
             "thread_rule": m.thread_rule, "body": m.display, "full_body": m.body_text,
             "attachments": attachments.get(m.id, [])}
            for m in messages
        ],
    }


def mail_log(*, limit: int = 50, outcome: str | None = None) -> list[dict]:
    query = InboundMail.select().order_by(InboundMail.id.desc()).limit(limit)
    if outcome:
        query = query.where(InboundMail.outcome == outcome)
    return [
        {"id": r.id, "message_id": r.message_id, "outcome": r.outcome, "ticket": r.ticket_id,
         "reason": r.reason, "from": r.from_addr, "subject": r.subject, "mailbox": r.mailbox,
         "uidvalidity": r.uidvalidity, "uid": r.uid, "size": r.size, "processed_at": r.processed_at}
        for r in query
    ]


def mail_status(config) -> dict:
    from . import oauth

    counts = InboundMail.select(InboundMail.outcome, fn.COUNT(InboundMail.id).alias("n")).group_by(InboundMail.outcome)
    outcomes = {row.outcome: row.n for row in counts}
    return {
        "configured_mailbox": config.mailbox.name,
        "configured_mailboxes": [{"mailbox": b.name, "queue": b.queue, "address": config.queue_address(b.queue),
                                  "auth": b.auth} for b in config.mailboxes],
        "oauth2": [{"account": s.account, "ok": s.ok, "detail": s.detail}
                   for s in oauth.states(config, oauth.accounts_of(config))],
        "mailboxes": [
            {"mailbox": s.mailbox, "uidvalidity": s.uidvalidity, "last_fetch_at": s.last_fetch_at,
             "last_message_at": s.last_message_at, "last_error": s.last_error}
            for s in MailboxState.select().order_by(MailboxState.mailbox)
        ],
        "outcomes": outcomes,
        "quarantine_pending": Quarantine.pending().count(),
        "problems": problems(config),
    }


def problems(config) -> list[str]:
    """What stops mail from being taken in, one line each: the file store and the database
    as probed now, and faults the worker recorded that are not over yet."""
    from helpdesk.models import db

    found = [f for f in (faults.probe_store([config.blob_dir, config.raw_dir]),
                         faults.probe_database(db.obj, timeout_ms=min(config.db_busy_timeout_ms, 2000))) if f]
    found += [f for f in faults.open_faults() if f.component not in {g.component for g in found}]
    return [f.line() for f in found]
