"""Tickets in the portal and on the staff pages (SPEC W7, W8): who sees what, every form
with bad input, and the mail each change sends, through the Flask test client."""
from __future__ import annotations

import datetime as dt
import io
import json
from types import SimpleNamespace

import pytest

from helpdesk.domain import passwords
from helpdesk.models import (
    Attachment,
    AuditLog,
    Company,
    CompanyRole,
    Contract,
    ContractAccess,
    DeviceLine,
    Message,
    Outbox,
    Participant,
    Role,
    Status,
    StatusChange,
    Ticket,
    User,
)
from tests.portal import Portal

PASSWORD = "correct horse battery"
_HASH = passwords.hash_password(PASSWORD)
TODAY = dt.date.today()


def _user(email, company=None, role=Role.CUSTOMER, **extra):
    return User.create(email=email, first_name=email.split("@")[0].title(), last_name="Test", company=company,
                       role=role.value, password_hash=_HASH, is_active=True, activated_at=dt.datetime(2026, 1, 1),
                       **extra)


def _contract(number, company, partner=None, ends=TODAY + dt.timedelta(days=300)):
    contract = Contract.create(number=number, company=company, partner=partner, customer_name=company.name,
                               starts_on=TODAY - dt.timedelta(days=30), ends_on=ends)
    DeviceLine.create(contract=contract, model="Hikvision DS-7616NI", serial=f"SN-{number}", address="Warszawa")
    DeviceLine.create(contract=contract, model="Satel Integra 64", serial=f"SAT-{number}", address="Warszawa")
    return contract


@pytest.fixture
def world(db):
    partner = Company.create(nip="7740001454", name="Instalator Sp. z o.o.", role=CompanyRole.INSTALLER.value,
                             verified_at=dt.datetime(2026, 1, 2))  # an admin verified it
    a = Company.create(nip="5260001246", name="Firma A")
    b = Company.create(nip="1234563218", name="Firma B")
    w = SimpleNamespace(
        contract_a=_contract("A000001", a, partner=partner), contract_b=_contract("B000001", b),
        alice=_user("alice@a.example", a), anna=_user("anna@a.example", a), bob=_user("bob@b.example", b),
        partner=_user("pat@installer.example", partner, Role.PARTNER),
        engineer=_user("eng@helpdesk.example", role=Role.ENGINEER),
        admin=_user("admin@helpdesk.example", role=Role.ADMIN),
    )
    ContractAccess.create(user=w.alice, contract=w.contract_a)
    ContractAccess.create(user=w.bob, contract=w.contract_b)
    return w


