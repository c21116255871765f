"""The staff queue's tab counts (issue 18): the open queues exact, closed and all counted
no further than a cap ("1000+"), merged tickets nowhere, in the same two statements
whatever the number of tickets."""
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
