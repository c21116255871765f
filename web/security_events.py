"""The security-event log for admins (issue 13): every refused or flagged attempt, newest
first, filtered by kind or ticket, paged by id. Only reads (`domain.security_events`)."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from helpdesk.domain import security_events

from .context import config as _config
from .paging import search_text
from .staff import admin_only

bp = Blueprint("security_events", __name__, url_prefix="/staff/security")
PAGE = 100


@bp.route("")
@admin_only
def index():
    kind = search_text("kind", 40) or None
    ticket = request.args.get("ticket", type=int)
    before = request.args.get("before", type=int)
    if ticket is not None and not 0 < ticket < 2**63:
        ticket = None
    if before is not None and not 0 < before < 2**63:
        before = None
    rows = security_events.events(limit=PAGE + 1, kind=kind, ticket_id=ticket, before_id=before)
    return render_template("security_events/index.html", rows=rows[:PAGE], more=len(rows) > PAGE, kind=kind or "",
                           ticket=ticket, kinds=sorted(security_events.KINDS),
                           prefix=_config().ticket_prefix)
