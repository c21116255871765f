"""The portal's main navigation: which pages each kind of user has, as links and labels.

Built once per language, role and script root (it depends on nothing else: `url_for` of an
endpoint without arguments is a fixed path under the script root), so a page does not pay
a dozen `url_for` and translations for it on every request.
"""
from __future__ import annotations

import functools

from flask import request, url_for
from flask_login import current_user

from helpdesk.domain.validation import N_
from helpdesk.models import Role

from .i18n import current_language, fast_gettext

EVERYONE = (("contracts.dashboard", N_("Dashboard")), ("contracts.index", N_("Contracts")),
            ("tickets.index", N_("Helpdesk tickets")), ("kb.index", N_("Technical materials")))
STAFF = (("staff.queue", N_("Queue")), ("reports.index", N_("Reports")), ("staff.quarantine", N_("Quarantine")),
         ("desk.canned_list", N_("Canned answers")))
ADMIN = (("staff.users", N_("People")), ("sla.policies", N_("Service levels")),
         ("security_events.index", N_("Security")))
PARTNER = (("partners.index", N_("Partner")),)
ADMIN_LAST = (("admin.applications", N_("Partners")), ("webhooks.index", N_("Webhooks")))


def entries(role: str) -> tuple[tuple[str, str], ...]:
    """(endpoint, label in English) of a role's navigation, in the order shown."""
    staff = role in (Role.ENGINEER.value, Role.ADMIN.value)
    return (EVERYONE + (STAFF if staff else ()) + (ADMIN if role == Role.ADMIN.value else ())
            + (PARTNER if role == Role.PARTNER.value else ()) + (ADMIN_LAST if role == Role.ADMIN.value else ()))


def main_navigation() -> tuple[tuple[str, str, str], ...]:
    """(endpoint, link, label) of the signed-in reader's navigation."""
    return _built(current_user.role, current_language(), request.script_root)


@functools.lru_cache(maxsize=64)  # roles x languages x script roots: a handful
def _built(role: str, language: str, script_root: str) -> tuple[tuple[str, str, str], ...]:
    # `language` is part of the key: fast_gettext reads the request's catalogue, which is its.
    return tuple((endpoint, url_for(endpoint), fast_gettext(label)) for endpoint, label in entries(role))
