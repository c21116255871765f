"""SLA deadlines as pure functions, against a table of cases (times in Europe/Warsaw)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from helpdesk.domain import sla
from helpdesk.domain.business_hours import ALWAYS, calendar_of

WARSAW = ZoneInfo("Europe/Warsaw")
CAL = calendar_of("mon-fri 08:00-16:00", "Europe/Warsaw", "PL")
H = dt.timedelta(hours=1)


def utc(text: str) -> dt.datetime:
    """A Warsaw wall-clock time as the naive UTC the database keeps."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=WARSAW).astimezone(dt.timezone.utc).replace(tzinfo=None)


def policy(first="4h", resolution="2d", hours="business"):
    clock = CAL if hours == "business" else ALWAYS
    return sla.Policy("Gold", sla.parse_duration(first, clock.day_length()),
                      sla.parse_duration(resolution, clock.day_length()), hours)


CASES = [
    # (why, opened, duration, hours, pauses, due)
    ("Friday 15:00 with 4 business hours is Monday 11:00",
     "2026-11-20 15:00", "4h", "business", [], "2026-11-23 11:00"),
    ("opened on a Polish public holiday (11 November): the clock starts the next working morning",
     "2026-11-11 10:00", "4h", "business", [], "2026-11-12 12:00"),
    ("opened before hours: the clock starts at 8:00",
     "2026-11-24 06:30", "4h", "business", [], "2026-11-24 12:00"),
    ("Christmas Eve, Christmas, the weekend: Wednesday 23 December 15:00 + 2h is Monday 28th 9:00",
     "2026-12-23 15:00", "2h", "business", [], "2026-12-28 09:00"),
    ("waiting for the customer stops the clock (Monday 10:00-Tuesday 10:00 costs nothing)",
     "2026-11-23 09:00", "4h", "business", [("2026-11-23 10:00", "2026-11-24 10:00")], "2026-11-24 13:00"),
    ("a pause after the deadline does not move it",
     "2026-11-23 09:00", "1h", "business", [("2026-11-23 12:00", "2026-11-24 10:00")], "2026-11-23 10:00"),
    ("two pauses", "2026-11-23 08:00", "3h", "business",
     [("2026-11-23 09:00", "2026-11-23 10:00"), ("2026-11-23 11:00", "2026-11-23 15:00")], "2026-11-23 16:00"),
    ("spring DST change (29 March 2026): Friday 15:00 + 4h is Monday 11:00 local, summer time",
     "2026-03-27 15:00", "4h", "business", [], "2026-03-30 11:00"),
    ("autumn DST change (25 October 2026): Friday 15:00 + 4h is Monday 11:00 local, winter time",
     "2026-10-23 15:00", "4h", "business", [], "2026-10-26 11:00"),
    ("24x7 across the spring DST change: 24 hours later is 13:00 local (a 23-hour day)",
     "2026-03-28 12:00", "24h", "24x7", [], "2026-03-29 13:00"),
    ("24x7 across the autumn DST change: 24 hours later is 11:00 local (a 25-hour day)",
     "2026-10-24 12:00", "24h", "24x7", [], "2026-10-25 11:00"),
    ("24x7 ignores weekends and holidays", "2026-11-10 20:00", "4h", "24x7", [], "2026-11-11 00:00"),
    ("24x7 stops while waiting for the customer too",
     "2026-11-10 20:00", "4h", "24x7", [("2026-11-10 21:00", "2026-11-11 09:00")], "2026-11-11 12:00"),
    ("a business day is 8 working hours: 2d from Thursday 12:00 is Monday 12:00",
     "2026-11-19 12:00", "2d", "business", [], "2026-11-23 12:00"),
]


@pytest.mark.parametrize("why, opened, duration, hours, pauses, due", CASES, ids=[c[0][:60] for c in CASES])
def test_deadlines(why, opened, duration, hours, pauses, due):
    clock = CAL if hours == "business" else ALWAYS
    spans = [(utc(a), utc(b)) for a, b in pauses]
    got = sla.due_at(clock, utc(opened), sla.parse_duration(duration, clock.day_length()), spans)
    assert got == utc(due), why


def test_the_clocks_of_a_ticket_and_their_warning_points():
    got = sla.clocks(policy("4h", "2d"), CAL, utc("2026-11-20 15:00"), [])
    assert got.first_response_due == utc("2026-11-23 11:00")
    assert got.first_response_warn == utc("2026-11-23 10:12")  # 80% of 4 h: 3 h 12 min of working time
    assert got.resolution_due == utc("2026-11-24 15:00")
    assert got.paused_at is None
    assert sla.clocks(None, CAL, utc("2026-11-20 15:00"), []) == sla.NONE


