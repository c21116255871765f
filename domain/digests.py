"""Digests: which period a mail belongs to, and what each scheduled mail says (SPEC D1-D4).

In: rows already read from the database (plain values), `now` (naive UTC, like every
time in the models) and each recipient's time zone. Out: period keys, and the context a
mail template renders (lists of small dicts, times already shown in the reader's zone),
or None when there is nothing to say. Pure: no I/O, no clock; `scheduler.py` reads and
writes.

Periods are the recipient's own: a local calendar day ("2026-03-29") or an ISO week
("2026-W13"), so a day starts at local midnight whatever daylight saving does to UTC.
"""
from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from helpdesk.config import cron_trigger  # noqa: F401 (the schedules' parser lives with the settings)

from . import local_time

DEFAULT_ZONE = "Europe/Warsaw"
SECTION_LIMIT = 50  # tickets listed per section; the rest are counted
REMINDER_DAYS = (30, 7)  # contract expiry reminders, in days before the end
UTC = dt.timezone.utc


# --- time and periods -----------------------------------------------------------------------


def zone(name: str | None) -> ZoneInfo:
    """The zone by name; the default for an empty or unknown name (a typo mails no one late)."""
    return local_time.zone(name)


def local(now: dt.datetime, tz: str | None) -> dt.datetime:
    """A naive UTC time as wall-clock time in the zone."""
    return local_time.local(now, tz)


def day_key(now: dt.datetime, tz: str | None) -> str:
    return local(now, tz).date().isoformat()


def week_key(now: dt.datetime, tz: str | None) -> str:
    year, week, _ = local(now, tz).isocalendar()
    return f"{year}-W{week:02d}"


def shown(when: dt.datetime | None, tz: str | None) -> str:
    """How a time reads in a mail: local wall-clock time, to the minute, the zone named."""
    return local_time.shown(when, tz, named=True)


def period_start(kind: str, now_local: dt.datetime) -> dt.datetime:
    """The start (local midnight) of the day or ISO week that `now_local` is in."""
    midnight = dt.datetime.combine(now_local.date(), dt.time(), tzinfo=now_local.tzinfo)
    if kind == "week":
        midnight -= dt.timedelta(days=now_local.weekday())
    return midnight


def missed_this_period(trigger, kind: str | None, now_local: dt.datetime) -> bool:
    """Whether a job starting now should run at once: its schedule has already come round
    in the current period (it was down then, or a run was cut short), so this period's
    mail is sent once now rather than skipped; a job without a period always runs."""
    if kind is None:
        return True
    first = trigger.get_next_fire_time(None, period_start(kind, now_local))
    return first is not None and first <= now_local


def _limited(rows: list[dict], total: int) -> dict:
    return {"rows": rows[:SECTION_LIMIT], "total": total, "more": max(0, total - len(rows[:SECTION_LIMIT]))}


# --- D1: engineers ----------------------------------------------------------------------


@dataclass(frozen=True)
class OpenTicket:
    id: int
    subject: str
    status: str
    assignee_id: int | None
    requester_email: str
    created_at: dt.datetime
    updated_at: dt.datetime
    unanswered_since: dt.datetime | None = None  # the last public message is this customer one


@dataclass
class Queue:
    """The open tickets sorted once into the digest's sections, for every engineer to share."""

    no_answer: list[OpenTicket] = field(default_factory=list)  # unassigned, or by assignee below
    no_answer_of: dict[int, list[OpenTicket]] = field(default_factory=lambda: defaultdict(list))
    new: list[OpenTicket] = field(default_factory=list)
    unassigned: list[OpenTicket] = field(default_factory=list)
    waiting_of: dict[int, list[OpenTicket]] = field(default_factory=lambda: defaultdict(list))
    shown: dict[str, dict] = field(default_factory=dict)  # the shared sections, by zone


