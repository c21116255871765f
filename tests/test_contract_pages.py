"""The contract lists page by a cursor, not an offset (issue 18): the current contracts by number,
the archive latest ended first then by number; walked forward and back they give every contract
of the list once, a deep page runs the statements the first does, a contract added while someone
pages does not repeat a row, and a cursor is never more than a place in the reader's own list."""
from __future__ import annotations

import datetime as dt
import random
import re

import pytest

from helpdesk.domain import contract_order, contracts
from helpdesk.domain.contract_order import Cursor
from helpdesk.models import Company, Contract, ContractAccess, Role
from helpdesk.web import contracts as contract_pages
from tests import test_queue_pages as queue_pages
from tests.portal import QueryCounter
from tests.test_portal_tickets import _user, signed_in
from tests.test_queue_pages import pager

TODAY = dt.date.today()
PAGE = 4


def numbers(html: str) -> list[str]:
    return re.findall(r">(K\d{6})</a>", html)


def walk(portal, start: str) -> tuple[list[str], list[str], int]:
    return queue_pages.walk(portal, start, numbers)


@pytest.fixture
def world(db, monkeypatch):
    """Company A: 23 contracts, 10 of them expired (five on one day); company B: 5."""
    monkeypatch.setattr(contract_pages, "PAGE_SIZE", PAGE)
    a, b = Company.create(nip="5260001246", name="Firma A"), Company.create(nip="7740001454", name="Firma B")
    ended = [5, 5, 5, 9, 9, 30, 31, 200, 400]  # days ago
    for n in range(23):
        ends_on = TODAY - dt.timedelta(days=ended[n % 9]) if n % 5 < 2 else TODAY + dt.timedelta(days=n)
        Contract.create(number=f"K1{(n * 7919) % 100_000:05d}", company=a, customer_name="Firma A",
                        starts_on=TODAY - dt.timedelta(days=900), ends_on=ends_on)
    for n in range(5):
        Contract.create(number=f"K2{n:05d}", company=b, customer_name="Firma B", starts_on=TODAY,
                        ends_on=TODAY + dt.timedelta(days=10))
    contracts.reindex([c.id for c in Contract.select()])
    return a, b


def current_order(query) -> list[str]:
    return [c.number for c in query.where(Contract.ends_on >= TODAY).order_by(Contract.number)]


def archive_order(query) -> list[str]:
    return [c.number for c in query.where(Contract.ends_on < TODAY).order_by(Contract.ends_on.desc(), Contract.number)]


