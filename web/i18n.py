"""Language (SPEC W9): Polish by default, English on request.

The choice is the visitor's (`/language/en`, kept in the session), else the signed-in
user's own, else HELPDESK_LANGUAGE. Catalogues are in web/translations (pybabel).
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, session
from flask_babel import Babel
from flask_login import current_user

LANGUAGES = {"pl": "Polski", "en": "English"}
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def current_language() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    if current_user and current_user.is_authenticated and current_user.language in LANGUAGES:
        return current_user.language
    return current_app.config["HELPDESK"].language


def init_app(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app, locale_selector=current_language,
          timezone_selector=lambda: app.config["HELPDESK"].timezone)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_language=current_language)
