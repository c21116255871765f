"""A partner's view of its customers (issue 17, item 5): the contracts its company sold
and their tickets, read-only, and its opt-in to their notices.

The rules (`ticket_rights`, pure, from `TicketFacts`):
- whoever may see a ticket reads it (domain.access decides that: a verified partner sees
  the tickets of the contracts its company sold);
- taking part (replying, adding or removing CCs, reopening) is for staff, the ticket's
  requester, its participants (the requester and the CCs) and a customer who verified
  its contract. A partner that sees a ticket only because it sold the contract reads
  it and does nothing else, until its customer adds it as a CC;
- a partner that opted in (`User.customer_notices_since`) is mailed every public entry
  of its customers' tickets made from then on (never an internal note, never what came
  before: `domain.notify`, `outgoing.compose`).
Lists are keyset-paged on indexed columns with a fixed number of queries.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import SQL, NodeList, Value

from helpdesk import database
from helpdesk.models import Company, Contract, ContractAccess, Participant, Role, Status, Ticket, User, db, utcnow

from .prepared import prepared

PAGE = 25
TICKETS_ON_CONTRACT = 50


@dataclass(frozen=True)
class TicketFacts:
    """What the user is to one ticket it can see."""

    staff: bool = False
    requester: bool = False
    participant: bool = False
    verified_contract: bool = False  # a customer who verified the ticket's contract
    sold_contract: bool = False  # a verified partner whose company sold it


@dataclass(frozen=True)
class Rights:
    read: bool
    take_part: bool  # reply, CCs, reopen


def ticket_rights(facts: TicketFacts) -> Rights:
    take_part = facts.staff or facts.requester or facts.participant or facts.verified_contract
    return Rights(read=take_part or facts.sold_contract, take_part=take_part)


def facts_for(user: User, ticket: Ticket) -> TicketFacts:
    """The facts for a ticket the user can see (domain.access); two queries at most."""
    if user.is_staff:
        return TicketFacts(staff=True)
    requester = ticket.requester_id == user.id or ticket.requester_email == user.email
    participant = requester or Participant.select().where(Participant.ticket == ticket.id,
                                                          Participant.email == user.email).exists()
    verified = sold = False
    if ticket.contract_id is not None and not participant:
        contract = Contract.select(Contract.company, Contract.partner).where(Contract.id == ticket.contract_id).first()
        if contract is not None:
            verified = contract.company_id == user.company_id and ContractAccess.select().where(
                ContractAccess.user == user.id, ContractAccess.contract == ticket.contract_id).exists()
            sold = (not verified and user.role == Role.PARTNER.value and user.company_id is not None
                    and contract.partner_id == user.company_id)
    return TicketFacts(requester=requester, participant=participant, verified_contract=verified, sold_contract=sold)


def rights(user: User, ticket: Ticket) -> Rights:
    return ticket_rights(facts_for(user, ticket))


# --- the partner's lists ---------------------------------------------------------------------------


def verified_company_id(user: User) -> int | None:
    """The user's company when it is a verified partner; None otherwise."""
    if user.role != Role.PARTNER.value or not user.company_id:
        return None
    verified = _verified_at.scalar(user.company_id)
    return user.company_id if verified is not None else None


@prepared
def _verified_at(company_id: int):
    return Company.select(Company.verified_at).where(Company.id == company_id).limit(1)


def sold(company_id: int):
    return Contract.select().where(Contract.partner == company_id)


def contracts_page(company_id: int, today: dt.date, *, archive: bool = False, before: int | None = None,
                   limit: int = PAGE) -> tuple[list[Contract], bool]:
    """The contracts the company sold, in force (or ended: `archive`), newest first by id."""
    rows = _contracts(company_id, today, archive, before, limit + 1)
    return rows[:limit], len(rows) > limit


@prepared
def _contracts(company_id: int, today: dt.date, archive: bool, before: int | None, limit: int):
    query = sold(company_id)
    query = query.where(Contract.ends_on < today) if archive else query.where(Contract.ends_on >= today)
    if before is not None:
        query = query.where(Contract.id < before)
    return query.order_by(Contract.id.desc()).limit(limit)


def sold_contract(company_id: int, contract_id: int) -> Contract | None:
    return sold(company_id).where(Contract.id == contract_id).first()


def tickets_page(company_id: int, *, everything: bool = False, before: tuple[dt.datetime, int] | None = None,
                 contract_id: int | None = None, limit: int = PAGE) -> tuple[list[dict], bool]:
    """The tickets of the contracts the company sold (open ones, or all: `everything`),
    most recently changed first, with their contract's number and customer."""
    when, last = before if before is not None else (None, None)
    rows = _tickets(company_id, everything, when, last, contract_id, limit + 1)
    return rows[:limit], len(rows) > limit


