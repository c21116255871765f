"""Dead ends and missing feedback (issue 17, item 8), through the Flask test client: the
programme's distributor step with nothing to choose and after going back, where each person
lands, what each action says, the mail a closing answer and a reopen send, a partner company
registered again, and the role a role change was asked from."""
from __future__ import annotations

import email
import email.policy
import io
import re
from types import SimpleNamespace

import pytest

from helpdesk.domain import partners
from helpdesk.models import (
    AuditLog,
    Company,
    CompanyRole,
    ContractAccess,
    Distributor,
    Outbox,
    PartnerApplication,
    Role,
    RoleChangeRequest,
    Status,
    Ticket,
    User,
)
from helpdesk.outgoing.compose import compose
from tests.portal import Portal, link_in, mails_to
from tests.test_portal_partners import PASSWORD, _partner, _user, location
from tests.test_portal_tickets import _contract, open_ticket, signed_in


@pytest.fixture
def tickets_world(db):
    """A customer with a contract, an engineer and an admin."""
    company = Company.create(nip="5260001246", name="Firma A")
    w = SimpleNamespace(contract_a=_contract("A000001", company), alice=_user("alice@a.example", company),
                        engineer=_user("eng@helpdesk.example", role=Role.ENGINEER),
                        admin=_user("admin@helpdesk.example", role=Role.ADMIN))
    ContractAccess.create(user=w.alice, contract=w.contract_a)
    return w


def checked(page: str) -> set[str]:
    """The values of the checked boxes and radios of a page."""
    return {m.group(1) for m in re.finditer(r'<input checked[^>]*value="([^"]*)"', page)}


def flashes(page: str) -> list[str]:
    return re.findall(r'<p class="flash [a-z]+" role="status">([^<]*)</p>', page)


def rendered(config, row) -> str:
    mail = email.message_from_bytes(compose(config, row), policy=email.policy.default)
    return mail["Subject"] + "\n" + mail.get_body(("plain",)).get_content()


def start_programme(portal) -> None:
    assert portal.post("/partner/programme/start", page="/partner/programme").status_code == 302
    page = portal.text("/partner/programme/terms")
    terms_id = re.search(r'name="terms_id" type="hidden" value="(\d+)"', page).group(1)
    assert location(portal.post("/partner/programme/terms", {"terms_id": terms_id, "accept": "y"})) == \
        "/partner/programme/distributors"


# --- the programme's distributor step ---------------------------------------------------------------------


def test_the_distributor_step_with_none_listed_says_what_to_do_and_the_admin_is_told_it_is_added(app, db):
    installer = _partner("jan@instalator.example", "7740001454")
    admin = _user("admin@helpdesk.example", role=Role.ADMIN)
    portal = signed_in(app, installer)
    start_programme(portal)

    page = portal.text("/partner/programme/distributors")
    assert 'id="no-distributors"' in page
    assert "mailto:support@helpdesk.localhost?subject=" in page  # a way forward: ask for the distributor
    assert 'id="programme-next"' not in page  # no button that can only fail
    assert 'href="/partner"' in page

    boss = signed_in(app, admin)
    assert 'id="no-distributors"' in boss.text("/admin/distributors")  # the admin sees why it matters
    done = boss.post("/admin/distributors", {"name": "Dystrybutor Północ", "nip": "1234563218"})
    assert done.status_code == 302
    said = flashes(boss.text("/admin/distributors"))
    assert any("Dystrybutor Północ" in f and "1234563218" in f for f in said), said
    north = Distributor.get(Distributor.nip == "1234563218")
    boss.post(f"/admin/distributors/{north.id}/toggle", page="/admin/distributors")
    assert any("Dystrybutor Północ" in f for f in flashes(boss.text("/admin/distributors")))
    boss.post(f"/admin/distributors/{north.id}/toggle", page="/admin/distributors")

    page = portal.text("/partner/programme/distributors")
    assert 'id="no-distributors"' not in page and "Dystrybutor Północ" in page and 'id="programme-next"' in page