def queue_of(tickets: list[OpenTicket], *, now: dt.datetime, no_answer: dt.timedelta) -> Queue:
    """Each ticket in its first section: no answer for too long (to its assignee, or to all
    when unassigned), new, unassigned, waiting (to its assignee); oldest first."""
    q = Queue()
    for t in sorted(tickets, key=lambda t: (t.unanswered_since or t.updated_at, t.id)):
        if t.unanswered_since is not None and now - t.unanswered_since > no_answer:
            (q.no_answer_of[t.assignee_id] if t.assignee_id else q.no_answer).append(t)
        elif t.status == "new":
            q.new.append(t)
        elif t.assignee_id is None:
            q.unassigned.append(t)
        elif t.status in ("waiting_us", "waiting_customer"):
            q.waiting_of[t.assignee_id].append(t)
    return q


def _ticket_item(t: OpenTicket, tz: str, since: dt.datetime) -> dict:
    return {"id": t.id, "subject": t.subject[:200], "status": t.status, "requester": t.requester_email,
            "since": shown(since, tz)}


def _section(tickets: Iterable[OpenTicket], total: int, tz: str, since: Callable[[OpenTicket], dt.datetime]) -> dict:
    """The first SECTION_LIMIT tickets, shown in the zone, and how many there are in all."""
    rows = [_ticket_item(t, tz, since(t)) for t in itertools.islice(tickets, SECTION_LIMIT)]
    return {"rows": rows, "total": total, "more": max(0, total - len(rows))}


def engineer_digest(queue: Queue, engineer_id: int, tz: str) -> dict | None:
    """The context of one engineer's daily digest; None when the queue has nothing for them.
    Cheap per engineer: the shared sections are shown once per zone."""
    own_late, waiting = queue.no_answer_of.get(engineer_id, []), queue.waiting_of.get(engineer_id, [])
    if not (queue.no_answer or own_late or queue.new or queue.unassigned or waiting):
        return None
    shared = queue.shown.get(tz)
    if shared is None:
        shared = queue.shown[tz] = {
            "new": _section(queue.new, len(queue.new), tz, lambda t: t.created_at),
            "unassigned": _section(queue.unassigned, len(queue.unassigned), tz, lambda t: t.updated_at),
        }
    late = heapq.merge(queue.no_answer, own_late, key=lambda t: (t.unanswered_since, t.id))
    return {"no_answer": _section(late, len(queue.no_answer) + len(own_late), tz, lambda t: t.unanswered_since),  # type: ignore[arg-type, return-value]
            **shared, "waiting": _section(waiting, len(waiting), tz, lambda t: t.updated_at)}


EMPTY_SECTION = {"rows": [], "total": 0, "more": 0}
EMPTY_ENGINEER_DIGEST = {name: EMPTY_SECTION for name in ("no_answer", "new", "unassigned", "waiting")}
EMPTY_SLA_SECTIONS = {"sla_breached": EMPTY_SECTION, "sla_due_today": EMPTY_SECTION}


@dataclass(frozen=True)
class Deadline:
    """An open ticket's next service-level deadline (its running clock's)."""

    id: int
    subject: str
    status: str
    assignee_id: int | None
    requester_email: str
    due: dt.datetime


def sla_sections(deadlines: list[Deadline], engineer_id: int, tz: str, now: dt.datetime) -> dict | None:
    """The engineer's (or unassigned) tickets past their deadline, and those due before the end
    of the engineer's day; None when there are none."""
    end_of_day = dt.datetime.combine(local(now, tz).date() + dt.timedelta(days=1), dt.time(0), tzinfo=zone(tz))
    end = end_of_day.astimezone(UTC).replace(tzinfo=None)
    theirs = [d for d in deadlines if d.assignee_id in (None, engineer_id)]
    breached = [d for d in theirs if d.due <= now]
    today = [d for d in theirs if now < d.due < end]
    if not (breached or today):
        return None

    def section(items):
        rows = [{"id": d.id, "subject": d.subject[:200], "status": d.status, "requester": d.requester_email,
                 "since": shown(d.due, tz)} for d in items[:SECTION_LIMIT]]
        return {"rows": rows, "total": len(items), "more": max(0, len(items) - len(rows))}

    return {"sla_breached": section(breached), "sla_due_today": section(today)}


