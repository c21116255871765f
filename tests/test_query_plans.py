"""SQLite's plans under an archive's statistics (issue 18): `ANALYZE` on a data set of 50,000
tickets (bench/web.py's, whose statistics are copied here) made SQLite read the "due soonest"
queue by the index on merged_into_id (every unmerged ticket, sorted: 12 ms) and the reports'
open tickets per engineer along the index on assignee_id (every assigned ticket: 49 ms). The
queries keep SQLite off those indexes (`database.unindexed`); these check the plans it makes
with the archive's statistics, on a small database of the same schema. And one of PostgreSQL's
on that data set, which the shape of an index decided."""
from __future__ import annotations

import datetime as dt

from helpdesk import database
from helpdesk.domain import access, statistics
from helpdesk.domain.queue_order import Part
from helpdesk.models import Status, Ticket
from helpdesk.web import staff
from tests.postgres import postgres_only, sqlite_only

# sqlite_stat1 of bench/web.py's full data set (100,000 contracts, 50,000 tickets), table ticket
ARCHIVE = {
    "ticket_open_contract": "2418 2 1 1 1 1", "ticket_open_assignee_updated": "2418 220 2 1",
    "ticket_status_created_at_assignee_id": "50000 10000 1 1", "ticket_opened_report": "50000 1 1 1 1 1 1 1 1",
    "ticket_closed_at_assignee_id_merged_into_id": "50000 1 1 1",
    "ticket_status_merged_into_id_queue_assignee_id": "50000 10000 10000 10000 1137",
    "ticket_merged_into_id": "50000 50000", "ticket_sla_next_due_id": "50000 36 1", "ticket_queue": "50000 50000",
    "ticket_updated_at_id": "50000 1 1", "ticket_assignee_id": "50000 4546",
    "ticket_device_line_id": "50000 2", "ticket_company_id": "50000 25", "ticket_status": "50000 10000",
    "ticket_requester_id_merged_into_id_updated_at_id_status": "50000 25000 25000 1 1 1",
    "ticket_requester_email_merged_into_id_updated_at_id_status": "50000 10 10 1 1 1",
    "ticket_contract_id_merged_into_id_updated_at_id_status": "50000 2 2 1 1 1",
}


def _with_archive_statistics(db) -> None:
    now = dt.datetime(2026, 12, 1, 12, 0)
    for i, status in enumerate([Status.OPEN, Status.CLOSED, Status.NEW, Status.WAITING_US]):
        Ticket.create(subject=f"t{i}", status=status.value, requester_email="c@example.com", created_at=now,
                      updated_at=now, sla_next_due=now + dt.timedelta(hours=i))
    db.execute_sql("ANALYZE")
    db.execute_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'ticket'")
    indexes = {row[0] for row in db.execute_sql("SELECT name FROM sqlite_master WHERE tbl_name = 'ticket' "
                                                 "AND type = 'index'")}
    assert set(ARCHIVE) <= indexes, set(ARCHIVE) - indexes  # an index renamed: copy the statistics again
    for index, stat in ARCHIVE.items():
        db.execute_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('ticket', ?, ?)", (index, stat))
    db.execute_sql("ANALYZE sqlite_schema")  # loads the statistics again


def _plan(db, sql: str, params) -> str:
    return " | ".join(row[3] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))


def _open_ones_with_deadlines(db) -> None:
    """bench/web.py's shape, analysed: one ticket in 20 open, most of those with a deadline."""
    now = dt.datetime(2026, 12, 1, 12, 0)
    rows = [{"subject": f"t{i}", "status": (Status.OPEN if i % 20 == 0 else Status.CLOSED).value,
             "requester_email": "c@example.com", "created_at": now, "updated_at": now,
             "sla_next_due": now + dt.timedelta(minutes=i) if i % 20 == 0 and i % 60 else None} for i in range(20000)]
    for start in range(0, len(rows), 1000):
        Ticket.insert_many(rows[start:start + 1000]).execute()
    db.execute_sql("ANALYZE ticket")


@sqlite_only
def test_due_soonest_reads_the_deadline_index_under_an_archives_statistics(db):
    _with_archive_statistics(db)
    for tab in (staff.QueueTab.due, staff.QueueTab.all):
        args = (tab, Part.BY_DUE, False, None, None, None, None, None, 51)
        statement = staff._plain_queue_rows.statement(args)
        plan = _plan(db, statement.sql, statement.params(args))
        assert "ticket_sla_next_due_id" in plan and "merged_into_id" not in plan, (tab, plan)
    assert [r["subject"] for r in staff._plain_queue_rows(staff.QueueTab.due, Part.BY_DUE, False, None, None, None,
                                                          None, None, 51)] == ["t0", "t2", "t3"]  # the next deadline first