def test_choices_are_kept_on_going_back_through_the_steps(app, db):
    installer = _partner("jan@instalator.example", "7740001454")
    north = Distributor.create(name="Dystrybutor Północ", nip="1234563218")
    south = Distributor.create(name="Dystrybutor Południe", nip="9542583988")
    Distributor.create(name="Dystrybutor Zachód", nip="5260250274")
    portal = signed_in(app, installer)
    start_programme(portal)
    assert location(portal.post("/partner/programme/distributors",
                                {"distributors": [str(north.id), str(south.id)]})) == "/partner/programme/level"

    level = portal.text("/partner/programme/level")
    assert 'href="/partner/programme/distributors"' in level  # a way back
    back = portal.text("/partner/programme/distributors")
    assert checked(back) == {str(north.id), str(south.id)}
    assert 'href="/partner/programme/terms"' in back
    assert checked(portal.text("/partner/programme/terms")) == {"y"}  # the terms are still accepted


def test_helpdesk_demo_lists_distributors_so_the_step_has_something_to_choose(app, db):
    from helpdesk.domain import demo

    made = demo.create()
    assert made.distributors_created == 3 and demo.create().distributors_created == 0
    installer = _partner("jan@instalator.example", "7740001454")
    portal = signed_in(app, installer)
    start_programme(portal)
    page = portal.text("/partner/programme/distributors")
    assert all(name in page for name, _ in demo.DISTRIBUTORS) and 'id="no-distributors"' not in page


# --- where each person lands --------------------------------------------------------------------------------


def test_partner_registration_is_linked_from_the_front_login_and_registration_pages(app, db):
    portal = Portal(app)
    for path in ("/", "/login", "/register"):
        assert 'href="/partner/register"' in portal.text(path), path


def test_each_person_lands_where_their_work_is_after_logging_in(app, db):
    company = Company.create(nip="5260001246", name="Firma A")
    people = [("/dashboard", _user("alice@a.example", company)),
              ("/partner", _partner("jan@instalator.example", "7740001454")),
              ("/staff", _user("eng@helpdesk.example", role=Role.ENGINEER)),
              ("/staff", _user("admin@helpdesk.example", role=Role.ADMIN))]
    for landing, user in people:
        portal = Portal(app, ip=f"192.0.2.{user.id + 30}")
        response = portal.post("/login", {"email": user.email, "password": PASSWORD})
        assert location(response) == landing, user.email
        assert location(portal.get("/")) == landing  # the front page too
    # A page asked for before logging in still wins.
    portal = Portal(app, ip="192.0.2.99")
    response = portal.post("/login?next=/tickets", {"email": "eng@helpdesk.example", "password": PASSWORD,
                                                    "next": "/tickets"}, page="/login?next=/tickets")
    assert location(response) == "/tickets"


def test_a_partner_lands_on_the_partner_page_after_activation_and_the_back_button_is_friendly(app, db):
    portal = Portal(app)
    form = dict(first_name="Piotr", last_name="Nowak", email="piotr@arc.example", phone="601234567",
                nip="1060000062", company_name="Centrum Alarmowe Sp. z o.o.", company_role="arc", terms="y")
    assert location(portal.post("/partner/register", form)) == "/register/done"
    activation = link_in(mails_to("piotr@arc.example")[-1], "/activate/")
    assert location(portal.post(activation, page=activation)) == "/partner"

    again = portal.get(activation)  # the Back button, or the mail's link opened again, signed in
    assert again.status_code == 302 and location(again) == "/partner"
    page = portal.text("/partner")
    assert "no longer works" not in page and "nie działa" not in page
    assert any("active" in f or "aktywne" in f for f in flashes(page)), flashes(page)

    stranger = Portal(app, ip="192.0.2.77")  # signed out: the link is dead, and the page says so
    assert stranger.get(activation).status_code == 410


def test_the_staff_queue_opens_on_a_tab_with_work_in_it(app, db):
    from helpdesk.domain import tickets

    engineer = _user("eng@helpdesk.example", role=Role.ENGINEER)
    done = tickets.open_ticket(subject="Stara sprawa", requester_email="k@example.com")
    Ticket.update(status=Status.CLOSED.value).where(Ticket.id == done.id).execute()
    portal = signed_in(app, engineer)
    page = portal.text("/staff")
    assert "Stara sprawa" in page  # nothing open: the tab with the closed one, not an empty one
    assert re.search(r'queue=closed[^>]*aria-current="page"', page)

    tickets.open_ticket(subject="Kamera nie działa", requester_email="k2@example.com")
    page = portal.text("/staff")
    assert "Kamera nie działa" in page and re.search(r'queue=due[^>]*aria-current="page"', page)
    assert "Stara sprawa" not in portal.text("/staff?queue=new")


