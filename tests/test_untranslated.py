"""No English and no internal name in the Polish portal (issue 17, item 3).

Every page: the URL map of the app, each rule with its arguments taken from a lived-in
portal (tests/world.py), visited as a visitor, a customer, a partner, an engineer and an
admin, and every link those pages show (tabs, filters, pages), all in Polish. Every mail
the flows queued, and every mail template in Polish (those no flow sends are rendered with
empty values, so their own words are checked). A page, argument or template added later is
walked too: a rule whose argument this file cannot fill fails with its name, and so does a
page no role reaches.
"""
from __future__ import annotations

import email
import email.policy
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import jinja2
import pytest

from helpdesk.domain import i18n, labels, levels, outbox
from helpdesk.models import Outbox
from helpdesk.outgoing import compose
from tests import world as world_mod
from tests.portal import Portal
from tests.untranslated import context_of, offences, visible_text

MAIL_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "mail"
NOT_FOLLOWED = ("/static/", "/api/", "/language/", "/logout", "/healthz")
PAGES_PER_ROLE = 400
PROBLEMS_SHOWN = int(__import__("os").environ.get("HELPDESK_TEST_PROBLEMS_SHOWN", "80"))
# Rules no role can reach with a 200 from the world (each says why); all are still checked.
NO_200 = {
    "auth.activate": "a one-time link: the world has none left unused",
    "auth.set_password": "a one-time link",
    "account.confirm_email": "a one-time link",
    "admin.evidence": "a file download",
    "partners.resource_file": "a file download",
}


def links(html: str) -> list[str]:
    from html.parser import HTMLParser

    found = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            href = dict(attrs).get("href")
            if tag == "a" and href:
                found.append(href)

    Links().feed(html)
    return found


def walk(app, portal: Portal, start: list[tuple[str, str]], reached: dict, problems: list, who: str) -> int:
    """Visit the rules' URLs and every internal link on the pages seen; check each page."""
    queue = [url for _, url in start]
    endpoint_of = dict((url, endpoint) for endpoint, url in start)
    seen: set[str] = set()
    while queue and len(seen) < PAGES_PER_ROLE:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        with portal.get(url) as response:
            if response.status_code in (200, 302, 303) and url in endpoint_of:  # a page, or it sends one on
                reached.setdefault(endpoint_of[url], who)
            if response.mimetype not in ("text/html", "image/svg+xml"):
                continue
            html = response.get_data(as_text=True)
        text = visible_text(html)
        for bad in offences(text):
            problems.append(f"{who} {url} [{response.status_code}]: {bad!r} in …{context_of(text, bad)}…")
        for href in links(html):
            href = urldefrag(href)[0]
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not href.startswith("/") or href.startswith(NOT_FOLLOWED):
                continue
            if href not in seen:
                queue.append(href)
    return len(seen)


@pytest.fixture
def rendered(monkeypatch):
    """The names of the mail templates rendered from now on."""
    names: set[str] = set()
    render = outbox.render

    def recording(name, language, context):
        names.add(name)
        return render(name, language, context)

    monkeypatch.setattr(outbox, "render", recording)
    return names


def test_no_page_and_no_mail_of_the_polish_portal_shows_english_or_internal_names(app, config, rendered):
    w = world_mod.build(app, config)
    start = list(world_mod.page_urls(app, w))
    problems: list[str] = []
    reached: dict[str, str] = {}
    visitors = {
        "visitor": Portal(app, ip="192.0.2.40"),
        "customer": world_mod.signed_in(app, w.customer, ip="192.0.2.41"),
        "partner": world_mod.signed_in(app, w.partner, ip="192.0.2.42"),
        "engineer": world_mod.signed_in(app, w.engineer, ip="192.0.2.43"),
        "admin": world_mod.signed_in(app, w.admin, ip="192.0.2.44"),
    }
    visited = {who: walk(app, portal, start, reached, problems, who) for who, portal in visitors.items()}
    assert min(visited.values()) > 5, visited
    unreached = sorted({endpoint for endpoint, _ in start} - set(reached) - set(NO_200))
    assert not unreached, f"no role got these pages with a 200 from the world (tests/world.py): {unreached}"

    mails = 0
    for row in Outbox.select().order_by(Outbox.id):
        raw = compose.compose(config, row) if row.spec else bytes(row.raw)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        texts = [str(message["Subject"])]
        for part in message.walk():
            if part.get_content_type() == "text/plain" and not part.get_filename():
                texts.append(part.get_content())
            elif part.get_content_type() == "text/html":
                texts.append(visible_text(part.get_content()))
        for text in texts:
            for bad in offences(text):
                problems.append(f"mail #{row.id} to {row.recipient} ({row.kind}): {bad!r} in …{context_of(text, bad)}…")
        mails += 1
    assert mails > 10 and len(rendered) > 5, (mails, rendered)

    print(f"pages per role: {visited}; mail: {mails}, templates rendered by the flows: {sorted(rendered)}")
    for name in sorted(mail_templates() - rendered):  # no flow above sends it: its own words at least
        try:
            texts = with_empty_values(name)
        except (jinja2.UndefinedError, TypeError, ValueError) as error:  # it needs real values: send it above
            print(f"mail template pl/{name} needs values to render ({error}): make tests/world.py send it")
            continue
        for text in texts:
            for bad in offences(text):
                problems.append(f"mail template pl/{name} (empty values): {bad!r} in …{context_of(text, bad)}…")
    assert not problems, f"{len(problems)} untranslated:\n" + "\n".join(problems[:PROBLEMS_SHOWN])


