"""Contracts in the portal (SPEC W4-W6): verification with its limits, who sees which
contract, search, dashboard and archive, through the Flask test client with CSRF on.

Access is per user: each user verifies a contract itself, even when a colleague of the
same company already has; staff (engineers, admins) see every contract.
"""
from __future__ import annotations

import datetime as dt
import re

import pytest

from helpdesk.domain import contracts, passwords
from helpdesk.domain.contract_csv import ContractRow, Line
from helpdesk.models import AuthAttempt, Company, Contract, ContractAccess, Role, Status, Ticket, User, utcnow
from tests.portal import Portal

NIP_A = "5260001246"
NIP_B = "7273456783"
PASSWORD = "correct horse battery"
TODAY = utcnow().date()


def main(response) -> str:
    """The page's own content, the CSRF token masked (it is signed with the time)."""
    html = response.get_data(as_text=True).split("<main", 1)[1].split("</main>", 1)[0]
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]+', r"\1X", html)


def contract(number, nip, customer, lines, *, days=(-100, 265)):
    return ContractRow(number=number, nip=nip, customer_name=customer, service_level="Gold 24/7",
                       starts_on=TODAY + dt.timedelta(days=days[0]), ends_on=TODAY + dt.timedelta(days=days[1]),
                       partner_nip="", first_line=0, lines=[Line(0, *line) for line in lines])


@pytest.fixture
def data(db):
    """Company A with two active contracts and an expired one; company B with one."""
    contracts.store([
        contract("K100001", NIP_A, "Apteka Łódzka Sp. z o.o.", [
            ("Hikvision DS-7716NI-K4", "DS-7716-AAA1", "ul. Piotrkowska 1, Łódź"),
            ("Fortinet FortiGate 60F licencja", "FGVM-1234-ABCD", "ul. Piotrkowska 1, Łódź")]),
        contract("K100002", NIP_A, "Apteka Centralna Sp. z o.o.",
                 [("Satel INTEGRA 64", "SN-A2", "ul. Długa 5, Kraków")]),
        contract("K100003", NIP_A, "Apteka Centralna Sp. z o.o.", [("Satel ETHM-1", "SN-A3", "ul. Długa 5, Kraków")],
                 days=(-500, -20)),
        contract("K200001", NIP_B, "Hotel Bałtyk S.A.", [("Dahua NVR5216", "SN-B1", "ul. Morska 3, Gdańsk")]),
    ])
    return {c.number: c for c in Contract.select()}


_users = iter(range(1, 1000))
_hash = []


def password_hash() -> str:
    if not _hash:
        _hash.append(passwords.hash_password(PASSWORD))
    return _hash[0]


def user_of(nip, *, role=Role.CUSTOMER):
    n = next(_users)
    return User.create(email=f"user{n}@firma.example", first_name="Jan", last_name=f"Nowak{n}",
                       company=Company.get(Company.nip == nip), role=role.value, is_active=True,
                       activated_at=utcnow(), password_hash=password_hash())


