"""Ticket operations shared by the mail path and the portal.

A reply is the same function whether it came from IMAP or from a form. Callers hold
the transaction (`with db.atomic():`); these functions only write rows. Rows that nothing
refers to by id go to a `sink` (domain/rows.py): inserted at once by default, or held by
the mail worker for one bulk insert per batch.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from helpdesk.domain import rollups, service_levels, webhooks
from helpdesk.domain.inserts import insert_row, update_row
from helpdesk.domain.rows import Immediate
from helpdesk.models import (
    KnownMessageId,
    Message,
    MessageKind,
    Participant,
    Status,
    StatusChange,
    Ticket,
    User,
    utcnow,
)


def users_by_email(emails: Iterable[str]) -> dict[str, User]:
    """The users with these addresses, by address; only the columns the mail path needs
    (a full-row select costs several times more, and this runs for every message)."""
    wanted = {e.strip().lower() for e in emails if e}
    if not wanted:
        return {}
    query = User.select(User.id, User.email, User.company, User.role, User.is_active).where(User.email.in_(wanted))
    return {u.email: u for u in query}


def user_by_email(email: str) -> User | None:
    return users_by_email([email]).get(email.strip().lower()) if email else None


_LOOK_UP = object()  # "find the user by the address", as opposed to a given user or None


def open_ticket(*, subject: str, requester_email: str, channel: str = "mail", now: dt.datetime | None = None,
                contract=None, device_line=None, requester=_LOOK_UP, sink=None, sla=None,
                queue: str = "default") -> Ticket:
    """`sla`: the service-level settings (`service_levels.settings_of(config)`) that start its clocks; `queue`:
    the queue of the mailbox it came to (or the portal's)."""
    now = now or utcnow()
    if requester is _LOOK_UP:
        requester = user_by_email(requester_email)
    ticket = insert_row(
        Ticket,
        subject=subject[:998],
        requester=requester,
        requester_email=requester_email.lower(),
        company=requester.company if requester else None,
        contract=contract,
        device_line=device_line,
        channel=channel,
        queue=queue,
        status=Status.NEW.value,
        created_at=now,
        updated_at=now,
    )
    _status_change(sink, ticket.id, None, Status.NEW.value, None, f"opened by {channel}", now)
    rollups.ticket_opened(now)  # the reports' tickets opened per day
    service_levels.start(sla, ticket, contract=contract)
    webhooks.emit("ticket.created", webhooks.ticket_data(ticket), now=now, sink=sink)
    return ticket


def _status_change(sink, ticket_id, old, new, by, reason, now) -> None:
    (sink or Immediate()).add(StatusChange, {
        "ticket": ticket_id, "old_status": old, "new_status": new, "changed_by": by.id if by else None,
        "reason": reason[:300], "changed_at": now})


def set_status(ticket: Ticket, status: Status, *, by: User | None = None, reason: str = "",
               now: dt.datetime | None = None, sink=None, calendar=None) -> bool:
    """Change the status and record it; False when it already had that status. `calendar`:
    the business hours the service-level clocks count in (`service_levels.settings_of(config)`)."""
    if ticket.status == status.value:
        return False
    now = now or utcnow()
    _status_change(sink, ticket.id, ticket.status, status.value, by, reason, now)
    service_levels.status_changed(ticket.id, ticket.status, status.value, now, calendar)
    webhooks.emit("ticket.status_changed", {"ticket": {"id": ticket.id, "status": status.value},
                                            "old_status": ticket.status, "new_status": status.value,
                                            "changed_by": by.email if by else None, "reason": reason[:300]},
                  now=now, sink=sink)
    ticket.status = status.value
    ticket.closed_at = now if status is Status.CLOSED else None
    rollups.closed_at_changes(ticket.id, ticket.closed_at)  # the reports' tickets closed per day
    ticket.updated_at = now
    update_row(Ticket, ticket.id, status=ticket.status, closed_at=ticket.closed_at, updated_at=now)
    return True


def touch(ticket: Ticket, now: dt.datetime) -> None:
    """Note that the ticket changed (a message came) without a change of status."""
    update_row(Ticket, ticket.id, updated_at=now)
    ticket.updated_at = now


def status_after_customer_message(current: str) -> Status:
    """A customer wrote: a closed ticket reopens, a waiting one is now waiting for us."""
    if current == Status.NEW.value:
        return Status.NEW
    return Status.WAITING_US


def add_message(ticket: Ticket, *, kind: MessageKind, author_email: str, author_name: str = "",
                subject: str = "", body_text: str = "", body_display: str = "", body_html: str | None = None,
                message_id: str | None = None, in_reply_to: Iterable[str] = (), references: Iterable[str] = (),
                thread_rule: str = "", inbound=None, sent_at: dt.datetime | None = None,
                now: dt.datetime | None = None, author=_LOOK_UP, sink=None, touch: bool = True,
                minutes: int | None = None) -> Message:
    """A message on the ticket; `touch=False` when the caller updates the ticket itself."""
    now = now or utcnow()
    if author is _LOOK_UP:
        author = user_by_email(author_email)
    message = insert_row(
        Message,
        ticket=ticket, kind=kind.value, author=author, author_email=author_email.lower(),
        author_name=author_name[:300], subject=subject[:998], body_text=body_text,
        body_display="" if body_display == body_text else body_display, body_html=body_html, message_id=message_id,
        in_reply_to=" ".join(in_reply_to), references=" ".join(references), thread_rule=thread_rule,
        inbound=inbound, sent_at=sent_at, created_at=now, minutes=minutes,
    )
    # the reports' per-day sums, in the caller's transaction (answers, time spent)
    rollups.message_added(ticket_id=ticket.id, kind=kind.value, author_id=getattr(author, "id", author),
                          author_email=author_email.lower(), minutes=minutes, created_at=now)
    if message_id:
        remember_message_id(message_id, ticket, message, sink=sink)
    if kind is MessageKind.STAFF:
        service_levels.responded(ticket.id, now)
    webhooks.emit("message.created", webhooks.message_data(ticket, message), now=now, sink=sink)
    if touch and ticket.updated_at != now:
        Ticket.update(updated_at=now).where(Ticket.id == ticket.id).execute()
        ticket.updated_at = now
    return message


def remember_message_id(message_id: str, ticket: Ticket, message: Message | None = None, *,
                        outgoing: bool = False, recipient: str = "", sink=None) -> None:
    """Record a Message-ID for threading; raises IntegrityError if already known (unless
    the sink defers it, which then keeps the first)."""
    (sink or Immediate()).add(KnownMessageId, {
        "message_id": message_id, "ticket": ticket.id, "message": message.id if message else None,
        "outgoing": outgoing, "recipient": recipient})


def candidates_of(addresses: Iterable[tuple[str, str]], *, exclude=lambda address: False) -> dict[str, str]:
    """The (email, name) pairs as {email: name}: lower-cased, each once, in order, without
    what is not an address or what `exclude` says no to."""
    candidates: dict[str, str] = {}
    for email, name in addresses:
        email = email.strip().lower()
        local, at, domain = email.rpartition("@")
        if local and at and domain and email not in candidates and not exclude(email):
            candidates[email] = name or ""
    return candidates


def participant_count(ticket_id: int) -> int:
    return Participant.select().where(Participant.ticket == ticket_id).count()


def room_for(per_operation: int, per_ticket: int, current: int) -> int:
    """How many new participants one mail or form may still add (the caps of issue 13)."""
    return max(0, min(per_operation, per_ticket - current))


def add_participants(ticket: Ticket, addresses: Iterable[tuple[str, str]], *, role: str = "cc",
                     added_by: str = "mail", exclude=lambda address: False,
                     now: dt.datetime | None = None, users: dict[str, User] | None = None,
                     existing: set[str] | None = None, sink=None, limit: int | None = None,
                     refused: list[str] | None = None) -> list[str]:
    """Add (email, name) pairs not yet on the ticket; returns the addresses added.
    `existing`: the ticket's participants when the caller knows them (saves a query).
    `limit`: at most this many new ones (the caps); the rest are appended to `refused`."""
    now = now or utcnow()
    candidates = candidates_of(addresses, exclude=exclude)
    if not candidates:
        return []
    if existing is None:
        existing = {p.email for p in Participant.select(Participant.email).where(
            Participant.ticket == ticket, Participant.email.in_(list(candidates)))}
    new = {e: n for e, n in candidates.items() if e not in existing}
    if limit is not None and len(new) > limit:
        over = list(new)[limit:]
        if refused is not None:
            refused.extend(over)
        new = {e: n for e, n in new.items() if e not in set(over)}
    if users is None or not set(new) <= set(users):
        users = {**(users or {}), **users_by_email(set(new) - set(users or {}))}
    sink = sink or Immediate()
    for email, name in new.items():
        user = users.get(email)
        sink.add(Participant, {"ticket": ticket.id, "email": email, "name": name[:300], "role": role,
                               "user": user.id if user else None, "added_at": now, "added_by": added_by})
    return list(new)


def is_participant(ticket_id: int, email: str) -> bool:
    return Participant.select().where(Participant.ticket == ticket_id, Participant.email == email.lower()).exists()
