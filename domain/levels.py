"""Partner levels 0-5 and what each may do (SPEC L1-L3), as data.

`LEVELS` is the whole policy of ../shared/seeds/insert-partner-levels.pl.txt in one table:
each level names the level it builds on, the permissions it adds and those it drops
(level 4 has level 3's rights except the PI section). Level 1 builds on level 0 as SPEC L1
says ("each level has the one below it"); the seed does not say "level 0 plus" for level 1,
but nothing in it takes an author's rights away from a partner that has grown. The table is written into PartnerLevel / Permission / LevelPermission by a
migration (`seed`, idempotent); `can` reads those rows, so a level lowered by an admin
applies from the partner's next request.
"""
from __future__ import annotations

from dataclasses import dataclass

import peewee

from helpdesk.models import Company, LevelPermission, PartnerLevel, Permission, Role, User

from .validation import N_

# code -> what the seed calls it (an English message id; the pages translate it)
PERMISSIONS: dict[str, str] = {
    "solutions.submit": N_("Submitting own solutions"),
    "materials.technical": N_("Technical materials"),
    "phone.partner": N_("Technical support landline number for partners"),
    "materials.service": N_("General service materials"),
    "downloads.upgrades": N_("Downloading upgrades of our programs"),
    "forum.distributors": N_("Forum for distributors"),
    "phone.mobile_24h": N_("Round-the-clock technical support mobile number"),
    "bugbase": N_("Bug and Suggestion Base"),
    "sales.register": N_("Sales registration"),
    "shop.programs": N_("Buying programs"),
    "shop.subscriptions": N_("Buying subscriptions (only partners in the subscription sales system)"),
    "section.pi": N_("Special section for PI (InsERT Partners)"),
    "materials.servicemen": N_("Instructions and materials for service technicians"),
    "phone.servicemen": N_("Technical support landline number for service technicians"),
    "support.web_form": N_("Questions to technical support by a web form"),
    "section.api": N_("Special section for API (Authorised Partners)"),
    "forum.api": N_("Forum for API"),
}

# A permission that also needs something of the company: buying subscriptions is only for
# partners taking part in subscription sales (the seed's note on level 2).
CONDITIONS: dict[str, str] = {"shop.subscriptions": "subscription_seller"}


@dataclass(frozen=True)
class Level:
    level: int
    name: str
    description: str
    needs_eligibility: bool
    builds_on: int | None
    adds: tuple[str, ...]
    drops: tuple[str, ...] = ()


LEVELS: tuple[Level, ...] = (
    Level(0, N_("Author of an own solution"), N_("No eligibility conditions are needed for this level."),
          False, None, ("solutions.submit", "materials.technical")),
    Level(1, N_("Beginning partner"), "", True, 0,
          ("phone.partner", "materials.technical", "materials.service")),
    Level(2, N_("Other Points of Sale (PPS)"), "", True, 1,
          ("downloads.upgrades", "forum.distributors", "phone.mobile_24h", "bugbase", "sales.register",
           "shop.programs", "shop.subscriptions")),
    Level(3, N_("Partner (PI)"), N_("Employees of companies employing service technicians; technicians whose "
                                    "rights have expired; other selected partners."), True, 2, ("section.pi",)),
    Level(4, N_("Service technician"), "", True, 3,
          ("materials.servicemen", "phone.servicemen", "support.web_form"), drops=("section.pi",)),
    Level(5, N_("Authorised Partner (API)"), "", True, 4, ("section.api", "forum.api")),
)
BY_NUMBER = {level.level: level for level in LEVELS}
NUMBERS = tuple(BY_NUMBER)

# Eligibility for level 1 and up (L2): any one of these.
BASES: dict[str, str] = {
    "distributor_list": N_("Our company is on the distributor list"),
    "three_users": N_("We service at least three registered users (their written recommendations attached)"),
    "distributor_recommendation": N_("We are recommended by the distributor we buy from"),
}


def permissions_of(level: int | None) -> frozenset[str]:
    """The permission codes a level has: those of the level it builds on, less its drops,
    plus its own. None (no level) has none."""
    if level is None or level not in BY_NUMBER:
        return frozenset()
    spec = BY_NUMBER[level]
    inherited = permissions_of(spec.builds_on) if spec.builds_on is not None else frozenset()
    return (inherited - set(spec.drops)) | set(spec.adds)


def seed(database: peewee.Database | None = None) -> None:
    """Write the table into the database (run by migration 005; safe to repeat): missing
    levels, permissions and links are added, and links the table no longer has removed."""
    models = [PartnerLevel, Permission, LevelPermission]
    context = database.bind_ctx(models) if database is not None else _nothing()
    with context:
        for code, description in PERMISSIONS.items():
            Permission.insert(code=code, description=description).on_conflict_ignore().execute()
        for spec in LEVELS:
            PartnerLevel.insert(level=spec.level, name=spec.name, description=spec.description,
                                needs_eligibility=spec.needs_eligibility).on_conflict_ignore().execute()
        permission_ids = dict(Permission.select(Permission.code, Permission.id).tuples())
        for spec in LEVELS:
            level_id = PartnerLevel.get(PartnerLevel.level == spec.level).id
            wanted = {permission_ids[code] for code in permissions_of(spec.level)}
            have = {row for (row,) in LevelPermission.select(LevelPermission.permission)
                    .where(LevelPermission.level == level_id).tuples()}
            for permission_id in wanted - have:
                LevelPermission.create(level=level_id, permission=permission_id)
            if have - wanted:
                LevelPermission.delete().where(LevelPermission.level == level_id,
                                               LevelPermission.permission.in_(list(have - wanted))).execute()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def stored_permissions(level: int | None) -> set[str]:
    """The permission codes of a level as the database holds them."""
    if level is None:
        return set()
    return {code for (code,) in Permission.select(Permission.code).join(LevelPermission)
            .join(PartnerLevel).where(PartnerLevel.level == level).tuples()}


def company_level(user: User) -> int | None:
    """The level that counts for this user: its company's, when the user is a partner of a
    verified company; None otherwise. Read fresh, so a change applies at the next request."""
    if user is None or not user.is_authenticated or user.role != Role.PARTNER.value or not user.company_id:
        return None
    company = Company.get_or_none(Company.id == user.company_id)
    if company is None or company.verified_at is None:
        return None
    return company.partner_level


def permissions_for(user: User) -> set[str]:
    """Every permission the user has now (its level's, less those whose condition fails)."""
    level = company_level(user)
    if level is None:
        return set()
    codes = stored_permissions(level)
    company = Company.get_by_id(user.company_id)
    return {code for code in codes if code not in CONDITIONS or getattr(company, CONDITIONS[code])}


def can(user: User, code: str) -> bool:
    """Whether the user may use the permission `code` now."""
    return code in permissions_for(user)