def signed_in(app, user, ip="192.0.2.20") -> Portal:
    portal = Portal(app, ip=ip)
    response = portal.post("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return portal


def open_ticket(portal, contract, *, files=(), ccs="", title="Rejestrator nie nagrywa", text="Od wczoraj brak zapisu."):
    line = contract.lines.order_by(DeviceLine.id).first()
    data = {"line": str(line.id), "title": title, "description": text, "ccs": ccs,
            "attachments": [(io.BytesIO(body), name) for name, body in files]}
    return portal.post(f"/tickets/new?contract={contract.id}", data, content_type="multipart/form-data")


def outbox_to(address):
    return [json.loads(r.spec) if r.spec else {"template": r.kind}
            for r in Outbox.select().where(Outbox.recipient == address).order_by(Outbox.id)]


# --- a new ticket from the portal ------------------------------------------------------------


def test_a_customer_opens_a_ticket_with_an_attachment_and_a_cc(app, world, config):
    alice = signed_in(app, world.alice)
    response = open_ticket(alice, world.contract_a, files=[("log.txt", b"error 42\n")], ccs="it@a.example")
    assert response.status_code == 302
    ticket = Ticket.get()
    assert (ticket.channel, ticket.status, ticket.contract_id, ticket.requester_id) == \
           ("portal", "new", world.contract_a.id, world.alice.id)
    assert ticket.device_line.serial == "SN-A000001"
    [message] = ticket.messages
    assert message.kind == "customer" and message.body_text == "Od wczoraj brak zapisu." and message.message_id
    [attachment] = Attachment.select()
    assert attachment.filename == "log.txt" and attachment.size == 9
    assert (config.blob_dir / attachment.blob.sha256[:2]).is_dir()
    assert {(p.email, p.role) for p in ticket.participants} == {("alice@a.example", "requester"),
                                                                  ("it@a.example", "cc")}
    assert [m["template"] for m in outbox_to("alice@a.example")] == ["ack"]
    assert [m["template"] for m in outbox_to("it@a.example")] == ["message"]
    assert [m["template"] for m in outbox_to("eng@helpdesk.example")] == ["engineer"]
    page = alice.text(response.location)
    assert "Rejestrator nie nagrywa" in page and "log.txt" in page


@pytest.mark.parametrize("files, ccs, error", [
    ([("empty.txt", b"")], "", "jest pusty"),
    ([("big.bin", b"x" * 5000)], "", "większy niż"),
    ([], ", ".join(f"u{i}@a.example" for i in range(500)), "najwyżej 20"),
    ([], "good@a.example, bad\r\nBcc: evil@x.example", "nieprawidłowe adresy"),
    ([], "not-an-address", "nieprawidłowe adresy"),
])
def test_bad_new_ticket_forms_store_nothing(app, world, config, files, ccs, error):
    app.config["HELPDESK"] = config.with_(max_attachment_bytes=4096)
    alice = signed_in(app, world.alice)
    response = open_ticket(alice, world.contract_a, files=files, ccs=ccs)
    assert response.status_code == 422
    assert error in response.get_data(as_text=True)
    assert Ticket.select().count() == 0 and Message.select().count() == 0 and Outbox.select().count() == 0


def test_a_file_name_never_leaves_its_folder(app, world):
    alice = signed_in(app, world.alice)
    open_ticket(alice, world.contract_a, files=[("../../etc/passwd", b"root"), ("..\\..\\win.ini", b"x")])
    assert sorted(a.filename for a in Attachment.select()) == ["passwd", "win.ini"]


def test_tickets_only_on_contracts_the_user_has_verified_and_still_active(app, world):
    alice = signed_in(app, world.alice)
    assert open_ticket(alice, world.contract_b).status_code == 404
    anna = signed_in(app, world.anna, ip="192.0.2.21")
    assert anna.get(f"/tickets/new?contract={world.contract_a.id}").status_code == 404
    Contract.update(ends_on=TODAY - dt.timedelta(days=1)).where(Contract.id == world.contract_a.id).execute()
    assert open_ticket(alice, world.contract_a).status_code == 404
    assert Ticket.select().count() == 0


# --- who sees what ----------------------------------------------------------------------------------


def test_objects_of_another_company_are_not_found(app, world):
    open_ticket(signed_in(app, world.alice), world.contract_a, files=[("a.txt", b"secret")])
    ticket, attachment = Ticket.get(), Attachment.get()
    bob = signed_in(app, world.bob, ip="192.0.2.30")
    for path in (f"/tickets/{ticket.id}", f"/attachments/{attachment.id}/a.txt", f"/contracts/{world.contract_a.id}",
                 f"/tickets/{ticket.id}/messages/{ticket.messages[0].id}/html", f"/staff/tickets/{ticket.id}",
                 "/staff", "/staff/quarantine", "/staff/users"):
        assert bob.get(path).status_code == 404, path
    for path, data in ((f"/tickets/{ticket.id}/reply", {"text": "x"}),
                       (f"/tickets/{ticket.id}/cc", {"cc-addresses": "x@b.example"}),
                       (f"/tickets/{ticket.id}/reopen", {})):
        assert bob.post(path, data, page="/tickets").status_code == 404, path
    assert Message.select().count() == 1 and Participant.select().count() == 1
    assert "Rejestrator" not in bob.text("/tickets")


def test_an_engineer_sees_everything_and_a_partner_what_it_sold(app, world):
    open_ticket(signed_in(app, world.alice), world.contract_a)
    open_ticket(signed_in(app, world.bob, ip="192.0.2.31"), world.contract_b, title="Centrala alarmowa")
    a, b = Ticket.select().order_by(Ticket.id)
    engineer = signed_in(app, world.engineer, ip="192.0.2.32")
    assert engineer.get(f"/staff/tickets/{a.id}").status_code == 200
    assert engineer.get(f"/tickets/{b.id}").status_code == 200
    partner = signed_in(app, world.partner, ip="192.0.2.33")
    assert partner.get(f"/tickets/{a.id}").status_code == 200  # contract A was sold by this partner
    assert partner.get(f"/tickets/{b.id}").status_code == 404


def test_a_ticket_by_mail_from_a_users_address_is_in_its_list(app, world):
    ticket = Ticket.create(subject="Z maila", requester_email="alice@a.example")
    alice = signed_in(app, world.alice)
    assert "Z maila" in alice.text("/tickets")
    assert alice.get(f"/tickets/{ticket.id}").status_code == 200


def test_a_verified_contracts_tickets_are_seen_by_everyone_with_access_and_nobody_else(app, world):
    open_ticket(signed_in(app, world.alice), world.contract_a)
    ticket = Ticket.get()
    anna = signed_in(app, world.anna, ip="192.0.2.40")
    assert anna.get(f"/tickets/{ticket.id}").status_code == 404  # same company, contract not verified
    ContractAccess.create(user=world.anna, contract=world.contract_a)
    assert anna.get(f"/tickets/{ticket.id}").status_code == 200


# --- the conversation ----------------------------------------------------------------------------------


def test_the_conversation_is_newest_first_and_replies_set_the_status(app, world):
    alice = signed_in(app, world.alice)
    open_ticket(alice, world.contract_a, text="Pierwsza wiadomość")
    ticket = Ticket.get()
    engineer = signed_in(app, world.engineer, ip="192.0.2.50")
    engineer.post(f"/staff/tickets/{ticket.id}/reply", {"text": "Odpowiedź inżyniera"},
                  page=f"/staff/tickets/{ticket.id}")
    assert Ticket.get_by_id(ticket.id).status == Status.WAITING_CUSTOMER.value
    alice.post(f"/tickets/{ticket.id}/reply", {"text": "Druga od klienta"}, page=f"/tickets/{ticket.id}")
    assert Ticket.get_by_id(ticket.id).status == Status.WAITING_US.value
    page = alice.text(f"/tickets/{ticket.id}")
    assert page.index("Druga od klienta") < page.index("Odpowiedź inżyniera") < page.index("Pierwsza wiadomość")
    assert [m["template"] for m in outbox_to("alice@a.example")] == ["ack", "message"]  # the engineer's answer


def test_an_internal_note_is_never_shown_or_mailed_to_the_customer(app, world):
    alice = signed_in(app, world.alice)
    open_ticket(alice, world.contract_a, ccs="it@a.example")
    ticket = Ticket.get()
    before = Outbox.select().count()
    engineer = signed_in(app, world.engineer, ip="192.0.2.51")
    engineer.post(f"/staff/tickets/{ticket.id}/reply",
                  {"text": "Klient ma starą wersję firmware", "internal": "y",
                   "attachments": [(io.BytesIO(b"internal"), "notes.txt")]},
                  page=f"/staff/tickets/{ticket.id}", content_type="multipart/form-data")
    assert Outbox.select().count() == before
    assert "starą wersję" not in alice.text(f"/tickets/{ticket.id}")
    assert "starą wersję" in engineer.text(f"/staff/tickets/{ticket.id}")
    note_file = Attachment.get(Attachment.filename == "notes.txt")
    assert alice.get(f"/attachments/{note_file.id}/notes.txt").status_code == 404
    with engineer.get(f"/attachments/{note_file.id}/notes.txt") as response:
        assert response.status_code == 200 and response.data == b"internal"


def test_a_new_cc_gets_the_following_mail_and_a_removed_one_does_not(app, world):
    alice = signed_in(app, world.alice)
    open_ticket(alice, world.contract_a)
    ticket = Ticket.get()
    alice.post(f"/tickets/{ticket.id}/cc", {"cc-addresses": "New.Person@a.example"}, page=f"/tickets/{ticket.id}")
    engineer = signed_in(app, world.engineer, ip="192.0.2.52")
    engineer.post(f"/staff/tickets/{ticket.id}/reply", {"text": "Proszę o logi"}, page=f"/staff/tickets/{ticket.id}")
    assert [m["template"] for m in outbox_to("new.person@a.example")] == ["message"]
    participant = Participant.get(Participant.email == "new.person@a.example")
    alice.post(f"/tickets/{ticket.id}/cc/{participant.id}/remove", page=f"/tickets/{ticket.id}")
    engineer.post(f"/staff/tickets/{ticket.id}/reply", {"text": "Jeszcze raz"}, page=f"/staff/tickets/{ticket.id}")
    assert len(outbox_to("new.person@a.example")) == 1
    requester = Participant.get(Participant.email == "alice@a.example")
    alice.post(f"/tickets/{ticket.id}/cc/{requester.id}/remove", page=f"/tickets/{ticket.id}")
    assert Participant.get_or_none(Participant.id == requester.id)  # the requester stays


def test_a_closed_ticket_is_reopened_by_its_customer(app, world):
    alice = signed_in(app, world.alice)
    open_ticket(alice, world.contract_a)
    ticket = Ticket.get()
    engineer = signed_in(app, world.engineer, ip="192.0.2.53")
    engineer.post(f"/staff/tickets/{ticket.id}/reply", {"text": "Rozwiązane", "close": "y"},
                  page=f"/staff/tickets/{ticket.id}")
    assert Ticket.get_by_id(ticket.id).status == "closed"
    assert "Otwórz ponownie" in alice.text(f"/tickets/{ticket.id}")
    alice.post(f"/tickets/{ticket.id}/reopen", page=f"/tickets/{ticket.id}")
    assert Ticket.get_by_id(ticket.id).status == "open"
    changes = StatusChange.select().where(StatusChange.ticket == ticket).order_by(StatusChange.id)
    statuses = [c.new_status for c in changes]
    assert statuses[-2:] == ["closed", "open"]


def test_attachments_are_always_downloads(app, world):
    alice = signed_in(app, world.alice)
    open_ticket(alice, world.contract_a, files=[("page.html", b"<script>alert(1)</script>")])
    attachment = Attachment.get()
    with alice.get(f"/attachments/{attachment.id}/page.html") as response:
        assert response.status_code == 200 and response.data == b"<script>alert(1)</script>"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_mail_html_is_sanitised_and_remote_images_wait_until_asked(app, world):
    ticket = Ticket.create(subject="HTML", requester_email="alice@a.example")
    message = Message.create(ticket=ticket, kind="customer", author_email="alice@a.example", body_text="x",
                             body_html='<p onclick="x()">Hej<script>alert(1)</script>'
                                       '<img src="https://tracker.example/p.gif"></p>')
    alice = signed_in(app, world.alice)
    response = alice.get(f"/tickets/{ticket.id}/messages/{message.id}/html")
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "onclick" not in html and "Hej" in html
    csp = response.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "https:" not in csp
    shown = alice.get(f"/tickets/{ticket.id}/messages/{message.id}/html?images=1")
    assert "https:" in shown.headers["Content-Security-Policy"]


# --- staff pages -----------------------------------------------------------------------------------------


def test_the_queue_counts_and_filters(app, world):
    for subject, status in (("one", "new"), ("two", "new"), ("three", "waiting_us"), ("four", "closed")):
        Ticket.create(subject=subject, requester_email="x@a.example", status=status)
    Ticket.update(assignee=world.engineer).where(Ticket.subject == "three").execute()
    engineer = signed_in(app, world.engineer)
    page = engineer.text("/staff?queue=new")
    assert "one" in page and "two" in page and "four" not in page
    from helpdesk.web.staff import queue_counts

    counts = queue_counts(world.engineer)
    assert (counts["new"], counts["unassigned"], counts["mine"], counts["closed"], counts["all"]) == (2, 2, 1, 1, 4)
    assert "three" in engineer.text("/staff?queue=mine")
    assert "four" in engineer.text("/staff?queue=all&q=four") and "one" not in engineer.text("/staff?queue=all&q=four")
    assert engineer.get("/staff?queue=all&q=%25_' OR 1=1--").status_code == 200


def test_assign_status_and_moving_a_message(app, world):
    first = Ticket.create(subject="first", requester_email="x@a.example")
    second = Ticket.create(subject="second", requester_email="x@a.example")
    message = Message.create(ticket=first, kind="customer", author_email="x@a.example", body_text="belongs to 2",
                             message_id="wrong@x")
    from helpdesk.models import KnownMessageId

    KnownMessageId.create(message_id="wrong@x", ticket=first, message=message)
    engineer = signed_in(app, world.engineer)
    engineer.post(f"/staff/tickets/{first.id}/assign", {"as-engineer": "me"}, page=f"/staff/tickets/{first.id}")
    first = Ticket.get_by_id(first.id)
    assert first.assignee_id == world.engineer.id and first.status == "open"
    engineer.post(f"/staff/tickets/{first.id}/status", {"st-status": "waiting_customer"},
                  page=f"/staff/tickets/{first.id}")
    assert Ticket.get_by_id(first.id).status == "waiting_customer"
    response = engineer.post(f"/staff/tickets/{first.id}/messages/{message.id}/move", {"target": str(second.id)},
                             page=f"/staff/tickets/{first.id}")
    assert response.status_code == 302
    assert Message.get_by_id(message.id).ticket_id == second.id
    assert KnownMessageId.get(KnownMessageId.message_id == "wrong@x").ticket_id == second.id
    assert AuditLog.select().where(AuditLog.action == "move_message").count() == 1
    bad = engineer.post(f"/staff/tickets/{second.id}/messages/{message.id}/move", {"target": "999999"},
                        page=f"/staff/tickets/{second.id}")
    assert bad.status_code == 302 and Message.get_by_id(message.id).ticket_id == second.id


def test_admins_invite_deactivate_and_set_roles_and_engineers_cannot(app, world):
    engineer = signed_in(app, world.engineer)
    assert engineer.get("/staff/users").status_code == 404
    admin = signed_in(app, world.admin, ip="192.0.2.60")
    response = admin.post("/staff/users", {"new-email": "New.Eng@helpdesk.example", "new-first_name": "Nowy",
                                           "new-last_name": "Inżynier", "new-role": "engineer"})
    assert response.status_code == 302
    new = User.get(User.email == "new.eng@helpdesk.example")
    assert new.role == "engineer" and new.is_active and new.password_hash is None
    assert [m["template"] for m in outbox_to("new.eng@helpdesk.example")] == ["account:invitation"]
    admin.post(f"/staff/users/{world.bob.id}", {"action": "deactivate"}, page="/staff/users")
    assert not User.get_by_id(world.bob.id).is_active
    refused = Portal(app, ip="192.0.2.61").post("/login", {"email": "bob@b.example", "password": PASSWORD})
    assert refused.status_code == 401
    admin.post(f"/staff/users/{world.engineer.id}", {"action": "role", "role": "admin"}, page="/staff/users")
    assert User.get_by_id(world.engineer.id).role == "admin"
    admin.post(f"/staff/users/{world.admin.id}", {"action": "deactivate"}, page="/staff/users")
    assert User.get_by_id(world.admin.id).is_active  # not yourself


def test_an_engineers_files_go_out_with_the_mail_and_large_ones_stay_in_the_portal(app, world, config):
    import email
    import email.policy

    from helpdesk.outgoing.compose import compose

    app.config["HELPDESK"] = config = config.with_(max_attachment_bytes=4096)
    alice = signed_in(app, world.alice)
    open_ticket(alice, world.contract_a)
    ticket = Ticket.get()
    engineer = signed_in(app, world.engineer, ip="192.0.2.70")
    engineer.post(f"/staff/tickets/{ticket.id}/reply",
                  {"text": "W załączniku poprawka", "attachments": [(io.BytesIO(b"fix" * 1000), "fix.cfg"),
                                                                    (io.BytesIO(b"y" * 2000), "big.log")]},
                  page=f"/staff/tickets/{ticket.id}", content_type="multipart/form-data")
    row = Outbox.select().where(Outbox.recipient == "alice@a.example", Outbox.kind == "message").get()
    mail = email.message_from_bytes(compose(config, row), policy=email.policy.default)
    [part] = list(mail.iter_attachments())
    assert part.get_filename() == "fix.cfg" and part.get_content() == b"fix" * 1000
    text = mail.get_body(("plain",)).get_content()
    assert "W załączniku poprawka" in text and "big.log" in text
    engineer_mail = Outbox.select().where(Outbox.recipient == "eng@helpdesk.example").get()
    assert f"/staff/tickets/{ticket.id}" in compose(config, engineer_mail).decode()


def test_portal_replies_racing_incoming_mail_lose_nothing(app, world, config):
    """The worker stores replies by mail while the portal stores replies to the same ticket:
    every message is kept, and the ticket's status is the last writer's."""
    import threading

    from helpdesk.domain import conversation
    from tests.harness import Desk
    from tests.mailfactory import make_mail

    desk = Desk(config.with_(fetch_batch=1))  # one transaction per message: as many chances to interleave
    ticket = Ticket.create(subject="Wyścig", requester=world.alice, requester_email="alice@a.example")
    Participant.create(ticket=ticket, email="alice@a.example", role="requester")
    for i in range(30):
        desk.deliver(make_mail(f"mail {i}", From="alice@a.example", Subject=f"Re: [HD-{ticket.id}] Wyścig"))
    errors = []

    def portal():
        try:
            for i in range(30):
                conversation.reply(config, ticket.id, world.engineer, f"portal {i}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=portal)
    thread.start()
    summary = desk.run()
    thread.join()
    assert summary.processed == 30
    assert not errors
    bodies = [m.body_text.strip() for m in Message.select().where(Message.ticket == ticket)]
    assert sorted(b for b in bodies if b.startswith("mail")) == sorted(f"mail {i}" for i in range(30))
    assert sorted(b for b in bodies if b.startswith("portal")) == sorted(f"portal {i}" for i in range(30))
    last = StatusChange.select().where(StatusChange.ticket == ticket).order_by(StatusChange.id.desc()).first()
    assert Ticket.get_by_id(ticket.id).status == last.new_status


def _conversation(ticket, n):
    for i in range(n):
        message = Message.create(ticket=ticket, kind="customer" if i % 2 else "staff", author_email="x@a.example",
                                 body_text=f"message {i}")
        Attachment.create(message=message, filename=f"f{i}.txt", size=1)


@pytest.mark.parametrize("page", ["/tickets", "/tickets/{t}", "/staff?queue=all", "/staff/tickets/{t}", "/dashboard",
                                  "/contracts"])
def test_no_page_runs_a_query_per_row(app, world, page):
    """The number of SQL statements a page runs does not grow with the rows it shows."""
    from tests.portal import QueryCounter

    def statements(portal, ticket):
        with QueryCounter() as counter:
            assert portal.get(page.format(t=ticket.id)).status_code == 200
        return counter.count

    user = world.engineer if page.startswith("/staff") else world.alice
    portal = signed_in(app, user)
    small = Ticket.create(subject="small", requester=world.alice, requester_email="alice@a.example",
                          contract=world.contract_a)
    _conversation(small, 3)
    few = statements(portal, small)
    assert few >= 2  # the session's user, then the page's own
    for i in range(30):
        Ticket.create(subject=f"more {i}", requester=world.alice, requester_email="alice@a.example",
                      contract=world.contract_a)
    big = Ticket.create(subject="big", requester=world.alice, requester_email="alice@a.example",
                        contract=world.contract_a)
    _conversation(big, 60)
    assert statements(portal, big) == few, page


def test_a_bad_reply_stores_nothing_and_an_oversize_request_gets_a_clear_page(app, world, config):
    app.config["HELPDESK"] = config.with_(max_attachment_bytes=4096)
    alice = signed_in(app, world.alice)
    open_ticket(alice, world.contract_a)
    ticket = Ticket.get()
    before = (Message.select().count(), Attachment.select().count(), Outbox.select().count())
    empty = alice.post(f"/tickets/{ticket.id}/reply",
                       {"text": "z plikiem", "attachments": [(io.BytesIO(b""), "a.txt")]},
                       page=f"/tickets/{ticket.id}", content_type="multipart/form-data")
    assert empty.status_code == 422 and "jest pusty" in empty.get_data(as_text=True)
    blank = alice.post(f"/tickets/{ticket.id}/reply", {"text": "   "}, page=f"/tickets/{ticket.id}")
    assert blank.status_code == 422
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    huge = alice.post(f"/tickets/{ticket.id}/reply",
                      {"text": "x", "attachments": [(io.BytesIO(b"x" * 20_000), "a.bin")]},
                      page=f"/tickets/{ticket.id}", content_type="multipart/form-data")
    assert huge.status_code == 413 and "Za duże" in huge.get_data(as_text=True)
    assert (Message.select().count(), Attachment.select().count(), Outbox.select().count()) == before


def test_moving_a_message_has_its_own_page(app, world):
    first = Ticket.create(subject="first", requester_email="x@a.example")
    message = Message.create(ticket=first, kind="customer", author_email="x@a.example", body_text="zgubiona")
    engineer = signed_in(app, world.engineer)
    page = engineer.get(f"/staff/tickets/{first.id}/messages/{message.id}/move")
    assert page.status_code == 200 and "zgubiona" in page.get_data(as_text=True)
    assert engineer.get(f"/staff/tickets/{first.id + 1}/messages/{message.id}/move").status_code == 404
    empty = engineer.post(f"/staff/tickets/{first.id}/messages/{message.id}/move", {"target": ""})
    assert empty.status_code == 422 and Message.get_by_id(message.id).ticket_id == first.id
    customer = signed_in(app, world.alice, ip="192.0.2.80")
    assert customer.get(f"/staff/tickets/{first.id}/messages/{message.id}/move").status_code == 404
