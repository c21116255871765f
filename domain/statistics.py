"""The reports of /staff/reports and `helpdesk report` (read-only).

In: a report's name and a `Period` (local days in the configured zone). Out: a `Report`:
a title, columns, rows (plain values: the table, the CSV and the JSON) and how to chart
it (`Chart`: kind, the label column, the series' columns). Each report reads the rows it
needs in a few queries and aggregates them with the pure functions below (`weekly`,
`percentile`, `age_bucket`, ...), which the tests check against known data.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from peewee import SQL, Case, fn

from helpdesk import database
from helpdesk.models import Message, MessageKind, Status, Ticket, User, db, utcnow

from . import local_time, report_months, rollups, timespent
from .prepared import Prepared, prepared
from .report_months import median, percentile  # noqa: F401 (the reports' own, and their tests')
from .validation import N_

UTC = dt.timezone.utc
DEFAULT_WEEKS = 12
MAX_DAYS = 5 * 366  # the longest period a report covers (its rows are one per week or month)
AGES = ((1, N_("under a day")), (3, N_("1-3 days")), (7, N_("3-7 days")), (30, N_("7-30 days")),
        (None, N_("over 30 days")))
OPEN_STATUSES = [s.value for s in Status if s is not Status.CLOSED]
UNMERGED = Ticket.merged_into.is_null()  # a ticket merged into another is counted there


@dataclass(frozen=True)
class Period:
    start: dt.date  # first local day
    end: dt.date  # last local day (inclusive)
    zone: ZoneInfo

    @classmethod
    def of(cls, start: dt.date | None, end: dt.date | None, tz: str, *, now: dt.datetime | None = None) -> "Period":
        zone = ZoneInfo(tz)
        today = local_time.today(zone, now or utcnow())
        end = end or today
        start = start or end - dt.timedelta(weeks=DEFAULT_WEEKS) + dt.timedelta(days=1)
        if start > end:
            start, end = end, start
        start = max(start, end - dt.timedelta(days=MAX_DAYS))
        return cls(start, end, zone)

    def utc_of(self, day: dt.date) -> dt.datetime:
        """When the local day starts, as a stored (naive UTC) time."""
        return dt.datetime.combine(day, dt.time(0), tzinfo=self.zone).astimezone(UTC).replace(tzinfo=None)

    @property
    def since(self) -> dt.datetime:
        return self.utc_of(self.start)

    @property
    def until(self) -> dt.datetime:  # exclusive
        return self.utc_of(self.end + dt.timedelta(days=1))

    def local_day(self, when: dt.datetime) -> dt.date:
        return when.replace(tzinfo=UTC).astimezone(self.zone).date()


@dataclass(frozen=True)
class Chart:
    kind: str  # bar | stacked | line | hbar
    label: int  # the column naming each group
    series: tuple[int, ...]  # the columns drawn
    unit: str = ""


@dataclass
class Report:
    name: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    chart: Chart | None = None
    count: int | None = None  # how many rows in all, when `rows` holds the first ones only (a page's table)

    @property
    def total(self) -> int:
        return len(self.rows) if self.count is None else self.count

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "columns": self.columns,
                "rows": [dict(zip(self.columns, row)) for row in self.rows]}


# --- pure aggregation -------------------------------------------------------------------------------


def week_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_between(start: dt.date, end: dt.date) -> list[str]:
    out, day = [], start - dt.timedelta(days=start.weekday())
    while day <= end:
        out.append(week_of(day))
        day += dt.timedelta(days=7)
    return out


def months_between(start: dt.date, end: dt.date) -> list[str]:
    out, (y, m) = [], (start.year, start.month)
    while (y, m) <= (end.year, end.month):
        out.append(f"{y}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def hours(value: float | None) -> float | None:
    return None if value is None else round(value / 3600, 1)


def age_bucket(age: dt.timedelta) -> str:
    for days, label in AGES:
        if days is None or age < dt.timedelta(days=days):
            return label
    return AGES[-1][1]


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# --- the reports ---------------------------------------------------------------------------------


def _bucket(column, starts: list[dt.datetime]):
    """SQL: the number of the bucket `column` falls in: 0 before starts[0], i from starts[i-1]
    (the rows are already within the period, so bucket 0 starts with it)."""
    if not starts:
        return SQL("0")
    return Case(None, [(column < start, SQL(str(i))) for i, start in enumerate(starts)], SQL(str(len(starts))))


def _weeks(period: Period) -> tuple[list[str], list[dt.datetime]]:
    """The period's weeks and, after the first, when each starts (local Monday 00:00, in UTC)."""
    monday = period.start - dt.timedelta(days=period.start.weekday())
    labels = weeks_between(period.start, period.end)
    return labels, [period.utc_of(monday + dt.timedelta(weeks=i)) for i in range(1, len(labels))]


