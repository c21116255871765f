"""Partner companies, the partner programme and sales registration (SPEC P1-P3).

- A partner registers like a customer (domain.accounts.register, with a company role);
  its company is verified by an admin before the partner sees its tools. A company with
  an active partner account cannot be registered again until that account is deleted.
- A role change is a request that waits for an admin.
- The enrolment is a wizard whose state is a draft PartnerApplication: terms accepted
  (the version recorded), distributors chosen, level declared and submitted. `next_step`
  says where an application stands, so no step can be skipped by URL. A company has at
  most one open (draft, pending or approved) application: `open_key` is unique.
- An admin approves (the signed agreement and certificate are made and stored, the
  partner is mailed) or rejects with a reason (mailed too).
- Sales registration creates a contract with a new random number (one capital letter and
  six digits), unique by the index: a clash is retried, never checked first.
Every admin decision writes AuditLog.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal

from peewee import IntegrityError, fn

from helpdesk import database
from helpdesk.config import Config
from helpdesk.models import (
    PARTNER_ROLES,
    PROGRAMME_ROLES,
    ApplicationDistributor,
    Blob,
    Company,
    CompanyRole,
    Contract,
    DeviceLine,
    Distributor,
    PartnerApplication,
    ProgrammeTerms,
    RequestStatus,
    Role,
    RoleChangeRequest,
    User,
    db,
    utcnow,
)

from . import audit, contracts, levels, local_time, numbers, pdfs, webhooks
from .accounts import send_mail
from .storage import BlobStore
from .validation import N_, Invalid

log = logging.getLogger(__name__)

# The partnership levels a partner may declare in the programme, with the targets and
# commission that come with them (shown on the level step and written into the agreement).
PROGRAMME_LEVELS: dict[str, dict] = {
    "authorised": {"name": N_("Authorised"), "pl": "Autoryzowany", "annual": Decimal("10000"),
                   "commission": Decimal("2.00")},
    "premium": {"name": N_("Premium"), "pl": "Premium", "annual": Decimal("40000"), "commission": Decimal("3.50")},
}
ROLE_NAMES_PL = {"customer": "Klient", "installer": "Instalator", "integrator": "Integrator",
                 "arc": "ARC (centrum odbioru alarmów)", "reseller": "Sprzedawca", "distributor": "Dystrybutor"}
CERTIFICATE_DAYS = 365
NUMBER_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O or Q: never read as digits
NUMBER_ATTEMPTS = 20


class NotAllowed(Invalid):
    """The user may not do this (a step, a permission, somebody else's object)."""


def _partners_of(company_id: int):
    return User.select().where(User.company == company_id, User.role == Role.PARTNER.value, User.is_active)


def _mail_partners(config: Config, company: Company, name: str, context: dict, now: dt.datetime) -> None:
    for user in _partners_of(company.id):
        send_mail(config, name, user.email, user.language, {"user": user, "company": company, **context}, now)


# --- companies (P2) -------------------------------------------------------------------------


def awaiting_verification():
    """Partner companies with an activated partner account, not verified yet, oldest first. Read
    along the partial index `company_waiting` (migration 040), whose condition this repeats word for
    word so that both databases see that it applies; each company's accounts by their index."""
    with_partner = User.select(User.id).where(User.company == Company.id, database.unindexed(User.role) == Role.PARTNER.value,
                                              User.activated_at.is_null(False))  # by the company's index, not the role's
    return (Company.select().where(Company.verified_at.is_null(), Company.role != CompanyRole.CUSTOMER.value,
                                   fn.EXISTS(with_partner)).order_by(Company.created_at, Company.id))


def verify_company(config: Config, company_id: int, *, by: User, now: dt.datetime | None = None) -> Company:
    """An admin's verification of a partner company: its partners see their tools from now on."""
    now = now or utcnow()
    with db.atomic():
        company = Company.get_or_none(Company.id == company_id)
        if company is None or company.role not in PARTNER_ROLES or company.verified_at is not None:
            raise Invalid(N_("This company is not waiting for verification."))
        Company.update(verified_at=now).where(Company.id == company.id).execute()
        company = Company.get_by_id(company.id)
        audit.record(by, "verify_company", "company", company.id, f"{company.nip} {company.name} ({company.role})", now)
        _mail_partners(config, company, "partner_verified", {}, now)
    return company


def request_role_change(user: User, role: str, *, now: dt.datetime | None = None) -> RoleChangeRequest:
    """A partner asks for another company role; it waits for an admin."""
    now = now or utcnow()
    if user.role != Role.PARTNER.value or not user.company_id:
        raise NotAllowed(N_("Only a partner account can request a role change."))
    if role not in PARTNER_ROLES:
        raise Invalid(N_("Choose one of the listed roles."))
    with db.atomic():
        company = Company.get_by_id(user.company_id)
        if role == company.role:
            raise Invalid(N_("This is already your company's role."))
        if RoleChangeRequest.select().where(RoleChangeRequest.company == company.id,
                                            RoleChangeRequest.status == RequestStatus.PENDING.value).exists():
            raise Invalid(N_("A role change request of your company is already waiting for verification."))
        return RoleChangeRequest.create(company=company, from_role=company.role, requested_role=role,
                                        requested_by=user, created_at=now)


def decide_role_change(config: Config, request_id: int, approve: bool, reason: str, *, by: User,
                       now: dt.datetime | None = None) -> RoleChangeRequest:
    now = now or utcnow()
    reason = reason.strip()
    if not approve and not reason:
        raise Invalid(N_("Give the reason for the rejection."))
    with db.atomic():
        request = RoleChangeRequest.get_or_none(RoleChangeRequest.id == request_id)
        if request is None or request.status != RequestStatus.PENDING.value:
            raise Invalid(N_("This request has already been decided."))
        company = Company.get_by_id(request.company_id)
        status = (RequestStatus.APPROVED if approve else RequestStatus.REJECTED).value
        RoleChangeRequest.update(status=status, reason=reason, decided_at=now, decided_by=by).where(
            RoleChangeRequest.id == request.id).execute()
        if approve:
            Company.update(role=request.requested_role).where(Company.id == company.id).execute()
        audit.record(by, f"role_change_{status}", "company", company.id,
              f"{company.nip}: {request.from_role or company.role} -> {request.requested_role}"
              + (f"; {reason}" if reason else ""), now)
        _mail_partners(config, company, "role_change_decided",
                       {"approved": approve, "role": request.requested_role, "reason": reason}, now)
    return RoleChangeRequest.get_by_id(request_id)


# --- the programme (P1) -----------------------------------------------------------------------


def enrolment_refusal(user: User) -> str | None:
    """Why the user cannot enrol in the programme (a message id), or None when it can."""
    if user.role != Role.PARTNER.value or not user.company_id:
        return N_("The partner programme is for partner accounts. Register your company as a partner first.")
    company = Company.get_by_id(user.company_id)
    if company.verified_at is None:
        return N_("Your account waits for verification. Once we have verified it you will see every partner "
                  "tool, the programme included.")
    if company.role not in PROGRAMME_ROLES:
        return N_("Only an Installer, an Integrator or an ARC can join the programme, and your company's role "
                  "is different. Request a role change (or register again with the right role).")
    return None


def open_application(company_id: int) -> PartnerApplication | None:
    return PartnerApplication.get_or_none(PartnerApplication.open_key == company_id)


def current_terms() -> ProgrammeTerms | None:
    return ProgrammeTerms.select().order_by(ProgrammeTerms.published_at.desc(), ProgrammeTerms.id.desc()).first()


def start(user: User, *, now: dt.datetime | None = None) -> PartnerApplication:
    """The company's open application; a new draft when it has none. Enrolling twice gives
    back the one there is (the unique open_key makes a second one impossible)."""
    refusal = enrolment_refusal(user)
    if refusal:
        raise NotAllowed(refusal)
    now = now or utcnow()
    existing = open_application(user.company_id)
    if existing is not None:
        return existing
    try:
        with db.atomic():
            return PartnerApplication.create(company=user.company_id, submitted_by=user, declared_level="",
                                             status=RequestStatus.DRAFT.value, open_key=user.company_id, created_at=now,
                                             submitted_at=now)
    except IntegrityError:  # started at the same moment in another tab
        return open_application(user.company_id)  # type: ignore[return-value]


def next_step(application: PartnerApplication | None) -> str:
    """The step an application is at: start, terms, distributors, level, or status."""
    if application is None:
        return "start"
    if application.status != RequestStatus.DRAFT.value:
        return "status"
    if application.terms_accepted_at is None:
        return "terms"
    if application.distributors_chosen_at is None:
        return "distributors"
    return "level"


STEPS = ("start", "terms", "distributors", "level", "status")


def _draft_at(user: User, step: str) -> PartnerApplication:
    """The user's draft when it has reached `step`; NotAllowed otherwise."""
    refusal = enrolment_refusal(user)
    if refusal:
        raise NotAllowed(refusal)
    application = open_application(user.company_id)
    if application is None or application.status != RequestStatus.DRAFT.value or \
            STEPS.index(next_step(application)) < STEPS.index(step):
        raise NotAllowed(N_("Finish the previous steps first."))
    return application


def accept_terms(user: User, terms_id: int, *, now: dt.datetime | None = None) -> PartnerApplication:
    """Record the accepted version; only the current one can be accepted."""
    now = now or utcnow()
    with db.atomic():
        application = _draft_at(user, "terms")
        terms = current_terms()
        if terms is None or terms.id != terms_id:
            raise Invalid(N_("The terms have changed meanwhile: read the current version and accept it."))
        PartnerApplication.update(terms=terms, terms_accepted_at=now).where(
            PartnerApplication.id == application.id).execute()
    return PartnerApplication.get_by_id(application.id)


def active_distributors():
    return Distributor.select().where(Distributor.active).order_by(Distributor.name)


def choose_distributors(user: User, distributor_ids: list[int], *, now: dt.datetime | None = None):
    now = now or utcnow()
    ids = sorted(set(distributor_ids))
    with db.atomic():
        application = _draft_at(user, "distributors")
        known = {d.id for d in active_distributors().where(Distributor.id.in_(ids))} if ids else set()
        if not ids or known != set(ids):
            raise Invalid(N_("Choose at least one of the listed distributors."))
        ApplicationDistributor.delete().where(ApplicationDistributor.application == application.id).execute()
        for distributor_id in ids:
            ApplicationDistributor.create(application=application, distributor=distributor_id)
        PartnerApplication.update(distributors_chosen_at=now).where(PartnerApplication.id == application.id).execute()
    return PartnerApplication.get_by_id(application.id)


def targets(declared_level: str) -> dict:
    """The targets (PLN: Q1-Q4 and the year) and the commission of a programme level."""
    spec = PROGRAMME_LEVELS[declared_level]
    quarterly = (spec["annual"] / 4).quantize(Decimal("0.01"))
    percent = spec["commission"]
    return {"quarterly": quarterly, "annual": spec["annual"], "percent": percent,
            "quarterly_commission": (quarterly * percent / 100).quantize(Decimal("0.01")),
            "annual_commission": (spec["annual"] * percent / 100).quantize(Decimal("0.01"))}


def submit(user: User, declared_level: str, *, now: dt.datetime | None = None) -> PartnerApplication:
    """The last step: the declared level (with its targets and commission); the application
    then waits for an admin."""
    now = now or utcnow()
    if declared_level not in PROGRAMME_LEVELS:
        raise Invalid(N_("Choose one of the listed partnership levels."))
    values = targets(declared_level)
    with db.atomic():
        application = _draft_at(user, "level")
        PartnerApplication.update(
            declared_level=declared_level, quarterly_target_pln=values["quarterly"],
            annual_target_pln=values["annual"], commission_percent=values["percent"], status=RequestStatus.PENDING.value,
            submitted_at=now, submitted_by=user).where(PartnerApplication.id == application.id).execute()
        webhooks.emit("partner.application_changed",
                      webhooks.application_data(PartnerApplication.get_by_id(application.id)), now=now)
    log.info("partner application %s submitted by %s", application.id, user.email)
    return PartnerApplication.get_by_id(application.id)


def chosen_distributors(application_id: int) -> list[int]:
    """The ids of the distributors an application has chosen so far."""
    return [distributor_id for (distributor_id,) in ApplicationDistributor.select(ApplicationDistributor.distributor)
            .where(ApplicationDistributor.application == application_id).tuples()]


def distributor_names(application_id: int) -> list[str]:
    return [name for (name,) in Distributor.select(Distributor.name).join(ApplicationDistributor)
            .where(ApplicationDistributor.application == application_id).order_by(Distributor.name).tuples()]


def _pln(amount: Decimal) -> str:
    return numbers.money(amount, "pl")  # the documents are in Polish


def _document(config: Config, application: PartnerApplication, company: Company, code: str,
              today: dt.date, until: dt.date) -> pdfs.PartnerDocument:
    level = PROGRAMME_LEVELS.get(application.declared_level, {})
    terms = ProgrammeTerms.get_or_none(ProgrammeTerms.id == application.terms_id)
    return pdfs.PartnerDocument(
        company_name=company.name, nip=company.nip, address=company.address,
        role=ROLE_NAMES_PL.get(company.role, company.role), level=level.get("pl", application.declared_level),
        terms_version=terms.version if terms else "-", distributors=tuple(distributor_names(application.id)),
        quarterly_target=_pln(application.quarterly_target_pln), annual_target=_pln(application.annual_target_pln),
        commission=numbers.percent(application.commission_percent, "pl"), approved_on=today, valid_until=until,
        verification_code=code, verify_url=f"{config.base_url}/verify/{code}")


def _new_code() -> str:
    raw = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(12))
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def _blob(store: BlobStore, data: bytes, now: dt.datetime) -> Blob:
    sha = store.put(data)
    blob, _ = Blob.get_or_create(sha256=sha, defaults={"size": len(data), "created_at": now})
    return blob


