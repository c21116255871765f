"""Trust, relay (issue 13, item 2): one mail or one form cannot turn the support address
into a spam relay. Caps: `HELPDESK_MAX_NEW_PARTICIPANTS_PER_MAIL` (default 10, besides a new
ticket's sender) and `HELPDESK_MAX_PARTICIPANTS_PER_TICKET` (default 50), the same for mail
and for the customer's and the staff's CC forms; what the caps keep off a ticket is a
security event on the ticket's record; nobody who is not a participant (or an engineer)
is ever mailed. Mail in through the Maildir, pages through the app, mail out through aiosmtpd.
"""
from __future__ import annotations

import datetime as dt

import pytest

from helpdesk import config as config_mod
from helpdesk.domain import security_events
from helpdesk.models import Company, Contract, ContractAccess, DeviceLine, Participant, Role, Ticket
from tests.mailfactory import make_mail
from tests.trust import deliver_all, person, reply_address, signed_in

TODAY = dt.date.today()


@pytest.fixture
def engineer(db):
    return person("eng@helpdesk.localhost", Role.ENGINEER)


def addresses(n, domain="victims.example", start=0):
    return [f"v{i}@{domain}" for i in range(start, start + n)]


def test_one_new_ticket_mail_with_500_ccs_mails_ten_of_them_at_most(desk, config, smtp_server, engineer, app):
    """Before: 500 addresses in Cc became participants and each got a copy of the text from
    the support address. After: the sender and 10 of them; the other 490 are recorded."""
    row = desk.receive(make_mail("Buy cheap pills at evil.example\n", From="spammer@evil.example",
                                 Cc=", ".join(addresses(500))))
    assert row.outcome == "new_ticket"
    people = desk.participants(1)
    assert len(people) == 11 and people["spammer@evil.example"] == "requester"
    got = deliver_all(config, smtp_server)
    assert set(got) <= set(people) | {engineer.email}
    assert sum(len(m) for m in got.values()) <= 12
    [event] = security_events.events(kind="participant_cap")
    assert event["ticket"] == 1 and len(event["addresses"]) == 490 and "10 new participants per mail" in \
        event["reason"]
    staff = signed_in(app, engineer)
    page = staff.text("/staff/tickets/1")
    assert 'id="refused"' in page and 'data-kind="participant_cap"' in page


def test_a_signed_reply_adds_at_most_ten_and_a_ticket_holds_at_most_fifty(desk, config, smtp_server, engineer):
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    [ack] = deliver_all(config, smtp_server)["jan@example.com"]
    jans = reply_address(ack)
    desk.receive(make_mail("More people.\n", To=jans, Cc=", ".join(addresses(25)), Subject="Re: [HD-1] x"))
    assert len(desk.participants(1)) == 11
    for round_ in range(1, 6):  # four more rounds of ten fill the ticket to 50; the fifth adds nobody
        desk.receive(make_mail("More.\n", To=jans, Cc=", ".join(addresses(10, start=100 * round_)),
                               Subject="Re: [HD-1] x", Message_ID=f"<more{round_}@example.com>"))
    assert len(desk.participants(1)) == 50
    caps = security_events.events(kind="participant_cap")
    # Newest first: the full ticket, the reply that filled it (9 of 10), the first reply (10 of 25).
    assert [len(e["addresses"]) for e in caps] == [10, 1, 15]
    got = deliver_all(config, smtp_server)
    assert set(got) <= set(desk.participants(1)) | {engineer.email}


def test_the_caps_come_from_the_configuration():
    env = {"HELPDESK_DATA_DIR": "/tmp/x-helpdesk-caps", "HELPDESK_SECRET_KEY": "k"}
    default = config_mod.load_config(env, dotenv=None)
    assert (default.max_new_participants_per_mail, default.max_participants_per_ticket) == (10, 50)
    tuned = config_mod.load_config({**env, "HELPDESK_MAX_NEW_PARTICIPANTS_PER_MAIL": "3",
                                    "HELPDESK_MAX_PARTICIPANTS_PER_TICKET": "5"}, dotenv=None)
    assert (tuned.max_new_participants_per_mail, tuned.max_participants_per_ticket) == (3, 5)
    for bad in ({"HELPDESK_MAX_NEW_PARTICIPANTS_PER_MAIL": "0"}, {"HELPDESK_MAX_PARTICIPANTS_PER_TICKET": "x"}):
        with pytest.raises(config_mod.ConfigError):
            config_mod.load_config({**env, **bad}, dotenv=None)