def test_the_pages_forward_and_back_give_every_contract_once(app, world):
    staff = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.90")
    for start, expected in (("/contracts", current_order(Contract.select())),
                            ("/contracts/archive", archive_order(Contract.select())),
                            ("/contracts?q=firma", current_order(Contract.select())),
                            ("/contracts/archive?q=firma", archive_order(Contract.select()))):
        assert len(expected) > 2 * PAGE, start
        forward, backward, pages = walk(staff, start)
        assert forward == expected, start
        assert pages == -(-len(expected) // PAGE), start
        assert backward == expected[:PAGE * (pages - 1)], start


def test_a_customer_pages_its_own_contracts_and_a_cursor_shows_no_others(app, world):
    a, _ = world
    user = _user("a1@firma.example", company=a)
    mine = Contract.select().where(Contract.company == a.id, Contract.number < "K150000")
    for contract in mine:
        ContractAccess.create(user=user.id, contract=contract.id, granted_at=dt.datetime(2026, 1, 1))
    portal = signed_in(app, user, ip="192.0.2.91")
    for start, expected in (("/contracts", current_order(mine)), ("/contracts/archive", archive_order(mine)),
                            ("/contracts?q=firma", current_order(mine))):
        forward, backward, pages = walk(portal, start)
        assert forward == expected and backward == expected[:PAGE * (pages - 1)], start
    # Another company's number as the cursor: only its own contracts after that place.
    shown = numbers(portal.text("/contracts?after=K200000")) + numbers(portal.text("/contracts?before=K200003"))
    assert shown and set(shown) <= set(current_order(mine))
    assert numbers(portal.text("/contracts?after=K000000")) == current_order(mine)[:PAGE]


@pytest.mark.parametrize("cursor", ["", "~", "K1", "x" * 61, "K100000\x00", "K1~K2", "not a date~K100000",
                                    "2026-02-30~K100000", "' OR 1=1 --"])
def test_a_cursor_that_is_not_one_starts_at_the_top(app, world, cursor):
    """Not a cursor, the other list's, or a place with nothing past it: the first page."""
    staff = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.92")
    for path, q in (("/contracts", {}), ("/contracts/archive", {}), ("/contracts", {"q": "firma"})):
        top = numbers(staff.get(path, query_string=q).get_data(as_text=True))
        assert top, path
        for name in ("after", "before"):
            response = staff.get(path, query_string={**q, name: cursor})
            assert response.status_code == 200
            assert numbers(response.get_data(as_text=True)) == top, (path, name)
    assert numbers(staff.text("/contracts?after=2026-01-01~K100000")) == numbers(staff.text("/contracts"))
    every = current_order(Contract.select())
    assert numbers(staff.text("/contracts?after=K999999")) == every[:PAGE]  # nothing after it
    assert numbers(staff.text("/contracts?before=K999999")) == every[-PAGE:]  # a place: the last rows before it
    assert numbers(staff.text("/contracts?page=3")) == numbers(staff.text("/contracts"))  # an offset's old link


def test_a_contract_added_while_paging_repeats_no_row(app, world):
    a, _ = world
    staff = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.93")
    expected = current_order(Contract.select())
    first = staff.text("/contracts")
    assert numbers(first) == expected[:PAGE]
    # A contract imported with a number before the first page's: an offset's page 2 would repeat
    # the first page's last row; the cursor's starts after it.
    Contract.create(number="K000001", company=a, customer_name="Firma A", starts_on=TODAY, ends_on=TODAY)
    second = staff.text(pager(first)["next"])
    assert numbers(second) == expected[PAGE:2 * PAGE]
    back = staff.text(pager(second)["prev"])  # the rows just before page 2
    assert numbers(back) == expected[:PAGE]
    top = staff.text(pager(back)["prev"])  # then (one more above them) the first page, whole, the new one first
    assert numbers(top) == ["K000001", *expected[:PAGE - 1]] and "prev" not in pager(top)


def test_a_deep_page_runs_the_statements_the_first_does(app, world, monkeypatch):
    monkeypatch.setattr(contracts, "SCAN_ROWS", 1000)
    staff = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.94")
    for start in ("/contracts", "/contracts/archive", "/contracts?q=firma"):
        html, counts = staff.text(start), []
        while "next" in pager(html):
            with QueryCounter() as counter:
                html = staff.text(pager(html)["next"])
            counts.append(counter.count)
        assert len(counts) >= 2 and len(set(counts[:-1])) == 1, (start, counts)


def test_cut_in_python_is_the_cut_in_sql(world):
    """`contract_order.beyond` (a customer's few matches, read whole) against the same condition in SQL."""
    rng = random.Random(5)
    for archive in (False, True):
        query = contracts.expired(Contract.select(), TODAY) if archive else contracts.current(Contract.select(), TODAY)
        every = list(query.select(*contracts.LISTED).order_by(*contract_order.ordering(archive, False)).tuples())
        places = [Cursor.of(row, archive) for row in every] + [
            Cursor(TODAY - dt.timedelta(days=rng.randrange(500)) if archive else None, f"K{rng.randrange(300000):06d}")
            for _ in range(10)]
        for cursor in places:
            for backward in (False, True):
                sql = list(query.select(*contracts.LISTED).where(
                    contract_order.condition(archive, backward, *contract_order.values(cursor)))
                    .order_by(*contract_order.ordering(archive, backward)).tuples())
                assert contract_order.beyond(every, cursor, backward, archive) == sql, (archive, cursor, backward)
                text = cursor.text()
                assert Cursor.read(text, archive) == cursor and Cursor.read(text, not archive) is None