@sqlite_only
def test_a_deep_page_of_a_queue_starts_at_its_cursor_in_the_index_under_an_archives_statistics(db):
    # Page 999 by offset read 50,000 index entries on bench/web.py's data set (130-240 ms).
    _with_archive_statistics(db)
    at = dt.datetime(2026, 12, 1, 12, 0)
    for part, due, backward, seek in ((Part.ALL, None, False, "updated_at<?)"), (Part.ALL, None, True, "updated_at>?)"),
                                      (Part.NO_DUE, None, False, "updated_at<?)"),
                                      (Part.DUE, at, False, "ticket_sla_next_due_id (sla_next_due>?)"),
                                      (Part.DUE, at, True, "ticket_sla_next_due_id (sla_next_due<?)")):
        for tab in (staff.QueueTab.all, staff.QueueTab.closed, staff.QueueTab.unassigned):
            args = (tab, part, backward, None, None, due, at, 7, 51)
            statement = staff._plain_queue_rows.statement(args)
            plan = _plan(db, statement.sql, statement.params(args))
            # from the cursor along an index in the page's order (unassigned: its partial index)
            assert plan.startswith("SEARCH t1 USING INDEX") and seek in plan.split(" | ")[0], (part, tab, plan)
            assert "TEMP B-TREE FOR ORDER BY" not in plan, (part, tab, plan)


@sqlite_only
def test_open_tickets_per_engineer_read_the_status_index_under_an_archives_statistics(db):
    _with_archive_statistics(db)
    statement = statistics._open_per_assignee.statement(())
    plan = _plan(db, statement.sql, statement.params(()))
    assert "ticket_status_created_at_assignee_id" in plan and "ticket_assignee_id" not in plan, plan


@sqlite_only
def test_a_customers_list_reads_index_entries_and_only_its_pages_tickets_under_an_archives_statistics(db):
    _with_archive_statistics(db)
    for active, status in ((False, None), (True, None), (False, "closed")):
        args = (1, "c@example.com", 7, 9, active, status, False, None, None, 51)
        statement = access._page.statement(args)
        plan = _plan(db, statement.sql, statement.params(args))
        for column in ("requester_id", "requester_email", "contract_id"):
            assert f"COVERING INDEX ticket_{column}_merged_into_id_updated_at_id_status" in plan, (column, plan)
        # a ticket's row: for the page's tickets (and those copied to the user), nowhere else
        assert plan.count("SEARCH t1 USING INTEGER PRIMARY KEY") == 2, plan
    assert [r["subject"] for r in access._page(1, "c@example.com", 7, 9, True, None, False, None, None, 51)] == [
        "t3", "t2", "t0"]


@sqlite_only
def test_the_staff_dashboards_active_tickets_walk_the_newest_first_under_an_archives_statistics(db):
    # Leaving merged tickets out had SQLite read every unmerged ticket by the index on
    # merged_into_id and sort them: 10 ms on bench/web.py's data set, against 0.1.
    _with_archive_statistics(db)
    statement = access._active_for_staff.statement((51,))
    plan = _plan(db, statement.sql, statement.params((51,)))
    assert "ticket_updated_at_id" in plan and "TEMP B-TREE" not in plan and "merged_into_id" not in plan, plan
    Ticket.create(subject="merged", status=Status.OPEN.value, requester_email="c@example.com",
                  merged_into=Ticket.get(Ticket.subject == "t0"))
    assert [t.subject for t in access._active_for_staff(51)] == ["t3", "t2", "t0"]


@postgres_only
def test_the_unassigned_queue_walks_its_index_in_page_order_on_postgresql(db):
    # An IS NULL is no equality to PostgreSQL: the index on (assignee_id, updated_at, id) gave it
    # every unassigned ticket to sort (945 on bench/web.py's data set); migration 031's does not.
    now = dt.datetime(2026, 12, 1, 12, 0)
    Ticket.insert_many([{"subject": f"t{i}", "status": (Status.CLOSED if i % 4 else Status.OPEN).value,
                         "requester_email": "c@example.com", "created_at": now,
                         "updated_at": now + dt.timedelta(minutes=i)} for i in range(4000)]).execute()
    db.execute_sql("ANALYZE ticket")  # a queue of a thousand: a page of it from an index, not a sort
    args = (staff.QueueTab.unassigned, Part.ALL, False, None, None, None, None, None, 51)
    statement = staff._plain_queue_rows.statement(args)
    plan = "\n".join(row[0] for row in db.execute_sql("EXPLAIN " + statement.sql, statement.params(args)))
    assert "Index Scan Backward using ticket_open_unassigned_updated" in plan and "Sort" not in plan, plan
    rows = staff._plain_queue_rows(*args)
    assert [r["subject"] for r in rows][:3] == ["t3996", "t3992", "t3988"]  # the open ones, the newest first


