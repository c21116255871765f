"""What the staff ticket page (web/staff.py) shows of the engineers' working day: the canned
answers of its reply form (inserted by re-rendering the form, without JavaScript), its tags,
the merge form, the tickets merged into it, and the other engineers on it lately."""
from __future__ import annotations

from flask import g
from flask_babel import gettext as _
from flask_login import current_user

from helpdesk.domain import canned, collisions, tags
from helpdesk.domain.prepared import prepared
from helpdesk.domain.validation import Invalid
from helpdesk.models import Ticket

from . import forms
from .context import config as _config


def prepare_reply_form(form: forms.StaffReplyForm, ticket: Ticket) -> forms.StaffReplyForm:
    """The canned answers to choose from, and the newest message the form is shown with."""
    form.canned.choices = [("", "—")] + [(name, f"{title} ({name})") for name, title in canned.titles()]
    form.canned_language.choices = [("", _("the customer's")), ("pl", "polski"), ("en", "English")]
    if not form.seen.data:
        form.seen.data = str(collisions.newest_id(ticket.id))
    return form


def ticket_extras(ticket: Ticket, viewing: bool = False) -> dict:
    """What the ticket page shows of tags, merges and the other engineers on it (`viewing`:
    this engineer opens the page, which is recorded for the others: `collisions.recent_others`)."""
    return {
        "tags": tags.of(ticket.id), "tag_suggestions": tags.suggestions(),  # its tag and merge forms: blank ones
        "merged_here": _merged_into(ticket.id),
        "others": collisions.recent_others(ticket.id, current_user, minutes=_config().collision_minutes, now=g.now,
                                          viewing=viewing),
    }


@prepared
def _merged_into(ticket_id: int):
    return Ticket.select(Ticket.id, Ticket.subject).where(Ticket.merged_into == ticket_id).order_by(Ticket.id)


def insert_canned(form: forms.StaffReplyForm, ticket: Ticket) -> None:
    """Put the chosen canned answer, filled in for the ticket, below what was typed."""
    name = form.canned.data or ""
    if not name:
        form.canned.errors = [_("Choose a canned answer.")]
        return
    try:
        text = canned.fill(name, ticket.id, current_user, language=form.canned_language.data or None,
                           prefix=_config().ticket_prefix)
    except canned.NotFound:
        form.canned.errors = [_("There is no such canned answer.")]
        return
    except Invalid as error:
        form.canned.errors = [forms.translated(error)]
        return
    typed = (form.text.data or "").rstrip()
    form.text.data = f"{typed}\n\n{text}" if typed else text
