"""Issue 17, items 5 and 6 in a real browser (headless Chromium, tests/browser.py), with
real mail: a partner finds its customer's contract and ticket, reads it without a reply
form, opts in to notices and receives the customer's next entry (not the earlier one);
a customer sees the articles for its devices first, gets the chosen device's tips on the
new-ticket form (the script switches them with the device), searches in Polish and
English, and a hostile article runs nothing. Screenshots of each step, at phone width too."""
from __future__ import annotations

import datetime as dt

from helpdesk.domain import conversation, kb, passwords
from helpdesk.models import Company, CompanyRole, Contract, ContractAccess, DeviceLine, Role, Ticket, User
from tests.portal import body

PASSWORD = "correct horse battery"
TODAY = dt.date.today()


def _user(email, company, role=Role.CUSTOMER):
    return User.create(email=email, first_name=email.split("@")[0].title(), last_name="Nowak", company=company,
                       role=role.value, password_hash=passwords.hash_password(PASSWORD), is_active=True,
                       activated_at=dt.datetime(2026, 1, 1))


def _world():
    partner_company = Company.create(nip="7740001454", name="Instalator Żółć Sp. z o.o.",
                                     role=CompanyRole.INSTALLER.value, verified_at=dt.datetime(2026, 1, 2),
                                     partner_level=1)
    rival_company = Company.create(nip="9542583988", name="Konkurent", role=CompanyRole.INTEGRATOR.value,
                                   verified_at=dt.datetime(2026, 1, 2))
    pharmacy = Company.create(nip="5260001246", name="Apteka Pod Lipami")
    hotel = Company.create(nip="1234563218", name="Hotel Wawel")
    ours = Contract.create(number="D100101", company=pharmacy, partner=partner_company,
                           customer_name="Apteka Pod Lipami", service_level="Gold 24/7",
                           starts_on=TODAY - dt.timedelta(days=30), ends_on=TODAY + dt.timedelta(days=300))
    nvr = DeviceLine.create(contract=ours, model="Hikvision DS-7716NI-K4 (rejestrator NVR)", serial="DS-1",
                            address="ul. Marszałkowska 84/92, Warszawa")
    DeviceLine.create(contract=ours, model="Satel INTEGRA 64 Plus (centrala alarmowa)", serial="INT-1",
                      address="ul. Marszałkowska 84/92, Warszawa")
    theirs = Contract.create(number="D200201", company=hotel, partner=rival_company, customer_name="Hotel Wawel",
                             starts_on=TODAY - dt.timedelta(days=30), ends_on=TODAY + dt.timedelta(days=300))
    DeviceLine.create(contract=theirs, model="Fortinet FortiGate 60F", serial="FG-1", address="Kraków")
    anna = _user("anna@apteka.example", pharmacy)
    ContractAccess.create(user=anna, contract=ours)
    hotelier = _user("ewa@hotel.example", hotel)
    ContractAccess.create(user=hotelier, contract=theirs)
    partner = _user("jan@instalator.example", partner_company, Role.PARTNER)
    return ours, theirs, nvr, anna, hotelier, partner