def _raw(query) -> list[tuple]:
    return db.execute(query).fetchall()


def opened_closed(period: Period, now: dt.datetime, kept: bool, limit: int | None) -> Report:
    opened, closed = (_opened_closed_kept if kept else _opened_closed_counted)(period)
    return Report("opened_closed", N_("Tickets opened and closed per week"), ["week", "opened", "closed"],
                  [[w, opened[w], closed[w]] for w in weeks_between(period.start, period.end)],
                  Chart("bar", 0, (1, 2)))


def _opened_closed_kept(period: Period) -> tuple[Counter, Counter]:
    """Per week, from the per-day sums (domain/rollups.py): a row per day."""
    opened, closed = Counter(), Counter()  # type: ignore[var-annotated]
    for day, (n_opened, n_closed) in rollups.opened_closed(period.start, period.end).items():
        opened[week_of(day)] += n_opened
        closed[week_of(day)] += n_closed
    return opened, closed


def _opened_closed_counted(period: Period) -> tuple[Counter, Counter]:
    """Per week, counted from the tickets (the sums kept in another zone)."""
    labels, starts = _weeks(period)

    def per_week(column) -> Counter:
        week = _bucket(column, starts)
        query = (Ticket.select(week, fn.COUNT(SQL("*"))).where(column >= period.since, column < period.until, UNMERGED)
                 .group_by(SQL("1")))
        return Counter({labels[int(b)]: n for b, n in _raw(query)})

    return per_week(Ticket.created_at), per_week(Ticket.closed_at)


def _rows(query: Prepared, *args) -> list[tuple]:
    """The rows of a prepared query as the driver gives them (no conversion per value)."""
    return query.cursor(args)[1].fetchall()


def response_times(period: Period, now: dt.datetime, kept: bool, limit: int | None) -> Report:
    """Per month of opening: first response and resolution times (hours, wall clock); the
    months that lie whole in the period kept (domain/report_months.py), the rest read."""
    whole = report_months.kept(period, now)
    rows = []
    for segment in report_months.segments(period):
        t = whole[segment.since].times if segment.whole else report_months.times(segment)
        rows.append([segment.label, t.tickets, hours(t.first_median), hours(t.first_p90), hours(t.whole_median),
                     hours(t.whole_p90)])
    return Report("response_times", N_("First response and resolution times (hours)"),
                  ["month", "tickets", "first_response_median_h", "first_response_p90_h", "resolution_median_h",
                   "resolution_p90_h"], rows, Chart("line", 0, (2, 3, 4, 5), "h"))


def sla_compliance(period: Period, now: dt.datetime, kept: bool, limit: int | None) -> Report:
    """Per service level and month of opening: deadlines met and breached."""
    whole = report_months.kept(period, now)
    found: list[tuple[str, str, int, int, int, int, int]] = []
    for segment in report_months.segments(period):
        levels = whole[segment.since].deadlines if segment.whole else report_months.deadlines(segment, now)[0]
        found += [(policy, segment.label, tickets, first_met, first_breached, met, breached)
                  for policy, tickets, first_met, first_breached, met, breached in levels.levels]
    rows = [[f"{policy} {month}", policy, month, tickets, first_met, first_breached,
             percent(first_met, first_met + first_breached), met, breached, percent(met, met + breached)]
            for policy, month, tickets, first_met, first_breached, met, breached in sorted(found)]
    return Report("sla_compliance", N_("Service-level compliance per level and month (per cent)"),
                  ["group", "level", "month", "tickets", "first_response_met", "first_response_breached",
                   "first_response_percent", "resolution_met", "resolution_breached", "resolution_percent"],
                  rows, Chart("bar", 0, (6, 9), "%"))


@prepared
def _open_by_age(*opened_after: dt.datetime):
    """Open tickets per status and age: younger than d days <=> opened after now - d (the index
    on (status, created_at) alone)."""
    age = Case(None, [(Ticket.created_at > after, SQL(str(i))) for i, after in enumerate(opened_after)],
               SQL(str(len(opened_after))))
    return (Ticket.select(Ticket.status, age, fn.COUNT(SQL("*"))).where(Ticket.status.in_(OPEN_STATUSES))
            .group_by(Ticket.status, SQL("2")))


def backlog(period: Period, now: dt.datetime, kept: bool, limit: int | None) -> Report:
    """Open tickets now, by status and age."""
    counts: dict[str, Counter] = defaultdict(Counter)
    younger = [now - dt.timedelta(days=days) for days, _ in AGES if days is not None]
    for status, bucket, n in _rows(_open_by_age, *younger):
        counts[status][AGES[int(bucket)][1]] += n
    labels = [label for _, label in AGES]
    rows = [[status, *[counts[status][label] for label in labels], sum(counts[status].values())]
            for status in OPEN_STATUSES]
    return Report("backlog", N_("Backlog by status and age"), ["status", *labels, "total"], rows,
                  Chart("stacked", 0, tuple(range(1, len(labels) + 1))))


