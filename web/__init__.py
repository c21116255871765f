"""The portal: `create_app(config)` builds the Flask application, one blueprint per feature.

Views parse the request, call a domain function and render or redirect; every rule
(who may see what, what a link may do, how many attempts) lives in `domain/`.
Production: `gunicorn 'helpdesk.web:create_app()'` (the config comes from the environment).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Flask, g, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from helpdesk import config as config_mod, database, models

from . import context, freezing, i18n, security, sessions

ROOT = Path(__file__).resolve().parent.parent
csrf = CSRFProtect()


class Int64Converter(IntegerConverter):
    """`<int:id>` that matches only what fits a 64-bit signed column: a longer number is a
    page that does not exist (404), never an OverflowError from the database driver.
    Longer than 19 digits never matches at all, so a route with the same path for another
    method cannot turn it into a 405."""

    regex = r"\d{1,19}"

    def __init__(self, map, fixed_digits=0, min=None, max=2**63 - 1, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def create_app(config: config_mod.Config | None = None, *, db=None) -> Flask:
    """The portal. Without arguments (`gunicorn 'helpdesk.web:create_app()'`) the app of a
    server process: the config from the environment, and what the app holds frozen once
    built (`freezing.freeze_for_life`), as `helpdesk web --workers N` does."""
    serving = config is None and db is None
    config = config or config_mod.load_config()
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder="static")
    app.session_interface = sessions.SessionInterface()  # an unchanged session's cookie signed once a minute
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
    # Before any route is added: every <int:...> in a URL is a database id.
    app.url_map.converters["int"] = Int64Converter
    app.config.update(
        HELPDESK=config,
        SECRET_KEY=config.secret_key,
        SESSION_COOKIE_NAME="helpdesk_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=12 * 3600,
        WTF_CSRF_SSL_STRICT=config.secure_cookies,
        MAX_CONTENT_LENGTH=config.max_attachment_bytes * 5 + 1024 * 1024,
        PREFERRED_URL_SCHEME="https" if config.secure_cookies else "http",
    )
    if config.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.proxy_hops, x_proto=config.proxy_hops,  # type: ignore[method-assign]
                                x_host=config.proxy_hops)
    if db is None:  # else the caller has bound `models.db` already
        database.open_configured(config, pooled=True)

    @app.before_request
    def _connect():
        g.now = models.utcnow()
        if request.endpoint == "health.healthz":
            return  # it says "unavailable" itself when the database does not answer
        models.db.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if not models.db.is_closed():
            models.db.close()

    csrf.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    context.init_app(app)

    from . import (
        account,
        admin,
        api,
        auth,
        contracts,
        desk,
        health,
        kb,
        pages,
        partner_customers,
        partners,
        reports,
        security_events,
        service_levels,
        staff,
        tickets,
        webhooks,
    )

    for blueprint in (pages.bp, auth.bp, account.bp, contracts.bp, tickets.bp, staff.bp, health.bp):
        app.register_blueprint(blueprint)
    for blueprint in (service_levels.bp, reports.bp):
        app.register_blueprint(blueprint)
    for blueprint in (partners.bp, partners.public, admin.bp, security_events.bp, desk.bp, webhooks.bp):
        app.register_blueprint(blueprint)
    for blueprint in (partner_customers.bp, kb.bp, kb.staff):  # issue 17
        app.register_blueprint(blueprint)
    csrf.exempt(api.bp)  # a bearer token, never a cookie: nothing for a forged form to ride on
    app.register_blueprint(api.bp)
    _error_pages(app)
    if serving:
        freezing.freeze_for_life()
    return app


def _error_pages(app: Flask) -> None:
    """Errors as pages of the site, each saying what to do next."""
    from flask import render_template
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException

    from .api import http_problem

    def page(code: int):
        def render(error):
            if request.path.startswith("/api/") and isinstance(error, HTTPException):
                return http_problem(error)  # the API answers in problems, not pages
            return render_template("pages/error.html", code=code), code

        return render

    for code in (400, 403, 404, 405, 410, 413, 429, 500):
        app.register_error_handler(code, page(code))
    app.register_error_handler(CSRFError, page(400))
    # A number too large for the database in a query string or a form (an id, a page):
    # nothing has it. (Route parameters never get this far: Int64Converter.)
    app.register_error_handler(OverflowError, page(404))
    from . import unavailable

    unavailable.init_app(app)
