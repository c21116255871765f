"""What a partner's level lets it reach (SPEC L2, L3): applying for a level with its
eligibility and evidence, an admin's decision, resources gated by permission, own solutions.

Eligibility for level 1 and up is one of (L2): the company is on the distributor list;
it services at least three registered users, each with a written recommendation
uploaded; or a distributor recommends it (its letter uploaded). Level 0 needs none.
Every check is here, on the server: the pages only show what these functions allow.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from helpdesk.config import Config
from helpdesk.models import (
    Blob,
    Company,
    Distributor,
    LevelApplication,
    LevelEvidence,
    Permission,
    RequestStatus,
    Resource,
    Role,
    Solution,
    User,
    db,
    utcnow,
)

from . import audit, levels
from .accounts import send_mail
from .partners import NotAllowed
from .storage import BlobStore, safe_filename
from .validation import N_, Invalid

log = logging.getLogger(__name__)
MIN_SERVICED_USERS = 3
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Evidence:
    nip: str  # the recommending user's company ("" for a distributor's letter)
    filename: str
    content_type: str
    data: bytes


def verified_partner(user: User) -> Company:
    """The user's company when the user is a partner of a verified company."""
    if user.role != Role.PARTNER.value or not user.company_id:
        raise NotAllowed(N_("This is for partner accounts."))
    company = Company.get_by_id(user.company_id)
    if company.verified_at is None:
        raise NotAllowed(N_("Your account waits for verification."))
    return company


def on_distributor_list(company: Company) -> bool:
    return Distributor.select().where(Distributor.nip == company.nip, Distributor.active).exists()


def registered_user_nips(nips: list[str]) -> set[str]:
    """Those of the NIPs whose company has at least one activated portal user."""
    return {nip for (nip,) in Company.select(Company.nip).join(User, on=(User.company == Company.id))
            .where(Company.nip.in_(nips), User.activated_at.is_null(False), User.is_active).distinct().tuples()}


def _check_basis(company: Company, level: int, basis: str, evidence: list[Evidence],
                 distributor_id: int | None) -> Distributor | None:
    if level == 0:
        if basis != "none":
            raise Invalid(N_("Level 0 needs no eligibility conditions."))
        return None
    if basis not in levels.BASES:
        raise Invalid(N_("Choose how your company is eligible."))
    if basis == "distributor_list":
        if not on_distributor_list(company):
            raise Invalid(N_("Your company is not on the distributor list."))
        return None
    if basis == "three_users":
        nips = [e.nip for e in evidence]
        if len(set(nips)) < MIN_SERVICED_USERS or len(set(nips)) != len(nips) or company.nip in nips:
            raise Invalid(N_("Give at least three different users you service, each with a written "
                             "recommendation."))
        unknown = sorted(set(nips) - registered_user_nips(nips))
        if unknown:
            raise Invalid(N_("These NIPs are not of registered users: %(nips)s."), {"nips": ", ".join(unknown)})
        return None
    distributor = Distributor.get_or_none(Distributor.id == distributor_id, Distributor.active) \
        if distributor_id else None
    if distributor is None:
        raise Invalid(N_("Choose the distributor that recommends you."))
    if not evidence:
        raise Invalid(N_("Attach the distributor's written recommendation."))
    return distributor


def apply_for_level(config: Config, user: User, level: int, basis: str, *, evidence: Sequence[Evidence] = (),
                    distributor_id: int | None = None, now: dt.datetime | None = None) -> LevelApplication:
    """A level application with its basis and evidence; it waits for an admin."""
    now = now or utcnow()
    company = verified_partner(user)
    if level not in levels.NUMBERS:
        raise Invalid(N_("Choose one of the levels 0-5."))
    evidence = [e for e in evidence if e.data]
    for item in evidence:
        if len(item.data) > MAX_EVIDENCE_BYTES:
            raise Invalid(N_("A file is larger than 10 MB."))
    with db.atomic():
        if LevelApplication.select().where(LevelApplication.company == company.id,
                                           LevelApplication.status == RequestStatus.PENDING.value).exists():
            raise Invalid(N_("Your company already has a level application waiting for a decision."))
        distributor = _check_basis(company, level, basis, evidence, distributor_id)
        application = LevelApplication.create(company=company, level=level, basis=basis, submitted_by=user,
                                              distributor=distributor, created_at=now)
        store = BlobStore(config.blob_dir, config.raw_dir)
        for item in evidence:
            sha = store.put(item.data)
            blob, _ = Blob.get_or_create(sha256=sha, defaults={"size": len(item.data), "created_at": now})
            LevelEvidence.create(application=application, nip=item.nip, blob=blob,
                                 filename=safe_filename(item.filename),
                                 content_type=item.content_type or "application/octet-stream")
    return application


