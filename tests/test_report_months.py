"""Each whole month's response times, deadlines and tickets closed per assignee, kept
(domain/report_months.py, migrations 035 and 037): the reports with kept months equal the rows
counted one by one (tests/test_report_queries's reference) whatever changes a ticket, in
whichever way, whenever the clock moves, in another zone, and while a writer and a reader of
the same month race."""
from __future__ import annotations

import datetime as dt
import threading

import pytest

from helpdesk.domain import merge, report_months, statistics, tickets
from helpdesk.domain.report_months import Segment, segments
from helpdesk.domain.statistics import Period
from helpdesk.models import ReportMonth, Status, Ticket, User, db
from tests.test_report_queries import ZONE, _random_tickets, _reference

TWO = (dt.date(2026, 9, 28), dt.date(2026, 11, 30))  # October and November whole, September's end
OCTOBER = dt.datetime(2026, 9, 30, 22, 0)  # its first instant in Warsaw (summer time), stored UTC
NOVEMBER = dt.datetime(2026, 10, 31, 23, 0)  # (winter time)
LATER = dt.datetime(2026, 12, 20, 12, 0)  # a clock after the period
NAMES = ("response_times", "sla_compliance")


def _period(start=TWO[0], end=TWO[1], zone=ZONE, now=LATER) -> Period:
    return Period.of(start, end, zone, now=now)


def _assert_as_counted(period: Period, now: dt.datetime = LATER) -> None:
    for name in NAMES:
        assert statistics.report(name, period, now=now).rows == _reference(name, period, now), name
    closed = {email: n for email, _, n, *_ in statistics.report("engineers", period, now=now).rows}
    assert closed == _closed_reference(period), "engineers"


def _closed_reference(period: Period) -> dict[str, int]:
    """Per engineer: the tickets closed in the period and assigned to them, counted one by one."""
    engineers = {u.id: u.email for u in User.select().where(User.role.in_(["engineer", "admin"]))}
    counted = dict.fromkeys(engineers.values(), 0)
    for t in Ticket.select():
        if t.merged_into_id is None and t.assignee_id in engineers and t.closed_at \
                and period.since <= t.closed_at < period.until:
            counted[engineers[t.assignee_id]] += 1
    return counted


def _kept() -> set[dt.datetime]:
    return {since for (since,) in ReportMonth.select(ReportMonth.since).tuples()}


def _in(month_start: dt.datetime, *conditions):
    """A ticket opened in that month (from its fifth day), not merged."""
    return (Ticket.select().where(Ticket.created_at >= month_start + dt.timedelta(days=4), Ticket.merged_into.is_null(),
                                  *conditions).order_by(Ticket.created_at).first())


# --- the period's months (pure) ------------------------------------------------------------------------


def test_a_period_cut_into_its_months():
    period = _period(dt.date(2026, 9, 12), dt.date(2026, 12, 4))
    assert segments(period) == [
        Segment("2026-09", dt.datetime(2026, 9, 11, 22, 0), OCTOBER, False),
        Segment("2026-10", OCTOBER, NOVEMBER, True),
        Segment("2026-11", NOVEMBER, dt.datetime(2026, 11, 30, 23, 0), True),
        Segment("2026-12", dt.datetime(2026, 11, 30, 23, 0), dt.datetime(2026, 12, 4, 23, 0), False)]
    assert segments(_period(dt.date(2026, 10, 1), dt.date(2026, 10, 31))) == [
        Segment("2026-10", OCTOBER, NOVEMBER, True)]
    assert segments(_period(dt.date(2026, 10, 2), dt.date(2026, 10, 30))) == [
        Segment("2026-10", dt.datetime(2026, 10, 1, 22, 0), dt.datetime(2026, 10, 30, 23, 0), False)]
    # a year's end, and February of a leap year
    assert [(s.label, s.whole) for s in segments(_period(dt.date(2027, 12, 1), dt.date(2028, 2, 29)))] == [
        ("2027-12", True), ("2028-01", True), ("2028-02", True)]


