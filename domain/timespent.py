"""Time spent by engineers: minutes on replies and notes, and their totals (read-only).

In: ticket, contract or period. Out: minutes, per ticket, per contract and per engineer.
The minutes are written with the message (`tickets.add_message(minutes=...)`, from the
staff form or an engineer's `#time 15m` by mail).
"""
from __future__ import annotations

import datetime as dt
import re

from peewee import JOIN, fn

from helpdesk.models import Contract, Message, Ticket, User

from .prepared import prepared

MAX_MINUTES = 24 * 60  # on one message
SPENT = re.compile(r"""
    \s*(?:(?P<h>\d{1,2})\s*h)?        # hours
    \s*(?:(?P<m>\d{1,4})\s*m?)?\s*   # minutes (a bare number is minutes)
""", re.VERBOSE | re.IGNORECASE)


def minutes_of(text: str) -> int | None:
    """"15", "15m", "1h", "1h30m" -> minutes (1 to a day); None when it is not one."""
    m = SPENT.fullmatch(text or "")
    if not m or not (m["h"] or m["m"]):
        return None
    minutes = int(m["h"] or 0) * 60 + int(m["m"] or 0)
    return minutes if 0 < minutes <= MAX_MINUTES else None


@prepared
def _minutes_on(ticket_id: int):
    return Message.select(fn.COALESCE(fn.SUM(Message.minutes), 0)).where(Message.ticket == ticket_id)


def ticket_total(ticket_id: int) -> int:
    return _minutes_on.scalar(ticket_id) or 0


def _spent(start: dt.datetime | None, end: dt.datetime | None):
    query = Message.select().where(Message.minutes.is_null(False))
    if start is not None:
        query = query.where(Message.created_at >= start)
    if end is not None:
        query = query.where(Message.created_at < end)
    return query


def per_contract(start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[tuple[str, str, int]]:
    """(contract number or "", customer, minutes), most first; "" gathers tickets without one.
    Summed per ticket first (from the index on messages with minutes alone), then per contract:
    one ticket and contract lookup per ticket, not per message."""
    spent = (_spent(start, end).select(Message.ticket.alias("ticket_id"), fn.SUM(Message.minutes).alias("minutes"))
             .group_by(Message.ticket).alias("spent"))
    total = fn.SUM(spent.c.minutes)
    query = (Ticket.select(Contract.number, Contract.customer_name, total.alias("minutes"))
             .join(spent, on=(spent.c.ticket_id == Ticket.id))
             .join(Contract, JOIN.LEFT_OUTER, on=(Ticket.contract == Contract.id))
             .group_by(Contract.number, Contract.customer_name).order_by(total.desc(), Contract.number))
    return [(number or "", customer or "", int(minutes or 0)) for number, customer, minutes in query.tuples()]


def per_engineer(start: dt.datetime | None = None, end: dt.datetime | None = None) -> dict[str, int]:
    """Author's address -> minutes."""
    query = (_spent(start, end).select(Message.author_email, fn.SUM(Message.minutes))
             .group_by(Message.author_email))
    return {email: int(minutes or 0) for email, minutes in query.tuples()}


def contract_total(contract_id: int) -> int:
    return (Message.select(fn.COALESCE(fn.SUM(Message.minutes), 0)).join(Ticket, on=(Message.ticket == Ticket.id))
            .where(Ticket.contract == contract_id).scalar() or 0)


def engineer_total(user: User) -> int:
    return Message.select(fn.COALESCE(fn.SUM(Message.minutes), 0)).where(Message.author == user.id).scalar() or 0
