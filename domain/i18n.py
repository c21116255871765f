"""Texts in a reader's language outside a web request (mail sender names, for one).

In: a language code and an English message marked with `N_` (so `scripts/translations`
extracts it). Out: the message from the portal's catalogue (`web/translations`, read as
data), Polish when the language is not one we have. Reads files once per language.
"""
from __future__ import annotations

import functools
from pathlib import Path

from babel.support import Translations

from .validation import N_

CATALOGUES = Path(__file__).resolve().parent.parent / "web" / "translations"
LANGUAGES = ("pl", "en")
SUPPORT_TEAM = N_("Support")  # who signs ticket notices and digests
PORTAL_TEAM = N_("Service portal")  # who signs account and partner mail


@functools.lru_cache(maxsize=len(LANGUAGES))
def _catalogue(language: str):
    return Translations.load(str(CATALOGUES), [language])


def gettext(language: str, message: str) -> str:
    return _catalogue(language if language in LANGUAGES else LANGUAGES[0]).ugettext(message)
