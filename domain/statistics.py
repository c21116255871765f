"""The reports of /staff/reports and `helpdesk report` (read-only).

In: a report's name and a `Period` (local days in the configured zone). Out: a `Report`:
a title, columns, rows (plain values: the table, the CSV and the JSON) and how to chart
it (`Chart`: kind, the label column, the series' columns). Each report reads the rows it
needs in a few queries and aggregates them with the pure functions below (`weekly`,
`percentile`, `age_bucket`, ...), which the tests check against known data.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from peewee import fn

from helpdesk.models import Message, MessageKind, Status, Ticket, User, utcnow

from . import timespent
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
        today = (now or utcnow()).replace(tzinfo=UTC).astimezone(zone).date()
        end = end or today
        start = start or end - dt.timedelta(weeks=DEFAULT_WEEKS) + dt.timedelta(days=1)
        if start > end:
            start, end = end, start
        start = max(start, end - dt.timedelta(days=MAX_DAYS))
        return cls(start, end, zone)

    def _utc(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), tzinfo=self.zone).astimezone(UTC).replace(tzinfo=None)

    @property
    def since(self) -> dt.datetime:
        return self._utc(self.start)

    @property
    def until(self) -> dt.datetime:  # exclusive
        return self._utc(self.end + dt.timedelta(days=1))

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


def percentile(values: list[float], share: float) -> float | None:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered, n = sorted(values), len(values)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


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


def opened_closed(period: Period, now: dt.datetime) -> Report:
    weeks = weeks_between(period.start, period.end)
    opened, closed = Counter(), Counter()  # type: ignore[var-annotated]
    for (at,) in Ticket.select(Ticket.created_at).where(Ticket.created_at >= period.since,
                                                       Ticket.created_at < period.until, UNMERGED).tuples():
        opened[week_of(period.local_day(at))] += 1
    for (at,) in Ticket.select(Ticket.closed_at).where(Ticket.closed_at >= period.since,
                                                      Ticket.closed_at < period.until, UNMERGED).tuples():
        closed[week_of(period.local_day(at))] += 1
    return Report("opened_closed", N_("Tickets opened and closed per week"), ["week", "opened", "closed"],
                  [[w, opened[w], closed[w]] for w in weeks], Chart("bar", 0, (1, 2)))


def response_times(period: Period, now: dt.datetime) -> Report:
    """Per month of opening: first response and resolution times (hours, wall clock)."""
    first, whole = defaultdict(list), defaultdict(list)
    opened = Counter()  # type: ignore[var-annotated]
    for created, answered, closed in (Ticket.select(Ticket.created_at, Ticket.first_response_at, Ticket.closed_at)
                                      .where(Ticket.created_at >= period.since, Ticket.created_at < period.until,
                                             UNMERGED).tuples()):
        month = period.local_day(created).strftime("%Y-%m")
        opened[month] += 1
        if answered:
            first[month].append((answered - created).total_seconds())
        if closed:
            whole[month].append((closed - created).total_seconds())
    rows = [[m, opened[m], hours(median(first[m])), hours(percentile(first[m], 0.9)),
             hours(median(whole[m])), hours(percentile(whole[m], 0.9))]
            for m in months_between(period.start, period.end)]
    return Report("response_times", N_("First response and resolution times (hours)"),
                  ["month", "tickets", "first_response_median_h", "first_response_p90_h", "resolution_median_h",
                   "resolution_p90_h"], rows, Chart("line", 0, (2, 3, 4, 5), "h"))


def _met(due, done, paused, now) -> bool | None:
    """Met, breached, or None while it can still go either way."""
    if due is None:
        return None
    if done is not None:
        return done <= due
    at = paused or now
    return False if at >= due else None


def sla_compliance(period: Period, now: dt.datetime) -> Report:
    """Per service level and month of opening: deadlines met and breached."""
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    query = (Ticket.select(Ticket.sla_policy, Ticket.created_at, Ticket.first_response_due, Ticket.first_response_at,
                           Ticket.resolution_due, Ticket.closed_at, Ticket.sla_paused_at)
             .where(Ticket.created_at >= period.since, Ticket.created_at < period.until,
                    Ticket.sla_policy.is_null(False), UNMERGED).tuples())
    for policy, created, fr_due, fr_at, res_due, closed, paused in query:
        key = (policy, period.local_day(created).strftime("%Y-%m"))
        counts[key]["tickets"] += 1
        for clock, result in (("first", _met(fr_due, fr_at, paused, now)),
                              ("resolution", _met(res_due, closed, paused, now))):
            if result is not None:
                counts[key][f"{clock}_{'met' if result else 'breached'}"] += 1
    rows = []
    for (policy, month), c in sorted(counts.items()):
        rows.append([f"{policy} {month}", policy, month, c["tickets"], c["first_met"], c["first_breached"],
                     percent(c["first_met"], c["first_met"] + c["first_breached"]), c["resolution_met"],
                     c["resolution_breached"], percent(c["resolution_met"], c["resolution_met"] +
                                                       c["resolution_breached"])])
    return Report("sla_compliance", N_("Service-level compliance per level and month (per cent)"),
                  ["group", "level", "month", "tickets", "first_response_met", "first_response_breached",
                   "first_response_percent", "resolution_met", "resolution_breached", "resolution_percent"],
                  rows, Chart("bar", 0, (6, 9), "%"))


def backlog(period: Period, now: dt.datetime) -> Report:
    """Open tickets now, by status and age."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for status, created in Ticket.select(Ticket.status, Ticket.created_at).where(
            Ticket.status.in_(OPEN_STATUSES)).tuples():
        counts[status][age_bucket(now - created)] += 1
    labels = [label for _, label in AGES]
    rows = [[status, *[counts[status][label] for label in labels], sum(counts[status].values())]
            for status in OPEN_STATUSES]
    return Report("backlog", N_("Backlog by status and age"), ["status", *labels, "total"], rows,
                  Chart("stacked", 0, tuple(range(1, len(labels) + 1))))