# --- every action says what happened -----------------------------------------------------------------------------


def test_a_role_change_to_the_role_the_company_has_is_not_offered_and_refused_aloud(app, db):
    installer = _partner("jan@instalator.example", "7740001454")
    portal = signed_in(app, installer)
    page = portal.text("/partner/company")
    current = re.search(r'<input[^>]*value="installer"[^>]*>', page).group(0)
    assert "disabled" in current
    refused = portal.post("/partner/company", {"role": "installer"})
    assert refused.status_code == 422
    assert re.search(r'<p class="error" role="alert">[^<]+</p>', refused.get_data(as_text=True))
    assert not RoleChangeRequest.select().exists()

    asked = portal.post("/partner/company", {"role": "integrator"})
    assert asked.status_code == 302
    said = flashes(portal.text("/partner/company"))
    assert any("Integrator" in f for f in said), said


def test_after_a_form_error_the_chosen_files_are_named_to_be_chosen_again(app, tickets_world):
    w = tickets_world
    alice = signed_in(app, w.alice)
    bad = open_ticket(alice, w.contract_a, files=[("schemat.pdf", b"%PDF-1.4 x"), ("log.txt", b"log")],
                      ccs="not an address")
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "schemat.pdf, log.txt" in page and not Ticket.select().exists()

    open_ticket(alice, w.contract_a)
    ticket = Ticket.get()
    reply = alice.post(f"/tickets/{ticket.id}/reply", {"text": "", "attachments": [(io.BytesIO(b"x"), "foto.jpg")]},
                       page=f"/tickets/{ticket.id}", content_type="multipart/form-data")
    assert reply.status_code == 422 and "foto.jpg" in reply.get_data(as_text=True)

    no_files = alice.post(f"/tickets/{ticket.id}/reply", {"text": ""}, page=f"/tickets/{ticket.id}")
    assert no_files.status_code == 422 and "foto.jpg" not in no_files.get_data(as_text=True)


def test_a_closing_answer_tells_the_customer_the_ticket_is_closed(app, tickets_world, config):
    w = tickets_world
    alice = signed_in(app, w.alice)
    open_ticket(alice, w.contract_a)
    ticket = Ticket.get()
    engineer = signed_in(app, w.engineer, ip="192.0.2.70")
    engineer.post(f"/staff/tickets/{ticket.id}/reply", {"text": "Wymieniliśmy dysk."},
                  page=f"/staff/tickets/{ticket.id}")
    engineer.post(f"/staff/tickets/{ticket.id}/reply", {"text": "Działa, zamykam.", "close": "y"},
                  page=f"/staff/tickets/{ticket.id}")
    assert Ticket.get_by_id(ticket.id).status == Status.CLOSED.value
    assert any("closed" in f or "zamknięte" in f for f in flashes(engineer.text(f"/staff/tickets/{ticket.id}")))

    first, closing = Outbox.select().where(Outbox.recipient == "alice@a.example", Outbox.kind == "message") \
        .order_by(Outbox.id)
    assert "zamknięte" not in rendered(config, first)
    text = rendered(config, closing)
    assert f"Zgłoszenie HD-{ticket.id} zostało zamknięte" in text and "Działa, zamykam." in text
    assert text.index("zamknięte") < text.index("Działa, zamykam.")  # said first


