"""503 instead of 500 when the database (locked past its timeout, read-only, down) or the
file store (read-only, full) cannot take a request: the page says what is wrong in one
line and gives back what the user typed, in a form that sends it to the same address
again (with a fresh CSRF token); files are named, to be attached again. Passwords are
never sent back. Nothing here touches the database.
"""
from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _, lazy_gettext as _l
from peewee import DatabaseError, InterfaceError, InternalError, OperationalError

from helpdesk.domain import faults

log = logging.getLogger(__name__)

SECRET = ("password", "current", "repeat", "csrf_token")
SHOWN_MIN = 2  # shorter values (ids, ticks, choices) go back as hidden fields
LABELS = {"text": _l("Your message"), "title": _l("Title"), "description": _l("Description")}


def _reason(fault: faults.Fault) -> str:
    if fault.component == faults.DATABASE:
        return {faults.LOCKED: _("The database is busy (locked by other work)."),
                faults.READ_ONLY: _("The database is read-only at the moment."),
                faults.FULL: _("The database's disk is full.")}.get(fault.kind, _("The database does not answer."))
    return {faults.READ_ONLY: _("The file storage is read-only at the moment."),
            faults.FULL: _("The file storage is full.")}.get(fault.kind, _("The file storage does not answer."))


def _kept() -> tuple[list[tuple[str, str, bool, str]], list[str], str]:
    kept = []
    for name, value in request.form.items(multi=True):
        if any(word in name.lower() for word in SECRET):
            continue
        shown = len(value) >= SHOWN_MIN and not value.isdigit() and value not in ("y", "on")
        kept.append((name, value, shown, LABELS.get(name, name)))
    files, file_field = [], "files"
    for name in request.files:
        for upload in request.files.getlist(name):
            if upload and upload.filename:
                files.append(upload.filename)
                file_field = name
    return kept, files, file_field


def unavailable(error: Exception):
    if isinstance(error, OSError):
        fault = faults.of_os_error(error)
        if fault.kind == faults.UNAVAILABLE:
            raise error  # not a full or read-only store: a bug, a 500
    else:
        fault = faults.of_db_error(error)
        if isinstance(error, InternalError) and fault.kind != faults.READ_ONLY:
            raise error
    log.error("503 for %s %s: %s", request.method, request.path, fault.line())
    kept, files, file_field = _kept() if request.method == "POST" else ([], [], "files")
    context = dict(reason=_reason(fault), kept=kept, files=files, file_field=file_field, action=request.path)
    try:
        body = render_template("pages/unavailable.html", **context)
    except (DatabaseError, InterfaceError):  # the page's header asks who is signed in: without it
        from flask import g
        from flask_login import AnonymousUserMixin

        g._login_user = AnonymousUserMixin()
        body = render_template("pages/unavailable.html", **context)
    return body, 503, {"Retry-After": "30"}


def init_app(app: Flask) -> None:
    for error in (OperationalError, InterfaceError, InternalError, OSError):
        app.register_error_handler(error, unavailable)
