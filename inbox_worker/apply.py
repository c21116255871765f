"""Apply: the only writer of the mail path.

In: a `Decision`, the `Fetched` message and its `Inbound` (None when parsing failed).
Out: an `Applied` (outcome, ticket, reason). Writes the ledger row, the ticket and
message rows, participants, attachments and Message-IDs in ONE transaction; files
(raw mail, attachments) are written before it, by content hash. Never talks to the
mail server: the caller marks the message only after this returns.

Database trouble (locked, connection lost) propagates as peewee.OperationalError /
InterfaceError so the caller can retry the same message later; a uniqueness clash
on the ledger means another run got there first and is reported, not raised.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from peewee import IntegrityError

from domain import tickets
from domain.storage import BlobStore
from models import (
    AddressStatus, Attachment, Blob, InboundMail, Message, MessageKind, Outcome, Quarantine, Status, Ticket,
    db, utcnow,
)

from . import subjects, tokens
from .message import Fetched, Inbound
from .route import Bounce, Decision, Ignore, NewTicket, Quarantine as QuarantineDecision, Reply, StaffReply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applied:
    outcome: str
    reason: str
    ledger_id: int
    ticket_id: int | None = None
    already: bool = False  # the ledger had this message: nothing was written now


@dataclass(frozen=True)
class Context:
    store: BlobStore
    support_addresses: tuple[str, ...]
    prefix: str
    max_attachment_bytes: int
    max_message_bytes: int


def apply(decision: Decision, fetched: Fetched, inbound: Inbound | None, ctx: Context, *,
          error_detail: str = "", ledger: InboundMail | None = None, now: dt.datetime | None = None,
          raw_stored: str | None = None) -> Applied:
    """Write what the decision says. `ledger` is given when re-processing a quarantined mail;
    `raw_stored` is the raw message's hash when the caller has already stored it."""
    now = now or utcnow()
    raw_sha = raw_stored or ctx.store.put_raw(fetched.raw, inbound.raw_sha256 if inbound else None)
    blobs = _store_attachments(inbound, ctx) if inbound and _keeps_content(decision) else {}
    try:
        with db.atomic():
            row = _ledger(ledger, fetched, inbound, raw_sha, decision, now)
            ticket_id = _WRITERS[type(decision)](decision, row, fetched, inbound, ctx, blobs, error_detail, now)
            if ticket_id is not None:
                row.ticket = ticket_id
                InboundMail.update(ticket=ticket_id).where(InboundMail.id == row.id).execute()
            if ledger is not None and not isinstance(decision, QuarantineDecision):
                Quarantine.update(resolved_at=now).where(Quarantine.inbound == row).execute()
            return Applied(row.outcome, row.reason, row.id, ticket_id)
    except IntegrityError:
        existing = _existing(fetched)
        if existing is not None:
            return Applied(existing.outcome, existing.reason, existing.id, existing.ticket_id, already=True)
        if isinstance(decision, (NewTicket, Reply, StaffReply)):
            # Another worker stored the same Message-ID between our read and our write.
            dup = Ignore("Message-ID stored meanwhile by another worker", outcome=Outcome.DUPLICATE.value)
            return apply(dup, fetched, inbound, ctx, ledger=ledger, now=now, raw_stored=raw_sha)
        raise


def _keeps_content(decision: Decision) -> bool:
    return isinstance(decision, (NewTicket, Reply, StaffReply))


def _existing(fetched: Fetched) -> InboundMail | None:
    return InboundMail.get_or_none(
        InboundMail.mailbox == fetched.mailbox,
        InboundMail.uidvalidity == fetched.uidvalidity,
        InboundMail.uid == fetched.uid,
    )


def _outcome_of(decision: Decision) -> str:
    if isinstance(decision, NewTicket):
        return Outcome.NEW_TICKET.value
    if isinstance(decision, Reply):
        return Outcome.REPLY.value
    if isinstance(decision, StaffReply):
        return Outcome.STAFF_REPLY.value
    if isinstance(decision, Bounce):
        return Outcome.BOUNCE.value
    if isinstance(decision, Ignore):
        return decision.outcome
    return Outcome.QUARANTINED.value


