"""GET /healthz for load balancers and monitoring: JSON, no login, nothing secret.

200 when the database answers and takes writes and the file store takes files; 503
when not, with `problem` saying what in one line ("database locked", "store read-only",
"store full"); the age of each mailbox's last fetch tells whether the workers are alive
(`domain.health.status`).
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from helpdesk.domain import health
from helpdesk.models import utcnow

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    healthy, body = health.status(utcnow(), current_app.config["HELPDESK"])
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
