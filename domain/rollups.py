"""Per-day sums of what the reports read from messages and tickets, kept in the transaction
that writes or moves them (issue 18): answers per engineer (staff messages, by author_id),
minutes per engineer's address and per contract (messages with minutes), tickets opened and
closed (not merged into another).

In: a message written (`message_added`), messages moved to a ticket of another contract or
a ticket put under another contract (`minutes_moved`), a ticket opened, closed or reopened,
or merged into another (`ticket_opened`, `closed_at_changes`, `ticket_merged`), or a rebuild
from every row (`rebuild`: migrations 024-025, `helpdesk init-db` for another zone). A
contract deleted (by hand: its tickets lose it) has its minutes moved to no contract (0) by
a trigger on `contract` in the database (migration 030), not here. Out: the
rows of AnswerDay, MinutesDay, ContractMinutesDay and TicketDay moved by the same amounts;
for the reports, their sums over a period.

The days are local days in the zone of RollupZone's one row (HELPDESK_TIMEZONE when they
were built). Per UTC day would put a Warsaw evening in the next day; per hour would keep
~25 times the rows. The reports read the sums only when that zone is the configured one
(`kept_for`), the messages otherwise: a changed zone is slower until rebuilt, never wrong.
Never reads the configuration.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

from peewee import JOIN, SQL, Database, Select, fn

from helpdesk.models import (
    AnswerDay,
    Contract,
    ContractMinutesDay,
    ContractMinutesMonth,
    Message,
    MessageKind,
    MinutesDay,
    RollupZone,
    Ticket,
    TicketDay,
    db,
)

from . import local_time
from .inserts import add_to_row
from .prepared import prepared

MESSAGE_SUMS = [AnswerDay, MinutesDay, ContractMinutesDay]
TABLES = [RollupZone, *MESSAGE_SUMS, TicketDay]
CHUNK = 500


@prepared
def _zone_name():
    return RollupZone.select(RollupZone.zone).limit(1)


@prepared
def _closed_at_of(ticket_id: int):
    return Ticket.select(Ticket.closed_at, Ticket.merged_into).where(Ticket.id == ticket_id).limit(1).tuples()


def zone() -> ZoneInfo | None:
    """The zone the sums are kept in; None when they are not kept (then nothing is written)."""
    name = _zone_name.scalar()
    return local_time.zone(name) if name else None


def kept_for(zone_name: str) -> bool:
    """The sums are kept in this zone (the reports may read them)."""
    return _zone_name.scalar() == zone_name


def _day(when: dt.datetime, tz: ZoneInfo) -> dt.date:
    return local_time.local(when, tz).date()


def _add(model, key: dict, **amounts: int) -> None:
    """Add the amounts to the row of `key`, creating it (one statement: an upsert)."""
    add_to_row(model, key, **amounts)  # its SQL built once: the worker opens a ticket with most mail


def message_added(*, ticket_id: int, kind: str, author_id: int | None, author_email: str, minutes: int | None,
                  created_at: dt.datetime) -> None:
    """A message was written: count it where the reports will look."""
    answer = kind == MessageKind.STAFF.value and author_id is not None
    if not answer and minutes is None:
        return  # most mail (the customers'): nothing to keep, not even the zone to read
    tz = zone()
    if tz is None:
        return
    day = _day(created_at, tz)
    if answer:
        _add(AnswerDay, {"day": day, "author": author_id}, answers=1)
    if minutes is not None:
        contract = Ticket.select(Ticket.contract).where(Ticket.id == ticket_id).scalar() or 0
        _add(MinutesDay, {"day": day, "author_email": author_email}, messages=1, minutes=minutes)
        _add(ContractMinutesDay, {"day": day, "contract_id": contract}, messages=1, minutes=minutes)


def minutes_moved(messages, old_contract: int | None, new_contract: int | None) -> None:
    """The messages (a WHERE on Message) now count for another contract: call before or after
    moving them, in the same transaction, with the contracts of their ticket before and after."""
    old, new = old_contract or 0, new_contract or 0
    if old == new:
        return
    tz = zone()
    if tz is None:
        return
    per_day: Counter = Counter()
    count: Counter = Counter()
    for created_at, minutes in (Message.select(Message.created_at, Message.minutes)
                                .where(messages, Message.minutes.is_null(False)).tuples()):
        day = _day(created_at, tz)
        per_day[day] += minutes
        count[day] += 1
    for day in count:
        _add(ContractMinutesDay, {"day": day, "contract_id": old}, messages=-count[day], minutes=-per_day[day])
        _add(ContractMinutesDay, {"day": day, "contract_id": new}, messages=count[day], minutes=per_day[day])


def ticket_opened(created_at: dt.datetime) -> None:
    """A ticket was opened (or split off another)."""
    tz = zone()
    if tz is not None:
        _add(TicketDay, {"day": _day(created_at, tz)}, opened=1)


def closed_at_changes(ticket_id: int, closed_at: dt.datetime | None) -> None:
    """The ticket's closed_at is about to become `closed_at` (closed: now; reopened: None);
    call before the update, in its transaction."""
    row = _closed_at_of.first(ticket_id)  # every change of status: built once (domain/prepared.py)
    if row is None or row[1] is not None or row[0] == closed_at:
        return  # gone, merged (counted nowhere), or no change
    tz = zone()
    if tz is None:
        return
    if row[0] is not None:
        _add(TicketDay, {"day": _day(row[0], tz)}, closed=-1)
    if closed_at is not None:
        _add(TicketDay, {"day": _day(closed_at, tz)}, closed=1)


def ticket_merged(created_at: dt.datetime, closed_at: dt.datetime | None) -> None:
    """A ticket (not merged before; these its times before the merge) is merged into another:
    it counts in neither opened nor closed from now on."""
    tz = zone()
    if tz is None:
        return
    _add(TicketDay, {"day": _day(created_at, tz)}, opened=-1)
    if closed_at is not None:
        _add(TicketDay, {"day": _day(closed_at, tz)}, closed=-1)


# --- the reports' sums ------------------------------------------------------------------------------


def answers(start: dt.date, end: dt.date) -> dict[int, int]:
    """Author id -> public answers on the local days start..end."""
    return {author: int(n) for author, n in _answers(start, end) if n}


@prepared
def _answers(start: dt.date, end: dt.date):
    return (AnswerDay.select(AnswerDay.author, fn.SUM(AnswerDay.answers))
            .where(AnswerDay.day >= start, AnswerDay.day <= end).group_by(AnswerDay.author).tuples())


def minutes_per_engineer(start: dt.date, end: dt.date) -> dict[str, int]:
    """Author's address -> minutes on the local days start..end."""
    return {email: int(minutes or 0) for email, minutes, messages in _minutes_per_address(start, end) if messages}


