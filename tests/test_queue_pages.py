"""The staff queue's pages and the portal's ticket list follow a cursor, not an offset (issue 18):
every page reads its own rows however deep it is, the pages walked forward and back give every
ticket of the order once, across the two parts of "by due time" (tickets with a deadline, then
those without), and a ticket that changes while someone pages does not make the next page
repeat a row."""
from __future__ import annotations

import datetime as dt
import html as html_module
import re

import pytest

from helpdesk.domain import queue_order, tags
from helpdesk.domain.queue_order import Cursor, Part
from helpdesk.models import Role, Status, Ticket
from helpdesk.web import staff, tickets as ticket_pages
from tests.portal import QueryCounter
from tests.test_portal_tickets import _user, signed_in

NOW = dt.datetime(2026, 3, 1, 8, 0)
PAGE = 7


def ids(html: str) -> list[int]:
    return [int(x) for x in dict.fromkeys(re.findall(r'href="(?:/staff)?/tickets/(\d+)', html))]


def pager(html: str) -> dict[str, str]:
    nav = html[html.index('class="pager"'):] if 'class="pager"' in html else ""
    return {rel: html_module.unescape(url) for rel, url in re.findall(r'<a rel="(next|prev)" href="([^"]+)"', nav)}


def walk(portal, start: str, rows=ids) -> tuple[list, list, int]:
    """Every row met (`rows` of each page) following "next" from `start`, then following "prev"
    back; and the pages."""
    forward, url, html, pages = [], start, "", 0
    while url:
        html = portal.text(url)
        forward += rows(html)
        pages += 1
        url = pager(html).get("next")
        assert pages < 100
    backward: list = []
    while "prev" in pager(html):
        html = portal.text(pager(html)["prev"])
        backward = rows(html) + backward
    return forward, backward, pages


@pytest.fixture
def paged(monkeypatch):
    monkeypatch.setattr(staff, "PAGE", PAGE)
    monkeypatch.setattr(ticket_pages, "PAGE", PAGE)


