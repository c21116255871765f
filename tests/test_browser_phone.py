"""Every page fits a phone (issue 17, item 9): in headless Chromium at 390 px wide, each page
of the portal a customer, a partner, an engineer and an admin can open (the URL map with
arguments from the lived-in world of tests/world.py) scrolls only down, never sideways:
document.scrollingElement.scrollWidth <= innerWidth, and the header spans the page. A
screenshot of each role's main pages is saved (tests/browser.py)."""
from __future__ import annotations

import os
import re

import pytest

from tests import world as world_mod

PHONE = {"width": 390, "height": 844}
# What each role works in, photographed (every other page is measured only).
MAIN = {
    "customer": ("/dashboard", "/contracts", "/contracts/{contract}", "/tickets", "/tickets/{ticket}",
                 "/tickets/new?contract={contract}",
                 "/account"),
    "partner": ("/dashboard", "/partner", "/partner/programme/status", "/partner/company", "/partner/level",
                "/partner/sales", "/partner/resources", "/contracts"),
    "engineer": ("/staff", "/staff/tickets/{ticket}", "/staff/tickets/{mail_ticket}", "/staff/reports",
                 "/staff/canned", "/staff/quarantine"),
    "admin": ("/staff/users", "/staff/security", "/staff/sla", "/admin/applications", "/admin/applications/{application}",
              "/admin/companies", "/admin/audit", "/admin/resources", "/admin/levels", "/admin/distributors",
              "/admin/webhooks"),
}
# The page's width, the window's, the header's (a page without the portal's header, such as a
# mail's HTML shown alone, counts as spanning), and the first elements sticking out.
WIDTHS = """() => ({page: document.scrollingElement.scrollWidth, view: window.innerWidth,
                   header: (document.querySelector('header.top') || document.body).getBoundingClientRect().width,
                   wide: [...document.querySelectorAll('body *')]
                           .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                           .filter(e => e.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
                           .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)})"""


def log_in(page, url: str, address: str) -> None:
    page.goto(url + "/login")
    page.fill("#email", address)
    page.fill("#password", world_mod.PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.url


def test_every_page_fits_a_phone_390_px_wide(app, config, live_portal, browser):
    w = world_mod.build(app, config)
    ids = {"contract": w.contract.id, "ticket": w.ticket.id, "mail_ticket": w.mail_ticket.id,
           "application": w.application.id}
    urls = [url for _, url in world_mod.page_urls(app, w)]
    people = {"customer": w.customer, "partner": w.partner, "engineer": w.engineer, "admin": w.admin}
    page = browser.page
    page.set_viewport_size(PHONE)
    too_wide, measured = [], 0
    only = os.environ.get("HELPDESK_TEST_PHONE_ROLES")  # while working on the styles: some roles
    for who, user in people.items():
        if only and who not in only.split(","):
            continue
        client = world_mod.signed_in(app, user, ip=f"192.0.2.{60 + len(too_wide) % 50}")
        pages = []
        for url in urls:  # those this role opens as an HTML page (the test client asks first: it is quicker)
            with client.get(url) as response:
                if response.status_code == 200 and response.mimetype == "text/html":
                    pages.append(url)
        main = [m.format(**ids) for m in MAIN[who]]
        for url in main:
            with client.get(url) as response:
                assert response.status_code == 200, (who, url, response.status_code)
        browser.page.context.clear_cookies()
        log_in(page, live_portal.url, user.email)
        for url in main + [u for u in pages if u not in main]:
            page.goto(live_portal.url + url)
            sizes = page.evaluate(WIDTHS)
            measured += 1
            if url in main:
                browser.shot(f"{who}-{re.sub(r'[^a-z0-9]+', '-', url.strip('/')) or 'home'}")
            if sizes["page"] > sizes["view"] or sizes["header"] < sizes["view"]:
                too_wide.append(f"{who} {url}: {sizes}")
                name = f"{who}-{re.sub(r'[^a-z0-9]+', '-', url.strip('/'))}-too-wide"
                browser.shot(name)
                (browser.folder / f"{name}.html").write_text(page.content())
    assert measured > (5 if only else 60), measured
    assert not too_wide, "pages wider than a phone:\n" + "\n".join(too_wide)


@pytest.mark.parametrize("width", [390])
def test_the_login_page_and_the_home_page_fit_a_phone_for_visitors(live_portal, browser, width):
    page = browser.page
    page.set_viewport_size({"width": width, "height": 844})
    for url in ("/", "/login", "/register", "/partner/register", "/password/forgot", "/terms"):
        page.goto(live_portal.url + url)
        sizes = page.evaluate(WIDTHS)
        browser.shot(f"visitor-{url.strip('/').replace('/', '-') or 'home'}")
        assert sizes["page"] <= sizes["view"] and sizes["header"] >= sizes["view"], (url, sizes)
