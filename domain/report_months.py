"""The figures of three reports per month, each whole month's kept (issue 18): "first response
and resolution times" (medians and 90th percentiles of every ticket opened in the month),
"service-level compliance" (per level, deadlines met and breached) and, for "per engineer",
the tickets closed in the month per assignee.

Exact percentiles need every ticket's times, so a report over twelve weeks read 5,700
tickets twice on every view, and one over a year or five read them all. A month that lies
whole in the period asked is the same whatever the period, so its figures are kept in
`report_month`, a row per zone and month, and only the period's ends (the parts of their
months it covers) are read from the tickets.

A kept month is never wrong:
- the database deletes its row in the statement that inserts, deletes or changes a ticket
  opened or closed in it, in a column these reports read (triggers, migrations 035 and 037);
- the clock: an open ticket's deadline breaches when it passes, with no write. A row holds
  the first such deadline still ahead when it was worked out (`valid_until`) and is used
  only before it, and only at or after the time it was worked out;
- a row is worked out and written with the writers shut out (BEGIN IMMEDIATE on SQLite, a
  lock on `report_month` on PostgreSQL, which every writer's trigger needs), so no change
  commits between the tickets read and the row written. When that lock is not had within
  `LOCK_WAIT_MS`, the month is read from the tickets and not kept.

In: a `Period`, the time now. Out: per month of the period, its `Times`, `Deadlines` and
tickets `closed` per assignee.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import math
from dataclasses import dataclass

from peewee import SQL, Case, OperationalError, Value, fn

from helpdesk import database
from helpdesk.models import ReportMonth, Ticket, db

from .prepared import prepared

log = logging.getLogger(__name__)
UNMERGED = Ticket.merged_into.is_null()  # a ticket merged into another is counted there
LOCK_WAIT_MS = 2000


@dataclass(frozen=True)
class Segment:
    """The part of a local month a period covers: its label, its first and end instants
    (stored UTC times, the end exclusive) and whether that is the whole month."""
    label: str
    since: dt.datetime
    until: dt.datetime
    whole: bool


@dataclass(frozen=True)
class Times:
    """Tickets opened, and the medians and 90th percentiles of the seconds to the first
    answer and to closing (None: no ticket answered, or closed)."""
    tickets: int
    first_median: float | None
    first_p90: float | None
    whole_median: float | None
    whole_p90: float | None


@dataclass(frozen=True)
class Deadlines:
    """Per service level: (level, tickets, first responses met, breached, resolutions met, breached)."""
    levels: tuple[tuple[str, int, int, int, int, int], ...]


@dataclass(frozen=True)
class Figures:
    times: Times
    deadlines: Deadlines
    closed: tuple[tuple[int, int], ...]  # (assignee's id, tickets closed in the month), by id


# --- pure ------------------------------------------------------------------------------------------


def months(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The first day of each month from start's to end's, and the next month's."""
    out, first = [], start.replace(day=1)
    while first <= end:
        following = (first + dt.timedelta(days=32)).replace(day=1)
        out.append((first, following))
        first = following
    return out


def segments(period) -> list[Segment]:
    """The period's months, each cut to the days the period covers."""
    return [Segment(f"{first.year}-{first.month:02d}", period.utc_of(max(first, period.start)),
                    period.utc_of(min(following, period.end + dt.timedelta(days=1))),
                    first >= period.start and following <= period.end + dt.timedelta(days=1))
            for first, following in months(period.start, period.end)]


def percentile(values: list[float], share: float) -> float | None:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)  # in linear time when sorted already (times_of's)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered, n = sorted(values), len(values)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def times_of(rows: list[tuple]) -> Times:
    """From each ticket's (seconds to the first answer, seconds to closing)."""
    first = sorted(v for v, _ in rows if v is not None)
    whole = sorted(v for _, v in rows if v is not None)
    return Times(len(rows), median(first), percentile(first, 0.9), median(whole), percentile(whole, 0.9))


