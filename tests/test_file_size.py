"""The `filesize` filter formats through a cache keyed by value and language: the same text
as Babel's format in the request's language, each language its own."""
from __future__ import annotations

from babel import Locale
from flask_babel import format_decimal

from helpdesk.web.context import _decimal, file_size


def test_sizes_read_as_babel_formats_them_in_the_readers_language(app):
    with app.test_request_context():
        assert file_size(340) == "340 B"
        assert file_size(12_800) == f"{format_decimal(12.5)} KB"
        assert file_size(3_250_586) == f"{format_decimal(3.1)} MB"
    assert _decimal(12.5, Locale.parse("pl")) == "12,5" and _decimal(12.5, Locale.parse("en")) == "12.5"
    assert _decimal(1234.5, Locale.parse("pl")) != _decimal(1234.5, Locale.parse("en"))
