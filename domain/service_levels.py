"""Service levels in the database: the policies, and keeping each ticket's clocks current.

A ticket's policy is the one its contract's `service_level` names, else the default
(HELPDESK_SLA_DEFAULT), else none. Its clocks are set when it opens (`start`), move when its
status enters or leaves waiting-for-the-customer or closed (`status_changed`, called by
`tickets.set_status`), stop for the first response at the first public answer
(`responded`), and are computed again from the whole status history when the contract,
the contract's level or the policy changes (`refresh`). Callers hold the transaction.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from peewee import JOIN, Case

from helpdesk.models import Contract, Message, SlaPolicy, StatusChange, Ticket, db, utcnow

from . import rollups, sla
from .business_hours import ALWAYS, Calendar, calendar_of
from .inserts import update_row
from .prepared import prepared
from .validation import N_, Invalid

CHUNK = 500


@dataclass(frozen=True)
class Settings:
    """What the configuration says about service levels."""

    default: str  # the policy of tickets without a contract ("" for none)
    calendar: Calendar


@functools.lru_cache(maxsize=16)
def _settings(default: str, hours: str, zone: str, holidays: str) -> Settings:
    return Settings(default, calendar_of(hours, zone, holidays))


def settings_of(config) -> Settings:
    return _settings(config.sla_default, config.sla_business_hours, config.timezone, config.sla_holidays)


def policy_of(row: SlaPolicy | None) -> sla.Policy | None:
    if row is None:
        return None
    return sla.Policy(row.name, dt.timedelta(minutes=row.first_response_minutes),
                      dt.timedelta(minutes=row.resolution_minutes), row.hours)


def policies() -> list[SlaPolicy]:
    return list(SlaPolicy.select().order_by(SlaPolicy.name))


def clock_of(policy: sla.Policy | None, settings: Settings):
    return settings.calendar if policy is None or policy.hours == "business" else ALWAYS


def set_policy(settings: Settings, name: str, first_response: str, resolution: str, hours: str = "business", *,
               now: dt.datetime | None = None) -> tuple[SlaPolicy, int]:
    """Create or change a policy (durations like "4h", "2d"; a day of business hours is a working
    day); the open tickets under it get their clocks again. Returns it and how many tickets."""
    now = now or utcnow()
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise Invalid(N_("A service level needs a name of at most 100 characters."))
    if hours not in sla.HOURS:
        raise Invalid(N_("Hours are business or 24x7."))
    day = settings.calendar.day_length() if hours == "business" else ALWAYS.day_length()
    try:
        first, whole = sla.parse_duration(first_response, day), sla.parse_duration(resolution, day)
    except ValueError:
        raise Invalid(N_("A duration looks like 30m, 4h, 2d or 1d4h.")) from None
    values = {"first_response_minutes": int(first.total_seconds() // 60),
              "resolution_minutes": int(whole.total_seconds() // 60), "hours": hours, "updated_at": now}
    with db.atomic():
        SlaPolicy.insert(name=name, **values).on_conflict(conflict_target=[SlaPolicy.name],
                                                          update=values).execute()
        row = SlaPolicy.get(SlaPolicy.name == name)
        under = Ticket.select(Ticket.id).join(Contract, on=(Ticket.contract == Contract.id), join_type=JOIN.LEFT_OUTER)
        condition = (Ticket.sla_policy == name) | (Contract.service_level == name)
        if name == settings.default:
            condition |= Ticket.sla_policy.is_null()
        ids = [t.id for t in under.where(condition, Ticket.status != "closed")]
        refresh(settings, ids)
    return row, len(ids)


def delete_policy(settings: Settings, name: str) -> int:
    """Remove a policy; its open tickets fall back to the default (or to none)."""
    with db.atomic():
        if not SlaPolicy.delete().where(SlaPolicy.name == name).execute():
            raise Invalid(N_("There is no such service level."))
        ids = [t.id for t in Ticket.select(Ticket.id).where(Ticket.sla_policy == name, Ticket.status != "closed")]
        refresh(settings, ids)
    return len(ids)


def _policy_for(level: str | None, settings: Settings, known: dict[str, sla.Policy | None]) -> sla.Policy | None:
    for name in (level or "", settings.default):
        if not name:
            continue
        if name not in known:
            known[name] = policy_of(SlaPolicy.get_or_none(SlaPolicy.name == name))
        if known[name] is not None:
            return known[name]
    return None


def _values(clocks: sla.Clocks, policy: sla.Policy | None, first_response_at, status: str) -> dict:
    return {
        "sla_policy": policy.name if policy else None,
        "first_response_due": clocks.first_response_due, "first_response_warn": clocks.first_response_warn,
        "resolution_due": clocks.resolution_due, "resolution_warn": clocks.resolution_warn,
        "sla_paused_at": clocks.paused_at,
        "sla_next_due": sla.next_due(clocks.first_response_due, first_response_at, clocks.resolution_due,
                                     clocks.paused_at, status),
    }


def start(settings: Settings | None, ticket: Ticket, *, contract: Contract | None = None) -> None:
    """A new ticket's clocks, from when it was opened."""
    if settings is None:
        return
    policy = _policy_for(contract.service_level if contract is not None else None, settings, {})
    if policy is None:
        return
    clocks = sla.clocks(policy, clock_of(policy, settings), ticket.created_at, [])
    values = _values(clocks, policy, None, ticket.status)
    update_row(Ticket, ticket.id, **values)  # with each new ticket: its SQL built once
    for name, value in values.items():
        setattr(ticket, name, value)


