"""Merging two tickets into one, and splitting messages off into a new ticket.

Merge: every message (with its attachments), participant, status change, ledger entry,
security event and known Message-ID of SOURCE moves to TARGET; SOURCE keeps only `merged_into` (and is
closed), so its old reply addresses and Message-IDs lead to TARGET (the mail path
follows `merged_into`, see inbox_worker/lookup.py) and its pages redirect. A participant
TARGET already has stays on SOURCE too, so a reply address issued to it still names it.
Tickets of two different customer companies merge only when the caller confirms it
(`DifferentCompanies` names both).

Split: a message, and optionally every later one, moves to a new ticket with the same
requester, contract and participants; each message ends up on exactly one ticket.
Each operation is one transaction; both tickets are locked first, in id order.
"""
from __future__ import annotations

import datetime as dt

from peewee import fn

from helpdesk import database
from helpdesk.models import (
    Company,
    InboundMail,
    KnownMessageId,
    Message,
    MessageKind,
    Participant,
    SecurityEvent,
    Status,
    StatusChange,
    Ticket,
    User,
    db,
    utcnow,
)

from . import audit, rollups, service_levels, tags, tickets
from .prepared import prepared
from .validation import N_, Invalid


class NotFound(LookupError):
    """No such ticket or message."""


class DifferentCompanies(Exception):
    """The two tickets belong to different customer companies: ask before merging."""

    def __init__(self, source: str, target: str):
        super().__init__(f"{source} / {target}")
        self.source, self.target = source, target


def _locked(*ticket_ids: int) -> dict[int, Ticket]:
    query = Ticket.select().where(Ticket.id.in_(sorted(set(ticket_ids)))).order_by(Ticket.id)
    if not database.is_sqlite(db.obj):
        query = query.for_update()
    found = {t.id: t for t in query}
    missing = [i for i in ticket_ids if i not in found]
    if missing:
        raise NotFound(missing[0])
    return found


def company_of(ticket: Ticket) -> int | None:
    """The customer company a ticket is about: its contract's, else its requester's."""
    if ticket.contract_id:
        return ticket.contract.company_id
    return ticket.company_id


def current(ticket_id: int) -> int:
    """The ticket that now answers for this one (itself, or the one it was merged into)."""
    row = _merged_into.first(ticket_id)
    return row.merged_into_id if row is not None and row.merged_into_id else ticket_id


@prepared
def _merged_into(ticket_id: int):
    return Ticket.select(Ticket.merged_into).where(Ticket.id == ticket_id).limit(1)


def merge(source_id: int, target_id: int, by: User | None, *, confirmed: bool = False,
          now: dt.datetime | None = None, prefix: str = "HD") -> Ticket:
    """Merge SOURCE into TARGET; returns TARGET. `Invalid` for a merge that makes no sense,
    `DifferentCompanies` unless `confirmed` when the customers differ."""
    now = now or utcnow()
    if source_id == target_id:
        raise Invalid(N_("A ticket cannot be merged into itself."))
    with db.atomic():
        locked = _locked(source_id, target_id)
        source, target = locked[source_id], locked[target_id]
        if source.merged_into_id:
            raise Invalid(N_("%(ref)s is already merged into another ticket."), {"ref": source.ref(prefix)})
        if target.merged_into_id:
            raise Invalid(N_("%(ref)s is merged into another ticket: merge into that one."),
                          {"ref": target.ref(prefix)})
        a, b = company_of(source), company_of(target)
        if a and b and a != b and not confirmed:
            names = {c.id: c.name for c in Company.select().where(Company.id.in_([a, b]))}
            raise DifferentCompanies(names.get(a, str(a)), names.get(b, str(b)))
        rollups.minutes_moved(Message.ticket == source.id, source.contract_id, target.contract_id)
        moved = Message.update(ticket=target.id).where(Message.ticket == source.id).execute()
        KnownMessageId.update(ticket=target.id).where(KnownMessageId.ticket == source.id).execute()
        StatusChange.update(ticket=target.id).where(StatusChange.ticket == source.id).execute()
        InboundMail.update(ticket=target.id).where(InboundMail.ticket == source.id).execute()
        SecurityEvent.update(ticket=target.id).where(SecurityEvent.ticket == source.id).execute()
        have = {p.email for p in Participant.select(Participant.email).where(Participant.ticket == target.id)}
        moving = Participant.ticket == source.id
        if have:
            moving &= Participant.email.not_in(list(have))
        Participant.update(ticket=target.id, role="cc").where(moving).execute()
        tags.copy(source.id, target.id, now)
        # A ticket merged into SOURCE earlier now leads to TARGET directly.
        Ticket.update(merged_into=target.id).where(Ticket.merged_into == source.id).execute()
        rollups.ticket_merged(source.created_at, source.closed_at)  # counted in the target from now on
        Ticket.update(merged_into=target.id, status=Status.CLOSED.value, closed_at=source.closed_at or now,
                      updated_at=now).where(Ticket.id == source.id).execute()
        StatusChange.create(ticket=source.id, old_status=source.status, new_status=Status.CLOSED.value,
                            changed_by=by, reason=f"merged into {target.ref(prefix)}"[:300], changed_at=now)
        tickets.touch(target, now)
        audit.record(by, "merge", "ticket", target.id,
                     f"{source.ref(prefix)} merged into {target.ref(prefix)}: {moved} message(s)", now)
    return Ticket.get_by_id(target.id)