def decide_application(config: Config, application_id: int, approve: bool, reason: str, *, by: User,
                       now: dt.datetime | None = None) -> PartnerApplication:
    """Approve (agreement and certificate signed and stored, the partner mailed) or reject
    with a reason (mailed; the company may enrol again)."""
    now = now or utcnow()
    reason = reason.strip()
    if not approve and not reason:
        raise Invalid(N_("Give the reason for the rejection."))
    with db.atomic():
        application = PartnerApplication.get_or_none(PartnerApplication.id == application_id)
        if application is None or application.status != RequestStatus.PENDING.value:
            raise Invalid(N_("This application has already been decided."))
        company = Company.get_by_id(application.company_id)
        if approve:
            code = _new_code()
            today = local_time.today(config.timezone, now)  # the PDFs' date: the day where it is read
            until = today + dt.timedelta(days=CERTIFICATE_DAYS)
            document = _document(config, application, company, code, today, until)
            store = BlobStore(config.blob_dir, config.raw_dir)  # files made durable before the commit
            agreement = _blob(store, pdfs.agreement(document, config.data_dir), now)
            certificate = _blob(store, pdfs.certificate(document, config.data_dir), now)
            PartnerApplication.update(status=RequestStatus.APPROVED.value, reason=reason, decided_at=now, decided_by=by,
                                      verification_code=code, valid_until=until, agreement_blob=agreement,
                                      certificate_blob=certificate).where(
                PartnerApplication.id == application.id).execute()
        else:
            PartnerApplication.update(status=RequestStatus.REJECTED.value, reason=reason, decided_at=now, decided_by=by,
                                      open_key=None).where(PartnerApplication.id == application.id).execute()
        application = PartnerApplication.get_by_id(application.id)
        webhooks.emit("partner.application_changed", webhooks.application_data(application), now=now)
        audit.record(by, f"application_{application.status}", "partner_application", application.id,
              f"{company.nip} {company.name}: {application.declared_level}" + (f"; {reason}" if reason else ""), now)
        _mail_partners(config, company, "application_decided",
                       {"application": application, "approved": approve, "reason": reason,
                        "link": f"{config.base_url}/partner/programme/status"}, now)
    return application


