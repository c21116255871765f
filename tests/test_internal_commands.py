"""Internal commands stay internal (issue 17, item 4): an engineer's `#assign me`, `#close`
from a reply by mail are acted on and never shown to the customer: not in the portal's
text, its folded quoted part or HTML version, the API, or any mail to the customer."""
from __future__ import annotations

import datetime as dt
import importlib

import pytest

from helpdesk.domain import api_tokens, passwords, tokens
from helpdesk.models import Message, Role, Status, Ticket, User
from helpdesk.outgoing.sender import Sender
from tests.mailfactory import make_mail
from tests.portal import Portal

SUPPORT = "support@helpdesk.localhost"
PASSWORD = "correct horse battery"
COMMAND_WORDS = ("#assign", "#close", "#time")
REPLY_TEXT = ("#assign me\n#close\n#time 15m\nWymieniłem zasilacz, zamykam zgłoszenie.\n\n"
              "W dniu 2.11.2026 Alicja napisała:\n> Hello,\n> the printer is broken.\n")
REPLY_HTML = ('<div dir="ltr"><div>#assign&nbsp;me</div><div>#close</div><div>#time 15m</div><div><br></div>'
              "<div>Wymieniłem zasilacz, zamykam zgłoszenie.</div></div><br>"
              '<div class="gmail_quote">W dniu 2.11.2026 Alicja napisała:<blockquote>Hello,<br>'
              "the printer is broken.</blockquote></div>")


@pytest.fixture
def people(db):
    customer = User.create(email="alice@a.example", first_name="Alicja", password_hash=passwords.hash_password(PASSWORD),
                           is_active=True, activated_at=dt.datetime(2026, 1, 1), language="pl")
    engineer = User.create(email="eng@helpdesk.localhost", first_name="Ewa", last_name="Nowak",
                           role=Role.ENGINEER.value, is_active=True,
                           password_hash=passwords.hash_password(PASSWORD), activated_at=dt.datetime(2026, 1, 1))
    return customer, engineer


def deliver_all(config, smtp_server) -> dict:
    Sender(config.with_(smtp_url=smtp_server.url)).send_due()
    got = {r.rcpt_tos[0]: r.message for r in smtp_server.received}
    smtp_server.received.clear()
    return got


def decoded(mail) -> str:
    """Every text part of a mail, decoded: what a mail client can show."""
    return "\n".join(part.get_content() for part in mail.walk() if part.get_content_maintype() == "text")


def signed_in(app, user) -> Portal:
    portal = Portal(app, ip="192.0.2.77")
    assert portal.post("/login", {"email": user.email, "password": PASSWORD}).status_code == 302
    return portal


