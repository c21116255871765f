"""The portal in a real browser (headless Chromium, tests/browser.py): registering, the
activation link from the mail the SMTP server received, setting a password, verifying a
contract, searching and logging out; a bad registration's per-field messages; no CSP
violations. A screenshot of each step is saved (the folder is printed at the end of the run)."""
from __future__ import annotations

import datetime as dt

from helpdesk.domain import contracts
from helpdesk.domain.contract_csv import ContractRow, Line
from helpdesk.models import User

PERSON = dict(first_name="Anna", last_name="Kowalska", email="anna@firma.example", phone="601 234 567",
              nip="5260001246", company_name="Firma Sp. z o.o.")
PASSWORD = "correct horse battery"


def company_contracts():
    """Two contracts of the company Anna registers for (by its NIP), one of another company."""
    today = dt.date.today()

    def contract(number, nip, customer, lines):
        return ContractRow(number=number, nip=nip, customer_name=customer, service_level="NBD",
                           starts_on=today - dt.timedelta(days=30), ends_on=today + dt.timedelta(days=335),
                           partner_nip="", first_line=2,
                           lines=[Line(2, model, serial, address) for model, serial, address in lines])

    report = contracts.store([
        contract("K100001", PERSON["nip"], "Firma Sp. z o.o.", [
            ("Rejestrator NVR-16", "SN-4471-AB", "ul. Piotrkowska 1, Łódź"),
            ("Kamera IP-4K", "SN-4472-CD", "ul. Piotrkowska 1, Łódź")]),
        contract("K100002", PERSON["nip"], "Firma Sp. z o.o.", [
            ("Centrala alarmowa", "SN-9000-EF", "ul. Długa 5, Gdańsk")]),
        contract("K200001", "7740001454", "Inna firma", [("Kamera IP-4K", "SN-5555-XY", "ul. Zielona 2, Łódź")]),
    ])
    assert report.contracts_created == 3 and not report.refused


def fill_registration(page, live_portal, **changes):
    page.goto(live_portal.url + "/register")
    for name, value in {**PERSON, **changes}.items():
        page.fill(f"#{name}", value)
    page.check("#terms")


def path_of(page) -> str:
    return "/" + page.url.split("/", 3)[3]


def logged_in(page) -> bool:
    return page.locator('form[action="/logout"] button').count() == 1


def test_register_activate_set_password_verify_search_and_log_out(live_portal, browser):
    company_contracts()
    page = browser.page
    fill_registration(page, live_portal)
    browser.shot("register-filled")
    page.press("#company_name", "Enter")  # submitted with the keyboard
    page.wait_for_url("**/register/done")
    assert page.locator("h1").inner_text() == "Sprawdź pocztę"
    browser.shot("check-your-mail")

    activation = live_portal.link(live_portal.wait_for_mail(PERSON["email"]), "/activate/")
    page.goto(activation)
    assert PERSON["email"] in page.locator("main").inner_text()
    browser.shot("activation-page")
    assert not User.get(User.email == PERSON["email"]).is_active  # opening the link changes nothing
    page.click("main button[type=submit]")
    page.wait_for_url("**/dashboard")
    assert logged_in(page)
    browser.shot("activated")

    set_password = live_portal.link(live_portal.wait_for_mail(PERSON["email"], 2), "/password/set/")
    page.goto(set_password)
    page.fill("#password", PASSWORD)
    page.fill("#repeat", PASSWORD)
    browser.shot("set-password")
    page.click("main button[type=submit]")
    page.wait_for_url("**/dashboard")
    assert logged_in(page) and page.locator(".flash.success").count() == 1
    browser.shot("password-set")

    # Verify a contract: a wrong serial first (refused, nothing kept), then the right one.
    page.click("main a[href='/contracts/verify']")
    page.wait_for_url("**/contracts/verify")
    page.fill("#number", "K100001")
    page.fill("#serial", "SN-9000-EF")  # a serial of the other contract: refused
    page.press("#serial", "Enter")
    page.wait_for_load_state()
    assert page.locator("[role=alert]").count() == 1 and page.locator("#number").input_value() == ""
    browser.shot("verify-refused")
    page.fill("#number", "K100001")
    page.fill("#serial", "sn-4472-cd")  # case does not matter
    browser.shot("verify-filled")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/contracts")
    assert "K100001" in page.locator(".flash.success").inner_text()
    assert page.locator("table.list tbody tr").count() == 1
    browser.shot("contract-verified")

    page.goto(live_portal.url + "/dashboard")
    assert "K100001" in page.locator("main").inner_text() and "K100002" not in page.locator("main").inner_text()
    browser.shot("dashboard")

    # Search: by city without diacritics, by model; the other company's contract never shows.
    page.goto(live_portal.url + "/contracts")
    for query, found in (("lodz", ["K100001"]), ("kamera", ["K100001"]), ("gdansk", [])):
        page.fill("#q", query)
        page.press("#q", "Enter")
        page.wait_for_url(f"**/contracts?q={query}")
        rows = page.locator("table.list tbody tr td:first-child").all_inner_texts()
        assert rows == found, (query, rows)
        browser.shot(f"search-{query}")

    page.click('form[action="/logout"] button')
    page.wait_for_url("**/login")
    assert not logged_in(page)
    browser.shot("logged-out")
    page.goto(live_portal.url + "/dashboard")
    assert path_of(page).startswith("/login")

    # The password set in the browser works on the login page.
    page.fill("#email", PERSON["email"])
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url("**/dashboard")
    assert logged_in(page)
    browser.shot("logged-in-again")
    assert browser.csp_violations == []


def test_a_bad_registration_shows_a_message_at_each_wrong_field(live_portal, browser):
    page = browser.page
    fill_registration(page, live_portal, nip="5260001245", phone="+48601234567")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert path_of(page) == "/register"
    assert "cyfra kontrolna" in page.locator("#nip-error").inner_text()
    assert "bez numeru kierunkowego" in page.locator("#phone-error").inner_text()
    assert page.locator("#nip").get_attribute("aria-invalid") == "true"
    assert page.locator("#phone").get_attribute("aria-describedby").endswith("phone-error")
    assert page.locator("#email-error").count() == 0 and page.locator("#first_name-error").count() == 0
    assert page.locator("#first_name").input_value() == "Anna"  # what was right is kept
    assert page.locator("[role=alert]").count() == 1
    browser.shot("bad-registration")
    assert User.select().count() == 0 and live_portal.smtp.received == []
    assert browser.csp_violations == []


def test_pages_break_no_content_security_policy_rule(live_portal, browser):
    page = browser.page
    for path in ("/", "/register", "/login", "/password/forgot", "/terms", "/activate/resend"):
        page.goto(live_portal.url + path)
        page.wait_for_load_state("load")
        assert page.evaluate("document.styleSheets[0].cssRules.length") > 0  # the stylesheet is allowed
    browser.shot("login")
    assert browser.csp_violations == [], browser.csp_violations
    # The check does see a violation: an inline script is refused by the policy.
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';
                             document.head.appendChild(s); }""")
    page.wait_for_timeout(200)
    assert page.evaluate("window.ran") is None
    # (Older Chromium says "Refused to execute inline script", 156 "Executing inline script violates".)
    assert any("inline script" in m for m in browser.csp_violations), browser.console