def refresh(settings: Settings, ticket_ids: list[int]) -> None:
    """Compute the tickets' clocks again from their opening and whole status history (a change
    of contract, of the contract's level, or of the policy)."""
    known: dict[str, sla.Policy | None] = {}
    for i in range(0, len(ticket_ids), CHUNK):
        chunk = ticket_ids[i:i + CHUNK]
        history: dict[int, list] = {}
        for ticket_id, at, status in (StatusChange.select(StatusChange.ticket, StatusChange.changed_at,
                                                          StatusChange.new_status)
                                      .where(StatusChange.ticket.in_(chunk))
                                      .order_by(StatusChange.changed_at, StatusChange.id).tuples()):
            history.setdefault(ticket_id, []).append((at, status))
        rows = (Ticket.select(Ticket.id, Ticket.created_at, Ticket.status, Ticket.first_response_at,
                              Contract.service_level)
                .join(Contract, on=(Ticket.contract == Contract.id), join_type=JOIN.LEFT_OUTER)
                .where(Ticket.id.in_(chunk)).tuples())
        for ticket_id, created_at, status, first_response_at, level in rows:
            policy = _policy_for(level, settings, known)
            clocks = sla.clocks(policy, clock_of(policy, settings), created_at,
                                sla.pauses_of(created_at, history.get(ticket_id, [])))
            Ticket.update(**_values(clocks, policy, first_response_at, status)).where(Ticket.id == ticket_id).execute()


def refresh_contracts(settings: Settings, contract_ids: list[int]) -> int:
    """The open tickets of these contracts get their clocks again (their level changed)."""
    ids = [t.id for t in Ticket.select(Ticket.id).where(Ticket.contract.in_(contract_ids),
                                                        Ticket.status != "closed")] if contract_ids else []
    refresh(settings, ids)
    return len(ids)


def set_contract(settings: Settings, ticket_id: int, contract: Contract | None) -> None:
    """Put a ticket under another contract (or none); its clocks follow the new level, and
    its time spent the new contract in the reports' sums."""
    with db.atomic():
        rollups.minutes_moved(Message.ticket == ticket_id, Ticket.select(Ticket.contract).where(
            Ticket.id == ticket_id).scalar(), contract.id if contract else None)
        Ticket.update(contract=contract, company=contract.company_id if contract else Ticket.company).where(
            Ticket.id == ticket_id).execute()
        refresh(settings, [ticket_id])