def application_for(user: User, application_id: int) -> PartnerApplication | None:
    """The application when it is the user's company's (None for anybody else's)."""
    if user.role != Role.PARTNER.value or not user.company_id:
        return None
    return PartnerApplication.get_or_none(PartnerApplication.id == application_id,
                                          PartnerApplication.company == user.company_id)


def certificate_status(code: str, today: dt.date) -> tuple[PartnerApplication | None, bool]:
    """(application, valid) for a verification code: valid while approved, not expired,
    and the company still verified."""
    application = PartnerApplication.get_or_none(PartnerApplication.verification_code == code.strip().upper())
    if application is None:
        return None, False
    company = Company.get_by_id(application.company_id)
    valid = (application.status == RequestStatus.APPROVED.value and application.valid_until is not None
             and application.valid_until >= today and company.verified_at is not None)
    return application, valid


# --- sales registration (P3) -------------------------------------------------------------------


@dataclass(frozen=True)
class SaleLine:
    model: str
    serial: str
    address: str


@dataclass(frozen=True)
class Sale:
    nip: str
    customer_name: str
    service_level: str
    starts_on: dt.date
    ends_on: dt.date
    lines: tuple[SaleLine, ...]


def new_number() -> str:
    """A random contract number: one capital letter and six digits (random, so that
    numbers tell nothing about each other and cannot be guessed in order)."""
    return secrets.choice(NUMBER_LETTERS) + f"{secrets.randbelow(1_000_000):06d}"


