"""Contract pages count no further than they need (issue 18): staff see every contract, so
the dashboard and the list count up to a cap and say "more than N" beyond it, with pages to
go on; below the cap the counts are exact as before."""
from __future__ import annotations

import datetime as dt
import re

from helpdesk.domain.contracts import reindex
from helpdesk.models import Company, Contract, Role
from helpdesk.web import contracts as contract_pages
from tests.test_portal_tickets import _user, signed_in
from tests.test_queue_pages import pager

TODAY = dt.date.today()


def test_counts_stop_at_the_cap_and_the_pages_go_on(app, db, monkeypatch):
    monkeypatch.setattr(contract_pages, "COUNT_CAP", 2)
    monkeypatch.setattr(contract_pages, "PAGE_SIZE", 2)
    company = Company.create(nip="5260001246", name="Firma A")
    for i in range(5):
        Contract.create(number=f"K00000{i}", company=company, customer_name="Firma A",
                        starts_on=TODAY - dt.timedelta(days=10), ends_on=TODAY + dt.timedelta(days=10 + i))
    Contract.create(number="K000009", company=company, customer_name="Firma A",
                    starts_on=TODAY - dt.timedelta(days=100), ends_on=TODAY - dt.timedelta(days=1))  # expired
    reindex([c.id for c in Contract.select()])
    staff = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.70")
    staff.get("/language/en")
    dashboard = staff.text("/dashboard")
    assert "(2+)" in dashboard and "All active contracts (over 2)" in dashboard

    def listing(url: str) -> tuple[list[str], str, str]:
        html = staff.text(url)
        return (re.findall(r">(K\d{6})</a>", html), re.search(r'<nav class="pager".*?<span>([^<]+)</span>', html, re.S)[1],
                pager(html).get("next", ""))

    first = listing("/contracts")
    assert first[:2] == (["K000000", "K000001"], "More than 2 contracts") and first[2]
    second = listing(first[2])  # the count is of the whole list, not past the page
    assert second[:2] == (["K000002", "K000003"], "More than 2 contracts") and second[2]
    assert listing(second[2]) == (["K000004"], "More than 2 contracts", "")
    monkeypatch.setattr(contract_pages, "COUNT_CAP", 5)
    assert listing(second[2]) == (["K000004"], "5 contracts", "")  # exact up to the cap
    monkeypatch.setattr(contract_pages, "COUNT_CAP", 2)
    found = staff.text("/contracts?q=firma")
    assert "More than 2 contracts found for “firma”." in found


def test_below_the_cap_the_counts_are_exact(app, db):
    company = Company.create(nip="5260001246", name="Firma A")
    for i in range(3):
        Contract.create(number=f"K00000{i}", company=company, customer_name="Firma A",
                        starts_on=TODAY - dt.timedelta(days=10), ends_on=TODAY + dt.timedelta(days=10))
    reindex([c.id for c in Contract.select()])
    staff = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.71")
    staff.get("/language/en")
    assert "(3)" in staff.text("/dashboard") and "3 contracts found for “firma”." in staff.text("/contracts?q=firma")
