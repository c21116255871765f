"""The device line (issue 17, item 1): the device a customer chose for a ticket (model,
serial, address), with the contract and its service level, wherever the ticket is shown:
the engineer's notice mail, the staff page, the customer's page, `helpdesk ticket show`."""
from __future__ import annotations

import datetime as dt
import io
import json

from helpdesk.models import ContractAccess, DeviceLine, Ticket
from helpdesk.outgoing.sender import Sender
from tests.cli_runner import cli_runner
from tests.test_portal_tickets import _contract, signed_in, world  # noqa: F401  (the fixture)

MODEL, SERIAL, ADDRESS = "Synology DS920+", "20B0PQN123456", "Kraków, ul. Długa 7/2"


def _ticket_on_a_device(app, world):  # noqa: F811
    contract = _contract("C000123", world.alice.company, partner=None)
    contract.service_level = "Gold 24/7"
    contract.save()
    chosen = DeviceLine.create(contract=contract, model=MODEL, serial=SERIAL, address=ADDRESS)
    ContractAccess.create(user=world.alice, contract=contract)
    portal = signed_in(app, world.alice)
    answer = portal.post(f"/tickets/new?contract={contract.id}",
                         {"line": str(chosen.id), "title": "Dysk nie startuje", "description": "Po aktualizacji.",
                          "ccs": "", "attachments": [(io.BytesIO(b""), "")]},
                         content_type="multipart/form-data")
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    ticket = Ticket.select().order_by(Ticket.id.desc()).get()
    assert ticket.device_line_id == chosen.id
    return portal, ticket


def _shows_the_device(text: str, where: str) -> None:
    for part in (MODEL, SERIAL, ADDRESS, "C000123", "Gold 24/7"):
        assert part in text, (where, part, text[:3000])
    assert "SN-C000123" not in text and "SAT-C000123" not in text, where  # the contract's other lines


def test_the_chosen_device_is_on_every_surface(app, world, config, smtp_server, tmp_path):  # noqa: F811
    portal, ticket = _ticket_on_a_device(app, world)

    page = portal.text(f"/tickets/{ticket.id}")  # the customer's page
    _shows_the_device(page[page.index('id="device"'):], "customer page")

    staff = signed_in(app, world.engineer, ip="192.0.2.30")
    page = staff.text(f"/staff/tickets/{ticket.id}")
    _shows_the_device(page[page.index('id="device"'):], "staff page")

    Sender(config.with_(smtp_url=smtp_server.url)).send_due()  # the engineer's notice of the new ticket
    mail = {r.rcpt_tos[0]: r.message for r in smtp_server.received}[world.engineer.email]
    text, html = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
    _shows_the_device(text, "notice text")
    assert text.index(SERIAL) < text.index("Po aktualizacji.")  # above the message, where it is read first
    _shows_the_device(html, "notice html")
    customer_mail = {r.rcpt_tos[0]: r.message for r in smtp_server.received}[world.alice.email]
    assert SERIAL not in customer_mail.get_body(("plain",)).get_content()  # the customer knows it

    cli = cli_runner(config, tmp_path)

    shown = cli("ticket", "show", f"HD-{ticket.id}")
    _shows_the_device(shown, "cli text")
    assert f"device {MODEL}, serial {SERIAL}, address {ADDRESS}" in shown
    device = json.loads(cli("ticket", "show", f"HD-{ticket.id}", "--json"))["device"]
    assert device == {"contract": "C000123", "customer": "Firma A", "service_level": "Gold 24/7",
                      "model": MODEL, "serial": SERIAL, "address": ADDRESS}


def test_a_ticket_without_a_contract_shows_no_device(app, world, config):  # noqa: F811
    from helpdesk.domain import devices, tickets

    ticket = tickets.open_ticket(subject="Mail", requester_email="alice@a.example", now=dt.datetime(2026, 12, 2))
    assert devices.of_ticket(ticket.id) is None
    staff = signed_in(app, world.engineer, ip="192.0.2.31")
    assert 'id="device"' not in staff.text(f"/staff/tickets/{ticket.id}")
