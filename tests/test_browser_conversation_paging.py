"""A long ticket in a real browser (headless Chromium, tests/browser.py): the customer sees
the newest messages, follows "Show earlier messages" to the older ones, and reaches a
search hit in an old message from the ticket list, marked. Screenshots of each step."""
from __future__ import annotations

from helpdesk.models import Company, ContractAccess, Message
from helpdesk.web.tickets import CONVERSATION_PAGE
from tests.test_browser_tickets import log_in
from tests.test_conversation_paging import long_ticket
from tests.test_portal_tickets import _contract, _user


def test_the_customer_pages_back_through_a_long_ticket_and_finds_an_old_message(live_portal, browser, chromium):
    company = Company.create(nip="5260001246", name="Firma A")
    contract = _contract("A000001", company)
    alice = _user("alice@a.example", company)
    ContractAccess.create(user=alice, contract=contract)
    ticket, visible = long_ticket(alice, contract, 60)
    page = browser.page
    log_in(page, live_portal.url, "alice@a.example")

    page.goto(f"{live_portal.url}/tickets/{ticket.id}")
    messages = page.locator("ol.conversation > li.message")
    assert messages.count() == CONVERSATION_PAGE
    assert messages.first.get_attribute("id") == f"m{visible[0]}"  # the newest on top
    browser.shot("newest-messages")

    page.click("#earlier")
    page.wait_for_url(f"**start={visible[CONVERSATION_PAGE]}**")
    assert [messages.nth(i).get_attribute("id") for i in range(messages.count())] == [
        f"m{i}" for i in visible[CONVERSATION_PAGE:2 * CONVERSATION_PAGE]]
    assert page.locator("#newest").is_visible()
    browser.shot("earlier-messages")

    # A search from the list: the hit is in a message older than the first page.
    page.goto(f"{live_portal.url}/tickets?q=zasilacz")
    page.click(f'a[href="/tickets/{ticket.id}?q=zasilacz"] >> nth=0')
    hit = Message.get(Message.body_text.contains("Zepsuty")).id
    assert page.locator(f"#m{hit}").count() == 0
    page.click(f'#search-hits a[href$="#m{hit}"]')
    page.wait_for_url(f"**start={hit}**")
    marked = page.locator(f"#m{hit} mark")
    assert marked.count() == 1 and marked.inner_text() == "zasilacz" and marked.is_visible()
    browser.shot("search-hit-marked")
    assert browser.csp_violations == []