def decide_level_application(config: Config, application_id: int, approve: bool, reason: str, *, by: User,
                             now: dt.datetime | None = None) -> LevelApplication:
    now = now or utcnow()
    reason = reason.strip()
    if not approve and not reason:
        raise Invalid(N_("Give the reason for the rejection."))
    with db.atomic():
        application = LevelApplication.get_or_none(LevelApplication.id == application_id)
        if application is None or application.status != RequestStatus.PENDING.value:
            raise Invalid(N_("This application has already been decided."))
        company = Company.get_by_id(application.company_id)
        status = (RequestStatus.APPROVED if approve else RequestStatus.REJECTED).value
        LevelApplication.update(status=status, reason=reason, decided_at=now, decided_by=by).where(
            LevelApplication.id == application.id).execute()
        if approve:
            Company.update(partner_level=application.level).where(Company.id == company.id).execute()
        audit.record(by, f"level_application_{status}", "company", company.id,
              f"{company.nip}: level {application.level} ({application.basis})" + (f"; {reason}" if reason else ""),
              now)
        for partner in User.select().where(User.company == company.id, User.role == Role.PARTNER.value,
                                           User.is_active):
            send_mail(config, "level_decided", partner.email, partner.language,
                  {"user": partner, "company": company, "level": application.level, "approved": approve,
                   "reason": reason}, now)
    return LevelApplication.get_by_id(application_id)


def set_level(company_id: int, level: int | None, reason: str, *, by: User,
              now: dt.datetime | None = None) -> Company:
    """An admin sets (raises, lowers or removes) a company's level; it applies at the
    partner's next request."""
    now = now or utcnow()
    if level is not None and level not in levels.NUMBERS:
        raise Invalid(N_("Choose one of the levels 0-5."))
    with db.atomic():
        company = Company.get_or_none(Company.id == company_id)
        if company is None:
            raise Invalid(N_("No such company."))
        Company.update(partner_level=level).where(Company.id == company.id).execute()
        audit.record(by, "set_level", "company", company.id,
              f"{company.nip}: {company.partner_level} -> {level}" + (f"; {reason.strip()}" if reason.strip() else ""),
              now)
    return Company.get_by_id(company_id)


def evidence_for_staff(evidence_id: int) -> LevelEvidence | None:
    return LevelEvidence.get_or_none(LevelEvidence.id == evidence_id)


# --- resources (L3) ---------------------------------------------------------------------------


def resources_for(user: User) -> list[tuple[Resource, bool]]:
    """Every resource, with whether this user may open it (titles of the others are shown
    as locked, never their content)."""
    allowed = levels.permissions_for(user)
    rows = Resource.select(Resource, Permission).join(Permission).order_by(Resource.kind, Resource.title)
    return [(r, r.permission.code in allowed) for r in rows]


def resource_for(user: User, resource_id: int) -> Resource:
    """The resource when the user's level has its permission; NotAllowed otherwise."""
    resource = Resource.select(Resource, Permission).join(Permission).where(Resource.id == resource_id).first()
    if resource is None:
        raise LookupError(resource_id)
    if not user.is_staff and not levels.can(user, resource.permission.code):
        raise NotAllowed(N_("Your partner level does not give access to this."))
    return resource


def add_resource(config: Config, *, title: str, kind: str, permission_code: str, body: str,
                 upload: Evidence | None, by: User, now: dt.datetime | None = None) -> Resource:
    now = now or utcnow()
    permission = Permission.get_or_none(Permission.code == permission_code)
    if permission is None:
        raise Invalid(N_("Choose one of the listed permissions."))
    if kind not in RESOURCE_KINDS:
        raise Invalid(N_("Choose one of the listed kinds."))
    with db.atomic():
        blob, filename = None, ""
        if upload is not None and upload.data:
            sha = BlobStore(config.blob_dir, config.raw_dir).put(upload.data)
            blob, _ = Blob.get_or_create(sha256=sha, defaults={"size": len(upload.data), "created_at": now})
            filename = safe_filename(upload.filename)
        resource = Resource.create(title=title, kind=kind, permission=permission, body=body, blob=blob,
                                   filename=filename, created_at=now)
        audit.record(by, "add_resource", "resource", resource.id, f"{title} ({kind}, {permission_code})", now)
    return resource


def delete_resource(resource_id: int, *, by: User, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    with db.atomic():
        resource = Resource.get_or_none(Resource.id == resource_id)
        if resource is None:
            return
        Resource.delete().where(Resource.id == resource_id).execute()
        audit.record(by, "delete_resource", "resource", resource_id, resource.title, now)


RESOURCE_KINDS = ("document", "download", "phone", "section")


# --- own solutions (level 0) -------------------------------------------------------------------


def submit_solution(user: User, title: str, description: str, *, now: dt.datetime | None = None) -> Solution:
    now = now or utcnow()
    if not levels.can(user, "solutions.submit"):
        raise NotAllowed(N_("Your partner level does not include submitting solutions."))
    return Solution.create(company=user.company_id, submitted_by=user, title=title, description=description,
                           created_at=now)


def solutions_of(company_id: int):
    return Solution.select().where(Solution.company == company_id).order_by(Solution.created_at.desc())
