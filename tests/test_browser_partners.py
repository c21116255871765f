"""The partner programme enrolment in a real browser (headless Chromium, tests/browser.py),
step by step as the seed shows it: the banner, "Register", the terms, the distributors, the
declared level with its targets and commission, "Next", the waiting page; then an admin's
approval and the signed agreement and certificate downloaded and read back. A screenshot
of each step is saved as an artefact; no CSP violations."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pypdf

from helpdesk.domain import passwords
from helpdesk.models import Company, CompanyRole, Distributor, PartnerApplication, Role, User

PASSWORD = "correct horse battery"


def _user(email, company=None, role=Role.PARTNER):
    return User.create(email=email, first_name="Jan", last_name="Kowalski", company=company, role=role.value,
                       password_hash=passwords.hash_password(PASSWORD), is_active=True,
                       activated_at=dt.datetime(2026, 1, 1))


def log_in(page, live_portal, email):
    page.goto(live_portal.url + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(lambda url: "/login" not in url)  # each lands where their work is: /partner, /staff


def test_enrol_in_the_programme_be_approved_and_download_the_documents(live_portal, browser, tmp_path):
    company = Company.create(nip="7740001454", name="Instalator Żółć Sp. z o.o.", role=CompanyRole.INSTALLER.value,
                             verified_at=dt.datetime(2026, 1, 2), address="ul. Długa 1, Łódź")
    partner = _user("jan@instalator.example", company)
    admin = _user("admin@helpdesk.example", role=Role.ADMIN)
    Distributor.create(name="Dystrybutor Północ", nip="1234563218")
    Distributor.create(name="Dystrybutor Południe", nip="9542583988")
    page = browser.page

    log_in(page, live_portal, partner.email)
    page.click("nav a[href='/partner']")
    page.wait_for_url("**/partner")
    browser.shot("partner-portal-banner")
    page.click("#programme-banner")  # KROK 1
    page.wait_for_url("**/partner/programme")
    browser.shot("programme")
    page.click("#programme-register")  # KROK 2
    page.wait_for_url("**/partner/programme/terms")
    page.click("main button[type=submit]")  # without accepting: refused
    page.wait_for_load_state()
    assert page.locator(".has-error").count() == 1
    browser.shot("terms-not-accepted")
    page.check("#accept")  # KROK 3
    browser.shot("terms-accepted")
    page.click("main button[type=submit]")
    page.wait_for_url("**/partner/programme/distributors")
    page.get_by_label("Dystrybutor Północ").check()  # KROK 4
    browser.shot("distributors")
    page.click("main button[type=submit]")
    page.wait_for_url("**/partner/programme/level")
    page.check("input[name=level][value=authorised]")  # KROK 5
    targets = page.locator("#targets-authorised").inner_text().replace("\xa0", " ")  # Polish: 10 000,00
    assert "10 000,00" in targets and "2 500,00" in targets and "200,00" in targets
    browser.shot("declared-level-targets-commission")
    page.click("#programme-next")  # KROK 6
    page.wait_for_url("**/partner/programme/status")
    assert "weryfikacj" in page.locator("#application-status").inner_text()  # KROK 7
    browser.shot("waiting-for-verification")
    page.goto(live_portal.url + "/partner/programme/terms")  # no going back into a submitted application
    page.wait_for_url("**/partner/programme/status")
    page.click('form[action="/logout"] button')
    page.wait_for_url("**/login")

    log_in(page, live_portal, admin.email)
    page.goto(live_portal.url + "/admin/applications")
    browser.shot("admin-applications")
    page.click("#pending-applications a")
    page.wait_for_url("**/admin/applications/*")
    browser.shot("admin-application")
    page.click("button[value=approve]")
    page.wait_for_load_state()
    assert page.locator("#application-state").inner_text() == "approved"
    browser.shot("admin-approved")
    page.click('form[action="/logout"] button')
    page.wait_for_url("**/login")

    mail = live_portal.wait_for_mail(partner.email)  # KROK 8: the notice
    link = live_portal.link(mail, "/partner/programme/status")
    log_in(page, live_portal, partner.email)
    page.goto(link)
    browser.shot("approved-downloads")
    application = PartnerApplication.get()
    texts = {}
    for kind in ("agreement", "certificate"):
        with page.expect_download() as info:
            page.click(f"a[href$='/{kind}.pdf']")
        path = Path(tmp_path / f"{kind}.pdf")
        info.value.save_as(path)
        texts[kind] = "\n".join(p.extract_text() for p in pypdf.PdfReader(path).pages)
        for expected in ("Instalator Żółć Sp. z o.o.", "7740001454", "Autoryzowany", application.verification_code):
            assert expected in texts[kind], (kind, expected)
    page.click(f"a[href='/verify/{application.verification_code}']")
    page.wait_for_url("**/verify/*")
    assert page.locator("#certificate-valid").count() == 1
    browser.shot("certificate-valid")
    assert not browser.csp_violations, browser.csp_violations