def _tickets() -> list[Ticket]:
    """40 tickets: ties on updated_at (four a minute) and on the deadline (two an hour), a
    quarter closed, a quarter open with no deadline (their clocks stand still)."""
    made = []
    for i in range(40):
        closed, still = i % 4 == 1, i % 4 == 2
        made.append(Ticket.create(
            subject=f"t{i}", status=(Status.CLOSED if closed else Status.OPEN).value, requester_email="c@example.com",
            created_at=NOW, updated_at=NOW + dt.timedelta(minutes=i // 4),
            sla_next_due=None if closed or still else NOW + dt.timedelta(hours=(i * 7) % 10 // 2)))
    return made


def by_updated(tickets) -> list[int]:
    return [t.id for t in sorted(tickets, key=lambda t: (t.updated_at, t.id), reverse=True)]


def by_due(tickets) -> list[int]:
    due = [t for t in tickets if t.sla_next_due is not None]
    soonest = sorted(sorted(due, key=lambda t: (t.updated_at, t.id), reverse=True), key=lambda t: t.sla_next_due)
    return [t.id for t in soonest] + by_updated([t for t in tickets if t.sla_next_due is None])


def test_the_pages_forward_and_back_give_every_ticket_once_in_either_order(app, db, paged):
    tickets = _tickets()
    portal = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.70")
    open_ = [t for t in tickets if t.status != Status.CLOSED.value]
    cases = {"/staff?queue=all&sort=updated": by_updated(tickets), "/staff?queue=all&sort=due": by_due(tickets),
             "/staff?queue=due": by_due(open_), "/staff?queue=open": by_updated(open_),
             "/staff?queue=closed": by_updated([t for t in tickets if t.status == Status.CLOSED.value])}
    for start, expected in cases.items():
        forward, backward, pages = walk(portal, start)
        assert forward == expected, start
        assert pages == -(-len(expected) // PAGE), start
        # back to the first page, whole: every page before the last one
        assert backward == expected[:PAGE * (pages - 1)], start


def test_a_searched_or_tagged_queue_pages_the_same_way(app, db, paged):
    tickets = _tickets()
    for t in tickets[::2]:
        tags.add(t.id, ["vip"])
        Ticket.update(updated_at=t.updated_at).where(Ticket.id == t.id).execute()  # as it was: the order tested
    portal = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.71")
    forward, backward, pages = walk(portal, "/staff?queue=all&sort=due&tag=vip")
    expected = by_due(tickets[::2])
    assert forward == expected and backward == expected[:PAGE * (pages - 1)]
    for t in tickets[:9]:
        Ticket.update(subject=f"drukarka {t.subject}").where(Ticket.id == t.id).execute()
    forward, _, _ = walk(portal, "/staff?queue=all&q=drukarka")
    assert forward == by_updated(Ticket.select().where(Ticket.subject.startswith("drukarka")))


def test_a_ticket_changed_while_paging_neither_repeats_nor_hides_a_row(app, db, paged):
    tickets = _tickets()
    portal = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.72")
    first = portal.text("/staff?queue=all")
    expected = by_updated(tickets)
    assert ids(first) == expected[:PAGE]
    # Someone answers a ticket of page 3: it moves to the top. An offset would now give page 2
    # the first page's last row again.
    moved = expected[2 * PAGE + 1]
    Ticket.update(updated_at=NOW + dt.timedelta(days=1)).where(Ticket.id == moved).execute()
    second = portal.text(pager(first)["next"])
    assert ids(second) == expected[PAGE:2 * PAGE]
    third = portal.text(pager(second)["next"])
    assert ids(third) == [i for i in expected if i != moved][2 * PAGE:3 * PAGE]
    # Back from page 2: the rows just before it, then (one more above them) the first page,
    # whole, the moved ticket on top of it.
    back = portal.text(pager(second)["prev"])
    assert ids(back) == expected[:PAGE]
    top = portal.text(pager(back)["prev"])
    assert ids(top) == [moved, *expected[:PAGE - 1]] and "prev" not in pager(top)


def test_the_portal_ticket_list_pages_the_same_way_for_staff_and_customers(app, db, paged):
    tickets = _tickets()
    for t in tickets[:9]:
        Ticket.update(subject=f"drukarka {t.subject}").where(Ticket.id == t.id).execute()
    Ticket.update(merged_into=tickets[1].id).where(Ticket.id == tickets[2].id).execute()  # in no list
    listed = [t for t in Ticket.select() if t.merged_into_id is None]
    open_ = [t for t in listed if t.status != Status.CLOSED.value]
    engineer = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.75")
    customer = signed_in(app, _user("c@example.com"), ip="192.0.2.76")  # the requester of every one
    for portal in (engineer, customer):
        for start, expected in (("/tickets", by_updated(listed)), ("/tickets?status=active", by_updated(open_)),
                                ("/tickets?q=drukarka", by_updated([t for t in listed if t.id in
                                                                    {x.id for x in tickets[:9]}]))):
            forward, backward, pages = walk(portal, start)
            assert forward == expected, start
            assert backward == expected[:PAGE * (pages - 1)], start


def test_a_deep_page_runs_the_statements_of_the_first(app, db, paged):
    tickets = _tickets()
    portal = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.73")
    for start in ("/staff?queue=all", "/staff?queue=all&sort=due", "/tickets"):
        html = portal.text(start)
        with QueryCounter() as top:
            portal.get(start)
        for _ in range(3):
            html = portal.text(pager(html)["next"])
        with QueryCounter() as deep:
            portal.get(pager(html)["next"])
        assert deep.count <= top.count, (start, deep.statements, top.statements)
        assert not any("OFFSET" in s.upper() for s in deep.statements)
    assert len(tickets) == 40


def test_a_cursor_link_made_by_hand_starts_the_queue_from_the_top(app, db, paged):
    tickets = _tickets()
    portal = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.74")
    for bad in ("garbage", "2026-03-01T08:00:00~x", "2026-03-01T08:00:00+02:00~5", "~~~", "2026-03-01T08:00:00~0",
                "2026-03-01T08:00:00~1~2~3", "9" * 200):
        for key in ("after", "before"):
            response = portal.get(f"/staff?queue=all&{key}={bad}")
            assert response.status_code == 200
            assert ids(response.get_data(as_text=True)) == by_updated(tickets)[:PAGE], (key, bad)


def test_cursor_text_reads_back_and_nothing_else_does():
    due, updated = dt.datetime(2026, 3, 1, 9, 30), dt.datetime(2026, 3, 1, 8, 0, 0, 125)
    for cursor, ordered_by_due in ((Cursor(None, updated, 12), False), (Cursor(due, updated, 12), True),
                                   (Cursor(None, updated, 12), True)):
        assert Cursor.read(cursor.text(ordered_by_due), ordered_by_due) == cursor
    assert Cursor.read(Cursor(due, updated, 3).text(True), False) is None  # another order's cursor
    assert Cursor.read(Cursor(None, updated, 3).text(False), True) is None
    for bad in ("", "x~1", f"{updated.isoformat()}~-1", f"{updated.isoformat()}~{2**63}", f"{updated}+01:00~1"):
        assert Cursor.read(bad, False) is None, bad


def test_which_parts_a_page_reads():
    due = Cursor(NOW, NOW, 1)
    none_due = Cursor(None, NOW, 1)
    assert queue_order.parts(False, None, False) == [Part.ALL]
    assert queue_order.parts(True, None, False) == [Part.BY_DUE]  # from the start: one statement
    assert queue_order.parts(True, due, False) == [Part.DUE, Part.NO_DUE]
    assert queue_order.parts(True, none_due, False) == [Part.NO_DUE]
    assert queue_order.parts(True, due, True) == [Part.DUE]
    assert queue_order.parts(True, none_due, True) == [Part.NO_DUE, Part.DUE]
