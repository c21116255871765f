"""The reports' per-day sums (domain/rollups.py) equal the messages counted one by one, right
after each kind of change that writes or moves messages: a message from the domain, an
engineer's answer in the portal and by mail (`#time`), a merge, a split, a message moved,
a ticket put under another contract, a contract deleted (and its id used again on SQLite),
an engineer's account removed, tickets opened, closed and reopened around midnight; and
rebuilt from scratch (the migration's backfill) they are the same rows. Local days of Warsaw
around midnight, in summer and winter time."""
from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from peewee import fn

from helpdesk.domain import (
    conversation,
    local_time,
    merge,
    rollups,
    service_levels,
    statistics,
    tickets,
    timespent,
    tokens,
)
from helpdesk.models import (
    AnswerDay,
    Company,
    Contract,
    ContractMinutesDay,
    ContractMinutesMonth,
    Message,
    MessageKind,
    MinutesDay,
    Role,
    Status,
    Ticket,
    TicketDay,
    User,
)
from tests.harness import load_migration
from tests.mailfactory import make_mail

ZONE = "Europe/Warsaw"
EDGES = [dt.datetime(2026, 10, 4, 22, 0), dt.datetime(2026, 10, 25, 23, 0), dt.datetime(2026, 10, 24, 22, 0),
         dt.datetime(2026, 11, 8, 23, 0)]  # local midnights, summer and winter time
PERIODS = [(dt.date(2026, 9, 28), dt.date(2026, 11, 15)), (dt.date(2026, 10, 5), dt.date(2026, 10, 5)),
           (dt.date(2026, 10, 25), dt.date(2026, 10, 26)), (dt.date(2026, 11, 9), dt.date(2026, 11, 30)),
           (dt.date(2026, 10, 1), dt.date(2026, 11, 30)), (dt.date(2026, 9, 1), dt.date(2026, 12, 31))]  # whole months


def raw_answers(period: statistics.Period) -> dict[int, int]:
    return {author: n for author, n in Message.select(Message.author, fn.COUNT(Message.id)).where(
        Message.kind == MessageKind.STAFF.value, Message.created_at >= period.since, Message.created_at < period.until,
        Message.author.is_null(False)).group_by(Message.author).tuples()}


def raw_ticket_days(period: statistics.Period) -> dict:
    opened, closed = Counter(), Counter()  # type: ignore[var-annotated]
    for t in Ticket.select().where(Ticket.merged_into.is_null()):
        if period.since <= t.created_at < period.until:
            opened[period.local_day(t.created_at)] += 1
        if t.closed_at and period.since <= t.closed_at < period.until:
            closed[period.local_day(t.closed_at)] += 1
    return {day: (opened[day], closed[day]) for day in opened.keys() | closed}


def month_sums() -> dict:
    """(month, contract_id) -> [messages, minutes] of the per-day sums, summed here."""
    sums: dict = {}
    for r in ContractMinutesDay.select():
        day = dt.date.fromisoformat(str(r.day))
        row = sums.setdefault((day.replace(day=1), r.contract_id), [0, 0])
        row[0] += r.messages
        row[1] += r.minutes
    return {key: row for key, row in sums.items() if row != [0, 0]}


def assert_same(zone: str = ZONE, periods=tuple(PERIODS)) -> None:
    """Every period's sums from the rollups are the messages' and tickets' own, and the month
    sums (migration 036's triggers) the day sums'."""
    assert rollups.kept_for(zone)
    assert {(dt.date.fromisoformat(str(r.month)), r.contract_id): [r.messages, r.minutes]
            for r in ContractMinutesMonth.select()} == month_sums()
    for start, end in periods:
        period = statistics.Period.of(start, end, zone)
        assert {day: n for day, n in rollups.opened_closed(period.start, period.end).items()
                if n != (0, 0)} == raw_ticket_days(period), (start, end)
        assert rollups.answers(period.start, period.end) == raw_answers(period), (start, end)
        assert rollups.minutes_per_engineer(period.start, period.end) == timespent.per_engineer(
            period.since, period.until), (start, end)
        every = rollups.minutes_per_contract(period.start, period.end)
        assert every == timespent.per_contract(period.since, period.until), (start, end)
        for limit in (1, 2, 50):  # a page's first rows, without every contract's
            assert rollups.first_minutes_per_contract(period.start, period.end, limit) == (every[:limit], len(every))