def split(message_id: int, by: User | None, *, with_later: bool = False, now: dt.datetime | None = None,
          prefix: str = "HD", sla: service_levels.Settings | None = None) -> Ticket:
    """Move a message (and, with `with_later`, every later one) to a new ticket with the same
    people; returns the new ticket. `Invalid` when nothing would stay behind. `sla`: the
    service-level settings; the new ticket's clocks start at the split (and its first answer
    is the first staff message moved with it, if any)."""
    now = now or utcnow()
    with db.atomic():
        message = Message.get_or_none(Message.id == message_id)
        if message is None:
            raise NotFound(message_id)
        source = _locked(message.ticket_id)[message.ticket_id]
        if source.merged_into_id:
            raise Invalid(N_("%(ref)s is merged into another ticket."), {"ref": source.ref(prefix)})
        ids = [message.id]
        if with_later:
            later = Message.select(Message.id).where(
                Message.ticket == source.id,
                (Message.created_at > message.created_at)
                | ((Message.created_at == message.created_at) & (Message.id > message.id)))
            ids += [m.id for m in later]
        remaining = Message.select().where(Message.ticket == source.id, Message.id.not_in(ids)).count()
        if remaining == 0:
            raise Invalid(N_("Nothing would be left on %(ref)s: choose a later message."),
                          {"ref": source.ref(prefix)})
        new = Ticket.create(subject=(message.subject or source.subject)[:998], requester=source.requester_id,
                            requester_email=source.requester_email, company=source.company_id,
                            contract=source.contract_id, device_line=source.device_line_id,
                            channel=source.channel, status=Status.OPEN.value, created_at=now, updated_at=now)
        rollups.ticket_opened(now)
        StatusChange.create(ticket=new.id, old_status=None, new_status=Status.OPEN.value, changed_by=by,
                            reason=f"split from {source.ref(prefix)}"[:300], changed_at=now)
        Message.update(ticket=new.id).where(Message.id.in_(ids)).execute()  # same contract: the sums stay
        KnownMessageId.update(ticket=new.id).where(KnownMessageId.message.in_(ids)).execute()
        InboundMail.update(ticket=new.id).where(
            InboundMail.id.in_(Message.select(Message.inbound).where(Message.id.in_(ids), Message.inbound.is_null(False)))
        ).execute()
        for p in Participant.select().where(Participant.ticket == source.id).order_by(Participant.id):
            Participant.create(ticket=new.id, email=p.email, name=p.name, role=p.role, user=p.user_id,
                               added_at=now, added_by="staff")
        tags.copy(source.id, new.id, now)
        if sla is not None:
            answered = Message.select(fn.MIN(Message.created_at)).where(
                Message.id.in_(ids), Message.kind == MessageKind.STAFF.value).scalar()
            Ticket.update(first_response_at=answered).where(Ticket.id == new.id).execute()
            service_levels.refresh(sla, [new.id])
        tickets.touch(source, now)
        audit.record(by, "split", "ticket", new.id, f"{len(ids)} message(s) from {source.ref(prefix)}", now)
    return new
