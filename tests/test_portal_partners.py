"""Partners through the Flask test client (SPEC P1-P3, L1-L3): the two seeds' flows end to
end (registering as a partner, verification, the programme enrolment step by step, the
admin's decision, the signed PDFs read back; sales registration; role change; levels and
resources), every level against every permission, and abuse (levels and approvals a
partner may not set, somebody else's agreement, enrolling twice, skipping steps)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import io
import re
from types import SimpleNamespace

import pypdf
import pytest

from helpdesk.domain import levels, local_time, partners, passwords
from helpdesk.models import (
    AuditLog,
    Company,
    CompanyRole,
    Contract,
    ContractAccess,
    DeviceLine,
    Distributor,
    LevelApplication,
    PartnerApplication,
    Permission,
    Resource,
    Role,
    RoleChangeRequest,
    User,
)
from tests.portal import Portal, body, link_in, mails_to

PASSWORD = "correct horse battery"
_HASH = passwords.hash_password(PASSWORD)
TODAY = dt.date.today()


def _user(email, company=None, role=Role.CUSTOMER):
    return User.create(email=email, first_name=email.split("@")[0].title(), last_name="Test", company=company,
                       role=role.value, password_hash=_HASH, is_active=True, activated_at=dt.datetime(2026, 1, 1))


def _partner(email, nip, *, role=CompanyRole.INSTALLER, verified=True, level=None, name=None):
    company = Company.create(nip=nip, name=name or f"Partner {nip}", role=role.value, partner_level=level,
                             verified_at=dt.datetime(2026, 1, 2) if verified else None, address="ul. Długa 1, Łódź")
    return _user(email, company, Role.PARTNER)


def signed_in(app, user) -> Portal:
    portal = Portal(app)
    response = portal.post("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return portal


@pytest.fixture
def world(db):
    return SimpleNamespace(
        admin=_user("admin@helpdesk.example", role=Role.ADMIN),
        installer=_partner("jan@instalator.example", "7740001454", name="Instalator Żółć Sp. z o.o."),
        other=_partner("ola@integrator.example", "5260001246", role=CompanyRole.INTEGRATOR),
        north=Distributor.create(name="Dystrybutor Północ", nip="1234563218"),
        south=Distributor.create(name="Dystrybutor Południe", nip="9542583988"),
    )


def location(response) -> str:
    return response.headers["Location"]


def enrol(portal, distributors, level="authorised"):
    """The programme's steps as the seed shows them; returns the last response."""
    assert portal.post("/partner/programme/start", page="/partner/programme").status_code == 302
    page = portal.text("/partner/programme/terms")
    terms_id = re.search(r'name="terms_id" type="hidden" value="(\d+)"', page).group(1)
    assert location(portal.post("/partner/programme/terms", {"terms_id": terms_id, "accept": "y"})) == \
        "/partner/programme/distributors"
    assert location(portal.post("/partner/programme/distributors",
                                {"distributors": [str(d.id) for d in distributors]})) == "/partner/programme/level"
    return portal.post("/partner/programme/level", {"level": level})


def pdf_text(data: bytes) -> str:
    # Numbers are grouped with no-break spaces (babel's Polish format): read them as spaces.
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages).replace("\xa0", " ")


# --- registering as a partner, verification, registering again (P2, the seed's Q&A) -------------------------


def test_register_as_partner_wait_for_verification_and_see_the_tools(app, world):
    portal = Portal(app)
    form = dict(first_name="Piotr", last_name="Nowak", email="piotr@arc.example", phone="601234567",
                nip="1060000062", company_name="Centrum Alarmowe Sp. z o.o.", company_role="arc", terms="y")
    assert location(portal.post("/partner/register", form)) == "/register/done"
    user = User.get(User.email == "piotr@arc.example")
    assert user.role == "partner" and not user.is_active
    activation = link_in(mails_to("piotr@arc.example")[-1], "/activate/")
    assert portal.post(activation, page=activation).status_code == 302
    company = Company.get(Company.nip == "1060000062")
    assert company.role == "arc" and company.verified_at is None

    page = portal.get("/partner")
    assert "Waiting for verification" in page.get_data(as_text=True) or "weryfikacj" in page.get_data(as_text=True)
    assert portal.get("/partner/programme/terms").status_code == 403  # no tools before the verification
    assert portal.get("/partner/programme").status_code == 403

    admin = signed_in(app, world.admin)
    assert "1060000062" in admin.text("/admin/companies")
    assert admin.post(f"/admin/companies/{company.id}/verify", page="/admin/companies").status_code == 302
    assert Company.get_by_id(company.id).verified_at is not None
    assert "/partner" in body(mails_to("piotr@arc.example")[-1])
    assert 'id="programme-banner"' in portal.text("/partner")
    entry = AuditLog.get(AuditLog.action == "verify_company")
    assert entry.actor_id == world.admin.id and entry.object_id == str(company.id)
    assert "firma zweryfikowana" in admin.text("/admin/audit")  # the action in words (issue 17)