def log_in(page, live_portal, email):
    page.goto(live_portal.url + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(lambda url: "/login" not in url)


def fits_a_phone(page) -> bool:
    """The page's content is no wider than the screen (tables scroll inside their box)."""
    return page.evaluate("document.querySelector('main').scrollWidth <= document.querySelector('main').clientWidth")


def test_a_partner_reads_its_customers_ticket_and_gets_notices_after_opting_in(live_portal, browser):
    ours, theirs, nvr, anna, hotelier, partner = _world()
    config = live_portal.config
    ticket = conversation.submit_ticket(config, anna, contract=ours, line=nvr, title="Rejestrator nie nagrywa",
                                        description="Pierwszy wpis: od wczoraj brak zapisu.")
    other = conversation.submit_ticket(config, hotelier, contract=theirs, line=theirs.lines.get(),
                                       title="Zapora blokuje VPN", description="Nie działa VPN.")
    page = browser.page
    log_in(page, live_portal, partner.email)
    page.goto(live_portal.url + "/partner")
    page.click("#customers-link")
    page.wait_for_url("**/partner/customers")
    assert page.locator("#customer-contracts").inner_text().count("D100101") == 1
    assert "D200201" not in page.content()
    browser.shot("partner-customers")
    page.click("text=D100101")
    page.wait_for_url(f"**/partner/customers/contracts/{ours.id}")
    assert "DS-1" in page.content()
    browser.shot("customer-contract")
    page.click("text=Rejestrator nie nagrywa")
    page.wait_for_url(f"**/tickets/{ticket.id}")
    assert page.locator("#read-only").is_visible()
    assert page.locator("#reply").count() == 0 and page.locator("form[action$='/cc']").count() == 0
    browser.shot("ticket-read-only")
    response = page.goto(live_portal.url + f"/tickets/{other.id}")
    assert response.status == 404  # another partner's customer
    browser.shot("another-partners-ticket-not-found")

    page.goto(live_portal.url + "/partner/customers")
    page.check("#notices")
    page.click("#notice-choices button[type=submit]")
    page.wait_for_url("**/partner/customers")
    assert page.locator(".flash.success").count() == 1
    browser.shot("notices-on")
    conversation.reply(config, ticket.id, User.get_by_id(anna.id), "Drugi wpis: dysk wymieniony, dalej nic.")
    mail = live_portal.wait_for_mail(partner.email)
    text = body(mail)
    assert "Drugi wpis" in text and "Pierwszy wpis" not in text  # only what came after it opted in
    assert "Rejestrator nie nagrywa" in mail["Subject"]

    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in (("/partner/customers", "phone-customers"), ("/partner/customers/tickets", "phone-tickets"),
                       (f"/partner/customers/contracts/{ours.id}", "phone-contract")):
        page.goto(live_portal.url + path)
        browser.shot(name)
        assert fits_a_phone(page), path
    page.goto(live_portal.url + f"/tickets/{ticket.id}")
    browser.shot("phone-ticket")  # (the ticket page is shared: its phone width is checked with every page's)
    assert browser.csp_violations == []
    assert Ticket.select().count() == 2


def test_a_customer_finds_articles_for_its_devices_and_tips_on_the_new_ticket_form(live_portal, browser):
    ours, theirs, nvr, anna, hotelier, partner = _world()
    config = live_portal.config
    nvr_tip = kb.save(config, kb.Draft("Rejestrator nie nagrywa: sprawdź dysk",
                                       "## Co zrobić\n\n1. Sprawdź **stan dysku** w menu *Konserwacja*.\n"
                                       "2. Sformatuj dysk.\n\n| Dioda | Znaczenie |\n|---|---|\n| czerwona | błąd |\n",
                                       models=["DS-7716NI-K4"], audience="customers"))
    satel_tip = kb.save(config, kb.Draft("INTEGRA: kody serwisowe", "Kod serwisowy zmienisz w DloadX.",
                                         manufacturers=["Satel"]))
    kb.save(config, kb.Draft("Printer queue stuck", "Restart the printing service after updates.", language="en"))
    kb.save(config, kb.Draft("Hostile", "<script>window.hacked = 1</script>\n\n[kliknij](javascript:window.hacked=2)\n\n"
                                        '<img src="x" onerror="window.hacked=3">'))
    page = browser.page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, live_portal, anna.email)
    page.goto(live_portal.url + "/kb")
    yours = page.locator("#for-your-devices")
    assert yours.is_visible()
    titles = yours.locator("a").all_inner_texts()
    assert titles[:2] == [nvr_tip.title, satel_tip.title]
    browser.shot("kb-for-your-devices")
    page.fill("#q", "drukarki")
    page.press("#q", "Enter")
    page.wait_for_load_state()
    page.fill("#q", "printers")
    page.press("#q", "Enter")
    page.wait_for_url("**q=printers**")
    assert "Printer queue stuck" in page.content()
    browser.shot("kb-search-english")
    page.fill("#q", "dysku")  # another Polish form of "dysk"
    page.press("#q", "Enter")
    page.wait_for_url("**q=dysku**")
    assert nvr_tip.title in page.content() and "Printer queue" not in page.content()
    browser.shot("kb-search-polish")
    page.click(f"text={nvr_tip.title}")
    page.wait_for_url(f"**/kb/{nvr_tip.id}")
    assert page.locator(".kb-body strong").first.inner_text() == "stan dysku"
    assert page.locator(".kb-body table").count() == 1
    browser.shot("kb-article")

    hostile = kb.listing(kb.ANONYMOUS, text="hostile")[0][0]
    page.goto(live_portal.url + f"/kb/{hostile.id}")
    assert page.locator(".kb-body a").count() == 0  # a javascript: link is no link
    assert page.evaluate("window.hacked === undefined") and dialogs == []
    browser.shot("kb-hostile-article")

    page.goto(live_portal.url + f"/tickets/new?contract={ours.id}")
    box = page.locator("#kb-suggestions")
    page.get_by_label("Hikvision DS-7716NI-K4", exact=False).check()
    assert box.locator(f"text={nvr_tip.title}").is_visible()
    assert not box.locator(f"text={satel_tip.title}").is_visible()
    browser.shot("new-ticket-tips-nvr")
    page.get_by_label("Satel INTEGRA 64 Plus", exact=False).check()
    assert box.locator(f"text={satel_tip.title}").is_visible()
    assert not box.locator(f"text={nvr_tip.title}").is_visible()
    browser.shot("new-ticket-tips-satel")
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in (("/kb", "phone-kb"), (f"/kb/{nvr_tip.id}", "phone-article"),
                       (f"/tickets/new?contract={ours.id}", "phone-new-ticket")):
        page.goto(live_portal.url + path)
        browser.shot(name)
        assert fits_a_phone(page), path
    assert browser.csp_violations == []
