"""Who may see which ticket and attachment (SPEC W7, W8): one place, used by every page.

- engineers and admins see everything;
- a customer sees the tickets it asked (by the portal, or by mail from its address),
  the tickets it is a participant of (it gets their mail anyway), and every ticket of a
  contract it has verified;
- a partner also sees the tickets of the contracts it sold, once an admin has verified
  its company: whoever registers as a partner under a NIP that contracts name (as their
  seller) sees nothing through them before that;
- internal notes, and their attachments, are for engineers only;
- a customer who sees a ticket only because it was copied on it (a participant, not its
  requester, with no verified contract of it) reads the conversation from when it joined:
  what was said before is not its to read (issue 13: nothing mailed before they joined).
Anything else is "not found": a page never tells that an object exists.
"""
from __future__ import annotations

import datetime as dt

from peewee import JOIN, Select, Tuple

from helpdesk import database
from helpdesk.models import Attachment, Company, Contract, Message, MessageKind, Participant, Role, Ticket, User

from . import queue_order
from .contracts import granted_contracts
from .prepared import prepared
from .queue_order import Part


def visible_tickets(user: User):
    """A query of the tickets this user may see. The ids come from a UNION of indexed
    lookups, not one OR over the ticket table, which would read every ticket."""
    if user.is_staff:
        return Ticket.select()
    return Ticket.select().where(Ticket.id.in_(_visible_ids(*_whose(user))))


def _whose(user: User) -> tuple[int, str, int | None, int | None]:
    """What a customer's or partner's visible tickets depend on: its id, address, company,
    and the company whose sold contracts it sees (None unless a verified partner)."""
    sold_by = None
    if user.role == Role.PARTNER.value and user.company_id and _verified(user.company_id):
        sold_by = user.company_id
    return user.id, user.email, user.company_id, sold_by


def _visible_ids(user_id: int, email: str, company_id: int | None, sold_by: int | None):
    """The UNION of the ticket ids a customer (or a partner of `sold_by`) sees; the
    arguments are only values, so the prepared queries below can build it once."""
    ids = (Ticket.select(Ticket.id).where(Ticket.requester == user_id)
           | Ticket.select(Ticket.id).where(Ticket.requester_email == email)
           | Ticket.select(Ticket.id).where(Ticket.contract.in_(granted_contracts(user_id, company_id)))
           | Participant.select(Participant.ticket).where(Participant.email == email))
    if sold_by is not None:
        sold = Contract.select(Contract.id).where(Contract.partner == sold_by)
        ids = ids | Ticket.select(Ticket.id).where(Ticket.contract.in_(sold))
    return ids


@prepared
def _is_verified(company_id: int):
    return Company.select(Company.id).where(Company.id == company_id, Company.verified_at.is_null(False)).limit(1)


def _verified(company_id: int) -> bool:
    return _is_verified.exists(company_id)


def _seen(user_id: int, email: str, company_id: int | None, sold_by: int | None, active: bool,
          status: str | None):
    """(id, updated_at) of the unmerged tickets of `_visible_ids`, filtered as a list is: each
    lookup is answered from its index's entries (migration 033), no ticket's row is read. A
    ticket found by two lookups comes twice."""
    def listed_of(query):
        query = query.where(Ticket.merged_into.is_null())
        if active:
            return Ticket.open_ones(query)
        return query if status is None else query.where(Ticket.status == status)

    pair = (Ticket.id, Ticket.updated_at)
    seen = (listed_of(Ticket.select(*pair).where(Ticket.requester == user_id))
            + listed_of(Ticket.select(*pair).where(Ticket.requester_email == email))
            + listed_of(Ticket.select(*pair).where(Ticket.contract.in_(granted_contracts(user_id, company_id))))
            + listed_of(Ticket.select(*pair).join(Participant, on=(Participant.ticket == Ticket.id))
                        .where(Participant.email == email)))
    if sold_by is not None:
        sold = Contract.select(Contract.id).where(Contract.partner == sold_by)
        seen = seen + listed_of(Ticket.select(*pair).where(Ticket.contract.in_(sold)))
    return seen


def _newest(user_id: int, email: str, company_id: int | None, sold_by: int | None, active: bool,
            status: str | None, backward: bool, updated_at: dt.datetime | None, ticket_id: int | None, limit: int):
    """The ids of a page of `_seen`, the latest changed first, after the cursor (updated_at,
    ticket_id) when there is one (before it, nearest first, `backward`): only these tickets'
    rows are read after (the statement 2.1 → 0.9 ms for the bench's customer's 330 tickets,
    4.1 → 3.4 ms for its partner's 2,000 contracts; before, every one's row was read to sort them)."""
    seen = _seen(user_id, email, company_id, sold_by, active, status).alias("seen")
    query = Select((seen,), (seen.c.id, seen.c.updated_at)).distinct()
    if updated_at is not None:
        place, cursor = Tuple(seen.c.updated_at, seen.c.id), Tuple(updated_at, ticket_id)
        query = query.where(place > cursor if backward else place < cursor)
    order = (seen.c.updated_at.asc(), seen.c.id.asc()) if backward else (seen.c.updated_at.desc(), seen.c.id.desc())
    return query.order_by(*order).limit(limit).alias("page")


@prepared
def _active(user_id: int, email: str, company_id: int | None, sold_by: int | None, limit: int):
    page = _newest(user_id, email, company_id, sold_by, True, None, False, None, None, limit)
    return (Ticket.select(*ACTIVE_SHOWN).join(page, on=(Ticket.id == page.c.id))
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc()))


