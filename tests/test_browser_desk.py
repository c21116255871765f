"""An engineer's working day in a real browser (headless Chromium, tests/browser.py): two
tickets arrive by mail, the engineer answers one with a canned answer inserted on the
reply form (no JavaScript needed), tags it, finds it by its tag in the queue, and merges
the customer's second ticket into it; the customer receives the answer by mail.
A screenshot of each step is saved."""
from __future__ import annotations

from helpdesk.domain import canned
from helpdesk.models import Message, Ticket, User
from tests.harness import Desk
from tests.mailfactory import make_mail
from tests.test_browser_tickets import log_in, people


def test_an_engineer_answers_with_a_canned_answer_tags_and_merges(live_portal, browser):
    people()
    engineer = User.get(User.email == "jan.inzynier@helpdesk.example")
    canned.save("restart", title="Restart rejestratora", by=engineer,
                body_pl="Dzień dobry {{ customer.first_name }},\nproszę zrestartować rejestrator "
                        "({{ ticket.ref }}).\nPozdrawiam, {{ engineer.name }}", body_en="")
    desk = Desk(live_portal.config)
    desk.deliver(make_mail("Rejestrator nie nagrywa od rana.\n", From="Anna Kowalska <anna@firma.example>",
                           Subject="Rejestrator nie nagrywa", Message_ID="<r1@firma.example>"))
    desk.deliver(make_mail("I jeszcze kamera 2 nie działa.\n", From="Anna Kowalska <anna@firma.example>",
                           Subject="Kamera 2", Message_ID="<k1@firma.example>"))
    assert desk.run().outcomes == {"new_ticket": 2}
    first, second = Ticket.select().order_by(Ticket.id)

    page = browser.page
    log_in(page, live_portal.url, engineer.email)
    page.goto(f"{live_portal.url}/staff/tickets/{first.id}")
    browser.shot("ticket")

    # A canned answer, inserted below what was typed.
    page.fill("#text", "Witam,")
    page.select_option("select#canned", "restart")
    page.click("button[name=insert]")
    page.wait_for_load_state()
    text = page.input_value("#text")
    assert text.startswith("Witam,\n\nDzień dobry Anna,") and f"(HD-{first.id})" in text
    assert "Pozdrawiam, Jan Inżynier" in text
    browser.shot("canned-inserted")
    page.click("#reply button.button:not([name])")
    page.wait_for_url(f"**/staff/tickets/{first.id}")
    assert "proszę zrestartować rejestrator" in page.locator("ol.conversation > li").first.inner_text()
    browser.shot("answered")
    answer = live_portal.wait_for_mail("anna@firma.example", count=3)  # two acknowledgements, then this
    assert "proszę zrestartować rejestrator" in answer.get_body(("plain",)).get_content()

    # A tag, and the queue filtered by it.
    page.fill("#tag-tags", "VIP, rejestrator")
    page.click("#tags form:not(.inline) button")
    page.wait_for_url(f"**/staff/tickets/{first.id}#tags")
    assert page.locator("#tags ul.tags").inner_text().split() == ["rejestrator", "×", "vip", "×"]
    browser.shot("tagged")
    page.goto(f"{live_portal.url}/staff?queue=all&tag=vip")
    rows = page.locator("table.list tbody tr")
    assert rows.count() == 1 and "Rejestrator nie nagrywa" in rows.first.inner_text()
    browser.shot("queue-by-tag")

    # The second ticket merged into the first.
    page.goto(f"{live_portal.url}/staff/tickets/{second.id}")
    page.fill("#merge-target", str(first.id))
    page.click("#merge button")
    page.wait_for_url(f"**/staff/tickets/{first.id}")
    conversation = page.locator("ol.conversation").inner_text()
    assert "kamera 2 nie działa" in conversation and "Rejestrator nie nagrywa od rana" in conversation
    assert f"HD-{second.id}" in page.locator("#merge").inner_text()
    browser.shot("merged")
    page.goto(f"{live_portal.url}/staff/tickets/{second.id}")
    page.wait_for_url(f"**/staff/tickets/{first.id}")
    browser.shot("merged-ticket-redirects")
    assert Message.select().where(Message.ticket == second.id).count() == 0
    assert Ticket.get_by_id(second.id).merged_into_id == first.id
    assert not browser.csp_violations
