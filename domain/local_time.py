"""Times as a person reads them (issue 17): stored times are naive UTC; every page, mail,
PDF and the CLI's text output shows them in the reader's zone (the user's own, else
HELPDESK_TIMEZONE), with the zone named where the reader could take it for another
(mail, the terminal, PDFs: "2026-12-02 07:09 CET"). `--json` and the API stay ISO 8601 UTC.

One helper for all of them. The digits are ISO-like (2026-12-02 07:09), the same in Polish
and English, so they come from `strftime` after the zone's conversion by `zoneinfo`
(daylight saving included); Babel's `format_datetime` would cost three times as much per
call on list pages of hundreds of rows and print the same digits. The zone's name is the
tz database's abbreviation (CET in winter, CEST in summer), or its offset where it has none.
Pure: nothing here reads the database or the configuration.
"""
from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Europe/Warsaw"
UTC = dt.timezone.utc
MINUTES, SECONDS, DAY = "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"


@functools.lru_cache(maxsize=256)
def zone(name: str | None, fallback: str = DEFAULT_ZONE) -> ZoneInfo:
    """The zone by name; `fallback` for an empty or unknown one (a typo shows a time, not an error)."""
    for candidate in (name, fallback, DEFAULT_ZONE):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo(DEFAULT_ZONE)


def local(value: dt.datetime, tz: str | ZoneInfo | None) -> dt.datetime:
    """A stored (naive UTC) time as wall-clock time in the zone; an aware one is converted."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(tz if isinstance(tz, ZoneInfo) else zone(tz))


def today(tz: str | ZoneInfo | None, now: dt.datetime | None = None) -> dt.date:
    """The day it is now in the zone (not the machine's own day: near midnight they differ)."""
    return local(now or dt.datetime.now(UTC), tz).date()


def shown(value: dt.datetime | None, tz: str | ZoneInfo | None, *, named: bool = False,
          seconds: bool = False) -> str:
    """"2026-12-02 07:09" in the zone ("" for no time); `named` adds the zone ("... CET")."""
    if value is None:
        return ""
    when = local(value, tz)
    text = when.strftime(SECONDS if seconds else MINUTES)
    return f"{text} {when.strftime('%Z')}" if named else text


def shown_day(value: dt.datetime | dt.date | None, tz: str | ZoneInfo | None) -> str:
    """The local day of a stored time (a date is shown as it is)."""
    if value is None:
        return ""
    if not isinstance(value, dt.datetime):
        return value.strftime(DAY)
    return local(value, tz).strftime(DAY)
