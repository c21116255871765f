"""The reports computed in SQL (GROUP BY over local weeks and months, counts of deadlines met)
or read from the per-day sums give exactly what the earlier Python over every row gave: the reference functions below are
that code, run on the same tickets, around the local days' edges (midnight in Warsaw, in
summer and winter time, the night the clocks go back), merged tickets, paused clocks."""
from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict

import pytest

from helpdesk.domain import rollups, statistics
from helpdesk.domain.statistics import AGES, OPEN_STATUSES, Period, age_bucket, hours, median, percent, percentile
from helpdesk.models import Status, Ticket, User

ZONE = "Europe/Warsaw"
NOW = dt.datetime(2026, 11, 16, 12, 0, 0, 250000)
PERIOD = (dt.date(2026, 9, 28), dt.date(2026, 11, 15))  # over the end of summer time (25 October)
EDGES = [  # local midnight in UTC, and a microsecond either side
    dt.datetime(2026, 9, 27, 22, 0), dt.datetime(2026, 10, 4, 22, 0), dt.datetime(2026, 10, 25, 22, 0),
    dt.datetime(2026, 10, 31, 23, 0), dt.datetime(2026, 10, 24, 22, 0), dt.datetime(2026, 11, 15, 23, 0),
    dt.datetime(2026, 11, 1, 23, 0), dt.datetime(2026, 10, 25, 1, 0), dt.datetime(2026, 10, 25, 0, 30),
]


def _reference(name: str, period: Period, now: dt.datetime) -> list[list]:
    """The rows as the reports computed them before issue 18: every ticket read, in Python."""
    rows = list(Ticket.select())
    unmerged = [t for t in rows if t.merged_into_id is None]
    within = [t for t in unmerged if period.since <= t.created_at < period.until]
    if name == "opened_closed":
        opened = Counter(statistics.week_of(period.local_day(t.created_at)) for t in within)
        closed = Counter(statistics.week_of(period.local_day(t.closed_at)) for t in unmerged
                         if t.closed_at and period.since <= t.closed_at < period.until)
        return [[w, opened[w], closed[w]] for w in statistics.weeks_between(period.start, period.end)]
    if name == "response_times":
        first, whole, opened = defaultdict(list), defaultdict(list), Counter()  # type: ignore[var-annotated]
        for t in within:
            month = period.local_day(t.created_at).strftime("%Y-%m")
            opened[month] += 1
            if t.first_response_at:
                first[month].append((t.first_response_at - t.created_at).total_seconds())
            if t.closed_at:
                whole[month].append((t.closed_at - t.created_at).total_seconds())
        return [[m, opened[m], hours(median(first[m])), hours(percentile(first[m], 0.9)),
                 hours(median(whole[m])), hours(percentile(whole[m], 0.9))]
                for m in statistics.months_between(period.start, period.end)]
    if name == "sla_compliance":
        def met(due, done, paused):
            if due is None:
                return None
            if done is not None:
                return done <= due
            return False if (paused or now) >= due else None

        counts: dict = defaultdict(Counter)
        for t in within:
            if t.sla_policy is None:
                continue
            key = (t.sla_policy, period.local_day(t.created_at).strftime("%Y-%m"))
            counts[key]["tickets"] += 1
            for clock, result in (("first", met(t.first_response_due, t.first_response_at, t.sla_paused_at)),
                                  ("resolution", met(t.resolution_due, t.closed_at, t.sla_paused_at))):
                if result is not None:
                    counts[key][f"{clock}_{'met' if result else 'breached'}"] += 1
        return [[f"{p} {m}", p, m, c["tickets"], c["first_met"], c["first_breached"],
                 percent(c["first_met"], c["first_met"] + c["first_breached"]), c["resolution_met"],
                 c["resolution_breached"], percent(c["resolution_met"], c["resolution_met"] + c["resolution_breached"])]
                for (p, m), c in sorted(counts.items())]
    if name == "backlog":
        ages: dict = defaultdict(Counter)
        for t in rows:
            if t.status in OPEN_STATUSES:
                ages[t.status][age_bucket(now - t.created_at)] += 1
        labels = [label for _, label in AGES]
        return [[s, *[ages[s][label] for label in labels], sum(ages[s].values())] for s in OPEN_STATUSES]
    raise KeyError(name)