def test_a_company_must_delete_its_account_before_registering_again(app, world):
    form = dict(first_name="Jan", last_name="Drugi", email="drugi@instalator.example", phone="601234567",
                nip=world.installer.company.nip, company_name="Instalator", company_role="installer", terms="y")
    response = Portal(app).post("/partner/register", form)
    assert response.status_code == 422
    assert "delete its existing account before registering again" in response.get_data(as_text=True) or \
        "usunąć" in response.get_data(as_text=True)
    assert not User.select().where(User.email == "drugi@instalator.example").exists()

    portal = signed_in(app, world.installer)
    assert portal.post("/account/delete", {"del-current": PASSWORD, "del-confirm": "y"},
                       page="/account").status_code == 302
    assert location(Portal(app).post("/partner/register", form)) == "/register/done"
    assert mails_to("drugi@instalator.example")


def test_the_representatives_email_changes_after_the_new_address_confirms(app, world):
    portal = signed_in(app, world.installer)
    assert "/account" in portal.text("/partner/company")
    assert portal.post("/account/email", {"em-email": "nowy@instalator.example", "em-current": PASSWORD},
                       page="/account").status_code == 302
    path = link_in(mails_to("nowy@instalator.example")[-1], "/account/email/")
    assert portal.post(path, page=path).status_code == 302
    assert User.get_by_id(world.installer.id).email == "nowy@instalator.example"


def test_a_role_change_waits_for_an_admin(app, world):
    portal = signed_in(app, world.installer)
    assert portal.post("/partner/company", {"role": "integrator"}).status_code == 302
    assert portal.post("/partner/company", {"role": "arc"}).status_code == 422  # one waiting request at a time
    assert portal.post("/partner/company", {"role": "customer"}).status_code == 422  # not a partner role
    request = RoleChangeRequest.get()
    assert Company.get_by_id(world.installer.company_id).role == "installer"

    admin = signed_in(app, world.admin)
    assert admin.post("/admin/role-changes", {"request_id": request.id, "decision": "approve", "reason": ""},
                      page="/admin/role-changes").status_code == 302
    assert Company.get_by_id(world.installer.company_id).role == "integrator"
    assert RoleChangeRequest.get_by_id(request.id).decided_by_id == world.admin.id
    assert AuditLog.get(AuditLog.action == "role_change_approved").actor_id == world.admin.id
    assert mails_to(world.installer.email)


# --- the programme (P1), step by step -----------------------------------------------------------------------


