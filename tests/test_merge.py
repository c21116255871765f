"""Merging and splitting tickets (issue 15, item 3): end to end through the mail harness
(the old reply address and the old Message-IDs of a merged ticket lead to its target),
the staff pages and the portal (access follows the target), the CLI, and a split that
keeps every message exactly once."""
from __future__ import annotations

import pytest

from helpdesk.domain import merge
from helpdesk.domain.validation import Invalid
from helpdesk.models import (
    ContractAccess,
    InboundMail,
    KnownMessageId,
    Message,
    Participant,
    Role,
    StatusChange,
    Ticket,
    User,
)
from helpdesk.outgoing.sender import Sender
from tests.mailfactory import make_mail
from tests.test_portal_tickets import open_ticket, signed_in, world  # noqa: F401 (a fixture)


@pytest.fixture
def engineer(db):
    return User.create(email="eng@helpdesk.localhost", first_name="Ewa", last_name="Nowak",
                       role=Role.ENGINEER.value, is_active=True)


def deliver_all(config, smtp_server):
    Sender(config.with_(smtp_url=smtp_server.url)).send_due()
    got = {r.rcpt_tos[0]: r.message for r in smtp_server.received}
    smtp_server.received.clear()
    return got


def reply_address(mail) -> str:
    return mail["Reply-To"].addresses[0].addr_spec


def test_mail_to_a_merged_tickets_old_addresses_lands_in_the_target(desk, config, smtp_server, engineer):
    desk.receive(make_mail("Drukarka nie drukuje.\n", Message_ID="<a1@example.com>", Subject="Drukarka",
                           From="Jan <jan@example.com>"))
    to_jan = deliver_all(config, smtp_server)["jan@example.com"]  # the acknowledgement, with a reply address
    desk.receive(make_mail("Skaner nie skanuje.\n", Message_ID="<b1@example.com>", Subject="Skaner",
                           From="Anna <anna@example.com>"))
    to_engineer_b = deliver_all(config, smtp_server)["eng@helpdesk.localhost"]
    source, target = (t.id for t in Ticket.select().order_by(Ticket.id))

    merge.merge(source, target, engineer)
    assert Ticket.get_by_id(source).merged_into_id == target and Ticket.get_by_id(source).status == "closed"
    assert Message.select().where(Message.ticket == source).count() == 0
    assert desk.participants(target) == {"anna@example.com": "requester", "jan@example.com": "cc"}
    assert not KnownMessageId.select().where(KnownMessageId.ticket == source).exists()
    assert {s.reason for s in StatusChange.select().where(StatusChange.ticket == target)} >= {"opened by mail"}

    # Jan answers the acknowledgement he got for the old ticket: its reply address names the old
    # ticket, and is still his signed address: the colleague he copies joins the target.
    row = desk.receive(make_mail("Nadal nie drukuje.\n", From="jan@example.com", To=reply_address(to_jan),
                                 Cc="piotr@example.com", Subject="Re: " + to_jan["Subject"],
                                 Message_ID="<a2@example.com>"))
    assert (row.outcome, row.ticket_id) == ("reply", target)
    assert Message.get(Message.message_id == "a2@example.com").thread_rule == "reply_token"
    assert desk.participants(target) == {"anna@example.com": "requester", "jan@example.com": "cc",
                                         "piotr@example.com": "cc"}
    told = deliver_all(config, smtp_server)
    assert "anna@example.com" in told and "piotr@example.com" in told  # everyone on the target hears of it
    assert "Nadal nie drukuje" in told["anna@example.com"].get_body(("plain",)).get_content()

    # A reply to the old ticket's first Message-ID, without the reply address, lands there too.
    row = desk.receive(make_mail("Jeszcze jedno.\n", From="jan@example.com", In_Reply_To="<a1@example.com>",
                                 Message_ID="<a3@example.com>", Subject="Re: Drukarka"))
    assert (row.outcome, row.ticket_id) == ("reply", target)
    # ... and one to the Message-ID of the acknowledgement we sent for the old ticket.
    row = desk.receive(make_mail("I jeszcze.\n", From="jan@example.com", In_Reply_To=to_jan["Message-ID"],
                                 Message_ID="<a4@example.com>", Subject="Re: Drukarka"))
    assert (row.outcome, row.ticket_id) == ("reply", target)
    # ... and the old ticket's number in the subject, from someone on the ticket.
    row = desk.receive(make_mail("Numer w temacie.\n", From="jan@example.com", Message_ID="<a5@example.com>",
                                 Subject=f"[HD-{source}] Drukarka"))
    assert (row.outcome, row.ticket_id) == ("reply", target)

    # The engineer answers from her mail client, through her reply address for the target.
    row = desk.receive(make_mail("#canned nope\nProszę o zdjęcie.\n", From="eng@helpdesk.localhost",
                                 To=reply_address(to_engineer_b), Message_ID="<e1@helpdesk.localhost>",
                                 Subject="Re: Skaner"))
    assert (row.outcome, row.ticket_id) == ("staff_reply", target)
    assert Message.select().where(Message.ticket == source).count() == 0
    assert Ticket.select().count() == 2  # nothing opened a new ticket


