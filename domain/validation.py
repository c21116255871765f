"""What the portal accepts in its fields: pure checks that return the clean value or raise.

Each check raises `Invalid` with a message for the person who typed the value (wrapped
in `lazy_gettext` by the forms). Digits are ASCII only: `str.isdigit` would also accept
Arabic-Indic or full-width digits, which no NIP, phone or contract number contains.
"""
from __future__ import annotations

import re

from stdnum.pl import nip as stdnum_nip

ASCII_DIGITS = re.compile(r"[0-9]+")
CONTRACT_NUMBER = re.compile(r"[A-Z][0-9]{6}")  # one capital letter and six digits, ASCII
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # CR, LF, NUL and the rest: never in a one-line field
SERIAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_./:]{0,199}")  # licence keys keep their dashes


class Invalid(ValueError):
    """A value the user must correct. `message` is an English message id, translated by
    the page that shows it, with `params` filled in after translation."""

    def __init__(self, message: str, params: dict | None = None):
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params or {}


def N_(message: str) -> str:
    """Marks a message for translation (extracted by pybabel) without translating it here."""
    return message


def one_line(value: str) -> str:
    """A single-line text: trimmed, no control characters (a CR/LF would reach mail headers)."""
    value = (value or "").strip()
    if CONTROL.search(value):
        raise Invalid(N_("Use a single line, without line breaks or control characters."))
    return value


def phone(value: str) -> str:
    """Nine ASCII digits; spaces are allowed and removed, the +48 prefix is not."""
    value = one_line(value).replace(" ", "")
    if value.startswith("+"):
        raise Invalid(N_("Give the phone number without the country code (+48): nine digits."))
    if not ASCII_DIGITS.fullmatch(value) or len(value) != 9:
        raise Invalid(N_("The phone number must have exactly nine digits (0-9)."))
    return value


def nip(value: str) -> str:
    """Ten ASCII digits with a valid checksum; dashes are refused, not silently removed."""
    value = one_line(value).replace(" ", "")
    if "-" in value:
        raise Invalid(N_("Type the NIP without dashes: ten digits."))
    if not ASCII_DIGITS.fullmatch(value) or len(value) != 10:
        raise Invalid(N_("The NIP must have exactly ten digits (0-9)."))
    if not stdnum_nip.is_valid(value):
        raise Invalid(N_("This is not a valid NIP: its check digit does not match."))
    return value


def contract_number(value: str) -> str:
    """One capital ASCII letter and six ASCII digits, e.g. K123456 (surrounding spaces ignored)."""
    value = one_line(value)
    if not CONTRACT_NUMBER.fullmatch(value):
        raise Invalid(N_("The contract number is one capital letter and six digits, e.g. K123456."))
    return value


def serial(value: str) -> str:
    """A serial number or licence key, dashes and dots kept, surrounding spaces ignored."""
    value = one_line(value)
    if not SERIAL.fullmatch(value):
        raise Invalid(N_("Give the serial number or licence key exactly as printed, dashes included."))
    return value


def name(value: str, max_length: int = 100) -> str:
    """A person's or company's name: one line, not empty, not too long."""
    value = one_line(value)
    if not value:
        raise Invalid(N_("This field is required."))
    if len(value) > max_length:
        raise Invalid(N_("This is too long."))
    return value