def mail_templates() -> set[str]:
    return {p.name.split(".")[0] for p in (MAIL_TEMPLATES / "pl").glob("*.txt") if not p.name.startswith("_")}


def with_empty_values(name: str) -> list[str]:
    """A Polish mail template's subject, text and HTML with every value left empty."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(MAIL_TEMPLATES)), undefined=jinja2.ChainableUndefined,
                             autoescape=jinja2.select_autoescape(["html"]))
    context = {"label": lambda kind, value: labels.label(kind, value, lambda m: i18n.gettext("pl", m))}
    return [env.get_template(f"pl/{name}.subject.txt").render(context),
            env.get_template(f"pl/{name}.txt").render(context),
            visible_text(env.get_template(f"pl/{name}.html").render(context))]


# --- the label tables themselves ---------------------------------------------------------------


@pytest.mark.parametrize("kind, values", [
    ("status", "helpdesk.models:Status"), ("user_role", "helpdesk.models:Role"),
    ("company_role", "helpdesk.models:CompanyRole"), ("request_status", "helpdesk.models:RequestStatus"),
    ("message_kind", "helpdesk.models:MessageKind"), ("outbox_status", "helpdesk.models:OutboxStatus"),
    ("mail_outcome", "helpdesk.models:Outcome"), ("resource_kind", "helpdesk.domain.partner_access:RESOURCE_KINDS"),
    ("security_event", "helpdesk.domain.security_events:KINDS"), ("level_basis", "helpdesk.domain.levels:BASES"),
    ("programme_level", "helpdesk.domain.partners:PROGRAMME_LEVELS"),
])
def test_every_internal_name_has_a_label_in_both_languages(kind, values):
    import importlib

    module, name = values.split(":")
    found = getattr(importlib.import_module(module), name)
    names = {m.value for m in found} if isinstance(found, type) else set(found)
    assert names <= set(labels.KINDS[kind]), names - set(labels.KINDS[kind])
    for value in names:
        polish = labels.label(kind, value, lambda m: i18n.gettext("pl", m))
        english = labels.label(kind, value, lambda m: i18n.gettext("en", m))
        assert polish != value or value in ("partner", "portal", "system", "premium"), (kind, value)
        assert polish != english or polish.istitle(), (kind, value, polish)
    assert levels  # the levels' own texts are message ids already (domain/levels.py)


@pytest.mark.parametrize("stored, polish", [
    ("opened by portal", "otwarte w portalu"),
    ("customer replied in the portal", "klient odpisał w portalu"),
    ("engineer replied by mail", "inżynier odpisał mailem"),
    ("assigned to piotr@helpdesk.example", "przypisane do piotr@helpdesk.example"),
    ("a person's own words", "a person's own words"),
])
def test_history_reasons_are_shown_in_the_readers_words(stored, polish):
    assert labels.history_reason(stored, lambda m: i18n.gettext("pl", m)) == polish
    assert labels.history_reason(stored, labels.english) == labels.history_reason(stored, lambda m: m)


@pytest.mark.parametrize("action, detail, polish", [
    ("verify_company", "7740001454 Centrum (arc)", "7740001454 Centrum (ARC (centrum odbioru alarmów))"),
    ("set_role", "a@b.example: engineer -> admin", "a@b.example: Inżynier → Administrator"),
    ("application_rejected", "123 Firma: premium; brak danych", "123 Firma: poziom Premium; brak danych"),
    ("assign", "nobody", "nikt"),
    ("webhook_added", "https://x.example/h ticket.created", "https://x.example/h ticket.created"),
])
def test_audit_details_are_shown_in_the_readers_words(action, detail, polish):
    assert labels.audit_detail(action, detail, lambda m: i18n.gettext("pl", m)) == polish


@pytest.mark.parametrize("text", [
    "Odpowiedz na tę wiadomość, aby odpowiedzieć klientowi (HD-1, status: new).",
    "2026-12-02 07:09 Nowe → Czeka na nas customer replied in the portal",
    "anna@helpdesk.example verify_company firma 7740001454",
    "Status pending", "Instrukcja serwisowa download", "Centrum Monitorowania (arc)",
    "Uczestnicy: ewa@example.org requester", "Dlaczego ta wiadomość trafiła tutaj: reply_token",
    "Zgłoszenie Waiting for the customer",
])
def test_the_check_finds_what_the_issue_saw(text):
    assert offences(text)


@pytest.mark.parametrize("text", [
    "Twoja współpraca z nami jako instalator, integrator systemów lub partner",
    "Zdarzenia: ticket.created, partner.application_changed; plik raport_2026.csv",
    "Napisz na support+abc_def@helpdesk.example lub otwórz https://x.example/a_b?status=waiting_us",
    "Status: Czeka na nas", "Portal serwisowy, e-mail, system",
])
def test_the_check_leaves_polish_alone(text):
    assert offences(text) == []
