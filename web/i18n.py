"""Language (SPEC W9): Polish by default, English on request.

The choice is the visitor's (`/language/en`, kept in the session), else the signed-in
user's own, else HELPDESK_LANGUAGE. Catalogues are in web/translations (pybabel).
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, g, session
from flask_babel import Babel, get_locale, get_translations
from flask_login import current_user

from helpdesk.domain import labels, numbers

LANGUAGES = {"pl": "Polski", "en": "English"}
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def current_language() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    if current_user and current_user.is_authenticated and current_user.language in LANGUAGES:
        return current_user.language
    return current_app.config["HELPDESK"].language


def fast_gettext(message: str) -> str:
    """gettext through the request's cached catalogue (for helpers called once per row)."""
    return _translations().ugettext(message)


def _translations():
    """The request's catalogue, looked up once: Flask-Babel's own lookup costs about 13 µs
    a call, and a page of contracts makes hundreds of them."""
    found = g.get("_translations")
    if found is None:
        found = g._translations = get_translations()
    return found


def init_app(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app, locale_selector=current_language,
          timezone_selector=lambda: app.config["HELPDESK"].timezone)
    # The same callables Flask-Babel installs, minus the per-call lookup; newstyle: Jinja
    # escapes and fills in %(name)s itself.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_language=current_language, label=label,
                                 history_reason=history_reason, audit_detail=audit_detail)
    # Numbers in the reader's format, through domain.numbers (as mail and the PDFs do).
    app.jinja_env.filters.update(money=money, amount=amount, percent=percent, number=number)


def label(kind: str, value: str | None) -> str:
    """An internal name (a status, a role, a kind: `domain.labels`) in the reader's words."""
    return labels.label(kind, value, fast_gettext)


def history_reason(reason: str) -> str:
    return labels.history_reason(reason, fast_gettext)


def audit_detail(action: str, detail: str) -> str:
    return labels.audit_detail(action, detail, fast_gettext)


def _locale() -> str:
    return str(get_locale() or current_app.config["HELPDESK"].language)


def money(value) -> str:
    """An amount in PLN in the reader's way: 10 000,00 zł (pl), PLN 10,000.00 (en)."""
    return numbers.money(value, _locale())


def amount(value) -> str:
    """Two decimals without the currency (a column that names it): 2 500,00 (pl), 2,500.00 (en)."""
    return numbers.amount(value, _locale())


def percent(value) -> str:
    """A value in per cent: 2,00% (pl), 2.00% (en)."""
    return numbers.percent(value, _locale())


def number(value) -> str:
    """Any number in the reader's format: 1,5 (pl), 1.5 (en)."""
    return numbers.number(value, _locale())


def locale_name() -> str:
    """The reader's locale ("pl", "en"), for formatting many numbers at once (`domain.numbers`)."""
    return _locale()
