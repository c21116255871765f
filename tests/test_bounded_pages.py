"""Pages that stay bounded at an archive's size (issue 18): the staff queue's tab counts (open queues
exact, closed and all counted no further than a cap, "1000+", merged tickets nowhere, the same
statements whatever the number of tickets) and the reports' tables (the first rows; the CSV has all)."""
from __future__ import annotations

import datetime as dt
import re

from helpdesk.models import Role, Status, Ticket
from helpdesk.web import staff
from tests.portal import QueryCounter
from tests.test_portal_tickets import _user, signed_in

NOW = dt.datetime(2026, 3, 1, 8, 0)


def tickets(status: str, count: int, **extra) -> None:
    Ticket.insert_many([{"subject": "x", "status": status, "requester_email": "c@example.com", "created_at": NOW,
                         "updated_at": NOW, **extra} for _ in range(count)]).execute()


def tab_counts(html: str) -> dict[str, str]:
    return dict(re.findall(r'queue=(\w+)[^"]*"[^>]*>[^<]*<span class="count">([^<]+)</span>', html))


def test_open_queues_are_exact_and_closed_ones_capped(app, db, monkeypatch):
    monkeypatch.setattr(staff, "COUNT_CAP", 5)
    engineer = _user("eng@helpdesk.example", role=Role.ENGINEER)
    other = _user("other@helpdesk.example", role=Role.ENGINEER)
    tickets(Status.NEW.value, 3)
    tickets(Status.OPEN.value, 2, assignee=engineer.id)
    tickets(Status.WAITING_US.value, 1, assignee=other.id)
    tickets(Status.CLOSED.value, 4)
    target = Ticket.get(Ticket.status == Status.NEW.value)
    tickets(Status.OPEN.value, 1, merged_into=target.id)  # merged: in no queue
    portal = signed_in(app, engineer, ip="192.0.2.60")
    counts = tab_counts(portal.text("/staff?queue=all"))
    assert counts == {"due": "6", "new": "3", "unassigned": "3", "open": "2", "waiting_customer": "0",
                      "waiting_us": "1", "closed": "4", "mine": "2", "all": "5+"}
    tickets(Status.CLOSED.value, 2)
    with QueryCounter() as before:
        portal.get("/staff?queue=all")
    counts = tab_counts(portal.text("/staff?queue=all"))
    assert counts["closed"] == "5+" and counts["all"] == "5+" and counts["due"] == "6"
    tickets(Status.CLOSED.value, 50)
    tickets(Status.NEW.value, 50)
    with QueryCounter() as after:
        portal.get("/staff?queue=all")
    assert after.count == before.count
    assert tab_counts(portal.text("/staff?queue=all"))["new"] == "53"


def test_a_report_table_shows_its_first_rows_and_the_csv_has_all(app, db, monkeypatch):
    from helpdesk.domain import tickets as ticket_ops
    from helpdesk.models import Company, Contract, MessageKind
    from helpdesk.web import reports

    monkeypatch.setattr(reports, "TABLE_ROWS", 2)
    engineer = _user("eng@helpdesk.example", role=Role.ENGINEER)
    company = Company.create(nip="5260001246", name="Firma A")
    now = dt.datetime.utcnow()
    for i in range(3):
        contract = Contract.create(number=f"K00000{i}", company=company, customer_name="Firma A",
                                   starts_on=now.date(), ends_on=now.date())
        ticket = Ticket.create(subject="x", status=Status.OPEN.value, requester_email="c@example.com",
                               contract=contract, created_at=now, updated_at=now)
        ticket_ops.add_message(ticket, kind=MessageKind.STAFF, author=engineer, author_email=engineer.email,
                               body_text="ok", minutes=10 + i, now=now)  # (with the reports' sums)
    portal = signed_in(app, engineer, ip="192.0.2.61")
    with QueryCounter() as counter:
        page = portal.text("/staff/reports")
    assert sum('"rollup_zone"' in sql for sql in counter.statements) == 1  # the sums' zone read once a page
    table = page[page.index('data-report="time_spent"'):page.index('id="time_spent-more"')]
    assert table.count("<tr>") == 1 + 2 and "K000002" in table and "K000000" not in table  # most first
    assert "Pierwsze 2 z 3 wierszy" in page  # counted without reading every contract's row
    assert portal.text("/staff/reports/time_spent.csv").count("K00000") == 3


def test_my_queue_lists_my_open_tickets_from_its_index(app, db):
    """"mine": the engineer's open, unmerged tickets, most recently changed first, read from the
    partial index of migration 027 (a seek on the assignee, not every ticket they ever had)."""
    from helpdesk import database
    from helpdesk.domain.queue_order import Part

    engineer = _user("mine@helpdesk.example", role=Role.ENGINEER)
    other = _user("theirs@helpdesk.example", role=Role.ENGINEER)
    for i, status in enumerate([Status.OPEN, Status.CLOSED, Status.WAITING_US, Status.NEW, Status.CLOSED]):
        Ticket.create(subject=f"mine {i}", status=status.value, requester_email="c@example.com", assignee=engineer.id,
                      created_at=NOW, updated_at=NOW + dt.timedelta(minutes=i))
    Ticket.create(subject="theirs", status=Status.OPEN.value, requester_email="c@example.com", assignee=other.id)
    target = Ticket.get(Ticket.subject == "mine 0")
    Ticket.create(subject="mine merged", status=Status.OPEN.value, requester_email="c@example.com",
                  assignee=engineer.id, merged_into=target.id)
    html = signed_in(app, engineer, ip="192.0.2.61").text("/staff?queue=mine")
    assert re.findall(r">(mine \d|theirs|mine merged)<", html) == ["mine 3", "mine 2", "mine 0"]
    if database.is_sqlite(db):
        args = (staff.QueueTab.mine, Part.ALL, False, None, engineer.id, None, None, None, 51)
        statement = staff._plain_queue_rows.statement(args)
        plan = " ".join(row[3] for row in db.execute_sql("EXPLAIN QUERY PLAN " + statement.sql,
                                                          statement.params(args)))
        assert "ticket_open_assignee_updated" in plan, plan