def engineers(period: Period, now: dt.datetime) -> Report:
    """Per engineer: open tickets assigned now, tickets closed, public answers, time spent."""
    people = list(User.select(User.id, User.email).where(User.role.in_(["engineer", "admin"])).order_by(User.email))
    assigned = dict(Ticket.select(Ticket.assignee, fn.COUNT(Ticket.id)).where(
        Ticket.status.in_(OPEN_STATUSES), Ticket.assignee.is_null(False)).group_by(Ticket.assignee).tuples())
    closed = dict(Ticket.select(Ticket.assignee, fn.COUNT(Ticket.id)).where(
        Ticket.closed_at >= period.since, Ticket.closed_at < period.until, Ticket.assignee.is_null(False), UNMERGED)
        .group_by(Ticket.assignee).tuples())
    answers = dict(Message.select(Message.author, fn.COUNT(Message.id)).where(
        Message.kind == MessageKind.STAFF.value, Message.created_at >= period.since,
        Message.created_at < period.until, Message.author.is_null(False)).group_by(Message.author).tuples())
    spent = timespent.per_engineer(period.since, period.until)
    rows = [[u.email, assigned.get(u.id, 0), closed.get(u.id, 0), answers.get(u.id, 0),
             round(spent.get(u.email, 0) / 60, 2)] for u in people]
    return Report("engineers", N_("Per engineer"), ["engineer", "open_assigned", "closed", "answers", "hours_spent"],
                  rows, Chart("hbar", 0, (1, 2, 3)))


def time_spent(period: Period, now: dt.datetime) -> Report:
    rows = [[number or "—", customer, minutes, round(minutes / 60, 2)]
            for number, customer, minutes in timespent.per_contract(period.since, period.until)]
    return Report("time_spent", N_("Time spent per contract"), ["contract", "customer", "minutes", "hours"], rows,
                  Chart("hbar", 0, (3,), "h"))


REPORTS = {
    "opened_closed": opened_closed,
    "response_times": response_times,
    "sla_compliance": sla_compliance,
    "backlog": backlog,
    "engineers": engineers,
    "time_spent": time_spent,
}


def report(name: str, period: Period, config=None, *, now: dt.datetime | None = None) -> Report:
    return REPORTS[name](period, now or utcnow())

