"""The staff ticket page lists the newest status changes (web.staff.HISTORY_SHOWN) and links
to a page with all of them (issue 18: a long ticket's history grew with it, 88 changes on the
bench's ticket): the page's statements stay the same however long the history is."""
from __future__ import annotations

import datetime as dt
import re

from helpdesk.models import Role, Status, StatusChange, Ticket
from helpdesk.web.staff import HISTORY_SHOWN
from tests.portal import QueryCounter
from tests.test_portal_tickets import _user, signed_in

BASE = dt.datetime(2026, 3, 1, 8, 0)
CYCLE = [Status.OPEN.value, Status.WAITING_CUSTOMER.value, Status.WAITING_US.value]


def ticket_with_changes(count: int) -> Ticket:
    ticket = Ticket.create(subject="Zmiany", status=Status.OPEN.value, requester_email="jan@example.com",
                           created_at=BASE, updated_at=BASE)
    for i in range(count):
        StatusChange.create(ticket=ticket, old_status=CYCLE[i % 3] if i else None, new_status=CYCLE[(i + 1) % 3],
                            reason=f"powód {i}", changed_at=BASE + dt.timedelta(minutes=i))
    return ticket


def listed(html: str) -> list[str]:
    """The reasons of the listed changes, in the page's order."""
    section = html.split('id="history"', 1)[1].split("</section>", 1)[0]
    return re.findall(r"powód \d+", section)


def test_the_page_lists_the_newest_changes_and_links_to_all_of_them(app, db):
    engineer = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER))
    long_ = ticket_with_changes(HISTORY_SHOWN + 5)
    html = engineer.text(f"/staff/tickets/{long_.id}")
    assert listed(html) == [f"powód {i}" for i in range(HISTORY_SHOWN + 4, 4, -1)]
    assert f'href="/staff/tickets/{long_.id}/history" id="whole-history"' in html
    whole = engineer.text(f"/staff/tickets/{long_.id}/history")
    assert listed(whole) == [f"powód {i}" for i in range(HISTORY_SHOWN + 4, -1, -1)]
    assert "— → " in whole  # the first change, from no status

    short = ticket_with_changes(HISTORY_SHOWN)
    html = engineer.text(f"/staff/tickets/{short.id}")
    assert listed(html) == [f"powód {i}" for i in range(HISTORY_SHOWN - 1, -1, -1)]
    assert 'id="whole-history"' not in html


def test_the_history_page_is_for_staff_only(app, db):
    ticket = ticket_with_changes(3)
    customer = signed_in(app, _user("jan@example.com"), ip="192.0.2.60")
    assert customer.get(f"/staff/tickets/{ticket.id}/history").status_code in (302, 403, 404)
    engineer = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.61")
    assert engineer.get(f"/staff/tickets/{ticket.id + 1000}/history").status_code == 404


def test_the_page_costs_the_same_statements_whatever_the_length_of_the_history(app, db):
    engineer = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER))
    counts, rows = [], []
    for ticket in (ticket_with_changes(HISTORY_SHOWN + 1), ticket_with_changes(4 * HISTORY_SHOWN)):
        engineer.get(f"/staff/tickets/{ticket.id}")
        with QueryCounter() as queries:
            html = engineer.text(f"/staff/tickets/{ticket.id}")
        counts.append(queries.count)
        rows.append(len(listed(html)))
    assert counts[0] == counts[1] and rows == [HISTORY_SHOWN, HISTORY_SHOWN]