@postgres_only
def test_the_due_soonest_queue_walks_the_deadline_index_on_postgresql(db):
    # The open tickets are the ones with deadlines. A condition "deadline IS NOT NULL" had
    # PostgreSQL multiply the two guesses (84 rows of bench/web.py's 1,693), gather every open
    # ticket's row by bitmaps and sort them (8 ms); the first page has no such condition.
    _open_ones_with_deadlines(db)
    args = (staff.QueueTab.due, Part.BY_DUE, False, None, None, None, None, None, 51)
    statement = staff._plain_queue_rows.statement(args)
    plan = "\n".join(row[0] for row in db.execute_sql("EXPLAIN " + statement.sql, statement.params(args)))
    # along an index in the deadline's order (migration 034's of the open tickets, or the deadline's)
    assert ("using ticket_open_due" in plan or "using ticket_sla_next_due_id" in plan) and "Bitmap" not in plan, plan
    assert [r["subject"] for r in staff._plain_queue_rows(*args)][:3] == ["t20", "t40", "t80"]


@postgres_only
def test_the_due_soonest_queues_next_pages_read_the_open_tickets_index_on_postgresql(db):
    # Page 2 on: "open" and the deadline's range taken for independent had PostgreSQL expect a
    # few rows of those that match, gather them all by bitmaps and sort them (10 ms on
    # bench/web.py's data set); the page's ids come from migration 034's index alone.
    _open_ones_with_deadlines(db)
    first = staff._plain_queue_rows(staff.QueueTab.due, Part.BY_DUE, False, None, None, None, None, None, 51)
    last = first[49]
    for backward in (False, True):
        args = (staff.QueueTab.due, Part.DUE, backward, None, None, last["sla_next_due"], last["updated_at"], last["id"],
                51)
        statement = staff._plain_queue_rows.statement(args)
        plan = "\n".join(row[0] for row in db.execute_sql("EXPLAIN " + statement.sql, statement.params(args)))
        assert "using ticket_open_due" in plan and "Bitmap" not in plan, (backward, plan)
    after = staff._plain_queue_rows(staff.QueueTab.due, Part.DUE, False, None, None, last["sla_next_due"],
                                    last["updated_at"], last["id"], 51)
    assert [r["id"] for r in after][:5] == [r["id"] for r in first[50:]] + [r["id"] for r in after][1:5]
    before = staff._plain_queue_rows(staff.QueueTab.due, Part.DUE, True, None, None, last["sla_next_due"],
                                     last["updated_at"], last["id"], 51)
    assert [r["id"] for r in before] == [r["id"] for r in first[:49]][::-1]


def test_a_tickets_security_events_are_read_by_its_index_when_most_events_name_no_ticket(db):
    # 200,000 events with no ticket (bench/web.py's): ANALYZE counts the NULLs as one value, and
    # the index on ticket_id looked as if it matched every row; the staff ticket page scanned the
    # table for its events (11 ms). Migration 043's partial indexes hold only the linked rows.
    from helpdesk.domain import security_events
    from helpdesk.models import SecurityEvent

    now = dt.datetime(2026, 12, 1, 12, 0)
    ticket = Ticket.create(subject="t", requester_email="c@example.com", created_at=now, updated_at=now)
    SecurityEvent.insert_many([{"at": now, "kind": "login_throttled", "sender": f"x{i}@example.com"}
                               for i in range(3000)]).execute()
    db.execute_sql("ANALYZE")
    for function, args in ((staff._flags, (ticket.id, [1, 2, 3])), (security_events._of_ticket, (ticket.id, 50))):
        statement = function.statement(args)
        sql, params = statement.sql, statement.params(args)
        if database.is_sqlite(db):
            plan = _plan(db, sql, params)
            assert "USING INDEX security_event_ticket" in plan, plan
        else:
            plan = "\n".join(row[0] for row in db.execute_sql("EXPLAIN " + sql, params))
            assert "security_event_ticket" in plan, plan