def deadlines_of(rows: list[tuple]) -> tuple[Deadlines, dt.datetime | None]:
    """From the rows of `_deadlines` (per level: tickets, four counts, and the first deadlines
    still ahead): the figures, and until when the clock leaves them true."""
    ahead = [when for row in rows for when in row[6:] if when is not None]
    return (Deadlines(tuple(sorted((policy, *map(int, counts)) for policy, *counts in (row[:6] for row in rows)))),
            min(map(_when, ahead)) if ahead else None)


def _when(value) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def dumps(figures: Figures) -> str:
    return json.dumps([list(vars(figures.times).values()), [list(level) for level in figures.deadlines.levels],
                       [list(pair) for pair in figures.closed]])


def loads(text: str) -> Figures:
    times, levels, closed = json.loads(text)
    return Figures(Times(*times), Deadlines(tuple(tuple(level) for level in levels)),
                   tuple(tuple(pair) for pair in closed))


def usable(computed_at: dt.datetime, valid_until: dt.datetime | None, now: dt.datetime) -> bool:
    """A kept row holds for `now`: not before it was worked out, nor once the clock may have changed it."""
    return computed_at <= now and (valid_until is None or now < valid_until)


# --- the statements --------------------------------------------------------------------------------


@prepared
def _times(since: dt.datetime, until: dt.datetime):
    """Per ticket opened in [since, until): seconds to the first answer and to closing (kept
    by the database: migration 032), from the reports' index alone."""
    return (Ticket.select(Ticket.first_response_s, Ticket.resolution_s)
            .where(Ticket.created_at >= since, Ticket.created_at < until, UNMERGED).tuples())


def _count(condition):
    # FILTER, not SUM(CASE ...): a sixth less time over the period's thousands of tickets (SQLite)
    return fn.COUNT(SQL("*")).filter(condition)


def _met_and_breached(due, done, paused, now: dt.datetime) -> tuple:
    """SQL counts of the deadline met and breached, and the first deadline a running clock has
    still ahead; neither
    while it can still go either way (open, and the clock not past the deadline now or when it
    was paused). A comparison with a NULL deadline is NULL, never true: no deadline is neither."""
    at = fn.COALESCE(paused, Value(now, converter=paused.db_value))
    late = Case(None, [(done.is_null(), at >= due)], done > due)
    running = done.is_null() & paused.is_null() & (Value(now, converter=due.db_value) < due)
    return _count(done <= due), _count(late), fn.MIN(due).filter(running)


@prepared
def _deadlines(since: dt.datetime, until: dt.datetime, now: dt.datetime):
    """Per service level, of the tickets opened in [since, until): tickets, first responses and
    resolutions met and breached, and each clock's first deadline still running now."""
    first = _met_and_breached(Ticket.first_response_due, Ticket.first_response_at, Ticket.sla_paused_at, now)
    whole = _met_and_breached(Ticket.resolution_due, Ticket.closed_at, Ticket.sla_paused_at, now)
    return (Ticket.select(Ticket.sla_policy, fn.COUNT(SQL("*")), *first[:2], *whole[:2], first[2], whole[2])
            .where(Ticket.created_at >= since, Ticket.created_at < until, Ticket.sla_policy.is_null(False), UNMERGED)
            .group_by(Ticket.sla_policy).tuples())


@prepared
def _closed(since: dt.datetime, until: dt.datetime):
    """Per assignee: the tickets closed in [since, until), not merged (the covering index on
    (closed_at, assignee_id, merged_into_id): migration 022)."""
    return (Ticket.select(Ticket.assignee, fn.COUNT(Ticket.id))
            .where(Ticket.closed_at >= since, Ticket.closed_at < until, Ticket.assignee.is_null(False), UNMERGED)
            .group_by(Ticket.assignee).tuples())


@prepared
def _kept(zone: str, first: dt.datetime, last: dt.datetime):
    return (ReportMonth.select(ReportMonth.since, ReportMonth.figures, ReportMonth.computed_at,
                               ReportMonth.valid_until)
            .where(ReportMonth.zone == zone, ReportMonth.since >= first, ReportMonth.since <= last).tuples())


def _rows(query, *args) -> list[tuple]:
    """The rows of a prepared query as the driver gives them (no conversion per value)."""
    return query.cursor(args)[1].fetchall()