def test_a_reopen_in_the_portal_is_mailed_to_the_assignee_or_else_the_engineers(app, tickets_world, config):
    w = tickets_world
    other = _user("ola@helpdesk.example", role=Role.ENGINEER)
    alice = signed_in(app, w.alice)
    open_ticket(alice, w.contract_a, title="Brak obrazu")
    ticket = Ticket.get()
    Ticket.update(status=Status.CLOSED.value).where(Ticket.id == ticket.id).execute()
    Outbox.delete().execute()

    alice.post(f"/tickets/{ticket.id}/reopen", page=f"/tickets/{ticket.id}")
    assert Ticket.get_by_id(ticket.id).status == Status.OPEN.value
    told = {r.recipient: r for r in Outbox.select().where(Outbox.kind == "reopened")}
    assert set(told) == {"eng@helpdesk.example", "ola@helpdesk.example", "admin@helpdesk.example"}
    text = rendered(config, told["ola@helpdesk.example"])
    assert f"[HD-{ticket.id}] Otwarte ponownie: Brak obrazu" in text and "Alice Test" in text
    assert f"/staff/tickets/{ticket.id}" in text and "Od wczoraj brak zapisu." in text
    assert not Outbox.select().where(Outbox.recipient == "alice@a.example").exists()

    Outbox.delete().execute()
    Ticket.update(status=Status.CLOSED.value, assignee=other).where(Ticket.id == ticket.id).execute()
    alice.post(f"/tickets/{ticket.id}/reopen", page=f"/tickets/{ticket.id}")
    assert [r.recipient for r in Outbox.select().where(Outbox.kind == "reopened")] == ["ola@helpdesk.example"]


# --- a partner company registered again -----------------------------------------------------------------------------


def test_a_partner_registered_again_starts_clean_and_the_audit_trail_keeps_the_old_records(app, db, config):
    installer = _partner("jan@instalator.example", "7740001454")
    admin = _user("admin@helpdesk.example", role=Role.ADMIN)
    north = Distributor.create(name="Dystrybutor Północ", nip="1234563218")
    portal = signed_in(app, installer)
    start_programme(portal)
    portal.post("/partner/programme/distributors", {"distributors": [str(north.id)]})
    portal.post("/partner/programme/level", {"level": "authorised"})
    application = PartnerApplication.get()
    partners.decide_application(config, application.id, True, "", by=admin)
    code = PartnerApplication.get_by_id(application.id).verification_code
    assert Portal(app).get(f"/verify/{code}").status_code == 200
    portal.post("/partner/company", {"role": "integrator"})  # waiting when the account goes

    assert portal.post("/account/delete", {"del-current": PASSWORD, "del-confirm": "y"},
                       page="/account").status_code == 302
    again = Portal(app, ip="192.0.2.50")
    form = dict(first_name="Jan", last_name="Drugi", email="drugi@instalator.example", phone="601234567",
                nip="7740001454", company_name="Instalator", company_role="arc", terms="y")
    assert location(again.post("/partner/register", form)) == "/register/done"
    activation = link_in(mails_to("drugi@instalator.example")[-1], "/activate/")
    assert again.post(activation, page=activation).status_code == 302

    company = Company.get(Company.nip == "7740001454")
    assert company.role == "arc" and company.verified_at is None
    assert not PartnerApplication.select().exists() and not RoleChangeRequest.select().exists()
    assert Portal(app).get(f"/verify/{code}").status_code == 404  # the old certificate no longer verifies
    ended = AuditLog.get(AuditLog.action == "partner_application_ended")
    assert code in ended.detail and "approved" in ended.detail and "Dystrybutor Północ" in ended.detail
    assert AuditLog.select().where(AuditLog.action == "role_change_ended").exists()
    assert AuditLog.select().where(AuditLog.action == "application_approved").exists()  # the old lines stay

    partners.verify_company(config, company.id, by=admin)
    new = User.get(User.email == "drugi@instalator.example")
    assert partners.next_step(partners.start(new)) == "terms"  # a new enrolment, from the start
    assert 'class="request"' not in again.text("/partner/company")  # no old request listed


def test_the_admins_list_of_role_changes_shows_the_role_asked_from(app, db):
    installer = _partner("jan@instalator.example", "7740001454", role=CompanyRole.INSTALLER)
    admin = _user("admin@helpdesk.example", role=Role.ADMIN)
    portal = signed_in(app, installer)
    portal.post("/partner/company", {"role": "integrator"})
    boss = signed_in(app, admin)
    request = RoleChangeRequest.get()
    assert request.from_role == "installer"
    boss.post("/admin/role-changes", {"request_id": request.id, "decision": "approve", "reason": ""},
              page="/admin/role-changes")
    assert Company.get_by_id(installer.company_id).role == "integrator"
    row = re.search(r'<td class="from-role">([^<]*)</td><td>([^<]*)</td>', boss.text("/admin/role-changes"))
    assert row.groups() == ("Instalator", "Integrator")
