"""Ticket operations shared by the mail path and the portal.

A reply is the same function whether it came from IMAP or from a form. Callers hold
the transaction (`with db.atomic():`); these functions only write rows.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from models import KnownMessageId, Message, MessageKind, Participant, Status, StatusChange, Ticket, User, utcnow


def open_ticket(*, subject: str, requester_email: str, channel: str = "mail", now: dt.datetime | None = None,
                contract=None, device_line=None) -> Ticket:
    now = now or utcnow()
    requester = User.get_or_none(User.email == requester_email.lower()) if requester_email else None
    ticket = Ticket.create(
        subject=subject[:998],
        requester=requester,
        requester_email=requester_email.lower(),
        company=requester.company if requester else None,
        contract=contract,
        device_line=device_line,
        channel=channel,
        status=Status.NEW.value,
        created_at=now,
        updated_at=now,
    )
    StatusChange.create(ticket=ticket, old_status=None, new_status=Status.NEW.value, changed_at=now,
                        reason=f"opened by {channel}")
    return ticket


def set_status(ticket: Ticket, status: Status, *, by: User | None = None, reason: str = "",
               now: dt.datetime | None = None) -> bool:
    """Change the status and record it; False when it already had that status."""
    if ticket.status == status.value:
        return False
    now = now or utcnow()
    StatusChange.create(ticket=ticket, old_status=ticket.status, new_status=status.value,
                        changed_by=by, reason=reason, changed_at=now)
    ticket.status = status.value
    ticket.closed_at = now if status is Status.CLOSED else None
    ticket.updated_at = now
    Ticket.update(status=ticket.status, closed_at=ticket.closed_at, updated_at=now).where(
        Ticket.id == ticket.id
    ).execute()
    return True


def status_after_customer_message(current: str) -> Status:
    """A customer wrote: a closed ticket reopens, a waiting one is now waiting for us."""
    if current == Status.NEW.value:
        return Status.NEW
    return Status.WAITING_US


def add_message(ticket: Ticket, *, kind: MessageKind, author_email: str, author_name: str = "",
                subject: str = "", body_text: str = "", body_display: str = "", body_html: str | None = None,
                message_id: str | None = None, in_reply_to: Iterable[str] = (), references: Iterable[str] = (),
                thread_rule: str = "", inbound=None, sent_at: dt.datetime | None = None,
                now: dt.datetime | None = None) -> Message:
    now = now or utcnow()
    author = User.get_or_none(User.email == author_email.lower()) if author_email else None
    message = Message.create(
        ticket=ticket, kind=kind.value, author=author, author_email=author_email.lower(),
        author_name=author_name[:300], subject=subject[:998], body_text=body_text,
        body_display=body_display or body_text, body_html=body_html, message_id=message_id,
        in_reply_to=" ".join(in_reply_to), references=" ".join(references), thread_rule=thread_rule,
        inbound=inbound, sent_at=sent_at, created_at=now,
    )
    if message_id:
        remember_message_id(message_id, ticket, message)
    Ticket.update(updated_at=now).where(Ticket.id == ticket.id).execute()
    return message


def remember_message_id(message_id: str, ticket: Ticket, message: Message | None = None, *,
                        outgoing: bool = False, recipient: str = "") -> None:
    """Record a Message-ID for threading; raises IntegrityError if already known."""
    KnownMessageId.create(message_id=message_id, ticket=ticket, message=message, outgoing=outgoing,
                          recipient=recipient)


def add_participants(ticket: Ticket, addresses: Iterable[tuple[str, str]], *, role: str = "cc",
                     added_by: str = "mail", exclude=lambda address: False,
                     now: dt.datetime | None = None) -> list[Participant]:
    """Add (email, name) pairs not yet on the ticket; returns the new participants."""
    now = now or utcnow()
    existing = {p.email for p in Participant.select(Participant.email).where(Participant.ticket == ticket)}
    added = []
    for email, name in addresses:
        email = email.strip().lower()
        if not email or "@" not in email or email in existing or exclude(email):
            continue
        user = User.get_or_none(User.email == email)
        added.append(Participant.create(ticket=ticket, email=email, name=(name or "")[:300], role=role,
                                        user=user, added_by=added_by, added_at=now))
        existing.add(email)
    return added


def is_participant(ticket_id: int, email: str) -> bool:
    return Participant.select().where(Participant.ticket == ticket_id, Participant.email == email.lower()).exists()
