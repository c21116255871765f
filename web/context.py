"""What every blueprint takes from the running application: its `Config` (`config()`), and
the template filters every page may use (`init_app` registers them on the app).

In: the Flask application context, and the signed-in user for the reader's time zone.
Out: the settings; formatted times and sizes. Reads nothing from the database.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app, g
from flask_login import current_user

from helpdesk.config import Config


def config() -> Config:
    return current_app.config["HELPDESK"]


def init_app(app: Flask) -> None:
    app.add_template_filter(local_time, "local")
    app.add_template_filter(file_size, "filesize")


def local_time(value: dt.datetime | None) -> str:
    """A stored UTC time in the reader's zone, to the minute (once per row: no Babel call)."""
    if value is None:
        return ""
    zone = g.get("_zone")
    if zone is None:
        name = current_user.timezone if current_user.is_authenticated else config().timezone
        try:
            zone = g._zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = g._zone = ZoneInfo(config().timezone)
    return value.replace(tzinfo=dt.timezone.utc).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def file_size(size: int) -> str:
    """Bytes as people read them: 340 B, 12.5 KB, 3.1 MB (in the reader's number format)."""
    from flask_babel import format_decimal

    for unit, scale in (("MB", 1_048_576), ("KB", 1024)):
        if size >= scale:
            return f"{format_decimal(round(size / scale, 1))} {unit}"
    return f"{size} B"
