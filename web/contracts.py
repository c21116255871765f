"""Dashboard, contracts and contract verification (SPEC W4-W6). (Being built.)"""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("contracts", __name__)


@bp.route("/dashboard")
@login_required
def dashboard():
    return render_template("contracts/dashboard.html")


@bp.route("/contracts")
@login_required
def index():
    return render_template("contracts/dashboard.html")