def _ledger(ledger, fetched, inbound, raw_sha, decision, now) -> InboundMail:
    fields = dict(
        message_id=(inbound.message_id if inbound else f"sha256-{raw_sha}@helpdesk.invalid")[:998],
        raw_sha256=raw_sha,
        size=fetched.size,
        from_addr=(inbound.from_addr if inbound else "")[:320],
        subject=(inbound.subject if inbound else "")[:998],
        outcome=_outcome_of(decision),
        reason=decision.reason,
        processed_at=now,
    )
    if ledger is None:
        return InboundMail.create(mailbox=fetched.mailbox, uidvalidity=fetched.uidvalidity, uid=fetched.uid,
                                  received_at=now, **fields)
    for key, value in fields.items():
        setattr(ledger, key, value)
    ledger.save()
    return ledger


def _store_attachments(inbound: Inbound, ctx: Context) -> dict[int, str | None]:
    """Blob hash per attachment index; None for the ones over the size limit."""
    out = {}
    for i, part in enumerate(inbound.attachments):
        if len(part.payload) > ctx.max_attachment_bytes:
            out[i] = None
        else:
            out[i] = ctx.store.put(part.payload)
    return out


def _own(ctx: Context):
    return lambda address: tokens.is_own_address(address, ctx.support_addresses)


def _body(fetched: Fetched, inbound: Inbound, ctx: Context) -> tuple[str, str]:
    """(full text, display text); a note in place of the body of a message too large to fetch."""
    if fetched.truncated:
        note = (f"[This message is {fetched.size / 1_048_576:.1f} MB, over the limit of "
                f"{ctx.max_message_bytes / 1_048_576:.1f} MB. Only its header was imported; "
                f"the whole message stays on the mail server.]")
        return note, note
    return inbound.text, inbound.reply_text or inbound.text


def _add_mail_message(ticket: Ticket, kind: MessageKind, rule: str, row, fetched, inbound, ctx, blobs, now,
                      users):
    text, display = _body(fetched, inbound, ctx)
    message = tickets.add_message(
        ticket, kind=kind, author_email=inbound.from_addr, author_name=inbound.from_name,
        subject=inbound.subject, body_text=text, body_display=display, body_html=inbound.html,
        message_id=inbound.message_id, in_reply_to=inbound.in_reply_to, references=inbound.references,
        thread_rule=rule, inbound=row, sent_at=inbound.date, now=now, author=users.get(inbound.from_addr),
    )
    for i, part in enumerate(inbound.attachments):
        sha = blobs.get(i)
        blob = None
        if sha is not None:
            blob, _ = Blob.get_or_create(sha256=sha, defaults={"size": len(part.payload), "created_at": now})
        Attachment.create(
            message=message, blob=blob, filename=part.filename[:255], content_type=part.content_type[:255],
            size=len(part.payload), inline=part.inline, content_id=part.content_id,
            skipped_reason="" if blob else (
                f"over the attachment limit of {ctx.max_attachment_bytes / 1_048_576:.1f} MB; "
                "kept in the raw message"),
        )
    # Someone who writes to us again is deliverable again.
    AddressStatus.update(bounced_at=None).where(AddressStatus.email == inbound.from_addr).execute()
    return message


def _cc_candidates(inbound: Inbound) -> list[tuple[str, str]]:
    return [(a, "") for a in inbound.reply_to + inbound.to + inbound.cc]


def _users_of(inbound: Inbound) -> dict:
    """The registered users among the mail's addresses, in one query."""
    return tickets.users_by_email([inbound.from_addr, *inbound.reply_to, *inbound.to, *inbound.cc])