def test_an_engineers_commands_never_reach_the_customer(desk, app, config, smtp_server, people):
    customer, engineer = people
    desk.receive(make_mail(From="Alicja <alice@a.example>", Message_ID="<start@a.example>"))
    deliver_all(config, smtp_server)
    address = tokens.reply_address(SUPPORT, config.secret_key, 1, f"u{engineer.id}")
    row = desk.receive(make_mail(REPLY_TEXT, html=REPLY_HTML, From="Ewa Nowak <eng@helpdesk.localhost>", To=address,
                                 Subject="Re: [HD-1] Printer broken", In_Reply_To="<start@a.example>"))
    assert row.outcome == "staff_reply"

    # The commands did their work.
    ticket = Ticket.get_by_id(1)
    assert ticket.status == Status.CLOSED.value and ticket.assignee_id == engineer.id
    stored = Message.select().where(Message.kind == "staff").get()
    assert stored.minutes == 15

    # The mail to the customer: neither its text nor its HTML part, nor the quoted history.
    got = deliver_all(config, smtp_server)
    mail = decoded(got["alice@a.example"])
    assert "Wymieniłem zasilacz" in mail
    assert not [w for w in COMMAND_WORDS if w in mail], mail

    # The portal: the message, its folded quoted part, its HTML version.
    portal = signed_in(app, customer)
    page = portal.text("/tickets/1")
    assert "Wymieniłem zasilacz" in page and 'class="quoted"' in page  # the fold is there, without them
    assert "the printer is broken" in page
    assert not [w for w in COMMAND_WORDS if w in page], page
    html_page = portal.text(f"/tickets/1/messages/{stored.id}/html")
    assert "Wymieniłem zasilacz" in html_page
    assert not [w for w in COMMAND_WORDS if w in html_page], html_page
    whole = portal.text(f"/tickets/1/messages/{stored.id}")
    assert "Wymieniłem zasilacz" in whole and not [w for w in COMMAND_WORDS if w in whole]

    # The API, with the customer's own token.
    _, token = api_tokens.create(customer, ["tickets:read"])
    client = app.test_client()
    answer = client.get("/api/v1/tickets/1/messages", headers={"Authorization": f"Bearer {token}"})
    texts = " ".join(m["text"] for m in answer.get_json()["items"])
    assert answer.status_code == 200 and "Wymieniłem zasilacz" in texts
    assert not [w for w in COMMAND_WORDS if w in answer.get_data(as_text=True)]

    # The customer answers the mail, quoting it: the quote carries no command either, and
    # the engineer's notice of that answer quotes nothing with one.
    notice = got["alice@a.example"]
    desk.receive(make_mail("Dziękuję!\n\n> " + notice.get_body(("plain",)).get_content().replace("\n", "\n> "),
                           From="alice@a.example", To=notice["Reply-To"].addresses[0].addr_spec,
                           In_Reply_To=notice["Message-ID"]))
    got = deliver_all(config, smtp_server)
    assert not [w for w in COMMAND_WORDS if w in decoded(got["eng@helpdesk.localhost"])]
    page = portal.text("/tickets/1")
    assert "Dziękuję" in page and not [w for w in COMMAND_WORDS if w in page]

    # The engineer still has what was written: the raw mail, and the effects on the ticket.
    staff = signed_in(app, engineer)
    raw = staff.get(f"/staff/tickets/1/messages/{stored.id}/raw").get_data()
    assert b"#assign me" in raw and b"#close" in raw
    assert "#close" in staff.text("/staff/tickets/1")  # the history says why it closed


def test_html_a_command_hides_in_is_dropped_and_the_text_part_stands(desk, config, people):
    _, engineer = people
    desk.receive(make_mail(From="alice@a.example"))
    address = tokens.reply_address(SUPPORT, config.secret_key, 1, f"u{engineer.id}")
    desk.receive(make_mail("#close\nGotowe.\n", html="<p>#close <b></b></p><p>#assign <b>me</b></p><p>Gotowe.</p>",
                           From=engineer.email, To=address))
    stored = Message.select().where(Message.kind == "staff").get()
    assert (stored.body_text, stored.body_html) == ("Gotowe.", None)


def test_the_migration_takes_commands_out_of_mail_stored_before(db, desk, config, people):
    _, engineer = people
    desk.receive(make_mail(From="alice@a.example"))
    address = tokens.reply_address(SUPPORT, config.secret_key, 1, f"u{engineer.id}")
    desk.receive(make_mail(REPLY_TEXT, html=REPLY_HTML, From=engineer.email, To=address))
    stored = Message.select().where(Message.kind == "staff").get()
    # As an older version stored it: the commands in the full text and the HTML.
    Message.update(body_text=REPLY_TEXT, body_html=REPLY_HTML).where(Message.id == stored.id).execute()
    customer = Message.select().where(Message.kind == "customer").get()
    Message.update(body_text="#close\nA customer may write this.").where(Message.id == customer.id).execute()

    importlib.import_module("helpdesk.migrations.020_commands_hidden").migrate(None, db)

    stored = Message.get_by_id(stored.id)
    assert stored.body_text.startswith("Wymieniłem zasilacz") and "the printer is broken" in stored.body_text
    assert stored.display == "Wymieniłem zasilacz, zamykam zgłoszenie."
    assert "Wymieniłem zasilacz" in stored.body_html
    assert not [w for w in COMMAND_WORDS if w in stored.body_text + stored.body_html]
    assert Message.get_by_id(customer.id).body_text.startswith("#close")  # only engineers' mail is touched
