"""The main navigation (web/navigation.py), built once per role, language and script root:
each kind of user sees exactly its pages, in the reader's language, the current one marked,
and a cached navigation never leaks from one role or language to another."""
from __future__ import annotations

import re

import pytest

from helpdesk.models import Company, CompanyRole, Role
from tests.test_portal_tickets import _user, signed_in

EXPECTED = {  # role: (path, Polish label) in the order shown
    Role.CUSTOMER: [("/dashboard", "Pulpit"), ("/contracts", "Umowy"), ("/tickets", "Zgłoszenia helpdesk"),
                    ("/kb", "Materiały techniczne")],
    Role.PARTNER: [("/dashboard", "Pulpit"), ("/contracts", "Umowy"), ("/tickets", "Zgłoszenia helpdesk"),
                   ("/kb", "Materiały techniczne"), ("/partner", "Partner")],
    Role.ENGINEER: [("/dashboard", "Pulpit"), ("/contracts", "Umowy"), ("/tickets", "Zgłoszenia helpdesk"),
                    ("/kb", "Materiały techniczne"), ("/staff", "Kolejka"), ("/staff/reports", "Raporty"),
                    ("/staff/quarantine", "Kwarantanna"), ("/staff/canned", "Gotowe odpowiedzi")],
}


def _nav(html: str) -> list[tuple[str, str]]:
    block = re.search(r'<ul class="nav">(.*?)</ul>', html, re.S).group(1)
    return re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', block)


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.PARTNER, Role.ENGINEER, Role.ADMIN])
def test_each_role_sees_its_pages_in_its_language_and_the_current_one_marked(app, role):
    company = Company.create(nip="5260250995", name="Firma", role=CompanyRole.INSTALLER.value)
    user = _user(f"{role.value}@example.com", company, role)
    page = signed_in(app, user)
    html = page.get("/terms").get_data(as_text=True)
    shown = _nav(html)
    if role is Role.ADMIN:
        assert shown[:8] == EXPECTED[Role.ENGINEER]
        assert [label for _, label in shown[8:]] == ["Użytkownicy", "Poziomy usług", "Bezpieczeństwo", "Partnerzy",
                                                      "Webhooki"]
    else:
        assert shown == EXPECTED[role]
    assert 'aria-current="page"' not in re.search(r'<ul class="nav">(.*?)</ul>', html, re.S).group(1)
    marked = re.findall(r'<a href="([^"]+)" aria-current="page">', page.get("/kb").get_data(as_text=True))
    assert marked == ["/kb"]
    english = page.get("/language/en", follow_redirects=True).get_data(as_text=True)
    assert ("/kb", "Technical materials") in _nav(english) and ("/dashboard", "Dashboard") in _nav(english)
    assert _nav(page.get("/terms").get_data(as_text=True))[0] == ("/dashboard", "Dashboard")


def test_the_navigation_of_one_role_never_shows_for_another(app):
    company = Company.create(nip="5260250995", name="Firma", role=CompanyRole.INSTALLER.value)
    staff = signed_in(app, _user("eng@example.com", company, Role.ENGINEER), ip="192.0.2.31")
    customer = signed_in(app, _user("cust@example.com", company, Role.CUSTOMER), ip="192.0.2.32")
    for _ in range(2):  # interleaved: a cached navigation must stay per role
        assert len(_nav(staff.get("/terms").get_data(as_text=True))) == 8
        assert _nav(customer.get("/terms").get_data(as_text=True)) == EXPECTED[Role.CUSTOMER]