def test_enrolment_approval_signed_agreement_and_certificate(app, world, config):
    portal = signed_in(app, world.installer)
    assert 'href="/partner/programme"' in portal.text("/partner")  # KROK 1: the banner
    assert 'id="programme-register"' in portal.text("/partner/programme")  # KROK 2: "Register"
    response = enrol(portal, [world.north, world.south])  # KROK 3-6: terms, distributors, level, "Next"
    assert location(response) == "/partner/programme/status"
    page = portal.text("/partner/programme/status")  # KROK 7: waiting for verification
    assert "waiting for verification" in page or "czeka na weryfikację" in page
    application = PartnerApplication.get()
    assert application.status == "pending" and application.declared_level == "authorised"
    assert application.terms.version == "2025.1" and application.terms_accepted_at is not None
    assert application.annual_target_pln == 10000 and application.quarterly_target_pln == 2500
    assert partners.distributor_names(application.id) == ["Dystrybutor Południe", "Dystrybutor Północ"]
    assert portal.get(f"/partner/programme/{application.id}/agreement.pdf").status_code == 404  # not yet

    admin = signed_in(app, world.admin)
    assert f"/admin/applications/{application.id}" in admin.text("/admin/applications")
    assert admin.post(f"/admin/applications/{application.id}", {"decision": "approve", "reason": ""}).status_code == 302
    application = PartnerApplication.get_by_id(application.id)
    assert application.status == "approved" and application.decided_by_id == world.admin.id
    mail = mails_to(world.installer.email)[-1]  # KROK 8: notified, the documents in the portal
    assert application.verification_code in body(mail) and "/partner/programme/status" in body(mail)

    page = portal.text("/partner/programme/status")
    agreement = portal.get(f"/partner/programme/{application.id}/agreement.pdf")
    certificate = portal.get(f"/partner/programme/{application.id}/certificate.pdf")
    assert agreement.status_code == certificate.status_code == 200
    assert agreement.mimetype == "application/pdf" and f"{application.id}/agreement.pdf" in page
    approved = local_time.today(config.timezone, PartnerApplication.get_by_id(application.id).decided_at)
    until = (approved + dt.timedelta(days=365)).strftime("%d.%m.%Y")
    for data in (agreement.data, certificate.data):
        text = pdf_text(data)
        for expected in ("Instalator Żółć Sp. z o.o.", "7740001454", "Autoryzowany", application.verification_code,
                         approved.strftime("%d.%m.%Y"), until, "Instalator"):
            assert expected in text, (expected, text)
    assert "Dystrybutor Północ" in pdf_text(agreement.data) and "10 000,00" in pdf_text(agreement.data)
    assert_signed(agreement.data, config)

    verify = Portal(app).get(f"/verify/{application.verification_code}")
    assert verify.status_code == 200 and 'id="certificate-valid"' in verify.get_data(as_text=True)
    assert Portal(app).get("/verify/NOPE-NOPE-NOPE").status_code == 404
    assert AuditLog.get(AuditLog.action == "application_approved").actor_id == world.admin.id


