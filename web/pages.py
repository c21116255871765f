"""Pages that belong to no feature: the front page, the terms, the language switch."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user

from .i18n import LANGUAGES
from .security import landing_url, safe_next

bp = Blueprint("pages", __name__)


@bp.route("/")
def home():
    if current_user.is_authenticated:
        return redirect(landing_url(current_user))
    return render_template("pages/home.html")


@bp.route("/terms")
def terms():
    return render_template("pages/terms.html")


@bp.route("/language/<code>")
def language(code: str):
    """The language of this browser's pages (the session only): a GET changes nothing
    stored. The account's own language, for its mail, is set by a POST on /account."""
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("pages.home")))
