"""Issue 17 in a real browser (headless Chromium, tests/browser.py): the customer opens a
ticket about one device; the customer's and the engineer's ticket pages show that device
with the contract and its service level, the customer's pages the hotline and the support
address, and the times are Polish. A screenshot of each step, the customer's page at phone width too."""
from __future__ import annotations

import pytest

from helpdesk.models import Message, Ticket
from tests.test_browser_tickets import log_in, people

HOTLINE = "+48 22 123 45 67"
SERIAL = "SN-4472-CD"


@pytest.fixture
def config(config):
    return config.with_(hotline=HOTLINE)


def test_the_device_contact_and_polish_time_on_the_ticket_pages(live_portal, browser, chromium):
    import datetime as dt

    contract = people()
    page = browser.page
    log_in(page, live_portal.url, "anna@firma.example")
    assert page.locator("#contact").inner_text().count(HOTLINE) == 1
    assert page.locator('#contact a[href="tel:+48221234567"]').count() == 1
    browser.shot("dashboard-contact")

    page.goto(f"{live_portal.url}/tickets/new?contract={contract.id}")
    page.check("text=Kamera IP-4K · SN-4472-CD")
    page.fill("#title", "Kamera nie nagrywa")
    page.fill("#description", "Od wczoraj brak zapisu.")
    page.click("main button[type=submit]")
    page.wait_for_url("**/tickets/*")
    ticket = Ticket.get()
    Message.update(created_at=dt.datetime(2026, 12, 2, 6, 9)).execute()  # 07:09 in Warsaw
    page.reload()
    device = page.locator("#device").inner_text()
    for part in ("K100001", "NBD", "Kamera IP-4K", "SN-4472-CD", "Łódź"):
        assert part in device, device
    assert "SN-4471-AB" not in device  # the device not chosen
    assert "2026-12-02 07:09" in page.locator("ol.conversation time").first.inner_text()
    assert HOTLINE in page.locator("#contact").inner_text()
    browser.shot("customer-ticket")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.locator("#device").is_visible()
    assert SERIAL in page.locator("#device").inner_text()  # (the page's phone layout is item 9's)
    browser.shot("customer-ticket-phone")

    page.set_viewport_size({"width": 1200, "height": 900})
    page.context.clear_cookies()  # sign in again as the engineer
    page.goto(live_portal.url + "/login")
    page.fill("#email", "jan.inzynier@helpdesk.example")
    page.fill("#password", "correct horse battery")
    page.press("#password", "Enter")
    page.wait_for_load_state()
    page.goto(f"{live_portal.url}/staff/tickets/{ticket.id}")
    device = page.locator("#device").inner_text()
    assert "SN-4472-CD" in device and "Kamera IP-4K" in device and "NBD" in device
    browser.shot("staff-ticket")