def kept_rows() -> tuple:
    return (sorted((str(r.day), r.opened, r.closed) for r in TicketDay.select() if r.opened or r.closed),
            sorted((str(r.day), r.author_id, r.answers) for r in AnswerDay.select() if r.answers),
            sorted((str(r.day), r.author_email, r.messages, r.minutes) for r in MinutesDay.select() if r.messages),
            sorted((str(r.day), r.contract_id, r.messages, r.minutes) for r in ContractMinutesDay.select()
                   if r.messages))


def sums_of(contract_id: int) -> dict:
    """Day -> (messages, minutes) of the contract's per-day sums (0: no contract)."""
    return {dt.date.fromisoformat(str(r.day)): (r.messages, r.minutes)
            for r in ContractMinutesDay.select().where(ContractMinutesDay.contract_id == contract_id)}


def added(sums: dict, more: dict) -> dict:
    """Two `sums_of` added day by day."""
    return {day: tuple(a + b for a, b in zip(sums.get(day, (0, 0)), more.get(day, (0, 0)))) for day in sums | more}


@pytest.fixture
def world(db):
    company = Company.create(nip="5260250274", name="Klient")
    a, b = (Contract.create(number=n, company=company, customer_name=f"Klient {n}", starts_on=dt.date(2026, 1, 1),
                            ends_on=dt.date(2030, 1, 1)) for n in ("A000001", "B000002"))
    anna = User.create(email="anna@firma.pl", role=Role.ENGINEER.value, is_active=True)
    ewa = User.create(email="ewa@firma.pl", role=Role.ENGINEER.value, is_active=True)
    on_a = tickets.open_ticket(subject="A", requester_email="jan@example.com", now=EDGES[0] - dt.timedelta(days=1),
                               contract=a)
    on_b = tickets.open_ticket(subject="B", requester_email="jan@example.com", now=EDGES[0] - dt.timedelta(days=1),
                               contract=b)
    bare = tickets.open_ticket(subject="none", requester_email="jan@example.com", now=EDGES[0] - dt.timedelta(days=1))
    for i, edge in enumerate(EDGES):
        for j, when in enumerate((edge - dt.timedelta(microseconds=1), edge, edge + dt.timedelta(hours=3))):
            ticket = (on_a, on_b, bare)[(i + j) % 3]
            author = (anna, ewa)[j % 2]
            tickets.add_message(ticket, kind=MessageKind.STAFF, author_email=author.email, author=author,
                                body_text="ok", now=when, minutes=5 * (i + j + 1))
            tickets.add_message(ticket, kind=MessageKind.NOTE, author_email=author.email, author=author,
                                body_text="note", now=when, minutes=7)
            tickets.add_message(ticket, kind=MessageKind.CUSTOMER, author_email="jan@example.com", body_text="hi",
                                now=when)
            tickets.add_message(ticket, kind=MessageKind.STAFF, author_email="old@firma.pl", author=None,
                                body_text="no account", now=when, minutes=3)  # by address only
    return {"a": a, "b": b, "anna": anna, "ewa": ewa, "on_a": on_a, "on_b": on_b, "bare": bare}


def test_the_whole_months_of_a_period():
    d = dt.date
    assert rollups.whole_months(d(2026, 9, 12), d(2026, 12, 4)) == (d(2026, 10, 1), d(2026, 12, 1))
    assert rollups.whole_months(d(2026, 10, 1), d(2026, 10, 31)) == (d(2026, 10, 1), d(2026, 11, 1))
    assert rollups.whole_months(d(2026, 10, 1), d(2026, 10, 30)) == (d(2026, 10, 1), d(2026, 10, 1))
    assert rollups.whole_months(d(2026, 10, 2), d(2026, 11, 29)) == (d(2026, 10, 2), d(2026, 10, 2))
    assert rollups.whole_months(d(2026, 12, 2), d(2027, 1, 31)) == (d(2027, 1, 1), d(2027, 2, 1))
    assert rollups.whole_months(d(2028, 2, 1), d(2028, 2, 29)) == (d(2028, 2, 1), d(2028, 3, 1))