def test_the_clock_stands_still_while_waiting_and_resuming_gives_the_same_as_recomputing():
    opened = utc("2026-11-23 09:00")
    history = [(utc("2026-11-23 10:00"), "waiting_customer"), (utc("2026-11-24 10:00"), "waiting_us")]
    pauses = sla.pauses_of(opened, history)
    assert pauses == [(utc("2026-11-23 10:00"), utc("2026-11-24 10:00"))]
    whole = sla.clocks(policy("4h", "1d"), CAL, opened, pauses)
    waiting = sla.clocks(policy("4h", "1d"), CAL, opened, sla.pauses_of(opened, history[:1]))
    assert waiting.paused_at == utc("2026-11-23 10:00")
    assert waiting.resolution_due == utc("2026-11-24 09:00")  # as before the pause
    # resuming shifts each deadline by the working time that was left at the pause
    for name in ("first_response_due", "first_response_warn", "resolution_due", "resolution_warn"):
        assert sla.shifted(CAL, getattr(waiting, name), waiting.paused_at, utc("2026-11-24 10:00")) == getattr(
            whole, name), name
    assert whole.first_response_due == utc("2026-11-24 13:00")
    assert whole.resolution_due == utc("2026-11-25 09:00")
    # while paused, what was left at the pause is shown; no clock is breached by waiting
    state = sla.state(CAL, waiting.first_response_due, None, waiting.paused_at, utc("2026-12-01 12:00"))
    assert state.paused and not state.breached and state.left == 3 * H


def test_a_change_of_contract_gives_the_new_policy_s_deadlines_from_the_opening():
    opened = utc("2026-11-20 15:00")
    standard = sla.clocks(policy("8h", "5d"), CAL, opened, [])
    gold = sla.clocks(policy("1h", "4h", hours="24x7"), CAL, opened, [])
    assert standard.first_response_due == utc("2026-11-23 15:00")
    assert gold.first_response_due == utc("2026-11-20 16:00")
    assert gold.resolution_due == utc("2026-11-20 19:00")


def test_breached_met_and_time_left():
    due = utc("2026-11-23 11:00")
    assert sla.state(CAL, due, utc("2026-11-23 10:00"), None, utc("2026-11-30 10:00")).breached is False
    assert sla.state(CAL, due, utc("2026-11-23 12:00"), None, utc("2026-11-30 10:00")).breached is True
    running = sla.state(CAL, due, None, None, utc("2026-11-20 15:30"))
    assert not running.breached and running.left == 3 * H + dt.timedelta(minutes=30)
    late = sla.state(CAL, due, None, None, utc("2026-11-23 13:00"))
    assert late.breached and late.left == -2 * H


@pytest.mark.parametrize("text, minutes", [("30m", 30), ("4h", 240), ("2d", 960), ("1d4h", 720), ("1h 30m", 90)])
def test_durations(text, minutes):
    assert sla.parse_duration(text, CAL.day_length()) == dt.timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "4", "0m", "h", "-4h", "4x", "99999d"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        sla.parse_duration(text)


@pytest.mark.parametrize("spec", ["", "mon-fri", "mon-fri 16:00-08:00", "xyz 8-16", "fri-mon 8-16", "mon-fri 8-25"])
def test_bad_business_hours(spec):
    with pytest.raises(ValueError):
        calendar_of(spec, "Europe/Warsaw", "PL")


def test_other_business_hours_and_no_holidays():
    cal = calendar_of("mon-sat 9-17", "Europe/Warsaw", "")
    assert sla.due_at(cal, utc("2026-11-11 16:00"), 2 * H, []) == utc("2026-11-12 10:00")  # no holiday
    assert sla.due_at(cal, utc("2026-11-21 16:00"), 2 * H, []) == utc("2026-11-23 10:00")  # Saturday works


def test_each_calendar_keeps_its_own_days_windows_holidays_included():
    """Windows are kept per calendar once worked out: a calendar without holidays compares
    equal to one with them, and must still count 11 November (a Polish holiday)."""
    plain = calendar_of("mon-fri 08:00-16:00", "Europe/Warsaw", "")
    day = dt.date(2026, 11, 11)  # a Wednesday
    for _ in range(2):  # worked out, then remembered, in either order
        assert CAL.window(day) is None
        assert plain.window(day) == (dt.datetime(2026, 11, 11, 7, 0), dt.datetime(2026, 11, 11, 15, 0))
        assert CAL.between(dt.datetime(2026, 11, 10, 6), dt.datetime(2026, 11, 12, 16)) == dt.timedelta(hours=16)
        assert plain.between(dt.datetime(2026, 11, 10, 6), dt.datetime(2026, 11, 12, 16)) == dt.timedelta(hours=24)
