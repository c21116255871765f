"""Contract search matched in Python (issue 18): a customer's few visible contracts, and staff's
first page of a word many contracts have, are read with their indexed documents and matched by
`domain.search.document_matcher` instead of the full-text index. The answers must be the index's:
the same contracts (diacritics, short words, prefixes, every word required), the same order and
pages and counts, only the customer's own verified contracts, and right after a contract changes.
Each page is compared with the index's answer (the Python paths turned off)."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from helpdesk.domain import contracts, search as full_text
from helpdesk.domain.contract_csv import ContractRow, Line
from helpdesk.models import Company, Contract, ContractAccess, Role
from helpdesk.web import contracts as contract_pages
from tests.harness import load_migration
from tests.postgres import on_postgres, sqlite_only
from tests.test_portal_tickets import _user, signed_in
from tests.test_queue_pages import pager

TODAY = dt.date.today()
NIP_A, NIP_B = "5260001246", "7273456783"
ADDRESSES = ["ul. Piotrkowska 5, Łódź", "ul. Długa 1, Kraków", "Hauptstraße 7, Großstadt", "Ørsted_Vej 2, Aarhus",
             "al. Łazienki-Żoliborz 3/5, Warszawa", "ul. Łódzka 12, Łódź",
             "ul. \u2068Rynek\u2069 5, \u20bdWrocław"]  # bidi marks and a sign FTS5 (Unicode 6.1) reads as letters
MODELS = ["Hikvision DS-2CD2143G2-I", "Satel INTEGRA 64", "Dahua NVR5216", "Fortinet FortiGate 60F", "x 2U rack"]
QUERIES = ["lodz", "k300011", "300009", "Łódź", "ŁÓDŹ piotrkowska", "lod", "lo", "x", "2u", "rack 2u", "hauptstrasse", "grossstadt", "strasse", "vej",
           "orsted", "zoliborz", "lazienki zoliborz", "3 5", "ds-2cd2143g2-i", "2cd", "K3000", "300004", "k300004",
           NIP_A, "firma", "kraków długa", "hikvision aarhus", "nothing", "satel łódź", "rynek", "wroclaw", "rynek 5"]


def row(number, nip, customer, n, *, expired=False):
    lines = [Line(0, MODELS[(n + i) % len(MODELS)], f"SN-{number}-{i}", ADDRESSES[(n * 2 + i) % len(ADDRESSES)])
             for i in range(1 + n % 3)]
    days = (-500, -20) if expired else (-100, 200 + n)
    return ContractRow(number=number, nip=nip, customer_name=customer, service_level="Gold 24/7",
                       starts_on=TODAY + dt.timedelta(days=days[0]), ends_on=TODAY + dt.timedelta(days=days[1]),
                       partner_nip="", first_line=0, lines=lines)


@pytest.fixture
def data(db):
    """Company A: 14 contracts (four expired); company B: 6, with the same words."""
    contracts.store([row(f"K3{n:05d}", NIP_A, "Firma Łódzka Sp. z o.o.", n, expired=n in (3, 10, 12, 13)) for n in range(14)]
                    + [row(f"K4{n:05d}", NIP_B, "Hotel Łódź S.A.", n) for n in range(6)])
    return {c.number: c for c in Contract.select()}


def customer_of(nip, email, numbers, data):
    user = _user(email, company=Company.get(Company.nip == nip))
    for number in numbers:
        ContractAccess.create(user=user.id, contract=data[number].id, granted_at=dt.datetime(2026, 1, 1))
    return user


def main(response) -> str:
    assert response.status_code == 200
    html = response.get_data(as_text=True).split("<main", 1)[1].split("</main>", 1)[0]
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]+', r"\1X", html)


def listed(html: str) -> list[str]:
    return re.findall(r">(K\d{6})</a>", html)


class Spy:
    """Counts the calls of a function that gave an answer (not None)."""

    def __init__(self, monkeypatch, name):
        self.answered, self.archives, real = 0, set(), getattr(contracts, name)

        def spy(*args, **kwargs):
            found = real(*args, **kwargs)
            if found is not None:
                self.answered += 1
                self.archives.add(kwargs["archive"])
            return found
        monkeypatch.setattr(contracts, name, spy)


def index_answer(monkeypatch, portal, path: str) -> str:
    """The page as the full-text index gives it: the Python paths turned off."""
    with monkeypatch.context() as m:
        m.setattr(contracts, "FEW", -1)
        m.setattr(contracts, "SCAN_ROWS", 0)
        return main(portal.get(path))


def walked(monkeypatch, portal, start: str) -> list[list[str]]:
    """The numbers on each page of a list, following "next" from `start`, every page the same as
    the index gives it (`index_answer`); then back by "prev" to the first, the same pages again."""
    pages, url, html = [], start, ""
    while url:
        html = main(portal.get(url))
        assert html == index_answer(monkeypatch, portal, url), url
        pages.append(listed(html))
        url = pager(html).get("next")
        assert len(pages) < 50
    back = []
    while "prev" in pager(html):
        html = main(portal.get(pager(html)["prev"]))
        back.insert(0, listed(html))
    assert back == pages[:-1] or (back == [] and len(pages) == 1), start
    return pages


def test_the_matcher_finds_what_the_index_finds(data):
    documents = dict(Contract.select(Contract.id, full_text.contract_document()).tuples())
    assert len(documents) == 20 and all(documents.values())
    for q in QUERIES:
        by_index = {c.id for c in contracts.search(Contract.select(), q)}
        matches = full_text.document_matcher(contracts.search_tokens(q))
        assert {i for i, document in documents.items() if matches(document)} == by_index, q
    found = lambda q: {c.number for c in contracts.search(Contract.select(), q)}  # noqa: E731
    assert found("hauptstrasse") == found("grossstadt") != set() and not found("strasse")  # ß folded, words whole
    assert found("vej") == found("orsted") != set()  # "_" splits words
    assert found("x") and not found("lo")  # a short word whole, never as a prefix


@pytest.mark.parametrize("few", [1000, 3])  # 3: it sees more, its current list goes to the index
def test_a_customers_search_is_its_own_contracts_as_the_index_lists_them(app, data, monkeypatch, few):
    monkeypatch.setattr(contract_pages, "PAGE_SIZE", 2)
    monkeypatch.setattr(contracts, "FEW", few)
    user = customer_of(NIP_A, "a1@firma.example", [f"K3{n:05d}" for n in range(0, 12)], data)
    portal = signed_in(app, user, ip="192.0.2.81")
    spy = Spy(monkeypatch, "few_matches")
    walks = {(q, path): walked(monkeypatch, portal, f"{path}?q={q}") for q in QUERIES
             for path in ("/contracts", "/contracts/archive")}
    assert spy.archives == ({False, True} if few > 3 else {True})  # the archive's 2 contracts: always few
    assert spy.answered >= len(QUERIES) * (2 if few > 3 else 1)  # every page of those lists
    assert walks["lodz", "/contracts"][0] == ["K300000", "K300001"]
    assert sum(walks["firma", "/contracts"], []) == [f"K3{n:05d}" for n in range(0, 12) if n not in (3, 10)]


def test_a_customer_finds_only_the_contracts_it_verified(app, data, monkeypatch):
    mine = ["K300000", "K300001", "K300002"]
    user = customer_of(NIP_A, "a1@firma.example", mine, data)
    customer_of(NIP_A, "a2@firma.example", ["K300004", "K300005"], data)  # a colleague's
    stray = _user("b1@hotel.example", company=Company.get(Company.nip == NIP_B))
    ContractAccess.create(user=user.id, contract=data["K400000"].id, granted_at=dt.datetime(2026, 1, 1))  # not its company
    ContractAccess.create(user=stray.id, contract=data["K300006"].id, granted_at=dt.datetime(2026, 1, 1))
    portal = signed_in(app, user, ip="192.0.2.82")
    spy = Spy(monkeypatch, "few_matches")
    everything = {c.number for c in contracts.current(Contract.select(), TODAY)}
    for q in ["firma", "sn", "ul", "lodz", "hotel", "K4", "K3"]:
        found = set(listed(main(portal.get(f"/contracts?q={q}"))))
        assert found <= set(mine), q
        assert found == {n for n in mine if n in everything and n in
                         {c.number for c in contracts.search(Contract.select(), q)}}, q
    assert listed(main(portal.get("/contracts?q=sn"))) == mine
    assert spy.answered == 8
    user.company = Company.get(Company.nip == NIP_B)  # moved: only the grants of its company now count
    user.save()
    assert listed(main(portal.get("/contracts?q=sn"))) == ["K400000"]
    assert listed(main(portal.get("/contracts?q=firma"))) == []


def test_a_customers_search_sees_a_change_at_once(app, data):
    user = customer_of(NIP_A, "a1@firma.example", ["K300000"], data)
    portal = signed_in(app, user, ip="192.0.2.83")
    assert listed(main(portal.get("/contracts?q=Sopot"))) == []
    changed = row("K300000", NIP_A, "Firma Łódzka Sp. z o.o.", 0)
    changed.lines[0] = Line(0, changed.lines[0].model, changed.lines[0].serial, "ul. Morska 9, Sopot")
    contracts.store([changed])
    assert listed(main(portal.get("/contracts?q=Sopot"))) == ["K300000"]
    assert listed(main(portal.get("/contracts?q=sopot morska 9"))) == ["K300000"]


@pytest.mark.parametrize("scan_rows", [1000, 7])
def test_staffs_first_pages_of_a_common_word_are_the_indexs(app, data, monkeypatch, scan_rows):
    monkeypatch.setattr(contract_pages, "COUNT_CAP", 2)
    monkeypatch.setattr(contract_pages, "PAGE_SIZE", 2)
    monkeypatch.setattr(contracts, "SCAN_ROWS", scan_rows)
    staff = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.84")
    spy = Spy(monkeypatch, "first_matches")
    walks = {(q, path): walked(monkeypatch, staff, f"{path}?q={q}") for q in QUERIES
             for path in ("/contracts", "/contracts/archive")}
    assert spy.archives == (set() if on_postgres() else {False, True})  # PostgreSQL: its planner's way
    assert walks["firma", "/contracts"][1] == ["K300002", "K300004"]  # K300003 has expired
    assert walks["firma", "/contracts/archive"][1] == ["K300012", "K300013"]  # ended the same day


@sqlite_only  # PostgreSQL keeps a tsvector of the words already
def test_migration_029_leaves_the_stored_documents_as_their_words(db):
    """SQLite documents written before 029 kept bidi marks and signs FTS5 reads as letters:
    the migration rewrites those as their words (what the search reads in Python), and
    leaves plain ones alone."""
    migration = load_migration("029_contract_documents_plain_words")
    raw = "k300001 300001 ul. \u2068rynek\u2069 5, \u20bdwroclaw"
    db.execute_sql("INSERT INTO contract_search (rowid, body) VALUES (?, ?), (?, ?)", [901, raw, 902, "k300002 rynek"])
    match = "SELECT rowid FROM contract_search WHERE contract_search MATCH ? ORDER BY rowid"
    assert db.execute_sql(match, ['"rynek"*']).fetchall() == [(902,)]  # FTS5 read "\u2068rynek\u2069" as one word
    migration._rewrite(db)
    bodies = dict(db.execute_sql("SELECT rowid, body FROM contract_search WHERE rowid IN (901, 902)").fetchall())
    assert bodies == {901: "k300001 300001 ul rynek 5 wroclaw", 902: "k300002 rynek"}
    assert db.execute_sql(match, ['"rynek"*']).fetchall() == [(901,), (902,)]