def times(segment: Segment) -> Times:
    return times_of(_rows(_times, segment.since, segment.until))


def deadlines(segment: Segment, now: dt.datetime) -> tuple[Deadlines, dt.datetime | None]:
    return deadlines_of(_rows(_deadlines, segment.since, segment.until, now))


def closed(segment: Segment) -> tuple[tuple[int, int], ...]:
    return tuple(sorted((int(assignee), int(count)) for assignee, count in _rows(_closed, segment.since, segment.until)))


# --- the kept months -------------------------------------------------------------------------------


_read_once: contextvars.ContextVar[dict | None] = contextvars.ContextVar("report_months_read_once", default=None)


@contextlib.contextmanager
def read_once():
    """Within it, `kept` reads the months of a period once for a clock: the reports page's
    three reports that use them share one read."""
    token = _read_once.set({})
    try:
        yield
    finally:
        _read_once.reset(token)


def kept(period, now: dt.datetime) -> dict[dt.datetime, Figures]:
    """The figures of every month that lies whole in the period, by its first instant: those
    kept, and the others worked out now (and kept, when the writers could be held off)."""
    read = _read_once.get()
    if read is None:
        return _kept_now(period, now)
    if (period, now) not in read:
        read[(period, now)] = _kept_now(period, now)
    return read[(period, now)]


def _kept_now(period, now: dt.datetime) -> dict[dt.datetime, Figures]:
    wholes = [s for s in segments(period) if s.whole]
    if not wholes:
        return {}
    zone = period.zone.key
    found = {}
    for since, figures, computed_at, valid_until in _rows(_kept, zone, wholes[0].since, wholes[-1].since):
        if usable(_when(computed_at), valid_until and _when(valid_until), now):
            try:
                found[_when(since)] = loads(figures)
            except (ValueError, TypeError):  # another version's figures: worked out again below
                log.info("report month %s of %s: figures not read, worked out again", since, zone)
    for segment in wholes:
        if segment.since not in found:
            found[segment.since] = _work_out(segment, zone, now)
    return found


def _work_out(segment: Segment, zone: str, now: dt.datetime) -> Figures:
    """The month's figures from its tickets, kept when no writer can commit meanwhile."""
    try:
        with _writers_held_off():
            figures, valid_until = _figures(segment, now)
            text = dumps(figures)
            (ReportMonth.insert(zone=zone, since=segment.since, until=segment.until, figures=text, computed_at=now,
                                valid_until=valid_until)
             .on_conflict(conflict_target=[ReportMonth.zone, ReportMonth.since],
                          update={ReportMonth.until: segment.until, ReportMonth.figures: text,
                                  ReportMonth.computed_at: now, ReportMonth.valid_until: valid_until})
             .execute())
            return figures
    except OperationalError as error:  # the writers not held off in time: right now, kept another time
        log.info("report month %s not kept: %s", segment.label, error)
        return _figures(segment, now)[0]


@contextlib.contextmanager
def _writers_held_off():
    """A transaction no writer of tickets can commit in, waiting LOCK_WAIT_MS at most for them."""
    if not database.is_sqlite(db.obj):
        with db.atomic():
            db.execute_sql(f"SET LOCAL lock_timeout = {LOCK_WAIT_MS}")
            # conflicts with the ROW EXCLUSIVE lock each writer's trigger takes to delete a row
            db.execute_sql("LOCK TABLE report_month IN SHARE ROW EXCLUSIVE MODE")
            yield
        return
    waits = db.execute_sql("PRAGMA busy_timeout").fetchone()[0]
    db.execute_sql(f"PRAGMA busy_timeout = {LOCK_WAIT_MS}")
    try:
        with db.atomic():  # BEGIN IMMEDIATE (database.open_database): the write lock first
            yield
    finally:
        db.execute_sql(f"PRAGMA busy_timeout = {int(waits)}")


def _figures(segment: Segment, now: dt.datetime) -> tuple[Figures, dt.datetime | None]:
    levels, valid_until = deadlines(segment, now)
    return Figures(times(segment), levels, closed(segment)), valid_until