def test_smaller_caps_apply_to_new_tickets_by_mail(desk, config, smtp_server, engineer):
    desk.config = config.with_(max_new_participants_per_mail=2, max_participants_per_ticket=3)
    desk.receive(make_mail(Cc=", ".join(addresses(5))))
    assert len(desk.participants(1)) == 3
    assert len(security_events.events(kind="participant_cap")[0]["addresses"]) == 3


# --- the portal: the customer's and the staff's CC forms ----------------------------------------------


@pytest.fixture
def customer_ticket(db, app):
    company = Company.create(nip="5260001246", name="Firma A")
    contract = Contract.create(number="A000001", company=company, customer_name="Firma A",
                               starts_on=TODAY - dt.timedelta(days=30), ends_on=TODAY + dt.timedelta(days=300))
    DeviceLine.create(contract=contract, model="NVR", serial="SN-1")
    alice = person("alice@a.example", company=company)
    ContractAccess.create(user=alice, contract=contract)
    portal = signed_in(app, alice)
    line = DeviceLine.get()
    response = portal.post(f"/tickets/new?contract={contract.id}",
                           {"line": str(line.id), "title": "NVR", "description": "Nie nagrywa.", "ccs": ""},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    return portal


def post_ccs(portal, path, page, many):
    return portal.post(path, {"cc-addresses": ", ".join(many)}, page=page)


def test_five_customer_posts_of_twenty_addresses_no_longer_mail_a_hundred_strangers(
        app, customer_ticket, config, smtp_server):
    """Before: five posts of 20 addresses each made 100 participants. After: 20 at once is
    refused (at most 10), and the ticket stops at 50 people."""
    portal = customer_ticket
    response = post_ccs(portal, "/tickets/1/cc", "/tickets/1", addresses(20))
    assert response.status_code == 422 and "najwyżej 10" in response.get_data(as_text=True)
    assert Participant.select().count() == 1
    for start in range(0, 40, 10):
        assert post_ccs(portal, "/tickets/1/cc", "/tickets/1", addresses(10, start=start)).status_code == 302
    assert Participant.select().where(Participant.ticket == 1).count() == 41
    response = post_ccs(portal, "/tickets/1/cc", "/tickets/1", addresses(10, start=40))  # one too many
    assert response.status_code == 422 and "najwyżej 50" in response.get_data(as_text=True)
    assert post_ccs(portal, "/tickets/1/cc", "/tickets/1", addresses(9, start=40)).status_code == 302
    assert Participant.select().where(Participant.ticket == 1).count() == 50
    response = post_ccs(portal, "/tickets/1/cc", "/tickets/1", addresses(1, start=999))
    assert response.status_code == 422 and "najwyżej 50" in response.get_data(as_text=True)
    assert Participant.select().count() == 50
    assert [len(e["addresses"]) for e in security_events.events(kind="participant_cap")] == [1, 10, 20]
    deliver_all(config, smtp_server)
    portal.post("/tickets/1/reply", {"text": "Ping."}, page="/tickets/1", content_type="multipart/form-data")
    got = deliver_all(config, smtp_server)
    assert set(got) <= {p.email for p in Participant.select()} | {"eng@helpdesk.localhost"}


def test_a_new_portal_ticket_with_too_many_ccs_stores_nothing_and_is_recorded(app, db, customer_ticket):
    portal = customer_ticket
    line = DeviceLine.get()
    response = portal.post(f"/tickets/new?contract={line.contract_id}",
                           {"line": str(line.id), "title": "Again", "description": "x",
                            "ccs": ", ".join(addresses(11))}, content_type="multipart/form-data")
    assert response.status_code == 422 and "najwyżej 10" in response.get_data(as_text=True)
    assert Ticket.select().count() == 1
    [event] = security_events.events(kind="participant_cap")
    assert event["sender"] == "alice@a.example" and len(event["addresses"]) == 11


def test_the_staff_form_has_the_same_caps(app, customer_ticket, engineer):
    staff = signed_in(app, engineer, ip="192.0.2.40")
    response = post_ccs(staff, "/staff/tickets/1/cc", "/staff/tickets/1", addresses(11))
    assert response.status_code == 422 and "najwyżej 10" in response.get_data(as_text=True)
    for start in range(0, 49, 10):
        staff.post("/staff/tickets/1/cc", {"cc-addresses": ", ".join(addresses(min(10, 49 - start),
                                                                                   start=start))},
                   page="/staff/tickets/1")
    assert Participant.select().count() == 50
    response = post_ccs(staff, "/staff/tickets/1/cc", "/staff/tickets/1", ["one.more@x.example"])
    assert response.status_code == 422
    assert Participant.select().count() == 50