@prepared
def _tickets(company_id: int, everything: bool, when: dt.datetime | None, last: int | None, contract_id: int | None,
             limit: int):
    # The page's ticket ids first, from the tickets of the partner's contracts (index contract
    # (partner_id, id)): the open ones from the partial index of open tickets by contract
    # (migration 028: index entries only, 0.8 ms), all of them from ticket (contract_id);
    # then only those rows and their contracts. Left alone, SQLite walks every ticket newest
    # first looking for the partner's (90 ms at 50,000 tickets), or reads each of the
    # partner's 2,000 contracts' rows to join them before filtering (6 ms), and it takes
    # the plain index on contract_id, which looks as good to it, over the partial one
    # (2.5 ms), hence INDEXED BY. The unary + keeps SQLite off the other indexes; PostgreSQL
    # plans on its statistics and reads the plain columns.
    plain = not database.is_sqlite(db.obj)
    sold = Contract.select(Contract.id).where(Contract.partner == company_id)
    source = Ticket if plain or everything else NodeList((Ticket, SQL("INDEXED BY ticket_open_contract")))
    page = Ticket.select(Ticket.id).from_(source).where(Ticket.contract.in_(sold), Ticket.merged_into.is_null())
    if contract_id is not None:
        page = page.where(Ticket.contract == contract_id)
    if not everything:
        page = page.where(OPEN)
    if when is not None:
        at = Value(when, converter=Ticket.updated_at.db_value)  # as the column would convert it
        page = page.where((Ticket.updated_at < at) | ((Ticket.updated_at == at) & (Ticket.id < last)))
    page = page.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit)
    return (Ticket.select(Ticket.id, Ticket.subject, Ticket.status, Ticket.updated_at, Ticket.created_at,
                          Contract.id.alias("contract_id"), Contract.number.alias("contract_number"),
                          Contract.customer_name.alias("customer_name"))
            .join(Contract, on=(Contract.id == database.unindexed(Ticket.contract)))
            .where(Ticket.id.in_(page))
            .order_by(database.unindexed(Ticket.updated_at).desc(), Ticket.id.desc()).dicts())


# "Open" with the literal, as the partial index says it (migration 028): a planner uses a
# partial index only for a query whose condition implies the index's, which a bound
# parameter cannot.
OPEN = Ticket.status != SQL(f"'{Status.CLOSED.value}'")


# --- notices ---------------------------------------------------------------------------------------


def set_notices(user: User, *, notices: bool, digest: bool, now: dt.datetime | None = None) -> User:
    """A partner's choices: a mail on every new entry of its customers' tickets (from now
    on: switching it off and on again starts again from then), and the weekly digest."""
    now = now or utcnow()
    since = (user.customer_notices_since or now) if notices else None
    with db.atomic():
        User.update(customer_notices_since=since, digest_opt_in=digest).where(User.id == user.id).execute()
    return User.get_by_id(user.id)


def watchers(ticket_ids) -> dict[int, list[User]]:
    """For each ticket, the partner users to tell about its new entries: active, opted in,
    of the verified company that sold its contract (two queries)."""
    contracts = dict(Ticket.select(Ticket.id, Contract.partner).join(Contract, on=(Ticket.contract == Contract.id))
                     .where(Ticket.id.in_(list(ticket_ids)), Contract.partner.is_null(False)).tuples())
    if not contracts:
        return {}
    by_company: dict[int, list[User]] = {}
    for user in (User.select(User.id, User.email, User.first_name, User.last_name, User.language, User.company,
                             User.customer_notices_since)
                 .join(Company, on=(User.company == Company.id))
                 .where(User.company.in_(set(contracts.values())), User.role == Role.PARTNER.value, User.is_active,
                        User.customer_notices_since.is_null(False), Company.verified_at.is_null(False))
                 .order_by(User.id)):
        by_company.setdefault(user.company_id, []).append(user)
    return {ticket_id: by_company.get(company_id, []) for ticket_id, company_id in contracts.items()}


def watching_since(user_id: int, ticket_id: int) -> dt.datetime | None:
    """When a partner user began to be told about this ticket's entries; None when it is
    not (any longer) opted in, verified or the seller of its contract."""
    row = (User.select(User.customer_notices_since).join(Company, on=(User.company == Company.id))
           .join(Contract, on=(Contract.partner == Company.id)).join(Ticket, on=(Ticket.contract == Contract.id))
           .where(User.id == user_id, Ticket.id == ticket_id, User.role == Role.PARTNER.value, User.is_active,
                  Company.verified_at.is_null(False)).first())
    return row.customer_notices_since if row is not None else None
