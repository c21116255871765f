"""GET /healthz for load balancers and monitoring: JSON, no login, nothing secret.

200 when the database answers, 503 when it does not; the age of each mailbox's last
fetch tells whether the workers are alive (`domain.health.status`).
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from helpdesk.domain import health
from helpdesk.models import utcnow

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    healthy, body = health.status(utcnow())
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