def signed_in(app, user, ip="192.0.2.10") -> Portal:
    portal = Portal(app, ip=ip)
    response = portal.post("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return portal


def verify(portal, number, serial):
    return portal.post("/contracts/verify", {"number": number, "serial": serial})


def listed(portal, path="/contracts") -> set[str]:
    response = portal.get(path)
    assert response.status_code == 200
    return set(re.findall(r">(K[0-9]{6})</a>", main(response)))


def granted(user) -> set[str]:
    return {a.contract.number for a in ContractAccess.select().where(ContractAccess.user == user.id)}


# --- verification (W4) ----------------------------------------------------------------------


def test_verification_grants_the_contract_and_it_shows_at_once(app, data):
    user = user_of(NIP_A)
    portal = signed_in(app, user)
    assert listed(portal) == set() and "Weryfikuj umowę" in portal.text("/contracts")
    assert 'href="/contracts/verify"' in portal.text("/dashboard")
    page = portal.text("/contracts/verify")
    assert "Weryfikacja umowy" in page and "Numer umowy" in page

    response = verify(portal, "K100001", "DS-7716-AAA1")
    assert response.status_code == 302 and response.location.endswith("/contracts")
    assert granted(user) == {"K100001"}
    assert "K100001" in portal.text("/contracts")  # with the flash message
    assert listed(portal) == {"K100001"}
    assert listed(portal, "/dashboard") == {"K100001"}
    assert portal.get(f"/contracts/{data['K100001'].id}").status_code == 200


def test_every_refusal_looks_the_same_and_grants_nothing(app, data):
    user = user_of(NIP_A)
    portal = signed_in(app, user)
    responses = [
        verify(portal, "K100009", "DS-7716-AAA1"),  # wrong number
        verify(portal, "K100001", "DS-7716-AAA9"),  # wrong serial
        verify(portal, "K100001", "SN-A2"),  # a serial of another contract of the company
        verify(portal, "K200001", "SN-B1"),  # another company's contract, right pair
    ]
    assert {r.status_code for r in responses} == {422}
    assert len({main(r) for r in responses}) == 1
    page = main(responses[0])
    assert "nie pasują" in page and "K100009" not in page and "DS-7716" not in page
    assert granted(user) == set()
    assert listed(portal) == set()


@pytest.mark.parametrize("number, serial", [
    ("К100001", "DS-7716-AAA1"),  # a Cyrillic К
    ("k100001", "DS-7716-AAA1"),  # lower case
    ("K1000011", "DS-7716-AAA1"),  # seven digits
    ("K10\r\n0001", "DS-7716-AAA1"),
    ("K100001", "DS-7716\r\nAAA1"),
    ("K100001", "DS 7716 AAA1"),
    ("", "DS-7716-AAA1"),
])
def test_malformed_input_gets_a_field_error_and_is_no_attempt(app, data, number, serial):
    user = user_of(NIP_A)
    portal = signed_in(app, user)
    response = verify(portal, number, serial)
    assert response.status_code == 422
    page = main(response)
    assert 'class="error"' in page and 'aria-invalid="true"' in page
    assert granted(user) == set()
    assert AuthAttempt.select().where(AuthAttempt.kind == "verify").count() == 0


def test_the_serial_may_have_spaces_around_it_but_needs_its_dashes(app, data):
    user = user_of(NIP_A)
    portal = signed_in(app, user)
    assert verify(portal, "K100001", "DS7716AAA1").status_code == 422
    assert verify(portal, " K100001 ", "  FGVM-1234-ABCD  ").status_code == 302
    assert granted(user) == {"K100001"}


def test_an_expired_contract_can_be_verified_and_goes_to_the_archive(app, data):
    user = user_of(NIP_A)
    portal = signed_in(app, user)
    response = verify(portal, "K100003", "SN-A3")
    assert response.status_code == 302 and response.location.endswith("/contracts/archive")
    assert listed(portal) == set() and listed(portal, "/dashboard") == set()
    assert listed(portal, "/contracts/archive") == {"K100003"}


def test_after_five_failures_the_user_is_refused_even_the_right_pair(app, data):
    user = user_of(NIP_A)
    portal = signed_in(app, user)
    for n in range(5):
        assert verify(portal, f"K10000{n + 4}", "SN-A2").status_code == 422
    response = verify(portal, "K100001", "DS-7716-AAA1")
    assert response.status_code == 429
    assert "Spróbuj ponownie za 15 minut" in main(response)
    assert granted(user) == set()


def test_the_limit_holds_per_nip_across_users_of_one_company(app, data):
    first, second = user_of(NIP_A), user_of(NIP_A)
    one, two = signed_in(app, first, ip="192.0.2.21"), signed_in(app, second, ip="192.0.2.22")
    for _ in range(3):
        verify(one, "K100009", "SN-A2")
    for _ in range(2):
        verify(two, "K100009", "SN-A2")
    assert verify(two, "K100002", "SN-A2").status_code == 429
    assert granted(second) == set()


def test_the_limit_holds_per_client_address(app, data):
    a, b = user_of(NIP_A), user_of(NIP_B)
    one, two = signed_in(app, a, ip="198.51.100.7"), signed_in(app, b, ip="198.51.100.7")
    for _ in range(3):
        verify(one, "K100009", "SN-A2")
    for _ in range(2):
        verify(two, "K200009", "SN-B1")
    assert verify(two, "K200001", "SN-B1").status_code == 429
    assert granted(b) == set()
    elsewhere = signed_in(app, b, ip="198.51.100.8")  # the same user from another address is not limited
    assert verify(elsewhere, "K200001", "SN-B1").status_code == 302


def test_attempts_are_logged(app, data):
    user = user_of(NIP_A)
    portal = signed_in(app, user, ip="203.0.113.5")
    verify(portal, "K100009", "SN-A2")
    verify(portal, "K100002", "SN-A2")
    rows = list(AuthAttempt.select().where(AuthAttempt.kind == "verify").order_by(AuthAttempt.id))
    assert [(r.key, r.ok) for r in rows] == [
        (f"user:{user.id}", False), (f"nip:{NIP_A}", False), ("ip:203.0.113.5", False),
        (f"user:{user.id}", True), (f"nip:{NIP_A}", True), ("ip:203.0.113.5", True)]
    assert "K100009" in rows[0].detail and "SN-A2" not in rows[0].detail  # the serial is a secret


def test_verification_needs_a_login_and_the_csrf_token(app, data):
    anonymous = Portal(app)
    assert anonymous.get("/contracts/verify").status_code == 302
    portal = signed_in(app, user_of(NIP_A))
    response = portal.post("/contracts/verify", {"number": "K100001", "serial": "DS-7716-AAA1"}, csrf=False)
    assert response.status_code == 400


# --- who sees what (W6) ----------------------------------------------------------------------


def test_another_companys_contract_or_an_unverified_one_is_not_found(app, data):
    user = user_of(NIP_A)
    portal = signed_in(app, user)
    verify(portal, "K100001", "DS-7716-AAA1")
    assert portal.get(f"/contracts/{data['K200001'].id}").status_code == 404
    assert portal.get(f"/contracts/{data['K100002'].id}").status_code == 404
    assert portal.get("/contracts/999999").status_code == 404
    detail = portal.text(f"/contracts/{data['K100001'].id}")
    assert "FGVM-1234-ABCD" in detail and "Hikvision DS-7716NI-K4" in detail


def test_access_is_per_user_even_within_one_company(app, data):
    anna, jan = user_of(NIP_A), user_of(NIP_A)
    one, two = signed_in(app, anna), signed_in(app, jan, ip="192.0.2.30")
    verify(one, "K100002", "SN-A2")
    assert listed(one) == {"K100002"}
    assert listed(two) == set() and two.get(f"/contracts/{data['K100002'].id}").status_code == 404
    verify(two, "K100002", "SN-A2")
    assert listed(two) == {"K100002"}


def test_a_user_moved_to_another_company_loses_its_contracts(app, data):
    user = user_of(NIP_A)
    portal = signed_in(app, user)
    verify(portal, "K100001", "DS-7716-AAA1")
    User.update(company=Company.get(Company.nip == NIP_B)).where(User.id == user.id).execute()
    assert listed(portal) == set()
    assert portal.get(f"/contracts/{data['K100001'].id}").status_code == 404


def test_staff_see_every_contract(app, data):
    portal = signed_in(app, user_of(NIP_A, role=Role.ENGINEER))
    assert listed(portal) == {"K100001", "K100002", "K200001"}
    assert listed(portal, "/contracts/archive") == {"K100003"}
    assert portal.get(f"/contracts/{data['K200001'].id}").status_code == 200


# --- search (W6) -------------------------------------------------------------------------------


@pytest.mark.parametrize("q, found", [
    ("Apteka", {"K100001", "K100002"}),  # customer name
    ("hotel bałtyk", {"K200001"}),
    ("hikvision", {"K100001"}),  # model
    ("satel", {"K100002"}),
    ("Łódź", {"K100001"}),  # address, with and without diacritics
    ("lodz", {"K100001"}),
    ("piotrkowska", {"K100001"}),
    ("KRAKÓW Długa", {"K100002"}),
    ("FGVM-1234-ABCD", {"K100001"}),  # serial with dashes
    ("sn-b1", {"K200001"}),
    ("K200001", {"K200001"}),  # number
    ("K1000", {"K100001", "K100002"}),  # a prefix
    ("200001", {"K200001"}),  # the digits alone
    (NIP_B, {"K200001"}),
    ("hikvision gdańsk", set()),  # every word must match
])
def test_staff_search_over_any_data(app, data, q, found):
    portal = signed_in(app, user_of(NIP_A, role=Role.ENGINEER))
    assert listed(portal, f"/contracts?q={q}") == found


@pytest.mark.parametrize("q", ["%", "_", "' OR 1=1--", '"', "*", "NEAR(", 'K1" OR "', "a" * 500, "-- ;", "^", "\x00"])
def test_search_syntax_is_harmless(app, data, q):
    user = user_of(NIP_A)
    portal = signed_in(app, user)
    verify(portal, "K100001", "DS-7716-AAA1")
    response = portal.get("/contracts", query_string={"q": q})
    assert response.status_code == 200
    assert listed(portal, "/contracts?" + response.request.query_string.decode()) <= {"K100001"}
    staff = signed_in(app, user_of(NIP_A, role=Role.ENGINEER))
    assert staff.get("/contracts", query_string={"q": q}).status_code == 200


def test_search_shows_only_visible_contracts(app, data):
    user = user_of(NIP_A)
    portal = signed_in(app, user)
    verify(portal, "K100001", "DS-7716-AAA1")
    assert listed(portal, "/contracts?q=apteka") == {"K100001"}  # K100002 is the company's, not verified
    assert listed(portal, "/contracts?q=SN-B1") == set()
    assert listed(portal, "/contracts?q=hotel") == set()
    assert listed(portal, "/contracts/archive?q=apteka") == set()


def test_search_in_the_archive(app, data):
    portal = signed_in(app, user_of(NIP_A, role=Role.ENGINEER))
    assert listed(portal, "/contracts/archive?q=ethm") == {"K100003"}
    assert listed(portal, "/contracts?q=ethm") == set()


@pytest.mark.parametrize("q, found", [("apteka", {"K100001", "K100002"}), ("hikvision", {"K100001"}),
                                      ("SN-B1", {"K200001"}), ("5260001246", {"K100001", "K100002"}),
                                      ("%", {"K100001", "K100002", "K200001"}),
                                      ("_", {"K100001", "K100002", "K200001"})])
def test_the_like_fallback_finds_the_same(data, q, found):
    """Where the database is not SQLite, search is LIKE over the same columns (substrings,
    where FTS5 matches word prefixes; no diacritic folding)."""
    query = contracts.current(Contract.select(), TODAY)
    for fts in (False, True):
        assert {c.number for c in contracts.search(query, q, fts=fts)} == found
    mine = contracts.current(contracts.visible_contracts(user_of(NIP_A)), TODAY)
    assert list(contracts.search(mine, q + " ' OR 1=1--", fts=False)) == []


def test_the_match_expression_quotes_every_word():
    assert contracts.match_expression(contracts.search_tokens('Łódź "x" OR 1=1-- NEAR(a b)')) == \
        '"lodz"* AND "x" AND "or" AND "1" AND "1" AND "near"* AND "a" AND "b"'
    assert contracts.search_tokens("% _ * \" ' --") == []


# --- dashboard and archive (W5) ----------------------------------------------------------------


def test_dashboard_shows_active_tickets_and_contracts_only(app, data):
    user = user_of(NIP_A)
    portal = signed_in(app, user)
    for number, serial in (("K100001", "DS-7716-AAA1"), ("K100003", "SN-A3")):
        verify(portal, number, serial)
    other = user_of(NIP_B)
    Ticket.create(subject="Kamera nie nagrywa", contract=data["K100001"], status=Status.OPEN.value)
    Ticket.create(subject="Stara sprawa zamknięta", contract=data["K100001"], status=Status.CLOSED.value)
    Ticket.create(subject="Pytanie bez umowy", requester=user, status=Status.NEW.value)
    Ticket.create(subject="Cudzy problem", contract=data["K200001"], requester=other, status=Status.OPEN.value)
    Ticket.create(subject="Niezweryfikowana umowa", contract=data["K100002"], status=Status.OPEN.value)
    page = main(portal.get("/dashboard"))
    assert page.count('<details class="fold" open>') == 2
    assert "Kamera nie nagrywa" in page and "Pytanie bez umowy" in page
    assert "Stara sprawa" not in page and "Cudzy problem" not in page and "Niezweryfikowana" not in page
    assert listed(portal, "/dashboard") == {"K100001"}
    assert f'href="/tickets/new?contract={data["K100001"].id}"' in page
    assert listed(portal) == {"K100001"} and listed(portal, "/contracts/archive") == {"K100003"}
    assert "Nowe zgłoszenie" in page and "Pulpit" in portal.text("/dashboard")


def test_the_pages_need_a_login(app, data):
    anonymous = Portal(app)
    for path in ("/dashboard", "/contracts", "/contracts/archive", f"/contracts/{data['K100001'].id}"):
        response = anonymous.get(path)
        assert response.status_code == 302 and "/login" in response.location


def test_english_pages(app, data):
    portal = signed_in(app, user_of(NIP_A))
    portal.get("/language/en")
    assert "Verify a contract" in portal.text("/contracts")
    assert "Contract verification" in portal.text("/contracts/verify")
