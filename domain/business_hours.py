"""Clocks that count only working time (pure): business hours in a zone, public holidays off.

In: naive UTC datetimes (as stored) and timedeltas. Out: the same. `Calendar.add(t, d)` is
the earliest instant at which `d` of working time has passed since `t`; `between(a, b)` the
working time inside [a, b]. The hours are wall-clock hours in the zone, so across a change
of daylight saving time a working day still starts at 8:00 local time. `ALWAYS` is the
24x7 clock: every second counts. Public holidays come from the `holidays` library.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.timezone.utc
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS = 3 * 366  # how far a clock looks ahead for working time before giving up
SPEC = re.compile(r"""
    \s*(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)   # mon-fri, or mon,wed,fri-sat
    \s+(?P<start>\d{1,2}(?::\d{2})?)                                  # 8 or 08:00
    -(?P<end>\d{1,2}(?::\d{2})?)\s*                                   # 16 or 16:00 (24 is midnight)
""", re.VERBOSE)


class Always:
    """The 24x7 clock."""

    name = "24x7"

    def add(self, when: dt.datetime, duration: dt.timedelta) -> dt.datetime:
        return when + duration

    def between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        return max(b - a, dt.timedelta(0))

    def day_length(self) -> dt.timedelta:
        return dt.timedelta(days=1)


ALWAYS = Always()


@dataclass(frozen=True)
class Calendar:
    """Working hours `start`-`end` on `weekdays` (0 = Monday) in `zone`, except `holidays`."""

    zone: ZoneInfo
    weekdays: frozenset[int]
    start: dt.time
    end: dt.time | None  # None: midnight at the end of the day
    holidays: object = field(default=None, compare=False, hash=False)  # `date in holidays`
    name: str = "business"
    # Each day's window once: a queue page asks for the same few days for every row. Per
    # calendar (two calendars that differ only in their holidays compare equal).
    _windows: dict = field(default_factory=dict, init=False, compare=False, hash=False, repr=False)

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and not (self.holidays is not None and day in self.holidays)  # type: ignore[operator]

    def window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """The day's working hours as naive UTC, or None on a day off."""
        try:
            return self._windows[day]
        except KeyError:
            pass
        if len(self._windows) > 4096:
            self._windows.clear()
        found = self._windows[day] = self._window(day)
        return found

    def _window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        if not self.is_working_day(day):
            return None
        start = dt.datetime.combine(day, self.start, tzinfo=self.zone)
        end = (dt.datetime.combine(day, self.end, tzinfo=self.zone) if self.end is not None else
               dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=self.zone))
        return _utc(start), _utc(end)

    def _local_day(self, when: dt.datetime) -> dt.date:
        return when.replace(tzinfo=UTC).astimezone(self.zone).date()

    def add(self, when: dt.datetime, duration: dt.timedelta) -> dt.datetime:
        remaining = duration
        if remaining <= dt.timedelta(0):
            return when
        day = self._local_day(when)
        for _ in range(MAX_DAYS):
            window = self.window(day)
            if window is not None and window[1] > when:
                begin = max(window[0], when)
                available = window[1] - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
            day += dt.timedelta(days=1)
        raise ValueError("no working time within three years")

    def between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        total = dt.timedelta(0)
        if b <= a:
            return total
        day, last = self._local_day(a), self._local_day(b)
        while day <= last:
            window = self.window(day)
            if window is not None:
                overlap = min(window[1], b) - max(window[0], a)
                if overlap > dt.timedelta(0):
                    total += overlap
            day += dt.timedelta(days=1)
        return total

    def day_length(self) -> dt.timedelta:
        """One working day's length (what `1d` means on this clock)."""
        end = dt.timedelta(hours=24) if self.end is None else dt.timedelta(hours=self.end.hour,
                                                                           minutes=self.end.minute)
        return end - dt.timedelta(hours=self.start.hour, minutes=self.start.minute)


def _utc(local: dt.datetime) -> dt.datetime:
    return local.astimezone(UTC).replace(tzinfo=None)


def _time(text: str) -> dt.time | None:
    hours, _, minutes = text.partition(":")
    h, m = int(hours), int(minutes or 0)
    if h == 24 and m == 0:
        return None
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"not a time of day: {text!r}")
    return dt.time(h, m)


def _weekdays(text: str) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"not a day of the week: {part!r} (use mon, tue, ... sun)")
        a, b = DAYS.index(first), DAYS.index(last or first)
        if b < a:
            raise ValueError(f"a range of days runs forward: {part!r}")
        out.update(range(a, b + 1))
    return frozenset(out)


@functools.lru_cache(maxsize=32)
def calendar_of(spec: str, zone: str, holidays_country: str = "PL") -> Calendar:
    """The calendar of a spec such as "mon-fri 08:00-16:00" in a zone, with the public
    holidays of a country (ISO code; empty for none). ValueError says what is wrong."""
    match = SPEC.fullmatch((spec or "").lower())
    if not match:
        raise ValueError(f"business hours look like 'mon-fri 08:00-16:00', not {spec!r}")
    start, end = _time(match["start"]), _time(match["end"])
    if start is None or (end is not None and end <= start):
        raise ValueError(f"the working day must end after it starts: {spec!r}")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None
    days_off = None
    if holidays_country:
        import holidays

        try:
            days_off = holidays.country_holidays(holidays_country)
        except NotImplementedError:
            raise ValueError(f"no public holidays known for {holidays_country!r}") from None
    return Calendar(zone=tz, weekdays=_weekdays(match["days"]), start=start, end=end, holidays=days_off)
