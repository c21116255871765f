"""Contact (issue 17, item 7): the hotline (HELPDESK_HOTLINE) and the support address on the
dashboard, the customer's ticket pages and at the foot of every mail, text and HTML."""
from __future__ import annotations

import jinja2
import jinja2.meta
import pytest

from helpdesk import config as config_mod
from helpdesk.domain import accounts, outbox
from helpdesk.models import Participant, Ticket, utcnow
from helpdesk.outgoing.sender import Sender
from tests.mailfactory import make_mail
from tests.portal import mails_to
from tests.test_portal_tickets import open_ticket, signed_in, world  # noqa: F401  (the fixture)

HOTLINE = "+48 22 123 45 67"
DIAL = "+48221234567"
TEMPLATES = sorted(p.name.removesuffix(".subject.txt") for p in (outbox.TEMPLATES / "pl").glob("*.subject.txt"))


def anything(name: str, language: str) -> dict:
    """A stand-in for every variable a template (and the ones it extends) reads."""
    env = outbox._environment()
    names: set[str] = set()
    for suffix in ("subject.txt", "txt", "html"):
        template = f"{language}/{name}.{suffix}"
        while template:
            source = env.loader.get_source(env, template)[0]
            parsed = env.parse(source)
            names |= jinja2.meta.find_undeclared_variables(parsed)
            parent = next(iter(jinja2.meta.find_referenced_templates(parsed)), None)
            template = parent if parent and "{% extends" in source else None
    return {n: jinja2.ChainableUndefined(name=n) for n in names}


def test_the_hotline_setting_is_a_phone_number_or_nothing():
    base = {"HELPDESK_DATA_DIR": "/tmp/helpdesk-contact-test", "HELPDESK_SECRET_KEY": "k"}
    assert config_mod.load_config(base, dotenv=None).hotline == ""  # not shown until set
    loaded = config_mod.load_config({**base, "HELPDESK_HOTLINE": "  +48 22  123 45 67 "}, dotenv=None)
    assert (loaded.hotline, loaded.hotline_dial) == (HOTLINE, DIAL)
    for bad in ("call us", "12", "+48 22 123 45 67 <script>", "1" * 40):
        with pytest.raises(config_mod.ConfigError, match="HELPDESK_HOTLINE"):
            config_mod.load_config({**base, "HELPDESK_HOTLINE": bad}, dotenv=None)


@pytest.mark.parametrize("language, hotline_word, email_word", [("pl", "Infolinia", "E-mail"), ("en", "Hotline", "Email")])
def test_every_mail_template_ends_with_the_hotline_and_the_address(language, hotline_word, email_word):
    assert len(TEMPLATES) > 20 and "message" in TEMPLATES and "password_reset" in TEMPLATES
    contact = outbox.Contact("pomoc@firma.example", HOTLINE, DIAL)
    for name in TEMPLATES:
        _, text, html = outbox.render(name, language, anything(name, language), contact=contact)
        tail = text.rstrip().splitlines()[-1]
        assert tail == f"{hotline_word}: {HOTLINE} · {email_word}: pomoc@firma.example", (name, tail)
        assert f'<a href="tel:{DIAL}">{HOTLINE}</a>' in html, name
        assert '<a href="mailto:pomoc@firma.example">pomoc@firma.example</a>' in html, name
        _, text, html = outbox.render(name, language, anything(name, language),
                                      contact=outbox.Contact("pomoc@firma.example"))
        assert hotline_word not in text and "tel:" not in html, name  # no number set: none shown
        assert text.rstrip().endswith(f"{email_word}: pomoc@firma.example"), name


def test_notices_through_aiosmtpd_carry_the_contact(desk, config, smtp_server):
    config = config.with_(hotline=HOTLINE, smtp_url=smtp_server.url)
    desk.config = config
    desk.receive(make_mail(Message_ID="<contact@example.com>"))
    Sender(config).send_due()
    got = {r.rcpt_tos[0]: r.message for r in smtp_server.received}
    mail = got["jan@example.com"]
    assert f"Infolinia: {HOTLINE} · E-mail: support@helpdesk.localhost" in mail.get_body(("plain",)).get_content()
    assert f'href="tel:{DIAL}"' in mail.get_body(("html",)).get_content()


def test_account_mail_carries_the_contact(db, config):
    with db.atomic():
        accounts.send_mail(config.with_(hotline=HOTLINE), "password_reset", "x@firma.example", "en",
                           {"link": "http://helpdesk.test/password/set/t"}, utcnow())
    mail = mails_to("x@firma.example")[-1]
    assert mail.get_body(("plain",)).get_content().rstrip().endswith(
        f"Hotline: {HOTLINE} · Email: support@helpdesk.localhost")
    assert f'href="tel:{DIAL}"' in mail.get_body(("html",)).get_content()


def test_dashboard_and_ticket_pages_show_the_hotline_and_the_address(app, world, config):  # noqa: F811
    app.config["HELPDESK"] = config.with_(hotline=HOTLINE)
    portal = signed_in(app, world.alice)
    assert open_ticket(portal, world.contract_a).status_code == 302
    ticket = Ticket.select().order_by(Ticket.id.desc()).get()
    assert Participant.select().where(Participant.ticket == ticket).exists()
    for page in ("/dashboard", "/tickets", f"/tickets/{ticket.id}", f"/tickets/new?contract={world.contract_a.id}"):
        html = portal.text(page)
        assert f'<a href="tel:{DIAL}">{HOTLINE}</a>' in html, page
        assert '<a href="mailto:support@helpdesk.localhost">support@helpdesk.localhost</a>' in html, page
    app.config["HELPDESK"] = config  # no hotline set: the address alone
    html = portal.text("/dashboard")
    assert "tel:" not in html and "mailto:support@helpdesk.localhost" in html