@prepared
def _engineers():
    return User.select(User.id, User.email).where(User.role.in_(["engineer", "admin"])).order_by(User.email).tuples()


@prepared
def _open_per_assignee():
    # `+assignee_id` on SQLite, in the condition and the grouping: from the index on (status,
    # created_at, assignee_id), the open tickets only (0.4 ms), not along the index on assignee_id
    # (every assigned ticket, closed ones too: 49 ms), which ANALYZE's statistics make it prefer.
    assignee = database.unindexed(Ticket.assignee)
    return (Ticket.select(Ticket.assignee, fn.COUNT(Ticket.id))
            .where(Ticket.status.in_(OPEN_STATUSES), assignee.is_null(False)).group_by(assignee).tuples())


def _closed_per_assignee(period: Period, now: dt.datetime) -> Counter:
    """Tickets closed in the period per assignee: the whole months kept, the rest read."""
    whole = report_months.kept(period, now)
    closed: Counter = Counter()
    for segment in report_months.segments(period):
        closed.update(dict(whole[segment.since].closed if segment.whole else report_months.closed(segment)))
    return closed


def engineers(period: Period, now: dt.datetime, kept: bool, limit: int | None) -> Report:
    """Per engineer: open tickets assigned now, tickets closed, public answers, time spent."""
    people = _engineers()
    assigned = dict(_open_per_assignee())
    closed = _closed_per_assignee(period, now)
    if kept:  # the per-day sums (domain/rollups.py)
        answers = rollups.answers(period.start, period.end)
        spent = rollups.minutes_per_engineer(period.start, period.end)
    else:
        answers = dict(Message.select(Message.author, fn.COUNT(Message.id)).where(
            Message.kind == MessageKind.STAFF.value, Message.created_at >= period.since,
            Message.created_at < period.until, Message.author.is_null(False)).group_by(Message.author).tuples())
        spent = timespent.per_engineer(period.since, period.until)
    rows = [[email, assigned.get(user_id, 0), closed.get(user_id, 0), answers.get(user_id, 0),
             round(spent.get(email, 0) / 60, 2)] for user_id, email in people]
    return Report("engineers", N_("Per engineer"), ["engineer", "open_assigned", "closed", "answers", "hours_spent"],
                  rows, Chart("hbar", 0, (1, 2, 3)))


def time_spent(period: Period, now: dt.datetime, kept: bool, limit: int | None) -> Report:
    count = None
    if kept and limit is not None:  # a page's table: the first rows, not every contract's
        spent, count = rollups.first_minutes_per_contract(period.start, period.end, limit)
    elif kept:
        spent = rollups.minutes_per_contract(period.start, period.end)
    else:
        spent = timespent.per_contract(period.since, period.until)
    rows = [[number or "—", customer, minutes, round(minutes / 60, 2)] for number, customer, minutes in spent]
    return Report("time_spent", N_("Time spent per contract"), ["contract", "customer", "minutes", "hours"], rows,
                  Chart("hbar", 0, (3,), "h"), count)


REPORTS = {
    "opened_closed": opened_closed,
    "response_times": response_times,
    "sla_compliance": sla_compliance,
    "backlog": backlog,
    "engineers": engineers,
    "time_spent": time_spent,
}


FROM_SUMS = {"opened_closed", "engineers", "time_spent"}  # may read domain/rollups.py's per-day sums


def report(name: str, period: Period, config=None, *, now: dt.datetime | None = None, kept: bool | None = None,
           limit: int | None = None) -> Report:
    """The report; `kept`: the per-day sums are in the period's zone (read when not given);
    `limit`: the first rows only (with `count` of them all), as a page shows them."""
    if kept is None:
        kept = name in FROM_SUMS and rollups.kept_for(period.zone.key)
    result = REPORTS[name](period, now or utcnow(), kept, limit)
    if limit is not None and result.count is None and len(result.rows) > limit:
        result.count, result.rows = len(result.rows), result.rows[:limit]
    return result


def reports(period: Period, *, now: dt.datetime, limit: int | None = None) -> list[Report]:
    """Every report, as the reports page shows them (the sums' zone read once)."""
    kept = rollups.kept_for(period.zone.key)  # once, not once a report
    with report_months.read_once():  # the kept months, once for the three reports that read them
        return [report(name, period, now=now, kept=kept, limit=limit) for name in REPORTS]
