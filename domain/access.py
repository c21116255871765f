"""Who may see which ticket and attachment (SPEC W7, W8): one place, used by every page.

- engineers and admins see everything;
- a customer sees the tickets it asked (by the portal, or by mail from its address),
  the tickets it is a participant of (it gets their mail anyway), and every ticket of a
  contract it has verified;
- a partner also sees the tickets of the contracts it sold, once an admin has verified
  its company: whoever registers as a partner under a NIP that contracts name (as their
  seller) sees nothing through them before that;
- internal notes, and their attachments, are for engineers only.
Anything else is "not found": a page never tells that an object exists.
"""
from __future__ import annotations

from peewee import JOIN

from helpdesk.models import Attachment, Company, Contract, Message, MessageKind, Participant, Role, Ticket, User

from .contracts import visible_contracts


def visible_tickets(user: User):
    """A query of the tickets this user may see. The ids come from a UNION of indexed
    lookups, not one OR over the ticket table, which would read every ticket."""
    if user.is_staff:
        return Ticket.select()
    ids = (Ticket.select(Ticket.id).where(Ticket.requester == user.id)
           | Ticket.select(Ticket.id).where(Ticket.requester_email == user.email)
           | Ticket.select(Ticket.id).where(Ticket.contract.in_(visible_contracts(user).select(Contract.id)))
           | Participant.select(Participant.ticket).where(Participant.email == user.email))
    if user.role == Role.PARTNER.value and user.company_id and _verified(user.company_id):
        sold = Contract.select(Contract.id).where(Contract.partner == user.company_id)
        ids = ids | Ticket.select(Ticket.id).where(Ticket.contract.in_(sold))
    return Ticket.select().where(Ticket.id.in_(ids))


def _verified(company_id: int) -> bool:
    return Company.select().where(Company.id == company_id, Company.verified_at.is_null(False)).exists()


def active_tickets(user: User, limit: int = 50):
    """Tickets not closed among those the user may see."""
    query = Ticket.open_ones(visible_tickets(user))
    return query.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit)


def ticket_for(user: User, ticket_id: int) -> Ticket | None:
    return visible_tickets(user).where(Ticket.id == ticket_id).first()


def visible_messages(user: User, ticket: Ticket):
    """The ticket's conversation as this user may read it, newest first."""
    query = Message.newest_first(ticket)
    if not user.is_staff:
        query = query.where(Message.kind != MessageKind.NOTE.value)
    return query


def attachment_for(user: User, attachment_id: int) -> Attachment | None:
    """The attachment, when its message is one this user may read."""
    row = (Attachment.select(Attachment, Message).join(Message, JOIN.INNER)
           .where(Attachment.id == attachment_id).first())
    if row is None or row.blob_id is None:
        return None
    if row.message.kind == MessageKind.NOTE.value and not user.is_staff:
        return None
    return row if ticket_for(user, row.message.ticket_id) else None