def test_when_a_kept_month_may_be_used():
    computed = dt.datetime(2026, 12, 1, 12, 0)
    assert report_months.usable(computed, None, computed)
    assert report_months.usable(computed, computed + dt.timedelta(hours=1), computed + dt.timedelta(minutes=59))
    assert not report_months.usable(computed, computed + dt.timedelta(hours=1), computed + dt.timedelta(hours=1))
    assert not report_months.usable(computed, None, computed - dt.timedelta(seconds=1))  # a clock before it


def test_the_figures_written_and_read_back():
    figures = report_months.Figures(report_months.Times(3, 0.1 + 0.2, 7200.000001, None, None),
                                    report_months.Deadlines((("Gold", 3, 1, 1, 0, 2), ("Silver", 1, 0, 0, 0, 0))),
                                    ((4, 2), (17, 1)))
    assert report_months.loads(report_months.dumps(figures)) == figures


# --- kept, and the same as counted ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_kept_months_give_what_the_tickets_give(db, seed):
    _random_tickets(seed)
    period = _period()
    _assert_as_counted(period)  # worked out
    assert _kept() == {OCTOBER, NOVEMBER}
    _assert_as_counted(period)  # read back
    for start, end in ((dt.date(2026, 10, 1), dt.date(2026, 10, 31)), (dt.date(2026, 10, 15), dt.date(2026, 11, 30)),
                       (dt.date(2026, 9, 1), dt.date(2026, 12, 20)), (dt.date(2026, 10, 25), dt.date(2026, 10, 25))):
        _assert_as_counted(_period(start, end))
    assert _kept() == {dt.datetime(2026, 8, 31, 22, 0), OCTOBER, NOVEMBER}


def test_a_kept_month_is_not_read_for_another_zone(db):
    _random_tickets(3)
    _assert_as_counted(_period())
    new_york = _period(zone="America/New_York")
    _assert_as_counted(new_york)
    assert ReportMonth.select().where(ReportMonth.zone == "America/New_York").count() == 2
    _assert_as_counted(new_york)


# --- forgotten by the write that changes a month --------------------------------------------------------


OPEN, CLOSED = Ticket.closed_at.is_null(), Ticket.closed_at < NOVEMBER  # closed in its month of opening


def _changes():
    """Writes that change what a kept month holds: name -> (the tickets it changes, the write)."""
    def status(t, new):
        tickets.set_status(Ticket.get_by_id(t.id), new, now=LATER)

    def by_hand(t):
        db.execute_sql("UPDATE ticket SET closed_at = NULL, status = 'open' WHERE id = " + str(int(t.id)))

    return {
        "closed": (OPEN, lambda t: status(t, Status.CLOSED)),
        "reopened": (CLOSED, lambda t: status(t, Status.OPEN)),
        "answered": (OPEN, lambda t: Ticket.update(first_response_at=t.created_at + dt.timedelta(seconds=7)).where(
            Ticket.id == t.id).execute()),
        "another level": (OPEN, lambda t: Ticket.update(sla_policy="Platinum").where(Ticket.id == t.id).execute()),
        "deadline moved": (OPEN, lambda t: Ticket.update(resolution_due=t.created_at + dt.timedelta(seconds=1))
                           .where(Ticket.id == t.id).execute()),
        "clock paused": (OPEN, lambda t: Ticket.update(sla_paused_at=t.created_at + dt.timedelta(seconds=2))
                         .where(Ticket.id == t.id).execute()),
        "by hand": (CLOSED, by_hand),
        "reassigned": (CLOSED, lambda t: Ticket.update(assignee=User.create(email="ewa@firma.pl", role="engineer"))
                       .where(Ticket.id == t.id).execute()),
        "deleted": (OPEN, lambda t: Ticket.delete().where(Ticket.id == t.id).execute()),
        "merged": (OPEN, lambda t: merge.merge(t.id, _in(NOVEMBER).id, None, confirmed=True)),
    }


@pytest.mark.parametrize("change", list(_changes()))
def test_a_change_to_a_ticket_forgets_its_month_in_its_own_transaction(db, change):
    _random_tickets(1)
    period = _period()
    _assert_as_counted(period)
    which, write = _changes()[change]
    ticket = _in(OCTOBER, which)
    with db.atomic() as transaction:
        write(ticket)
        assert OCTOBER not in _kept()  # before the commit: in the same transaction
        assert NOVEMBER in _kept() or change == "merged"  # another month's kept (a merge changes its target's)
        transaction.rollback()
    assert _kept() == {OCTOBER, NOVEMBER}  # taken back with it
    write(ticket)
    assert OCTOBER not in _kept()
    _assert_as_counted(period)