@prepared
def _active_for_staff(limit: int):
    # `+merged_into_id` on SQLite: along the index on (updated_at, id), newest first, to the 50th
    # open ticket (0.1 ms), not every unmerged ticket by the index on merged_into_id, sorted (10 ms
    # on bench/web.py's 50,000), which an archive's statistics make it prefer.
    query = Ticket.select(*ACTIVE_SHOWN).where(database.unindexed(Ticket.merged_into).is_null())
    return Ticket.open_ones(query).order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit)


ACTIVE_SHOWN = (Ticket.id, Ticket.subject, Ticket.status, Ticket.updated_at)  # what the dashboard shows of them


def active_tickets(user: User, limit: int = 50) -> list[Ticket]:
    """Tickets not closed (nor merged) among those the user may see, the latest changed first
    (the columns of ACTIVE_SHOWN only)."""
    if user.is_staff:
        return _active_for_staff(limit)
    return _active(*_whose(user), limit)


@prepared
def _one(user_id: int, email: str, company_id: int | None, sold_by: int | None, ticket_id: int):
    return Ticket.select().where(Ticket.id.in_(_visible_ids(user_id, email, company_id, sold_by)),
                                 Ticket.id == ticket_id).limit(1)


@prepared
def _one_for_staff(ticket_id: int):
    return Ticket.select().where(Ticket.id == ticket_id).limit(1)


def ticket_for(user: User, ticket_id: int) -> Ticket | None:
    if user.is_staff:
        return _one_for_staff.first(ticket_id)
    return _one.first(*_whose(user), ticket_id)


def listed(query, *, active: bool, status: str | None):
    """The ticket list's rows (dicts) of `query`: merged tickets left out, the open ones
    (`active`) or those of one status, the latest changed first."""
    query = (query.select(Ticket.id, Ticket.subject, Ticket.status, Ticket.updated_at, Ticket.created_at,
                          Contract.number.alias("contract_number"))
             .join(Contract, JOIN.LEFT_OUTER, on=(Ticket.contract == Contract.id))
             .where(Ticket.merged_into.is_null()))
    if active:
        query = Ticket.open_ones(query)
    elif status is not None:
        query = query.where(Ticket.status == status)
    return query.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).dicts()


@prepared
def _page(user_id: int, email: str, company_id: int | None, sold_by: int | None, active: bool, status: str | None,
          backward: bool, updated_at: dt.datetime | None, ticket_id: int | None, limit: int):
    page = _newest(user_id, email, company_id, sold_by, active, status, backward, updated_at, ticket_id, limit)
    query = listed(Ticket.select().join(page, on=(Ticket.id == page.c.id)), active=active, status=status)
    return query.order_by(*queue_order.ordering(Part.ALL, backward))


def ticket_page(user: User, *, active: bool, status: str | None, limit: int,
                cursor: queue_order.Cursor | None = None, backward: bool = False) -> list[dict]:
    """Up to `limit` rows of `listed` over the tickets the user may see, after the cursor (a
    row's place in the order: its last change and id; from the newest when None), or before it,
    nearest first (`backward`). One statement, built once."""
    _, updated_at, ticket_id = queue_order.values(cursor)
    if user.is_staff:
        query = listed(Ticket.select(), active=active, status=status)
        where = queue_order.condition(Part.ALL, backward, None, updated_at, ticket_id)
        query = query.where(where) if where is not None else query
        return list(query.order_by(*queue_order.ordering(Part.ALL, backward)).limit(limit))
    return _page(*_whose(user), active, status, backward, updated_at, ticket_id, limit)


def joined_at(user: User, ticket: Ticket):
    """When this user began to see the ticket: None for the whole of it (staff, its requester,
    a contract the user verified or sold), else when it was added as a participant."""
    if user.is_staff or ticket.requester_id == user.id or ticket.requester_email == user.email:
        return None
    if ticket.contract_id is not None:
        sold_by = user.company_id if user.role == Role.PARTNER.value and user.company_id else None
        if _sees_contract.exists(user.id, user.company_id, sold_by, ticket.contract_id):
            return None
    row = _participation.first(ticket.id, user.email)
    return row.added_at if row is not None else None


@prepared
def _sees_contract(user_id: int, company_id: int | None, sold_by: int | None, contract_id: int):
    contracts = granted_contracts(user_id, company_id)
    if sold_by is not None:
        contracts = contracts | Contract.select(Contract.id).where(Contract.partner == sold_by)
    return Contract.select(Contract.id).where(Contract.id == contract_id, Contract.id.in_(contracts)).limit(1)


@prepared
def _participation(ticket_id: int, email: str):
    return (Participant.select(Participant.added_at)
            .where(Participant.ticket == ticket_id, Participant.email == email).limit(1))


def visible_messages(user: User, ticket: Ticket):
    """The ticket's conversation as this user may read it, newest first."""
    query = Message.newest_first(ticket)
    if not user.is_staff:
        query = query.where(Message.kind != MessageKind.NOTE.value)
        since = joined_at(user, ticket)
        if since is not None:
            query = query.where(Message.created_at >= since)
    return query


def attachment_for(user: User, attachment_id: int) -> Attachment | None:
    """The attachment, when its message is one this user may read."""
    row = (Attachment.select(Attachment, Message).join(Message, JOIN.INNER)
           .where(Attachment.id == attachment_id).first())
    if row is None or row.blob_id is None:
        return None
    if row.message.kind == MessageKind.NOTE.value and not user.is_staff:
        return None
    ticket = ticket_for(user, row.message.ticket_id)
    if ticket is None:
        return None
    since = joined_at(user, ticket)
    return row if since is None or row.message.created_at >= since else None
