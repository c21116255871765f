"""The portal in a real browser (headless Chromium, tests/browser.py): registering, the
activation link from the mail the SMTP server received, setting a password, verifying a
contract, searching and logging out; a bad registration's per-field messages; no CSP
violations. A screenshot of each step is saved (the folder is printed at the end of the run)."""
from __future__ import annotations

import datetime as dt

from models import Company, Contract, DeviceLine, User

PERSON = dict(first_name="Anna", last_name="Kowalska", email="anna@firma.example", phone="601 234 567",
              nip="5260001246", company_name="Firma Sp. z o.o.")
PASSWORD = "correct horse battery"


def fill_registration(page, live_portal, **changes):
    page.goto(live_portal.url + "/register")
    for name, value in {**PERSON, **changes}.items():
        page.fill(f"#{name}", value)
    page.check("#terms")


def path_of(page) -> str:
    return "/" + page.url.split("/", 3)[3]


def logged_in(page) -> bool:
    return page.locator('form[action="/logout"] button').count() == 1


def test_register_activate_set_password_and_log_out(live_portal, browser):
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