# --- D2: customers ----------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerTicket:
    id: int
    subject: str
    status: str
    updated_at: dt.datetime
    changes: tuple[tuple[str, dt.datetime], ...] = ()  # (new status, when) within the week
    staff_messages: int = 0  # public answers from us within the week


def customer_digest(tickets: list[CustomerTicket], tz: str) -> dict | None:
    """A customer's weekly digest: open tickets, and what changed on any of their tickets
    this week (closed ones included); None when nothing is open and nothing changed."""
    open_ = [t for t in tickets if t.status != "closed"]
    changed = [t for t in tickets if t.changes or t.staff_messages]
    if not open_ and not changed:
        return None

    def item(t: CustomerTicket) -> dict:
        return {"id": t.id, "subject": t.subject[:200], "status": t.status, "updated": shown(t.updated_at, tz),
                "changes": [{"status": s, "when": shown(w, tz)} for s, w in t.changes],
                "staff_messages": t.staff_messages}

    def newest_first(some: list[CustomerTicket]) -> list[CustomerTicket]:
        return sorted(some, key=lambda t: (t.updated_at, t.id), reverse=True)

    closed = [t for t in changed if t.status == "closed"]
    return {"open": _limited([item(t) for t in newest_first(open_)[:SECTION_LIMIT]], len(open_)),
            "closed": _limited([item(t) for t in newest_first(closed)[:SECTION_LIMIT]], len(closed)),
            "changed": len(changed)}


# --- D3: contract expiry ------------------------------------------------------------------


def reminder_due(ends_on: dt.date, today: dt.date) -> int | None:
    """Which reminder (30 or 7 days before) a contract is in for today, or None: the
    7-day one from a week before the end through the last day, the 30-day one before
    that. A reminder missed while the system was down is sent late, never a stale one
    (a contract found 5 days before its end gets the 7-day reminder only)."""
    left = (ends_on - today).days
    if left < 0:
        return None
    for days in sorted(REMINDER_DAYS):
        if left <= days:
            return days
    return None


def reminder_key(contract_id: int, ends_on: dt.date, days: int) -> str:
    """One reminder per contract, end date (an extended contract is reminded again) and step."""
    return f"c{contract_id}:{ends_on:%Y%m%d}:{days}d"


# --- D4: admins -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mailbox:
    id: int
    name: str
    last_fetch_at: dt.datetime | None
    last_message_at: dt.datetime | None
    last_error: str


def stalled(box: Mailbox, now: dt.datetime, threshold: dt.timedelta) -> bool:
    """No successful fetch for longer than the threshold (a mailbox never fetched yet is
    not stalled: it shows in the digest with its error instead)."""
    return box.last_fetch_at is not None and now - box.last_fetch_at > threshold


def stall_key(box: Mailbox) -> str:
    """One alert per stall: named by the mailbox and its last good fetch, which moves on
    (making the next stall a new one) as soon as fetching works again."""
    return f"m{box.id}:{box.last_fetch_at:%Y%m%dT%H%M%S}"


def recovered(key: str, boxes: dict[int, Mailbox]) -> bool:
    """Whether the stall named by `key` is over: its mailbox has fetched since (or is gone)."""
    box = boxes.get(int(key.split(":", 1)[0][1:]))
    return box is None or box.last_fetch_at is None or stall_key(box) != key


def admin_digest(pending: dict[str, tuple[list[dict], int]], boxes: list[Mailbox], *, now: dt.datetime,
                 threshold: dt.timedelta, tz: str) -> dict | None:
    """`pending`: section -> (its newest items, each with an `at` time; how many in all).
    None when nothing waits for an admin and every mailbox is well."""
    health = [{"name": b.name, "last_fetch": shown(b.last_fetch_at, tz) or "-",
               "last_message": shown(b.last_message_at, tz) or "-", "error": b.last_error[:300],
               "stalled": stalled(b, now, threshold)} for b in boxes]
    if not any(total for _, total in pending.values()) and not any(b["stalled"] or b["error"] for b in health):
        return None
    out: dict = {name: {"rows": [{**i, "at": shown(i["at"], tz)} for i in items], "total": total,
                        "more": max(0, total - len(items))} for name, (items, total) in pending.items()}
    out["mailboxes"] = health
    return out