def test_messages_written_are_summed_per_local_day(world):
    assert rollups.zone().key == ZONE
    assert_same()
    before = kept_rows()
    assert sum(r[2] for r in before[1]) == 12 and before[3] and before[0]  # answers by an account; minutes; tickets
    rollups.rebuild(ZONE)
    assert kept_rows() == before


def test_tickets_closed_and_reopened_around_midnight(world, config):
    for edge, ticket in zip(EDGES, (world["on_a"], world["on_b"], world["bare"], world["on_a"])):
        tickets.set_status(ticket, Status.CLOSED, now=edge - dt.timedelta(microseconds=1))
        assert_same()
        tickets.set_status(ticket, Status.OPEN, now=edge)  # reopened: no longer closed that day
        assert_same()
        tickets.set_status(ticket, Status.CLOSED, now=edge)
        assert_same()
    stale = Ticket.get_by_id(world["on_b"].id)
    stale.status = Status.OPEN.value  # an object older than the row: the row's closed_at is what counts
    tickets.set_status(stale, Status.WAITING_US, now=EDGES[-1])
    assert_same()
    conversation.reply(config, world["on_b"].id, world["anna"], "Done.", close=True)
    today = local_time.today(ZONE)  # the reports' day, not the machine's
    assert_same(periods=[*PERIODS, (today, today)])


def test_merges_splits_moves_and_contract_changes_move_the_minutes(world, settings):
    tickets.set_status(world["on_a"], Status.CLOSED, now=EDGES[1])
    merge.merge(world["on_a"].id, world["on_b"].id, world["anna"], confirmed=True, now=EDGES[-1])
    assert_same()
    moved = Message.select().where(Message.ticket == world["on_b"].id, Message.minutes.is_null(False)).order_by(
        Message.created_at.desc()).first()
    merge.split(moved.id, world["anna"], now=EDGES[-1])
    assert_same()
    other = Message.select().where(Message.ticket == world["bare"].id, Message.minutes.is_null(False)).first()
    conversation.move_message(other.id, world["on_b"].id, world["anna"], now=EDGES[-1])
    assert_same()
    service_levels.set_contract(settings, world["bare"].id, world["a"])
    assert_same()
    service_levels.set_contract(settings, world["on_b"].id, None)
    assert_same()
    after = kept_rows()
    rollups.rebuild(ZONE)
    assert kept_rows() == after


def test_the_first_rows_keep_ties_in_order_and_a_contract_gone_counts_with_none(world):
    """The page's first rows of time spent are ranked by minutes, so contracts tied on the last
    row shown are all read for their order by number; the minutes of a contract deleted and of
    no contract are one row without a number, as in every row's report."""
    company = Company.get()
    more = [Contract.create(number=f"C{i:06d}", company=company, customer_name=f"Klient C{i}",
                            starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2030, 1, 1)) for i in (3, 1, 2)]
    for contract in more:  # the same minutes each: tied
        ticket = tickets.open_ticket(subject="C", requester_email="jan@example.com", now=EDGES[1], contract=contract)
        tickets.add_message(ticket, kind=MessageKind.NOTE, author_email="anna@firma.pl", author=world["anna"],
                            body_text="tie", now=EDGES[1], minutes=40)
    assert_same()
    period = statistics.Period.of(*PERIODS[0], ZONE)
    every = rollups.minutes_per_contract(period.start, period.end)
    assert [number for number, _, minutes in every if minutes == 40] == ["C000001", "C000002", "C000003"]
    none = sums_of(0)
    gone = sums_of(world["b"].id)
    Contract.delete().where(Contract.id == world["b"].id).execute()  # its tickets: no contract (SET NULL)
    assert sums_of(world["b"].id) == {}  # moved to no contract in the same statement (migration 030)
    assert sums_of(0) == added(none, gone)
    assert_same()
    after = kept_rows()
    rollups.rebuild(ZONE)  # from the messages: the tickets' contract is NULL now, 0 as well
    assert kept_rows() == after
    every = rollups.minutes_per_contract(period.start, period.end)
    assert every[0][0] == "" and "B000002" not in str(every)
    assert rollups.first_minutes_per_contract(period.start, period.end, 2) == (every[:2], len(every))