def _random_tickets(seed: int) -> None:
    rng = random.Random(seed)
    anna = User.create(email="anna@firma.pl", role="engineer", is_active=True)
    made: list[Ticket] = []
    for i in range(160):
        if i < len(EDGES) * 3:  # each edge, a microsecond before and after
            created = EDGES[i // 3] + dt.timedelta(microseconds=(i % 3) - 1)
        else:
            created = dt.datetime(2026, 9, 20) + dt.timedelta(seconds=rng.randrange(60 * 86400),
                                                              microseconds=rng.choice([0, rng.randrange(10 ** 6)]))
        answered = created + dt.timedelta(seconds=rng.randrange(1, 5 * 86400)) if rng.random() < 0.8 else None
        closed = created + dt.timedelta(seconds=rng.randrange(1, 20 * 86400),
                                        microseconds=rng.randrange(10 ** 6)) if rng.random() < 0.6 else None
        if closed and closed > NOW:
            closed = None
        if rng.random() < 0.2:  # closed right on a local midnight
            closed = rng.choice(EDGES)
            created = min(created, closed - dt.timedelta(hours=1))
        policy = rng.choice([None, "Gold", "Silver", "gold"])
        fr_due = created + dt.timedelta(hours=rng.choice([1, 4, 8])) if policy else None
        res_due = created + dt.timedelta(days=rng.choice([1, 3])) if policy and rng.random() < 0.9 else None
        if policy and answered and rng.random() < 0.1:
            answered = fr_due  # on the deadline: met
        status = Status.CLOSED.value if closed else rng.choice(OPEN_STATUSES)
        paused = (created + dt.timedelta(hours=rng.randrange(1, 48))) if policy and rng.random() < 0.3 else None
        made.append(Ticket.create(
            subject=f"T{i}", created_at=created, updated_at=created, closed_at=closed, status=status,
            first_response_at=answered, sla_policy=policy, first_response_due=fr_due, resolution_due=res_due,
            sla_paused_at=paused, assignee=anna if rng.random() < 0.5 else None))
    for t in rng.sample(made, 15):  # merged: counted in the one they went into
        Ticket.update(merged_into=made[0].id).where(Ticket.id == t.id, Ticket.id != made[0].id).execute()
    rollups.rebuild(ZONE)  # rows written past the domain (as bench/web.py's): the per-day sums built once


@pytest.mark.parametrize("seed, kept", [(1, True), (2, True), (1, False)])
def test_the_reports_in_sql_equal_the_rows_counted_one_by_one(db, seed, kept, monkeypatch):
    _random_tickets(seed)
    if not kept:  # counted in SQL, not read from the per-day sums
        monkeypatch.setattr(rollups, "kept_for", lambda zone: False)
    for start, end in (PERIOD, (dt.date(2026, 10, 25), dt.date(2026, 10, 25)), (dt.date(2026, 10, 26), None)):
        period = Period.of(start, end or dt.date(2026, 11, 16), ZONE, now=NOW)
        for name in ("opened_closed", "response_times", "sla_compliance", "backlog"):
            assert statistics.report(name, period, now=NOW).rows == _reference(name, period, NOW), (name, start)


def test_response_times_to_the_microsecond(db, monkeypatch):
    """The durations the database subtracts (whole microseconds) are the seconds Python's
    timedelta gave, to the last bit: compared unrounded, with times of no fraction, of a
    microsecond and answered the instant they were opened."""
    _random_tickets(4)
    for i, fraction in enumerate((0, 1, 999_999, 500_000)):
        created = dt.datetime(2026, 10, 10, 8, 0, 0, fraction)
        Ticket.create(subject=f"U{i}", created_at=created, updated_at=created, status=Status.CLOSED.value,
                      first_response_at=created if i % 2 else created + dt.timedelta(microseconds=i + 1),
                      closed_at=created + dt.timedelta(days=i, microseconds=(fraction * 7) % 10 ** 6))
    monkeypatch.setattr(statistics, "hours", lambda value: value)  # both sides, unrounded
    monkeypatch.setitem(globals(), "hours", lambda value: value)
    for start, end in (PERIOD, (dt.date(2026, 10, 10), dt.date(2026, 10, 10))):
        period = Period.of(start, end, ZONE, now=NOW)
        got = statistics.report("response_times", period, now=NOW).rows
        assert got == _reference("response_times", period, NOW)
        assert all(isinstance(v, float) for row in got for v in row[2:] if v is not None)


def test_the_reports_in_another_zone(db):
    _random_tickets(3)
    period = Period.of(*PERIOD, "America/New_York", now=NOW)
    for name in ("opened_closed", "response_times", "sla_compliance", "backlog"):
        assert statistics.report(name, period, now=NOW).rows == _reference(name, period, NOW), name


# --- each ticket's durations, kept by the database (migration 032) ----------------------------------


def _seconds(end: dt.datetime | None, start: dt.datetime) -> float | None:
    return None if end is None else (end - start).total_seconds()


def _assert_durations_follow_the_times() -> int:
    """Every ticket's stored durations are its times' differences, to the last bit; returns how many."""
    rows = list(Ticket.select(Ticket.created_at, Ticket.first_response_at, Ticket.closed_at, Ticket.first_response_s,
                              Ticket.resolution_s).tuples())
    for created, answered, closed, first_s, whole_s in rows:
        assert (first_s, whole_s) == (_seconds(answered, created), _seconds(closed, created)), (created, answered)
    return len(rows)


def test_the_durations_follow_the_times_whoever_writes_them(db):
    from helpdesk.domain import tickets
    from helpdesk.domain.inserts import insert_row, insert_rows

    opened = dt.datetime(2026, 10, 10, 8, 0, 0, 999_999)
    ticket = tickets.open_ticket(subject="Drukarka", requester_email="jan@example.com", now=opened)
    assert Ticket.get_by_id(ticket.id).first_response_s is None  # nothing yet
    Ticket.update(first_response_at=opened + dt.timedelta(minutes=90, microseconds=2)).where(
        Ticket.id == ticket.id).execute()
    assert Ticket.get_by_id(ticket.id).first_response_s == 5400.000002
    tickets.set_status(ticket, Status.CLOSED, now=opened + dt.timedelta(days=2))
    assert Ticket.get_by_id(ticket.id).resolution_s == 2 * 86400
    tickets.set_status(ticket, Status.OPEN, now=opened + dt.timedelta(days=3))  # reopened: not resolved
    assert Ticket.get_by_id(ticket.id).resolution_s is None
    Ticket.update(created_at=opened - dt.timedelta(hours=1)).where(Ticket.id == ticket.id).execute()
    assert Ticket.get_by_id(ticket.id).first_response_s == 9000.000002
    # A write of the numbers themselves (a stale row saved, a hand's UPDATE) does not stick.
    Ticket.update(first_response_s=1.0, resolution_s=2.0).where(Ticket.id == ticket.id).execute()
    assert Ticket.get_by_id(ticket.id).resolution_s is None
    # Rows inserted with their times, one by one and many at once, through the domain's fast inserts.
    times = dict(created_at=opened, updated_at=opened, status=Status.CLOSED.value,
                 first_response_at=opened + dt.timedelta(seconds=1), closed_at=opened + dt.timedelta(hours=5))
    insert_row(Ticket, subject="A", requester_email="a@example.com", **times)
    insert_rows(Ticket, [dict(subject=f"B{i}", requester_email="b@example.com", channel="mail", queue="default",
                              **times) for i in range(3)])
    Ticket.create(subject="C", requester_email="c@example.com", **times, first_response_s=7.0)
    assert _assert_durations_follow_the_times() == 6
    assert Ticket.select().where(Ticket.resolution_s == 5 * 3600).count() == 5


def test_the_durations_of_a_merge_and_the_tickets_already_there(db):
    """The migration gives the rows already there theirs; a merge closes the one merged."""
    from helpdesk import database
    from helpdesk.domain import merge
    from tests.harness import load_migration

    migration = load_migration("032_ticket_durations")
    sqlite = database.is_sqlite(db)
    for statement in migration.dropped(sqlite):  # as before the migration: times, no durations
        db.execute_sql(statement)
    _random_tickets(5)
    assert Ticket.select().where(Ticket.closed_at.is_null(False)).count() > 10
    assert Ticket.select().where(Ticket.resolution_s.is_null(False)).count() == 0
    for statement in (migration.fill(sqlite), *migration.triggers(sqlite)):
        db.execute_sql(statement)
    assert _assert_durations_follow_the_times() == 160
    source, target = (Ticket.select().where(Ticket.closed_at.is_null(), Ticket.merged_into.is_null())
                      .order_by(Ticket.id).limit(2))
    merge.merge(source.id, target.id, None, confirmed=True)
    assert Ticket.get_by_id(source.id).resolution_s is not None
    _assert_durations_follow_the_times()