def write_new_ticket(decision, row, fetched, inbound, ctx, blobs, error_detail, now):
    subject = subjects.strip_prefixes(inbound.subject) or "(no subject)"
    users = _users_of(inbound)
    ticket = tickets.open_ticket(subject=subject, requester_email=inbound.from_addr, channel="mail", now=now,
                                 requester=users.get(inbound.from_addr))
    tickets.add_participants(ticket, [(inbound.from_addr, inbound.from_name)], role="requester",
                             exclude=_own(ctx), now=now, users=users)
    tickets.add_participants(ticket, _cc_candidates(inbound), exclude=_own(ctx), now=now, users=users)
    _add_mail_message(ticket, MessageKind.CUSTOMER, "new", row, fetched, inbound, ctx, blobs, now, users)
    return ticket.id


def write_reply(decision, row, fetched, inbound, ctx, blobs, error_detail, now):
    ticket = tickets.ticket_for_update(decision.ticket_id)
    users = _users_of(inbound)
    # A proven reply (token or Message-ID) brings its sender and CCs in; a subject tag
    # only matched because the sender already takes part.
    tickets.add_participants(ticket, [(inbound.from_addr, inbound.from_name)] + _cc_candidates(inbound),
                             exclude=_own(ctx), now=now, users=users)
    _add_mail_message(ticket, MessageKind.CUSTOMER, decision.rule, row, fetched, inbound, ctx, blobs, now, users)
    new_status = tickets.status_after_customer_message(ticket.status)
    reason = "reopened by a customer reply" if decision.reopen else "customer replied"
    tickets.set_status(ticket, new_status, reason=reason, now=now)
    return ticket.id


def write_staff_reply(decision, row, fetched, inbound, ctx, blobs, error_detail, now):
    ticket = tickets.ticket_for_update(decision.ticket_id)
    _add_mail_message(ticket, MessageKind.STAFF, decision.rule, row, fetched, inbound, ctx, blobs, now,
                      _users_of(inbound))
    if ticket.status != Status.CLOSED.value:
        tickets.set_status(ticket, Status.WAITING_CUSTOMER, reason="engineer replied by mail", now=now)
    return ticket.id


def write_bounce(decision, row, fetched, inbound, ctx, blobs, error_detail, now):
    report = inbound.report
    if report and report.permanent:
        for address in report.failed:
            status, _ = AddressStatus.get_or_create(email=address.lower()[:320])
            status.bounced_at = now
            status.bounce_reason = f"{report.status} {report.diagnostic}".strip()[:2000]
            status.bounce_count += 1
            status.save()
    if decision.ticket_id is None:
        return None
    ticket = tickets.ticket_for_update(decision.ticket_id)
    failed = ", ".join(report.failed) if report and report.failed else "an address"
    kind = "permanently" if report and report.permanent else "temporarily"
    text = f"Delivery to {failed} failed {kind}"
    if report and (report.status or report.diagnostic):
        text += f": {report.status} {report.diagnostic}".rstrip()
    Message.create(ticket=ticket, kind=MessageKind.SYSTEM.value, author_email=inbound.from_addr,
                   subject=inbound.subject[:998], body_text=text, body_display=text, inbound=row,
                   thread_rule="bounce", created_at=now)
    return ticket.id


def write_nothing(decision, row, fetched, inbound, ctx, blobs, error_detail, now):
    return None


def write_quarantine(decision, row, fetched, inbound, ctx, blobs, error_detail, now):
    entry = Quarantine.get_or_none(Quarantine.inbound == row)
    if entry is None:
        Quarantine.create(inbound=row, error=decision.reason, detail=error_detail, created_at=now)
    else:
        Quarantine.update(error=decision.reason, detail=error_detail, attempts=Quarantine.attempts + 1,
                          resolved_at=None).where(Quarantine.id == entry.id).execute()
    return None


_WRITERS = {
    NewTicket: write_new_ticket,
    Reply: write_reply,
    StaffReply: write_staff_reply,
    Bounce: write_bounce,
    Ignore: write_nothing,
    QuarantineDecision: write_quarantine,
}