def assert_signed(data: bytes, config):
    """A real signature by the portal's key, intact and valid against its certificate."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    signatures = PdfFileReader(io.BytesIO(data)).embedded_signatures
    assert len(signatures) == 1
    root = load_cert_from_pemder(str(config.data_dir / "signing" / "portal-signer.pem"))

    async def validate():
        return await async_validate_pdf_signature(signatures[0], ValidationContext(trust_roots=[root]))

    # In a thread with its own event loop: the browser tests' Playwright keeps one running here.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        status = pool.submit(lambda: asyncio.run(validate())).result()
    assert status.intact and status.valid and status.trusted


def test_rejection_needs_a_reason_is_mailed_and_the_partner_may_enrol_again(app, world):
    portal = signed_in(app, world.installer)
    enrol(portal, [world.north])
    application = PartnerApplication.get()
    admin = signed_in(app, world.admin)
    page = f"/admin/applications/{application.id}"
    admin.post(page, {"decision": "reject", "reason": ""})
    assert PartnerApplication.get_by_id(application.id).status == "pending"  # no reason, no rejection
    admin.post(page, {"decision": "reject", "reason": "Brak zakupów u wskazanych dystrybutorów"})
    application = PartnerApplication.get_by_id(application.id)
    assert application.status == "rejected" and application.open_key is None
    assert "Brak zakupów" in body(mails_to(world.installer.email)[-1])
    assert "Brak zakupów" in portal.text("/partner/programme/status")
    assert location(enrol(portal, [world.south])) == "/partner/programme/status"
    assert PartnerApplication.select().count() == 2


@pytest.mark.parametrize("setup, why", [
    ("unverified", "waits for verification"),
    ("reseller", "Do Programu mogą dołączyć tylko Instalator, Integrator lub ARC"),
    ("distributor", "Do Programu mogą dołączyć tylko Instalator, Integrator lub ARC"),
])
def test_who_may_not_enrol_is_told_why(app, world, setup, why):
    if setup == "unverified":
        user = _partner("nowy@x.example", "1060000062", verified=False)
    else:
        user = _partner("nowy@x.example", "1060000062", role=CompanyRole(setup))
    portal = signed_in(app, user)
    if setup == "unverified":
        page = portal.get("/partner")
        assert page.status_code == 200 and 'id="waiting"' in page.get_data(as_text=True)
        return
    page = portal.get("/partner/programme")
    assert page.status_code == 403 and why in page.get_data(as_text=True).replace("&#39;", "'")
    assert portal.post("/partner/programme/start", page="/partner/programme").status_code == 403
    assert not PartnerApplication.select().exists()


def test_a_customer_has_no_partner_pages(app, world):
    customer = _user("klient@firma.example", Company.create(nip="1060000062", name="Klient"))
    portal = signed_in(app, customer)
    assert portal.get("/partner").status_code == 403
    assert portal.get("/partner/programme").status_code == 404
    assert portal.get("/partner/sales/new").status_code == 404


# --- abuse ----------------------------------------------------------------------------------------------------------


def test_no_step_can_be_skipped_by_url(app, world):
    portal = signed_in(app, world.installer)
    assert location(portal.get("/partner/programme/terms")) == "/partner/programme"  # nothing started
    assert location(portal.get("/partner/programme/level")) == "/partner/programme"
    assert portal.get("/partner/programme/status").status_code == 302
    portal.post("/partner/programme/start", page="/partner/programme")
    assert location(portal.get("/partner/programme/distributors")) == "/partner/programme/terms"
    assert location(portal.get("/partner/programme/level")) == "/partner/programme/terms"
    # Posting a later step straight away changes nothing.
    token = portal.token("/partner/programme/terms")
    assert location(portal.post("/partner/programme/level", {"level": "authorised", "csrf_token": token})) == \
        "/partner/programme/terms"
    assert location(portal.post("/partner/programme/distributors",
                                {"distributors": [str(world.north.id)], "csrf_token": token})) == \
        "/partner/programme/terms"
    assert PartnerApplication.get().status == "draft"
    with pytest.raises(partners.NotAllowed):
        partners.submit(world.installer, "authorised")


def test_enrolling_twice_gives_one_application(app, world):
    portal = signed_in(app, world.installer)
    portal.post("/partner/programme/start", page="/partner/programme")
    portal.post("/partner/programme/start", page="/partner/programme")
    assert PartnerApplication.select().count() == 1
    enrol(portal, [world.north])
    response = portal.post("/partner/programme/start", page="/partner/programme")
    assert location(response) == "/partner/programme/status"
    assert location(portal.get("/partner/programme/terms")) == "/partner/programme/status"  # no going back
    assert PartnerApplication.select().count() == 1 and PartnerApplication.get().status == "pending"
    second = partners.start(world.installer)
    assert second.id == PartnerApplication.get().id


def test_a_partner_cannot_declare_an_unlisted_level_or_approve_itself(app, world):
    portal = signed_in(app, world.installer)
    response = enrol(portal, [world.north], level="platinum")
    assert response.status_code == 422 and PartnerApplication.get().status == "draft"
    token = portal.token("/partner/programme/level")
    response = portal.post("/partner/programme/level", {"level": "authorised", "status": "approved",
                                                        "commission_percent": "90", "csrf_token": token})
    application = PartnerApplication.get()
    assert application.status == "pending" and application.commission_percent == 2
    for path, data in [(f"/admin/applications/{application.id}", {"decision": "approve"}),
                       (f"/admin/companies/{world.installer.company_id}/level", {"level": "5"}),
                       (f"/admin/companies/{world.installer.company_id}/verify", {}),
                       ("/admin/role-changes", {"request_id": "1", "decision": "approve"})]:
        assert portal.post(path, {**data, "csrf_token": token}).status_code == 404, path
    assert PartnerApplication.get().status == "pending"
    assert Company.get_by_id(world.installer.company_id).partner_level is None
    # A level application for a level that does not exist, or without eligibility, is refused.
    assert portal.post("/partner/level", {"level": "9", "basis": "distributor_list"}).status_code == 422
    assert portal.post("/partner/level", {"level": "5", "basis": "distributor_list"}).status_code == 422
    assert not LevelApplication.select().exists()


def test_another_partners_agreement_is_not_found(app, world):
    portal = signed_in(app, world.installer)
    enrol(portal, [world.north])
    application = PartnerApplication.get()
    partners.decide_application(app.config["HELPDESK"], application.id, True, "", by=world.admin)
    assert portal.get(f"/partner/programme/{application.id}/agreement.pdf").status_code == 200
    intruder = signed_in(app, world.other)
    for kind in ("agreement", "certificate"):
        assert intruder.get(f"/partner/programme/{application.id}/{kind}.pdf").status_code == 404
        assert intruder.get(f"/admin/applications/{application.id}/{kind}.pdf").status_code == 404


# --- sales registration (P3) ----------------------------------------------------------------------------------------


SALE = {"nip": "1060000062", "customer_name": "Apteka Pod Lipą", "service_level": "NBD",
        "starts_on": TODAY.isoformat(), "ends_on": (TODAY + dt.timedelta(days=365)).isoformat(),
        "lines-0-model": "Rejestrator NVR-16", "lines-0-serial": "SN-7001-AB", "lines-0-address": "ul. Lipowa 1, Łódź",
        "lines-1-model": "Licencja VMS", "lines-1-serial": "ABCD-1234-EFGH", "lines-1-address": "ul. Lipowa 1, Łódź"}


def test_a_registered_sale_makes_a_contract_the_customer_verifies(app, world):
    Company.update(partner_level=2).where(Company.id == world.installer.company_id).execute()
    portal = signed_in(app, world.installer)
    assert location(portal.post("/partner/sales/new", SALE)) == "/partner/sales"
    contract = Contract.get()
    assert re.fullmatch(r"[A-Z][0-9]{6}", contract.number)
    assert contract.partner_id == world.installer.company_id and contract.company.nip == "1060000062"
    assert sorted(line.serial for line in contract.lines) == ["ABCD-1234-EFGH", "SN-7001-AB"]
    mail = body(mails_to(world.installer.email)[-1])
    assert contract.number in mail and "NBD" in mail and "SN-7001-AB" in mail
    assert contract.number in portal.text("/partner/sales")

    customer = _user("apteka@lipa.example", Company.get(Company.nip == "1060000062"))
    verifying = signed_in(app, customer)
    assert verifying.post("/contracts/verify", {"number": contract.number, "serial": "abcd-1234-efgh"}
                          ).status_code == 302
    assert ContractAccess.select().where(ContractAccess.user == customer.id).count() == 1


def test_sales_registration_needs_its_level_and_good_lines(app, world):
    Company.update(partner_level=1).where(Company.id == world.installer.company_id).execute()
    portal = signed_in(app, world.installer)
    assert portal.get("/partner/sales/new").status_code == 403
    Company.update(partner_level=2).where(Company.id == world.installer.company_id).execute()
    bad = {**SALE, "lines-1-serial": "SN-7001-AB"}  # the same serial twice
    assert portal.post("/partner/sales/new", bad).status_code == 422
    assert portal.post("/partner/sales/new", {**SALE, "ends_on": "2000-01-01"}).status_code == 422
    assert portal.post("/partner/sales/new", {**SALE, "nip": "1234567890"}).status_code == 422
    assert not Contract.select().exists()


def test_a_taken_contract_number_is_drawn_again(app, world, config):
    Company.update(partner_level=2).where(Company.id == world.installer.company_id).execute()
    taken = Contract.create(number="K000001", company=world.other.company, starts_on=TODAY, ends_on=TODAY)
    sale = partners.Sale(nip="1060000062", customer_name="Apteka", service_level="NBD", starts_on=TODAY,
                         ends_on=TODAY, lines=(partners.SaleLine("NVR", "SN-1", "Łódź"),))
    user = User.get_by_id(world.installer.id)
    contract = partners.register_sale(config, user, sale, numbers=iter(["K000001", "K000002"]))
    assert contract.number == "K000002" and taken.number == "K000001"
    assert DeviceLine.select().where(DeviceLine.contract == contract.id).count() == 1


# --- levels (L1-L3) ------------------------------------------------------------------------------------------------------

# The seed's table, written out by hand: which level has which permission.
SEED = {
    "solutions.submit": {0, 1, 2, 3, 4, 5},
    "materials.technical": {0, 1, 2, 3, 4, 5},
    "phone.partner": {1, 2, 3, 4, 5},
    "materials.service": {1, 2, 3, 4, 5},
    "downloads.upgrades": {2, 3, 4, 5},
    "forum.distributors": {2, 3, 4, 5},
    "phone.mobile_24h": {2, 3, 4, 5},
    "bugbase": {2, 3, 4, 5},
    "sales.register": {2, 3, 4, 5},
    "shop.programs": {2, 3, 4, 5},
    "shop.subscriptions": {2, 3, 4, 5},
    "section.pi": {3},  # level 4 has level 3's rights except this one
    "materials.servicemen": {4, 5},
    "phone.servicemen": {4, 5},
    "support.web_form": {4, 5},
    "section.api": {5},
    "forum.api": {5},
}


def test_the_seed_table_names_every_permission():
    assert set(SEED) == set(levels.PERMISSIONS)


@pytest.mark.parametrize("level", [None, 0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("code", sorted(SEED))
def test_every_level_against_every_permission(db, level, code):
    user = _partner(f"p{level}@x.example", "7740001454", level=level)
    Company.update(subscription_seller=True).where(Company.id == user.company_id).execute()
    expected = level is not None and level in SEED[code]
    assert levels.can(User.get_by_id(user.id), code) is expected
    assert (code in levels.permissions_of(level)) is expected


def test_permissions_need_a_verified_partner_and_subscriptions_their_condition(db):
    user = _partner("p@x.example", "7740001454", level=5, verified=False)
    assert levels.permissions_for(user) == set()
    Company.update(verified_at=dt.datetime(2026, 1, 1)).where(Company.id == user.company_id).execute()
    assert levels.can(user, "section.api") and not levels.can(user, "shop.subscriptions")
    staff = _user("eng@x.example", role=Role.ADMIN)
    assert not levels.can(staff, "section.api")


def test_resources_are_shown_or_refused_by_permission_and_a_lowered_level_applies_at_once(app, world):
    admin = signed_in(app, world.admin)
    data = {"title": "Numer dla Partnerów", "kind": "phone", "permission": "phone.partner",
            "body": "Pomoc techniczna dla Partnerów: 22 100 20 30"}
    assert admin.post("/admin/resources", data).status_code == 302
    admin.post("/admin/resources", {**data, "title": "Sekcja PI", "kind": "section", "permission": "section.pi",
                                    "body": "Tylko dla PI"})
    phone, section = Resource.get(Resource.kind == "phone"), Resource.get(Resource.kind == "section")

    Company.update(partner_level=3).where(Company.id == world.installer.company_id).execute()
    portal = signed_in(app, world.installer)
    assert "22 100 20 30" in portal.text(f"/partner/resources/{phone.id}")
    assert "Tylko dla PI" in portal.text(f"/partner/resources/{section.id}")

    assert admin.post(f"/admin/companies/{world.installer.company_id}/level", {"level": "4", "reason": "serwisant"},
                      page="/admin/companies").status_code == 302
    refused = portal.get(f"/partner/resources/{section.id}")  # level 4 has no PI section
    assert refused.status_code == 403 and "Tylko dla PI" not in refused.get_data(as_text=True)
    admin.post(f"/admin/companies/{world.installer.company_id}/level", {"level": "0", "reason": "obniżony"},
               page="/admin/companies")
    assert portal.get(f"/partner/resources/{phone.id}").status_code == 403  # the next request already
    listing = portal.text("/partner/resources")
    assert "Numer dla Partnerów" in listing and "22 100 20 30" not in listing.split("Numer dla Partnerów", 1)[1][:200]
    assert AuditLog.select().where(AuditLog.action == "set_level").count() == 2
    assert portal.get("/partner/resources/999").status_code == 404


def test_level_zero_submits_own_solutions(app, world):
    portal = signed_in(app, world.installer)
    assert portal.get("/partner/solutions").status_code == 403  # no level yet
    admin = signed_in(app, world.admin)
    assert admin.post("/partner/level", {"level": "0", "basis": "none"}).status_code == 404  # admins are not partners
    assert portal.post("/partner/level", {"level": "0", "basis": "none"}).status_code == 302
    application = LevelApplication.get()
    assert admin.post("/admin/levels", {"application_id": application.id, "decision": "approve"},
                      page="/admin/levels").status_code == 302
    assert Company.get_by_id(world.installer.company_id).partner_level == 0
    assert portal.post("/partner/solutions", {"title": "Integracja z KSeF", "description": "Moduł"}
                       ).status_code == 302
    assert "Integracja z KSeF" in admin.text("/admin/solutions")


def test_eligibility_three_recommended_users(app, world):
    nips = ["1060000062", "9542583988", "1234563218"]
    for i, nip in enumerate(nips[:2]):
        _user(f"u{i}@klient.example", Company.create(nip=nip, name=f"Klient {i}"))
    portal = signed_in(app, world.installer)

    def apply(nips):
        files = [(io.BytesIO(f"Rekomendacja {n}".encode()), f"rekomendacja-{n}.pdf") for n in nips]
        return portal.post("/partner/level", {"level": "1", "basis": "three_users", "nips": "\n".join(nips),
                                              "files": files}, content_type="multipart/form-data")

    assert apply(nips[:2]).status_code == 422  # two are not three
    response = apply(nips)  # the third NIP has no registered user
    assert response.status_code == 422 and "1234563218" in response.get_data(as_text=True)
    _user("u2@klient.example", Company.get_or_create(nip=nips[2], defaults={"name": "Klient 2"})[0])
    assert apply(nips).status_code == 302
    application = LevelApplication.get()
    assert application.basis == "three_users" and len(application.evidence) == 3
    admin = signed_in(app, world.admin)
    page = admin.text("/admin/levels")
    assert "rekomendacja-1060000062.pdf" in page
    evidence = application.evidence.first()
    assert admin.get(f"/admin/levels/evidence/{evidence.id}").data.startswith(b"Rekomendacja")
    assert portal.get(f"/admin/levels/evidence/{evidence.id}").status_code == 404
    admin.post("/admin/levels", {"application_id": application.id, "decision": "reject", "reason": "Nieczytelne"},
               page="/admin/levels")
    assert LevelApplication.get_by_id(application.id).status == "rejected"
    assert Company.get_by_id(world.installer.company_id).partner_level is None
    assert "Nieczytelne" in body(mails_to(world.installer.email)[-1])


def test_eligibility_by_the_distributor_list_or_a_distributors_recommendation(app, world):
    portal = signed_in(app, world.other)
    assert portal.post("/partner/level", {"level": "2", "basis": "distributor_list"}).status_code == 422
    Distributor.create(name="Integrator jako dystrybutor", nip=world.other.company.nip)
    assert portal.post("/partner/level", {"level": "2", "basis": "distributor_list"}).status_code == 302
    partner2 = signed_in(app, world.installer)
    no_letter = {"level": "1", "basis": "distributor_recommendation", "distributor": str(world.north.id)}
    assert partner2.post("/partner/level", no_letter).status_code == 422
    letter = {**no_letter, "files": [(io.BytesIO(b"List polecajacy"), "polecenie.pdf")]}
    assert partner2.post("/partner/level", letter, content_type="multipart/form-data").status_code == 302
    assert LevelApplication.select().count() == 2


def test_admin_pages_are_for_admins_only(app, world):
    engineer = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER))
    for path in ("/admin/applications", "/admin/companies", "/admin/role-changes", "/admin/levels",
                 "/admin/distributors", "/admin/resources", "/admin/terms", "/admin/audit", "/admin/solutions"):
        assert engineer.get(path).status_code == 404, path
        assert signed_in(app, world.admin).get(path).status_code == 200, path


def test_distributors_and_terms_are_kept_by_admins(app, world):
    admin = signed_in(app, world.admin)
    assert admin.post("/admin/distributors", {"name": "Nowy Dystrybutor", "nip": "1060000062"}).status_code == 302
    new = Distributor.get(Distributor.nip == "1060000062")
    admin.post(f"/admin/distributors/{world.north.id}/toggle", page="/admin/distributors")
    assert not Distributor.get_by_id(world.north.id).active
    portal = signed_in(app, world.installer)
    portal.post("/partner/programme/start", page="/partner/programme")
    assert admin.post("/admin/terms", {"version": "2026.1", "text": "Nowe warunki"}).status_code == 302
    page = portal.text("/partner/programme/terms")
    assert "Nowe warunki" in page
    terms_id = re.search(r'name="terms_id" type="hidden" value="(\d+)"', page).group(1)
    portal.post("/partner/programme/terms", {"terms_id": terms_id, "accept": "y"})
    page = portal.text("/partner/programme/distributors")
    assert "Nowy Dystrybutor" in page and "Dystrybutor Północ" not in page
    assert portal.post("/partner/programme/distributors", {"distributors": [str(world.north.id)]}).status_code == 422
    assert portal.post("/partner/programme/distributors", {"distributors": [str(new.id)]}).status_code == 302
    assert PartnerApplication.get().terms.version == "2026.1"
    assert {"add_distributor", "deactivate_distributor", "publish_terms"} <= {a.action for a in AuditLog.select()}
    assert Permission.select().count() == len(levels.PERMISSIONS)