def test_a_contract_deleted_leaves_no_minutes_to_one_made_after_it(world):
    """SQLite gives the next contract the id of the newest one deleted: the old one's minutes
    are no longer under that id to be counted for the new one."""
    newest = Contract.select().order_by(Contract.id.desc()).first()
    assert newest.id == world["b"].id and sums_of(newest.id)
    Contract.delete().where(Contract.id == newest.id).execute()
    again = Contract.create(number="D000004", company=Company.get(), customer_name="Klient D",
                            starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2030, 1, 1))
    assert sums_of(again.id) == {}  # the same id on SQLite, a new one on PostgreSQL
    assert_same()
    period = statistics.Period.of(*PERIODS[0], ZONE)
    assert "D000004" not in str(rollups.minutes_per_contract(period.start, period.end))


def test_the_migration_moves_the_minutes_of_contracts_already_gone_to_none(world, db):
    """Rows of a contract deleted before migration 030 (its trigger) are folded into 0's once."""
    none = sums_of(0)
    day, lone = min(none), dt.date(2026, 1, 5)  # a day with a 0 row, and one without
    for contract_id in (990, 991):  # no such contracts
        ContractMinutesDay.create(day=day, contract_id=contract_id, messages=2, minutes=30)
    ContractMinutesDay.create(day=lone, contract_id=990, messages=1, minutes=4)
    migration = load_migration("030_contract_minutes_fold")
    for sql in (migration.EVERY, migration.EVERY_DELETED):
        db.execute_sql(sql)
    assert sums_of(990) == sums_of(991) == {}
    assert sums_of(0) == added(none, {day: (4, 60), lone: (1, 4)})
    assert sums_of(world["a"].id) and sums_of(world["b"].id)  # contracts still there: theirs
    period = statistics.Period.of(*PERIODS[0], ZONE)
    every = rollups.minutes_per_contract(period.start, period.end)
    assert rollups.first_minutes_per_contract(period.start, period.end, 2) == (every[:2], len(every))


def test_an_engineer_removed_takes_their_answers_along(world):
    User.delete().where(User.id == world["ewa"].id).execute()  # messages keep the address, lose the author
    assert_same()


def test_answers_in_the_portal_and_by_mail(world, config, desk):
    conversation.reply(config, world["on_a"].id, world["anna"], "Done.", minutes=30)
    conversation.reply(config, world["bare"].id, world["ewa"], "Internal.", internal=True, minutes=12)
    address = tokens.reply_address(config.support_address, config.secret_key, world["on_b"].id,
                                   f"u{world['ewa'].id}")
    desk.receive(make_mail(From="ewa@firma.pl", To=address, body="#time 1h30m\nRestarted it.\n"))
    assert Message.select().where(Message.minutes == 90).count() == 1
    today = local_time.today(ZONE)
    assert_same(periods=[*PERIODS, (today - dt.timedelta(days=1), today + dt.timedelta(days=1))])


def test_the_reports_read_the_sums_only_in_their_zone(world, monkeypatch):
    period = statistics.Period.of(*PERIODS[0], ZONE)
    kept = [statistics.report(name, period).rows for name in ("engineers", "time_spent")]
    monkeypatch.setattr(rollups, "kept_for", lambda zone: False)
    assert [statistics.report(name, period).rows for name in ("engineers", "time_spent")] == kept
    monkeypatch.undo()
    rollups.rebuild("America/New_York")
    assert not rollups.kept_for(ZONE)
    assert [statistics.report(name, period).rows for name in ("engineers", "time_spent")] == kept  # from messages
    assert_same("America/New_York")


def test_the_migration_builds_them_from_the_messages_already_there(world, db):
    before = kept_rows()
    for model in rollups.TABLES:
        model.delete().execute()
    for name in ("024_report_rollups", "025_report_ticket_days"):
        load_migration(name)._backfill(db)
    assert kept_rows() == before
    assert_same()


def test_the_month_sums_migration_sums_the_days_already_there(world, db):
    from helpdesk import database

    sqlite = database.is_sqlite(db)
    migration = load_migration("036_contract_minutes_month")
    for statement in migration.dropped(sqlite):  # as before it: day sums only
        db.execute_sql(statement)
    ContractMinutesMonth.delete().execute()
    rollups.rebuild(ZONE)
    assert ContractMinutesMonth.select().count() == 0 and month_sums()
    for statement in (migration.fill(sqlite), *migration.triggers(sqlite)):
        db.execute_sql(statement)
    assert_same()


@pytest.fixture
def settings(config):
    return service_levels.settings_of(config)