def register_sale(config: Config, user: User, sale: Sale, *, now: dt.datetime | None = None,
                  numbers=None) -> Contract:
    """A contract for the customer's NIP, sold by the user's company, with a new number;
    the partner is mailed its number and terms. `numbers` (tests) yields the candidates."""
    now = now or utcnow()
    if not levels.can(user, "sales.register"):
        raise NotAllowed(N_("Your partner level does not include sales registration."))
    if sale.ends_on < sale.starts_on:
        raise Invalid(N_("The contract cannot end before it starts."))
    serials = [line.serial.upper() for line in sale.lines]
    if not sale.lines:
        raise Invalid(N_("Give at least one device or licence."))
    if len(set(serials)) != len(serials):
        raise Invalid(N_("Each serial number or licence key may appear only once."))
    candidates = numbers or iter(new_number, None)
    with db.atomic():
        partner = Company.get_by_id(user.company_id)
        customer = Company.get_or_none(Company.nip == sale.nip)
        if customer is None:
            customer = Company.create(nip=sale.nip, name=sale.customer_name, role=CompanyRole.CUSTOMER.value,
                                      created_at=now)
        contract = None
        for _, number in zip(range(NUMBER_ATTEMPTS), candidates):
            try:
                with db.atomic():  # a savepoint: a number taken meanwhile is retried
                    contract = Contract.create(number=number, company=customer, partner=partner,
                                               customer_name=sale.customer_name, service_level=sale.service_level,
                                               starts_on=sale.starts_on, ends_on=sale.ends_on, created_at=now)
                break
            except IntegrityError:
                log.info("contract number %s taken, drawing another", number)
        if contract is None:
            raise RuntimeError("no free contract number found")
        for line in sale.lines:
            DeviceLine.create(contract=contract, model=line.model, serial=line.serial, address=line.address)
        contracts.reindex([contract.id])
        audit.record(user, "register_sale", "contract", contract.id, f"{contract.number} for NIP {sale.nip}", now)
        send_mail(config, "sale_registered", user.email, user.language,
              {"user": user, "contract": contract, "customer": customer, "partner": partner,
               "lines": sale.lines}, now)
    log.info("sale registered by %s: contract %s for NIP %s", user.email, contract.number, sale.nip)
    return contract


def sold_contracts(company_id: int):
    return Contract.select().where(Contract.partner == company_id).order_by(Contract.created_at.desc(),
                                                                            Contract.id.desc())
