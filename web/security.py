"""Sessions, headers and redirects: what makes the portal safe to put on the internet.

Sessions are Flask's signed cookies (HttpOnly, SameSite=Lax, Secure over https) holding
"<user id>:<session version>"; bumping the user's `session_version` (new password, new
address) ends every other session. Every response gets a strict Content-Security-Policy
(no inline script or style: the pages need neither) and `nosniff`; pages for a signed-in
user are not cached. Redirect targets from the request are only ever our own paths.
"""
from __future__ import annotations

import re

from flask import Flask, request, session, url_for
from flask_login import LoginManager, login_user

from helpdesk.domain.prepared import prepared
from helpdesk.models import Role, User

CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
])
SAFE_PATH = re.compile(r"/(?![/\\])[^\s\\]*")  # a path on this site: "/x", never "//host" or "/\host"

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = None  # the login page says why on its own
login_manager.session_protection = None  # sessions are ended by session_version instead


@prepared
def _user_by_id(user_id: int):
    return User.select().where(User.id == user_id).limit(1)


@login_manager.user_loader
def _load(session_id: str):
    user_id, _, version = session_id.partition(":")
    if not (user_id.isascii() and user_id.isdigit() and version.isascii() and version.isdigit()):
        return None
    user = _user_by_id.first(int(user_id))
    if user is None or not user.is_active or user.session_version != int(version):
        return None
    return user


def sign_in(user: User) -> None:
    """A fresh session for the user: whatever the old cookie held is dropped."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    session.permanent = True
    login_user(user)


def landing_url(user: User) -> str:
    """Where a person's work is (issue 17): engineers and admins the ticket queue, partners their
    partner page (it says what waits for them), customers their dashboard."""
    if user.is_staff:
        return url_for("staff.queue")
    if user.role == Role.PARTNER.value:
        return url_for("partners.index")
    return url_for("contracts.dashboard")


def safe_next(target: str | None, default: str) -> str:
    """`target` when it is a path on this site; anything else (another host, a scheme,
    `//host`, backslashes, control characters) gives `default`."""
    if target and len(target) < 2000 and SAFE_PATH.fullmatch(target) and target.isprintable():
        return target
    return default


def client_ip() -> str:
    return request.remote_addr or "unknown"


def _headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
        response.vary.add("Cookie")
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.after_request(_headers)