def test_a_ticket_opened_or_moved_to_another_month_forgets_both(db):
    _random_tickets(2)
    period = _period()
    _assert_as_counted(period)
    tickets.open_ticket(subject="Nowe", requester_email="jan@example.com", now=NOVEMBER + dt.timedelta(days=3))
    assert _kept() == {OCTOBER}
    _assert_as_counted(period)
    assert _kept() == {OCTOBER, NOVEMBER}
    moved = _in(OCTOBER)
    Ticket.update(created_at=NOVEMBER + dt.timedelta(days=1)).where(Ticket.id == moved.id).execute()
    assert _kept() == set()
    _assert_as_counted(period)


def test_a_ticket_closed_in_another_month_forgets_both(db):
    """A month holds the tickets closed in it too ("per engineer"): closing, reopening or
    reassigning a ticket forgets the month it was closed in as well as the one it was opened in."""
    _random_tickets(2)
    period = _period()
    _assert_as_counted(period)
    ticket = _in(OCTOBER, OPEN, Ticket.assignee.is_null(False))
    tickets.set_status(ticket, Status.CLOSED, now=NOVEMBER + dt.timedelta(days=2))
    assert _kept() == set()
    _assert_as_counted(period)
    Ticket.update(assignee=None).where(Ticket.id == ticket.id).execute()
    assert _kept() == set()
    _assert_as_counted(period)
    closed_in_november = _in(NOVEMBER, Ticket.closed_at >= NOVEMBER)
    tickets.set_status(Ticket.get_by_id(closed_in_november.id), Status.OPEN, now=LATER)
    assert _kept() == {OCTOBER}
    _assert_as_counted(period)


def test_a_write_that_changes_nothing_the_reports_read_keeps_the_month(db):
    _random_tickets(3)
    period = _period()
    _assert_as_counted(period)
    ticket = _in(OCTOBER)
    Ticket.update(updated_at=LATER, subject="Inny temat").where(Ticket.id == ticket.id).execute()
    Ticket.update(closed_at=ticket.closed_at).where(Ticket.id == ticket.id).execute()  # the same value
    ticket.save()  # every column written, none changed
    assert _kept() == {OCTOBER, NOVEMBER}


# --- the clock -------------------------------------------------------------------------------------


