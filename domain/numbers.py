"""Numbers as their reader writes them (babel's CLDR data): amounts, money, per cents.

In: a number and a locale ("pl", "en"). Out: the text: "10 000,00 zł" and "2,00%" in
Polish, "PLN 10,000.00" and "2.00%" in English. The portal's filters (`web/i18n.py`), the
mail templates and the agreement PDF all format through these, so a number reads the
same everywhere.
"""
from __future__ import annotations

import functools
import re
from decimal import Decimal

from babel.numbers import format_currency, format_decimal, format_percent

CURRENCY = "PLN"  # the programme's targets and commissions


def amount(value, locale: str) -> str:
    """Two decimals, grouped: 2 500,00 (pl), 2,500.00 (en)."""
    return format_decimal(value, format="#,##0.00", locale=locale)


def money(value, locale: str, currency: str = CURRENCY) -> str:
    """An amount with its currency: 10 000,00 zł (pl), PLN 10,000.00 (en)."""
    text = format_currency(value, currency, locale=locale)
    # CLDR's currency spacing, which babel leaves out: a code never touches the digits.
    return re.sub(r"^([A-Z]{3})(?=[\d-])", "\\1\xa0", text)


def percent(value, locale: str) -> str:
    """A value in per cent (2.00 means 2%) with two decimals: 2,00% (pl), 2.00% (en)."""
    return _percent(type(value).__name__, value, locale)


@functools.lru_cache(maxsize=4096)
def _percent(kind: str, value, locale: str) -> str:
    # the reports' compliance columns: a few dozen a page, most of them repeated (100,00%)
    return format_percent(Decimal(str(value)) / 100, format="#,##0.00%", locale=locale)


def number(value, locale: str) -> str:
    """Any number in the reader's format, its decimals as they are (up to three): 1,5 (pl)."""
    return _number(type(value).__name__, value, locale)


@functools.lru_cache(maxsize=4096)
def _number(kind: str, value, locale: str) -> str:
    # a report's table formats hundreds of numbers, most of them repeated (0, small counts);
    # the type is in the key so that 1, 1.0 and True stay apart
    return format_decimal(value, locale=locale)