def test_a_stranger_writing_to_a_merged_tickets_number_opens_a_new_ticket(desk, engineer):
    desk.receive(make_mail(Message_ID="<a1@example.com>", From="jan@example.com"))
    desk.receive(make_mail(Message_ID="<b1@example.com>", From="anna@example.com", Subject="Skaner"))
    source, target = (t.id for t in Ticket.select().order_by(Ticket.id))
    merge.merge(source, target, engineer)
    row = desk.receive(make_mail(From="eve@example.com", Subject=f"[HD-{source}] hello",
                                 Message_ID="<x1@example.com>"))
    assert row.outcome == "new_ticket" and row.ticket_id not in (source, target)


def test_merges_are_refused_when_they_make_no_sense_and_chains_are_flattened(db, engineer):
    a, b, c = (Ticket.create(subject=s, requester_email=f"{s}@example.com") for s in "abc")
    with pytest.raises(Invalid):
        merge.merge(a.id, a.id, engineer)
    with pytest.raises(merge.NotFound):
        merge.merge(a.id, 999, engineer)
    merge.merge(a.id, b.id, engineer)
    with pytest.raises(Invalid):
        merge.merge(a.id, c.id, engineer)  # already merged
    with pytest.raises(Invalid):
        merge.merge(c.id, a.id, engineer)  # into a merged ticket
    merge.merge(b.id, c.id, engineer)
    assert Ticket.get_by_id(a.id).merged_into_id == c.id  # a leads straight to c
    assert merge.current(a.id) == c.id and merge.current(c.id) == c.id


def test_two_companies_merge_only_after_a_confirmation_naming_both(app, world):  # noqa: F811
    open_ticket(signed_in(app, world.alice), world.contract_a, title="Rejestrator A")
    open_ticket(signed_in(app, world.bob, ip="192.0.2.31"), world.contract_b, title="Centrala B")
    source, target = Ticket.select().order_by(Ticket.id)
    staff = signed_in(app, world.engineer, ip="192.0.2.32")
    page = f"/staff/tickets/{source.id}"
    response = staff.post(f"/staff/tickets/{source.id}/merge", {"merge-target": str(target.id)}, page=page)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Firma A" in html and "Firma B" in html
    assert Ticket.get_by_id(source.id).merged_into_id is None  # nothing merged yet
    response = staff.post(f"/staff/tickets/{source.id}/merge",
                          {"merge-target": str(target.id), "merge-confirmed": "1"}, page=page)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/staff/tickets/{target.id}")
    assert Ticket.get_by_id(source.id).merged_into_id == target.id

    # The staff page of the merged ticket says so and leads to the target.
    response = staff.get(page)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/staff/tickets/{target.id}")
    assert f"HD-{source.id} zostało scalone z HD-{target.id}" in staff.text(f"/staff/tickets/{target.id}")
    assert "Rejestrator A" not in staff.text("/staff?queue=all").split("<tbody>")[1]

    # Access follows the target: Alice was on the source, so she is on the target now and is
    # sent there; Anna saw the source through contract A only and does not see the target.
    alice = signed_in(app, world.alice, ip="192.0.2.33")
    response = alice.get(f"/tickets/{source.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/tickets/{target.id}")
    assert alice.get(f"/tickets/{target.id}").status_code == 200
    ContractAccess.create(user=world.anna, contract=world.contract_a)
    anna = signed_in(app, world.anna, ip="192.0.2.34")
    assert anna.get(f"/tickets/{source.id}").status_code == 404
    assert anna.get(f"/tickets/{target.id}").status_code == 404
    bob = signed_in(app, world.bob, ip="192.0.2.35")
    assert bob.get(f"/tickets/{source.id}").status_code == 302
    assert "Rejestrator A" not in bob.text("/tickets")  # the merged ticket is not listed on its own


