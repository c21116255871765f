"""What every blueprint takes from the running application: its `Config` (`config()`), and
the template filters every page may use (`init_app` registers them on the app).

In: the Flask application context, and the signed-in user for the reader's time zone.
Out: the settings; formatted times and sizes. Reads nothing from the database.
"""
from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

from babel import Locale, numbers
from flask import Flask, current_app, g
from flask_login import current_user

from helpdesk.config import Config
from helpdesk.domain import local_time as clock

from . import navigation, rows


def config() -> Config:
    return current_app.config["HELPDESK"]


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time, "local")
    app.add_template_filter(local_seconds, "local_seconds")
    app.add_template_filter(local_day, "localdate")
    app.add_template_filter(file_size, "filesize")
    app.add_template_global(zone_name)
    app.add_template_global(rows.link_for)  # one url_for for a list's links of one kind
    app.add_template_global(navigation.main_navigation)


def reader_zone() -> ZoneInfo:
    """The reader's zone: the signed-in user's own, else HELPDESK_TIMEZONE (once a request)."""
    zone = g.get("_zone")
    if zone is None:
        fallback = config().timezone
        name = current_user.timezone if current_user.is_authenticated else fallback
        zone = g._zone = clock.zone(name, fallback)
    return zone


def local_time(value: dt.datetime | None) -> str:
    """A stored UTC time in the reader's zone, to the minute."""
    return clock.shown(value, reader_zone())


def local_seconds(value: dt.datetime | None) -> str:
    """The same to the second (the audit log)."""
    return clock.shown(value, reader_zone(), seconds=True)


def local_day(value: dt.datetime | dt.date | None) -> str:
    """The reader's local day of a stored time."""
    return clock.shown_day(value, reader_zone())


def zone_name() -> str:
    """The reader's zone by name ("Europe/Warsaw"), for a column of times that could be misread."""
    return str(reader_zone().key)


def file_size(size: int) -> str:
    """Bytes as people read them: 340 B, 12.5 KB, 3.1 MB (in the reader's number format)."""
    from flask_babel import get_locale

    for unit, scale in (("MB", 1_048_576), ("KB", 1024)):
        if size >= scale:
            return f"{_decimal(round(size / scale, 1), get_locale())} {unit}"
    return f"{size} B"


@functools.lru_cache(maxsize=4096)
def _decimal(value: float, locale: Locale | None) -> str:
    """Babel's number format (60 µs a call, a few a page), once per value and language."""
    return numbers.format_decimal(value, locale=locale)
