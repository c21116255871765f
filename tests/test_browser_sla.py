"""An engineer's day in a real browser (headless Chromium, tests/browser.py): the queue sorted
by due time with the breached ticket in red on top, the ticket's clocks, an answer with
time spent, and the reports page with its server-drawn charts, under the portal's CSP.
A screenshot of each step is saved."""
from __future__ import annotations

import datetime as dt

from helpdesk.domain import passwords, service_levels, tickets
from helpdesk.models import Company, Contract, MessageKind, Role, Ticket, User, utcnow

PASSWORD = "correct horse battery"
H = dt.timedelta(hours=1)


def seed(config):
    settings = service_levels.settings_of(config)
    service_levels.set_policy(settings, "Gold", "1h", "100h", "24x7")
    company = Company.create(nip="5260001246", name="Firma Sp. z o.o.")
    contract = Contract.create(number="K100001", company=company, customer_name="Firma Sp. z o.o.",
                               service_level="Gold", starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2030, 1, 1))
    jan = User.create(email="jan.inzynier@helpdesk.example", first_name="Jan", last_name="Inżynier",
                      role=Role.ENGINEER.value, password_hash=passwords.hash_password(PASSWORD), is_active=True,
                      activated_at=dt.datetime(2026, 1, 1))
    now = utcnow()
    made = {}
    for subject, age in (("Kamera nie nagrywa", 2 * H), ("Rejestrator piszczy", H / 2), ("Pytanie o fakturę", H / 4)):
        made[subject] = tickets.open_ticket(subject=subject, requester_email="anna@firma.example", now=now - age,
                                            contract=contract if subject != "Pytanie o fakturę" else None,
                                            sla=settings)
    # some history for the reports: answered and closed tickets of the last weeks
    for i in range(6):
        opened = now - dt.timedelta(days=3 + 5 * i)
        t = tickets.open_ticket(subject=f"Stare zgłoszenie {i}", requester_email="anna@firma.example", now=opened,
                                contract=contract, sla=settings)
        tickets.add_message(t, kind=MessageKind.STAFF, author_email=jan.email, body_text="Sprawdzam.",
                            now=opened + (i + 1) * H / 3, minutes=15 * (i + 1), author=jan)
        Ticket.update(assignee=jan).where(Ticket.id == t.id).execute()
        tickets.set_status(t, tickets.Status.CLOSED, now=opened + (i + 2) * 20 * H)
    return made


def test_an_engineer_sorts_the_queue_by_due_time_answers_and_opens_the_reports(live_portal, browser):
    made = seed(live_portal.config)
    page = browser.page
    page.goto(live_portal.url + "/login")
    page.fill("#email", "jan.inzynier@helpdesk.example")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_load_state()

    # The queue of all tickets, newest change first; the engineer sorts it by due time.
    page.goto(live_portal.url + "/staff?queue=all")
    browser.shot("queue-by-last-change")
    page.click("#sort-due")
    page.wait_for_url("**sort=due**")
    subjects = page.locator("table.list tbody tr td:nth-child(2)").all_inner_texts()
    assert subjects[:3] == ["Kamera nie nagrywa", "Rejestrator piszczy", "Pytanie o fakturę"]
    late = page.locator("table.list tbody tr").first.locator("td.due")
    assert "overdue" in late.get_attribute("class")
    running = page.locator("table.list tbody tr").nth(1).locator("td.due")
    assert "zostało" in running.inner_text()
    color = "e => getComputedStyle(e).color"
    assert late.evaluate(color) != running.evaluate(color)  # red
    browser.shot("queue-due-soonest")

    # Its default view is the same "due soonest" order.
    page.goto(live_portal.url + "/staff")
    assert page.locator("table.list tbody tr td:nth-child(2)").first.inner_text() == "Kamera nie nagrywa"

    # The breached ticket: both clocks, then an answer with the time spent.
    page.click("text=Kamera nie nagrywa")
    assert page.locator("#sla .clock.overdue").count() == 1
    browser.shot("ticket-clocks")
    page.fill("#text", "Sprawdzamy dysk rejestratora.")
    page.fill("#minutes", "25m")
    page.click("#reply form button.button:not(.secondary) >> nth=0")
    page.wait_for_url(f"**/staff/tickets/{made['Kamera nie nagrywa'].id}")
    assert "25 min" in page.locator("#sla").inner_text()
    browser.shot("answered-with-time")

    # The reports: every chart drawn (an image the browser decoded), each with its table.
    page.click("nav >> text=Raporty")
    page.wait_for_url("**/staff/reports")
    page.wait_for_load_state("networkidle")
    charts = page.locator("img.chart")
    assert charts.count() == 6
    for i in range(charts.count()):
        assert charts.nth(i).evaluate("img => img.complete && img.naturalWidth > 0"), i
    assert page.locator("table[data-report=time_spent]").inner_text().count("K100001") == 1
    browser.shot("reports")
    assert browser.csp_violations == []
