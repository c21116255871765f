"""A ticket's whole life in a real browser (headless Chromium, tests/browser.py), with the
mail in between real too: the customer opens a ticket with an attachment in the portal,
the engineer receives it at the SMTP server and answers by mail (through the Maildir
inbox and the worker), the customer sees the answer on top and adds a CC, and the
engineer answers and closes the ticket on the staff pages, which the new CC receives.
A screenshot of each step is saved."""
from __future__ import annotations

import datetime as dt

from helpdesk.domain import passwords
from helpdesk.models import Company, Contract, ContractAccess, DeviceLine, Role, Ticket, User
from tests.harness import Desk
from tests.mailfactory import make_mail

PASSWORD = "correct horse battery"


def people():
    company = Company.create(nip="5260001246", name="Firma Sp. z o.o.")
    today = dt.date.today()
    contract = Contract.create(number="K100001", company=company, customer_name="Firma Sp. z o.o.",
                               service_level="NBD", starts_on=today - dt.timedelta(days=10),
                               ends_on=today + dt.timedelta(days=300))
    DeviceLine.create(contract=contract, model="Rejestrator NVR-16", serial="SN-4471-AB", address="Łódź")
    DeviceLine.create(contract=contract, model="Kamera IP-4K", serial="SN-4472-CD", address="Łódź")
    hashed = passwords.hash_password(PASSWORD)
    anna = User.create(email="anna@firma.example", first_name="Anna", last_name="Kowalska", company=company,
                       password_hash=hashed, is_active=True, activated_at=dt.datetime(2026, 1, 1))
    ContractAccess.create(user=anna, contract=contract)
    User.create(email="jan.inzynier@helpdesk.example", first_name="Jan", last_name="Inżynier",
                role=Role.ENGINEER.value, password_hash=hashed, is_active=True, activated_at=dt.datetime(2026, 1, 1))
    return contract


def log_in(page, url, address):
    page.goto(url + "/login")
    page.fill("#email", address)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(lambda url: "/login" not in url)  # the customer's dashboard, the engineer's queue


def test_a_ticket_from_the_portal_answered_by_mail_and_closed_on_the_staff_pages(live_portal, browser, chromium,
                                                                                 tmp_path):
    contract = people()
    page = browser.page
    log_in(page, live_portal.url, "anna@firma.example")
    browser.shot("dashboard")

    # The customer opens a ticket from the contract on the dashboard, with a file.
    page.click(f'a[href="/tickets/new?contract={contract.id}"]')
    page.check("text=Kamera IP-4K · SN-4472-CD")
    page.fill("#title", "Kamera nie nagrywa w nocy")
    page.fill("#description", "Od poniedziałku kamera nie zapisuje obrazu między 22:00 a 6:00.")
    log = tmp_path / "kamera.log"
    log.write_text("2026-11-23 22:00:01 recording stopped: disk full\n")
    page.set_input_files("#attachments", str(log))
    browser.shot("new-ticket")
    page.click("main button[type=submit]")
    page.wait_for_url("**/tickets/*")
    ticket = Ticket.get()
    assert "Kamera nie nagrywa w nocy" in page.locator("h1").inner_text()
    assert page.locator("ul.files a").inner_text() == "kamera.log"
    browser.shot("ticket-opened")

    # The engineer gets it by mail, with the file, and answers from a mail client.
    notice = live_portal.wait_for_mail("jan.inzynier@helpdesk.example")
    [attached] = list(notice.iter_attachments())
    assert attached.get_filename() == "kamera.log" and b"disk full" in attached.get_payload(decode=True)
    answer = make_mail("Dzień dobry,\n\nproszę zwolnić miejsce na dysku rejestratora.\n\nJan\n",
                       From="Jan Inżynier <jan.inzynier@helpdesk.example>", To=notice["Reply-To"],
                       Subject="Re: " + notice["Subject"], In_Reply_To=notice["Message-ID"],
                       References=notice["Message-ID"])
    desk = Desk(live_portal.config)
    desk.deliver(answer)
    assert desk.run().outcomes == {"staff_reply": 1}

    # The customer sees the answer on top, and adds a CC.
    page.reload()
    first = page.locator("ol.conversation > li").first
    assert "zwolnić miejsce na dysku" in first.inner_text() and "Jan" in first.inner_text()
    assert ticket.id and Ticket.get_by_id(ticket.id).status == "waiting_customer"
    browser.shot("answer-on-top")
    page.fill("#cc-addresses", "serwis@firma.example")
    page.click("#people button[type=submit]:has-text('Dodaj')")
    page.wait_for_url(f"**/tickets/{ticket.id}#people")
    assert "serwis@firma.example" in page.locator("#people").inner_text()
    browser.shot("cc-added")

    # The engineer answers and closes the ticket on the staff pages; the new CC gets it.
    staff = chromium.new_context(locale="pl-PL", viewport={"width": 1200, "height": 900})
    try:
        engineer_page = staff.new_page()
        log_in(engineer_page, live_portal.url, "jan.inzynier@helpdesk.example")
        engineer_page.goto(f"{live_portal.url}/staff/tickets/{ticket.id}")
        assert "kamera.log" in engineer_page.locator("ol.conversation").inner_text()
        engineer_page.fill("#text", "Po zwolnieniu miejsca nagrywanie wróciło. Zamykam zgłoszenie.")
        engineer_page.check("#close")
        engineer_page.screenshot(path=str(browser.folder / "07-staff-answer.png"), full_page=True)
        engineer_page.click("#reply button[type=submit]")
        engineer_page.wait_for_url(f"**/staff/tickets/{ticket.id}")
        engineer_page.screenshot(path=str(browser.folder / "08-staff-closed.png"), full_page=True)
    finally:
        staff.close()
    assert Ticket.get_by_id(ticket.id).status == "closed"
    closing = live_portal.wait_for_mail("serwis@firma.example")
    assert "nagrywanie wróciło" in closing.get_body(("plain",)).get_content()
    assert closing["In-Reply-To"] and f"[HD-{ticket.id}]" in closing["Subject"]

    page.reload()
    assert "Zamknięte" in page.locator("main").inner_text()
    assert page.locator("text=Otwórz ponownie").count() == 1
    browser.shot("customer-sees-closed")
    assert not browser.csp_violations