@prepared
def _minutes_per_address(start: dt.date, end: dt.date):
    return (MinutesDay.select(MinutesDay.author_email, fn.SUM(MinutesDay.minutes), fn.SUM(MinutesDay.messages))
            .where(MinutesDay.day >= start, MinutesDay.day <= end).group_by(MinutesDay.author_email).tuples())


def whole_months(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The first day of the first month that lies whole in start..end, and the day after the
    last such month; both `start` when none does (the days before, and from, the second are read
    day by day; the months between, month by month)."""
    first = start if start.day == 1 else (start.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    after = (end + dt.timedelta(days=1)).replace(day=1)
    return (first, after) if first < after else (start, start)


def minutes_per_contract(start: dt.date, end: dt.date) -> list[tuple[str, str, int]]:
    """(contract number or "", customer, minutes), most first, as `timespent.per_contract`."""
    spent = _spent_per_contract(start, *whole_months(start, end), end).alias("spent")
    total = fn.SUM(spent.c.minutes)
    query = (Select((spent,), (Contract.number, Contract.customer_name, total.alias("minutes")))
             .join(Contract, JOIN.LEFT_OUTER, on=(spent.c.contract_id == Contract.id))
             .group_by(Contract.number, Contract.customer_name).order_by(total.desc(), Contract.number))
    return [(number or "", customer or "", int(minutes or 0)) for number, customer, minutes in db.execute(query)]


def first_minutes_per_contract(start: dt.date, end: dt.date, limit: int) -> tuple[list[tuple[str, str, int]], int]:
    """The first `limit` rows of `minutes_per_contract` and how many rows it has, looking up
    the contracts of those rows only (a page's table; the period has thousands): the sums per
    contract, those with at least the `limit`-th most minutes kept (every one tied with the
    last shown, for the order by number). The row without a number is contract_id 0's alone:
    a contract deleted has its sums moved there (migration 030's trigger), so no other id is
    of a contract no longer there."""
    args = (start, *whole_months(start, end), end, limit - 1, limit)
    rows = _first_per_contract.cursor(args)[1].fetchall()
    return ([(number or "", customer or "", int(minutes or 0)) for number, customer, minutes, _ in rows],
            int(rows[0][3]) if rows else 0)


@prepared
def _first_per_contract(start: dt.date, first: dt.date, after: dt.date, end: dt.date, before_last: int, limit: int):
    """The sums per contract summed once (a materialised CTE: SQLite would sum them again for
    each use), then counted, the `limit`-th most minutes found, and the rows with at least as
    many joined to their contracts. Ranking them with window functions took twice as long."""
    spent = _spent_per_contract(start, first, after, end).cte("spent", materialized=True)
    every = Select((spent,), (fn.COUNT(SQL("*")),))
    last = Select((spent,), (spent.c.minutes,)).order_by(spent.c.minutes.desc()).limit(1).offset(before_last)
    least = Select((spent,), (fn.MIN(spent.c.minutes),))
    return (Select((spent,), (Contract.number, Contract.customer_name, spent.c.minutes, every))
            .join(Contract, JOIN.LEFT_OUTER, on=(spent.c.contract_id == Contract.id))
            .where(spent.c.minutes >= fn.COALESCE(last, least))  # fewer than `limit`: every one
            .order_by(spent.c.minutes.desc(), Contract.number).limit(limit).with_cte(spent))


def _spent_per_contract(start: dt.date, first: dt.date, after: dt.date, end: dt.date):
    """contract_id, minutes on the local days start..end (contracts with messages), a subquery
    or CTE: the whole months from `first` to before `after` from their month sums (migration
    036), the days before and after them from the days'."""
    day = ContractMinutesDay.day

    def days(*where):
        return (ContractMinutesDay.select(ContractMinutesDay.contract_id, ContractMinutesDay.minutes,
                                          ContractMinutesDay.messages).where(*where))

    months = (ContractMinutesMonth.select(ContractMinutesMonth.contract_id, ContractMinutesMonth.minutes,
                                          ContractMinutesMonth.messages)
              .where(ContractMinutesMonth.month >= first, ContractMinutesMonth.month < after))
    parts = days(day >= start, day < first).union_all(months).union_all(days(day >= after, day <= end))
    parts = parts.alias("parts")
    return (Select((parts,), (parts.c.contract_id, fn.SUM(parts.c.minutes).alias("minutes")))
            .group_by(parts.c.contract_id).having(fn.SUM(parts.c.messages) > 0))


def opened_closed(start: dt.date, end: dt.date) -> dict[dt.date, tuple[int, int]]:
    """Local day -> (tickets opened, tickets closed) on the days start..end."""
    return {day: (opened, closed) for day, opened, closed in _ticket_days(start, end)}


@prepared
def _ticket_days(start: dt.date, end: dt.date):
    return TicketDay.select(TicketDay.day, TicketDay.opened, TicketDay.closed).where(
        TicketDay.day >= start, TicketDay.day <= end).tuples()


# --- building them from every row --------------------------------------------------------------------


def rebuild(zone_name: str) -> int:
    """Every sum again, in the zone; returns how many messages they count."""
    with db.atomic():
        seen = rebuild_messages(zone_name)
        rebuild_ticket_days()
    return seen


def rebuild_ticket_days(database: Database | None = None) -> None:
    """The tickets opened and closed per day again, in the zone the sums are kept in."""
    database = database or db.obj
    with database.bind_ctx([RollupZone, TicketDay, Ticket]), database.atomic():
        TicketDay.delete().execute()
        tz = zone()
        if tz is None:
            return
        opened: Counter = Counter()
        closed: Counter = Counter()
        query = Ticket.select(Ticket.created_at, Ticket.closed_at).where(Ticket.merged_into.is_null())
        for created_at, closed_at in database.execute(query):
            opened[_day(_when(created_at), tz)] += 1
            if closed_at is not None:
                closed[_day(_when(closed_at), tz)] += 1
        _insert(TicketDay, [{"day": d, "opened": opened[d], "closed": closed[d]} for d in opened.keys() | closed])


def _when(value) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def rebuild_messages(zone_name: str, database: Database | None = None) -> int:
    """The messages' sums again, in the zone (recorded as the sums' zone); returns how many
    messages they count."""
    database = database or db.obj
    tz = local_time.zone(zone_name)
    answered: Counter = Counter()
    by_address: dict[tuple, list[int]] = {}
    by_contract: dict[tuple, list[int]] = {}
    seen = 0
    with database.bind_ctx([RollupZone, *MESSAGE_SUMS, Message, Ticket]), database.atomic():
        for model in (RollupZone, *MESSAGE_SUMS):
            model.delete().execute()
        RollupZone.create(zone=zone_name)
        query = (Message.select(Message.created_at, Message.kind, Message.author, Message.author_email,
                                Message.minutes, Ticket.contract)
                 .join(Ticket, on=(Message.ticket == Ticket.id))
                 .where(((Message.kind == MessageKind.STAFF.value) & Message.author.is_null(False))
                        | Message.minutes.is_null(False)))
        for created_at, kind, author, email, minutes, contract in database.execute(query):
            seen += 1
            day = _day(_when(created_at), tz)
            if kind == MessageKind.STAFF.value and author is not None:
                answered[(day, author)] += 1
            if minutes is not None:
                for sums, key in ((by_address, (day, email)), (by_contract, (day, contract or 0))):
                    row = sums.setdefault(key, [0, 0])
                    row[0] += 1
                    row[1] += minutes
        _insert(AnswerDay, [{"day": d, "author": a, "answers": n} for (d, a), n in answered.items()])
        _insert(MinutesDay, [{"day": d, "author_email": e, "messages": c, "minutes": m}
                             for (d, e), (c, m) in by_address.items()])
        _insert(ContractMinutesDay, [{"day": d, "contract_id": k, "messages": c, "minutes": m}
                                     for (d, k), (c, m) in by_contract.items()])
    return seen


def _insert(model, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK):
        model.insert_many(rows[start:start + CHUNK]).execute()