def test_a_deadline_still_running_holds_its_month_until_it_passes(db):
    period = _period(dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    opened = OCTOBER + dt.timedelta(days=30, hours=20)  # the last evening of October
    running = tickets.open_ticket(subject="Kamera", requester_email="jan@example.com", now=opened)
    due = opened + dt.timedelta(days=5)
    Ticket.update(sla_policy="Gold", first_response_due=opened + dt.timedelta(days=2), resolution_due=due).where(
        Ticket.id == running.id).execute()
    paused = tickets.open_ticket(subject="Alarm", requester_email="ewa@example.com", now=opened)
    Ticket.update(sla_policy="Gold", resolution_due=opened + dt.timedelta(days=1), sla_paused_at=opened).where(
        Ticket.id == paused.id).execute()  # a paused clock does not run out
    now = opened + dt.timedelta(days=1)
    _assert_as_counted(period, now)
    row = ReportMonth.get(ReportMonth.since == OCTOBER)
    assert row.valid_until == opened + dt.timedelta(days=2)  # the first response's, the first ahead
    for later in (opened + dt.timedelta(days=2), due - dt.timedelta(microseconds=1), due, due + dt.timedelta(days=1)):
        _assert_as_counted(period, later)
    assert ReportMonth.get(ReportMonth.since == OCTOBER).valid_until is None  # both passed: nothing ahead
    before = opened + dt.timedelta(hours=12)  # a clock before the one it was worked out at
    _assert_as_counted(period, before)


# --- a writer and a reader of the same month -----------------------------------------------------------


def test_a_writer_waits_while_a_month_is_worked_out_then_forgets_it(db, monkeypatch):
    _random_tickets(5)
    period = _period()
    ticket = _in(OCTOBER)
    reading, written = threading.Event(), threading.Event()
    figures = report_months._figures

    def slow(segment, now):
        out = figures(segment, now)  # the tickets read
        if segment.since == OCTOBER:
            reading.set()
            assert not written.wait(0.5)  # the writer cannot commit meanwhile
        return out

    def write():
        reading.wait(5)
        try:
            tickets.set_status(Ticket.get_by_id(ticket.id), Status.CLOSED, now=LATER)
            written.set()
        finally:
            db.close()

    monkeypatch.setattr(report_months, "_figures", slow)
    writer = threading.Thread(target=write)
    writer.start()
    statistics.report("response_times", period, now=LATER)
    writer.join(10)
    assert written.is_set()
    assert OCTOBER not in _kept()  # written before the change: forgotten by it
    monkeypatch.setattr(report_months, "_figures", figures)
    _assert_as_counted(period)


def test_a_month_is_not_kept_while_a_writer_holds_on(db, monkeypatch):
    _random_tickets(6)
    period = _period()
    expected = _reference("response_times", period, LATER)
    monkeypatch.setattr(report_months, "LOCK_WAIT_MS", 200)
    holding, done = threading.Event(), threading.Event()

    def write():
        try:
            with db.atomic() as transaction:
                Ticket.update(closed_at=None).where(Ticket.id == _in(NOVEMBER, Ticket.closed_at.is_null(False)).id).execute()
                holding.set()
                done.wait(10)
                transaction.rollback()
        finally:
            db.close()

    writer = threading.Thread(target=write)
    writer.start()
    assert holding.wait(5)
    try:
        rows = statistics.report("response_times", period, now=LATER).rows
    finally:
        done.set()
        writer.join(10)
    assert _kept() == set()  # nothing kept: the writer held on past the wait
    assert rows == expected  # read from the tickets instead


def test_migration_037_drops_the_rows_kept_before_and_rolls_back_to_035s_triggers(db):
    """Rows kept before 037 lack the closed counts: dropped both ways. Rolled back, a ticket's
    write forgets its month of opening only, as migration 035 did; migrated again, both."""
    from tests.harness import load_migration

    migration = load_migration("037_report_months_closed")

    class Direct:
        def sql(self, statement):
            db.execute_sql(statement)

    _random_tickets(2)
    period = _period()
    ticket = _in(OCTOBER, OPEN)
    for step, forgotten in ((migration.rollback, {OCTOBER}), (migration.migrate, {OCTOBER, NOVEMBER})):
        _assert_as_counted(period)
        step(Direct(), db)
        assert _kept() == set()
        _assert_as_counted(period)
        Ticket.update(closed_at=NOVEMBER + dt.timedelta(days=1)).where(Ticket.id == ticket.id).execute()
        assert _kept() == {OCTOBER, NOVEMBER} - forgotten
        Ticket.update(closed_at=None).where(Ticket.id == ticket.id).execute()


def test_every_report_of_the_page_reads_the_kept_months_once(db):
    """Response times, service levels and per engineer share one read of `report_month`
    (statistics.reports, as the page calls it); each report alone reads it itself."""
    from tests.portal import QueryCounter

    _random_tickets(3)
    period = _period()
    statistics.reports(period, now=LATER)  # worked out and kept

    def reads(counter) -> int:
        return sum(sql.startswith("('SELECT") and '"report_month"' in sql for sql in counter.statements)

    with QueryCounter() as counter:
        rows = [r.rows for r in statistics.reports(period, now=LATER)]
        assert reads(counter) == 1
        assert rows == [statistics.report(name, period, now=LATER).rows for name in statistics.REPORTS]
        assert reads(counter) == 1 + 3  # one each, outside the page
    _assert_as_counted(period)


def test_figures_kept_in_another_form_are_worked_out_again(db):
    """A row another version wrote (migration 035's two parts, or anything else) is not read
    but worked out again and overwritten."""
    _random_tickets(1)
    period = _period()
    _assert_as_counted(period)
    for figures in ('[[1, 2.0, 3.0, null, null], []]', "not JSON", "{}"):
        ReportMonth.update(figures=figures).where(ReportMonth.since == OCTOBER).execute()
        _assert_as_counted(period)
        assert report_months.loads(ReportMonth.get(ReportMonth.since == OCTOBER).figures).times.tickets > 0
