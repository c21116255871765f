"""A partner company registered again after its partner account was deleted starts clean
(issue 17, item 8; the VASP seed: "delete the existing account, then register again").

In: the company and the newly activated partner account. Out: the company's programme
applications (the approved one with its certificate and agreement included), its role
change requests and its level applications are removed, each written to the audit trail
first with what it said; the certificate's code no longer verifies, and the new partner
enrols, asks and applies as a newcomer. The PDFs stay in the file store. Runs in the
caller's transaction.
"""
from __future__ import annotations

import datetime as dt

from helpdesk.models import (
    ApplicationDistributor,
    Distributor,
    LevelApplication,
    PartnerApplication,
    Role,
    RoleChangeRequest,
    User,
)

from . import audit


def other_partner_accounts(company_id: int, user: User):
    """The company's other activated partner accounts: while one exists, nothing is reset."""
    return User.select().where(User.company == company_id, User.role == Role.PARTNER.value,
                               User.activated_at.is_null(False), User.id != user.id)


def start_clean(company_id: int, user: User, now: dt.datetime) -> int:
    """Remove the company's partner records, each audited first; returns how many."""
    if other_partner_accounts(company_id, user).exists():
        return 0
    removed = 0
    for application in PartnerApplication.select().where(PartnerApplication.company == company_id):
        names = [name for (name,) in Distributor.select(Distributor.name).join(ApplicationDistributor)
                 .where(ApplicationDistributor.application == application.id).tuples()]
        audit.record(user, "partner_application_ended", "partner_application", application.id,
                     f"{application.status}, level {application.declared_level or '-'}, "
                     f"certificate {application.verification_code or '-'} valid until {application.valid_until or '-'}, "
                     f"distributors: {', '.join(names) or '-'}; the company registered again", now)
        application.delete_instance(recursive=True)
        removed += 1
    for request in RoleChangeRequest.select().where(RoleChangeRequest.company == company_id):
        audit.record(user, "role_change_ended", "company", company_id,
                     f"request {request.id}: {request.from_role or '?'} -> {request.requested_role}, "
                     f"{request.status}; the company registered again", now)
        request.delete_instance()
        removed += 1
    for level in LevelApplication.select().where(LevelApplication.company == company_id):
        audit.record(user, "level_application_ended", "company", company_id,
                     f"application {level.id}: level {level.level}, {level.status}; the company registered again", now)
        level.delete_instance(recursive=True)
        removed += 1
    return removed
