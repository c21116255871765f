"""Service-level deadlines (pure): from a policy, a clock and a ticket's history to its clocks.

In: a `Policy` (first response and resolution durations, business hours or 24x7), a clock
(`business_hours.Calendar` or `ALWAYS`), when the ticket was opened, and the spans during
which its clocks stood still (waiting for the customer, closed). Out: `Clocks`, the four
instants a ticket stores (each deadline and its 80% warning point) and since when the
clocks stand still; and, for pages and JSON, the state of each clock at a given time.
Every time is naive UTC. Nothing here reads the database.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Iterable

from .business_hours import ALWAYS

PAUSED = frozenset({"waiting_customer", "closed"})  # statuses in which no clock runs
WARN_SHARE = 0.8  # the escalation before the breach, as a share of the deadline's working time
HOURS = ("business", "24x7")
MAX_MINUTES = 366 * 24 * 60
DURATION = re.compile(r"""
    \s*(?:(?P<d>\d{1,4})\s*d)?      # days (working days on business hours)
    \s*(?:(?P<h>\d{1,5})\s*h)?      # hours
    \s*(?:(?P<m>\d{1,6})\s*m)?\s*   # minutes
""", re.VERBOSE | re.IGNORECASE)


@dataclass(frozen=True)
class Policy:
    name: str
    first_response: dt.timedelta
    resolution: dt.timedelta
    hours: str = "business"  # business | 24x7


@dataclass(frozen=True)
class Clocks:
    """What a ticket stores: its deadlines, their warning points, and since when it is paused."""

    first_response_due: dt.datetime | None = None
    first_response_warn: dt.datetime | None = None
    resolution_due: dt.datetime | None = None
    resolution_warn: dt.datetime | None = None
    paused_at: dt.datetime | None = None


NONE = Clocks()


def parse_duration(text: str, day: dt.timedelta = dt.timedelta(days=1)) -> dt.timedelta:
    """"4h", "2d", "30m", "1d4h": a positive duration; a day is `day` long (a working day on
    business hours). ValueError when it is not one."""
    match = DURATION.fullmatch(text or "")
    if not match or not any(match.groupdict().values()):
        raise ValueError(f"a duration looks like 30m, 4h, 2d or 1d4h, not {text!r}")
    value = (int(match["d"] or 0) * day + dt.timedelta(hours=int(match["h"] or 0))
             + dt.timedelta(minutes=int(match["m"] or 0)))
    if value <= dt.timedelta(0) or value > dt.timedelta(minutes=MAX_MINUTES):
        raise ValueError(f"a duration between one minute and a year, not {text!r}")
    return value


def shown_duration(value: dt.timedelta) -> str:
    """A duration as "1d 2h 5m" (days of 24 hours), for lists and the CLI."""
    minutes = int(abs(value).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{minutes}m"] * bool(minutes or not
                                                                                                 (days or hours))
    return ("-" if value < dt.timedelta(0) else "") + " ".join(parts)


def pauses_of(created_at: dt.datetime, changes: Iterable[tuple[dt.datetime, str]]) -> list[tuple]:
    """The spans (start, end or None while it lasts) in which the ticket's status was one of
    PAUSED, from its status changes (time, new status) in order."""
    spans: list[tuple] = []
    since = None
    for at, status in changes:
        at = max(at, created_at)
        if status in PAUSED and since is None:
            since = at
        elif status not in PAUSED and since is not None:
            spans.append((since, at))
            since = None
    if since is not None:
        spans.append((since, None))
    return spans


def due_at(clock, start: dt.datetime, duration: dt.timedelta, pauses: list[tuple]) -> dt.datetime:
    """When `duration` of the clock's time has passed since `start`, the ended pauses not
    counting. A deadline that falls before a pause is not moved by it."""
    cursor, remaining = start, duration
    for begin, end in sorted(pauses):
        if end <= cursor:
            continue
        if begin > cursor:
            due = clock.add(cursor, remaining)
            if due <= begin:
                return due
            remaining -= clock.between(cursor, begin)
        cursor = max(cursor, end)
    return clock.add(cursor, remaining)


def clocks(policy: Policy | None, calendar, created_at: dt.datetime, pauses: list[tuple]) -> Clocks:
    """A ticket's clocks under a policy (NONE without one). A pause still lasting leaves the
    deadlines where they were when it began, and sets `paused_at`."""
    if policy is None:
        return NONE
    clock = calendar if policy.hours == "business" else ALWAYS
    ended = [(a, b) for a, b in pauses if b is not None]
    paused_at = next((a for a, b in pauses if b is None), None)

    def at(duration):
        return due_at(clock, created_at, duration, ended)

    return Clocks(
        first_response_due=at(policy.first_response), first_response_warn=at(policy.first_response * WARN_SHARE),
        resolution_due=at(policy.resolution), resolution_warn=at(policy.resolution * WARN_SHARE),
        paused_at=paused_at)


def shifted(clock, when: dt.datetime | None, paused_at: dt.datetime, resumed_at: dt.datetime) -> dt.datetime | None:
    """A deadline after a pause from `paused_at` to `resumed_at`: what was left of it at the
    pause is left after it (one already passed stays where it was). Same result as `clocks`
    over the whole history."""
    if when is None or when <= paused_at:
        return when
    return clock.add(resumed_at, clock.between(paused_at, when))


def next_due(first_response_due, first_response_at, resolution_due, paused_at, status: str):
    """The next deadline of a running clock (None when the clocks stand still)."""
    if paused_at is not None or status in PAUSED:
        return None
    candidates = [d for d in (resolution_due, None if first_response_at else first_response_due) if d]
    return min(candidates) if candidates else None


@dataclass(frozen=True)
class ClockState:
    due: dt.datetime | None
    done_at: dt.datetime | None  # answered (first response) or closed (resolution)
    breached: bool
    left: dt.timedelta | None  # working time left (negative: overdue by this, in wall-clock time)
    paused: bool

    @property
    def running(self) -> bool:
        return self.due is not None and self.done_at is None and not self.paused


def state(clock, due: dt.datetime | None, done_at: dt.datetime | None, paused_at: dt.datetime | None,
          now: dt.datetime) -> ClockState:
    """One clock at `now`: met or breached once done; while paused, what was left at the pause."""
    if due is None:
        return ClockState(None, done_at, False, None, False)
    if done_at is not None:
        return ClockState(due, done_at, done_at > due, None, False)
    at = paused_at or now
    if at >= due:
        return ClockState(due, None, True, -(at - due), paused_at is not None)
    return ClockState(due, None, False, clock.between(at, due), paused_at is not None)