def test_split_moves_each_message_exactly_once(desk, engineer):
    ids = []
    for i in range(4):
        mail = make_mail(f"Wiadomość {i}.\n", Message_ID=f"<m{i}@example.com>", Cc="anna@example.com",
                         In_Reply_To=f"<m{i - 1}@example.com>" if i else None, Subject="Drukarka")
        desk.receive(mail)
    [ticket] = Ticket.select()
    ids = [m.id for m in desk.messages(ticket.id)]
    assert len(ids) == 4
    with pytest.raises(Invalid):
        merge.split(ids[0], engineer, with_later=True)  # nothing would stay
    new = merge.split(ids[2], engineer, with_later=True)
    old_ids = [m.id for m in desk.messages(ticket.id)]
    new_ids = [m.id for m in desk.messages(new.id)]
    assert old_ids == ids[:2] and new_ids == ids[2:]
    assert sorted(old_ids + new_ids) == sorted(ids) and Message.select().count() == 4
    assert desk.participants(new.id) == desk.participants(ticket.id)
    assert new.requester_email == ticket.requester_email and new.status == "open"
    assert InboundMail.get(InboundMail.message_id == "m3@example.com").ticket_id == new.id
    # A reply to a message that moved follows it; one to a message that stayed does not.
    row = desk.receive(make_mail("Dalej.\n", In_Reply_To="<m3@example.com>", Message_ID="<m4@example.com>"))
    assert row.ticket_id == new.id
    row = desk.receive(make_mail("Dalej.\n", In_Reply_To="<m1@example.com>", Message_ID="<m5@example.com>"))
    assert row.ticket_id == ticket.id
    # Only the one message, without the later ones.
    one = merge.split(ids[0], engineer)
    assert [m.id for m in desk.messages(one.id)] == [ids[0]]
    assert Message.select().count() == 6


def test_split_on_the_staff_pages(app, world):  # noqa: F811
    portal = signed_in(app, world.alice)
    open_ticket(portal, world.contract_a)
    ticket = Ticket.get()
    portal.post(f"/tickets/{ticket.id}/reply", {"text": "Druga wiadomość"}, page=f"/tickets/{ticket.id}")
    second = Message.select().order_by(Message.id.desc()).first()
    staff = signed_in(app, world.engineer, ip="192.0.2.32")
    path = f"/staff/tickets/{ticket.id}/messages/{second.id}/split"
    assert "Druga wiadomość" in staff.text(path)
    response = staff.post(path, {})
    new = Ticket.select().order_by(Ticket.id.desc()).first()
    assert new.id != ticket.id and response.headers["Location"].endswith(f"/staff/tickets/{new.id}")
    assert [m.id for m in Message.select().where(Message.ticket == new.id)] == [second.id]
    assert {p.email for p in Participant.select().where(Participant.ticket == new.id)} == {"alice@a.example"}