def status_changed(ticket_id: int, old: str | None, new: str, now: dt.datetime,
                   calendar: Calendar | None) -> None:
    """Entering waiting-for-the-customer or closed stops the clocks; leaving it moves each
    deadline on by the time it stood still (working time, on business hours)."""
    was, stops = old in sla.PAUSED, new in sla.PAUSED
    if stops and not was:
        Ticket.update(sla_paused_at=now, sla_next_due=None).where(
            Ticket.id == ticket_id, Ticket.sla_policy.is_null(False), Ticket.sla_paused_at.is_null()).execute()
        return
    if was and not stops:
        row = (Ticket.select(Ticket.id, Ticket.sla_policy, Ticket.sla_paused_at, Ticket.first_response_due,
                             Ticket.first_response_warn, Ticket.first_response_at, Ticket.resolution_due,
                             Ticket.resolution_warn, SlaPolicy.hours)
               .join(SlaPolicy, on=(Ticket.sla_policy == SlaPolicy.name), join_type=JOIN.LEFT_OUTER)
               .where(Ticket.id == ticket_id).dicts().get_or_none())
        if row is None or row["sla_policy"] is None or row["sla_paused_at"] is None:
            return
        calendar = calendar or calendar_of("mon-fri 08:00-16:00", "Europe/Warsaw", "PL")
        clock = ALWAYS if row["hours"] == "24x7" else calendar
        paused_at = row["sla_paused_at"]
        moved = {name: sla.shifted(clock, row[name], paused_at, now) for name in (
            "first_response_due", "first_response_warn", "resolution_due", "resolution_warn")}
        moved["sla_paused_at"] = None
        moved["sla_next_due"] = sla.next_due(moved["first_response_due"], row["first_response_at"],
                                             moved["resolution_due"], None, new)
        Ticket.update(**moved).where(Ticket.id == ticket_id).execute()


def responded(ticket_id: int, now: dt.datetime) -> None:
    """The first public answer: the first-response clock stops (once)."""
    running = Ticket.sla_paused_at.is_null() & Ticket.resolution_due.is_null(False)
    Ticket.update(first_response_at=now, sla_next_due=Case(None, [(running, Ticket.resolution_due)], None)).where(
        Ticket.id == ticket_id, Ticket.first_response_at.is_null()).execute()


# --- reading ----------------------------------------------------------------------------------------


def clock_states(ticket: Ticket, settings: Settings, now: dt.datetime, hours: str | None = None):
    """(first response, resolution) as `sla.ClockState`s, or None without a policy."""
    if not ticket.sla_policy:
        return None
    if hours is None:
        hours = _hours_of.scalar(ticket.sla_policy) or "business"
    clock = ALWAYS if hours == "24x7" else settings.calendar
    return (sla.state(clock, ticket.first_response_due, ticket.first_response_at, ticket.sla_paused_at, now),
            sla.state(clock, ticket.resolution_due, ticket.closed_at, ticket.sla_paused_at, now))


def _iso(when: dt.datetime | None, zone) -> str | None:
    return when.replace(tzinfo=dt.timezone.utc).astimezone(zone).isoformat() if when else None


def sla_json(ticket: Ticket, settings: Settings, now: dt.datetime) -> dict:
    """The `sla` object of `helpdesk ticket show --json`: times ISO 8601 with the zone's offset."""
    states = clock_states(ticket, settings, now)
    zone = settings.calendar.zone
    first, whole = states or (None, None)
    return {
        "policy": ticket.sla_policy,
        "first_response_due": _iso(ticket.first_response_due, zone),
        "resolution_due": _iso(ticket.resolution_due, zone),
        "first_response_at": _iso(ticket.first_response_at, zone),
        "first_response_breached": bool(first and first.breached),
        "resolution_breached": bool(whole and whole.breached),
        "paused_since": _iso(ticket.sla_paused_at, zone),
    }


@prepared
def _hours_of(name: str):
    return SlaPolicy.select(SlaPolicy.hours).where(SlaPolicy.name == name).limit(1)


@prepared
def _policy_hours():
    return SlaPolicy.select(SlaPolicy.name, SlaPolicy.hours).tuples()


def with_time_left(rows: list[dict], settings: Settings, now: dt.datetime) -> list[dict]:
    """Queue rows (with the ticket's clock columns) plus `sla_left` (a duration, "-" when
    overdue), `sla_breached` and `sla_paused`, from the next deadline of each."""
    hours = dict(_policy_hours()) if rows else {}
    for row in rows:
        row.update(sla_left=None, sla_breached=False, sla_paused=False)
        if not row.get("sla_policy") or row.get("status") == "closed":
            continue
        clock = ALWAYS if hours.get(row["sla_policy"]) == "24x7" else settings.calendar
        due = sla.next_due(row["first_response_due"], row["first_response_at"], row["resolution_due"], None, "")
        state = sla.state(clock, due, None, row["sla_paused_at"], now)
        row.update(sla_left=sla.shown_duration(state.left) if state.left is not None else None,
                   sla_breached=state.breached, sla_paused=state.paused, sla_due=due)
    return rows
