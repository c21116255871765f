"""Scheduled jobs (SPEC D1-D5): digests and reminders that go out once per period and recipient.

Each job is a plain function `run_<job>(config, now)` returning a `JobSummary`, testable
without a scheduler. It reads what it needs in a handful of set-based queries (their
number does not grow with the recipients), lets `domain/digests.py` decide what each
recipient is told and in which period (the recipient's own day or week), and queues
the mails with `queue_once`.

Exactly once: a mail claims its (job, period, recipient) rows in `DigestSent` in the same
transaction as its outbox row, and the unique index decides (INSERT ... ON CONFLICT DO
NOTHING RETURNING): only the rows this transaction inserted get mail. A restart, a re-run,
a run caught up after downtime or a second scheduler process therefore never sends a
digest twice. A `Lease` row lets one scheduler at a time run a job, which saves the
work; correctness never depends on it. The outbox rows say what to send (`spec`); the
sender renders them (`outgoing/digest_mail.py`). Nothing here runs at import time:
`build_scheduler(config)` wires the jobs to APScheduler cron triggers.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import threading
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Callable, NamedTuple

from peewee import fn

from helpdesk.config import Config
from helpdesk.domain import digests, oauth, outbox, owners, search_upkeep, webhooks
from helpdesk.domain.digests import CustomerTicket, Mailbox, OpenTicket
from helpdesk.domain.inserts import insert_rows
from helpdesk.domain.rows import chunks
from helpdesk.models import (
    Company,
    Contract,
    ContractAccess,
    DigestSent,
    FaultRecord,
    InboundMail,
    LevelApplication,
    MailboxState,
    Message,
    MessageKind,
    Outbox,
    PartnerApplication,
    Quarantine,
    RequestStatus,
    Role,
    RoleChangeRequest,
    Status,
    StatusChange,
    Ticket,
    User,
    db,
    utcnow,
)

log = logging.getLogger(__name__)

CHUNK = 500  # recipients per transaction (and rows per INSERT): well under every parameter limit
LEASE_TTL = dt.timedelta(minutes=30)  # a scheduler that died lets its job go after this
MISFIRE_GRACE_SECONDS = 6 * 3600  # a run held up this long (a busy or suspended machine) still runs, once
OPEN = [s.value for s in Status if s is not Status.CLOSED]
PUBLIC = [MessageKind.CUSTOMER.value, MessageKind.STAFF.value]
STAFF_ROLES = [Role.ENGINEER.value, Role.ADMIN.value]
WEEK = dt.timedelta(days=7)


@dataclass
class JobSummary:
    job: str
    recipients: int = 0  # considered
    queued: int = 0  # mails queued by this run
    already: int = 0  # already sent for this period (by an earlier run or another scheduler)
    nothing: int = 0  # nothing to say: no mail

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Mail:
    """One mail to queue: its recipient, template, the periods it claims, and what it says."""

    to: str
    name: str
    language: str
    timezone: str
    template: str
    periods: tuple[str, ...]
    context: dict
    items: str = ""  # a context list whose entries carry their own `period` (one mail, several claims)


class Person(NamedTuple):
    id: int
    email: str
    first_name: str
    last_name: str
    language: str
    timezone: str
    company_id: int | None


PERSON = (User.id, User.email, User.first_name, User.last_name, User.language, User.timezone, User.company)


def _person(u: Person) -> dict:
    return {"to": u.email, "name": f"{u.first_name} {u.last_name}".strip(), "language": u.language,
            "timezone": u.timezone}


def _people(query) -> list[Person]:
    return [Person(*row) for row in query.select(*PERSON).order_by(User.id).tuples()]


# --- exactly once ---------------------------------------------------------------------------


def queue_once(config: Config, job: str, mails: list[Mail], now: dt.datetime) -> tuple[int, int]:
    """Queue each mail whose (job, period, recipient) nobody has claimed yet, claim and outbox
    row in one transaction per chunk; returns (queued, already sent)."""
    queued = already = 0
    due = min(now, utcnow())  # a run by hand for a time ahead still sends now
    domain = config.support_address.split("@", 1)[1]
    for chunk in chunks(mails, CHUNK):
        with db.atomic():
            won = _claim(job, {(p, m.to) for m in chunk for p in m.periods}, now)
            rows = []
            for m in chunk:
                mine = {p for p in m.periods if (p, m.to) in won}
                if not mine:
                    already += 1
                    continue
                context = m.context
                if m.items:
                    context = {**context, m.items: [i for i in context[m.items] if i["period"] in mine]}
                spec = {"digest": job, "template": m.template, "to": m.to, "name": " ".join(m.name.split()),
                        "language": m.language or config.language, "context": context,
                        "queued_at": due.isoformat()}
                rows.append(outbox.row(kind=job, recipient=m.to, mail_from=config.support_address,
                                       message_id=outbox.new_message_id(domain), now=now, due=due,
                                       spec=json.dumps(spec, ensure_ascii=False, separators=(",", ":"))))
            insert_rows(Outbox, rows)
            queued += len(rows)
    return queued, already


def _claim(job: str, keys: set[tuple[str, str]], now: dt.datetime) -> set[tuple[str, str]]:
    """Insert the (period, recipient) rows not there yet; returns the ones this call inserted.
    The unique index decides, so two schedulers claiming at once never both win. (The SQL
    is written out, and kept per size, as building it costs more than running it.)"""
    database = db.obj
    sent_at = DigestSent.sent_at.db_value(now)
    won: set[tuple[str, str]] = set()
    for part in chunks(sorted(keys), CHUNK):  # sorted: concurrent claims take row locks in one order
        cursor = database.execute_sql(_claim_sql(len(part), database.param),
                                      [v for period, to in part for v in (job, period, to, sent_at)])
        won.update((period, to) for period, to in cursor.fetchall())
    return won


@functools.lru_cache(maxsize=16)
def _claim_sql(rows: int, param: str) -> str:
    # ON CONFLICT DO NOTHING RETURNING: SQLite 3.35 or newer, and PostgreSQL.
    values = ", ".join([f"({param}, {param}, {param}, {param})"] * rows)
    return (f'INSERT INTO "digest_sent" ("job", "period", "recipient", "sent_at") VALUES {values} '
            'ON CONFLICT DO NOTHING RETURNING "period", "recipient"')


def _sent(job: str, periods: set[str]) -> set[tuple[str, str]]:
    """(period, recipient) already sent for these periods: whom a re-run need not even build
    a digest for (an optimisation only; the claim decides)."""
    return set(DigestSent.select(DigestSent.period, DigestSent.recipient).where(
        DigestSent.job == job, DigestSent.period.in_(sorted(periods))).tuples()) if periods else set()


def _queue(config: Config, summary: JobSummary, mails: list[Mail], now: dt.datetime, job: str | None = None) -> JobSummary:
    good = []
    for m in mails:
        try:
            outbox.safe(m.to, "recipient address")
            good.append(m)
        except outbox.HeaderInjection as exc:
            log.error("%s: no mail to %r: %s", summary.job, m.to, exc)
    queued, already = queue_once(config, job or summary.job, good, now)
    summary.queued += queued
    summary.already += already
    return summary


# --- D1: engineers, daily -------------------------------------------------------------------


def open_tickets() -> list[OpenTicket]:
    """Every open ticket, with the time of its last public message when that one is the
    customer's (two queries, whatever the number of tickets or engineers)."""
    last = (Message.select(fn.MAX(Message.id)).join(Ticket)
            .where(Ticket.status.in_(OPEN), Message.kind.in_(PUBLIC)).group_by(Message.ticket))
    unanswered = dict(Message.select(Message.ticket, Message.created_at)
                      .where(Message.id.in_(last), Message.kind == MessageKind.CUSTOMER.value).tuples())
    query = Ticket.select(Ticket.id, Ticket.subject, Ticket.status, Ticket.assignee, Ticket.requester_email,
                          Ticket.created_at, Ticket.updated_at).where(Ticket.status.in_(OPEN)).tuples()
    return [OpenTicket(*row, unanswered_since=unanswered.get(row[0])) for row in query]  # type: ignore[misc]


def run_engineer_digest(config: Config, now: dt.datetime) -> JobSummary:
    """D1: to each engineer, once a day in their zone: tickets without an answer for too long,
    new, unassigned, and their own waiting tickets."""
    summary = JobSummary("engineer_digest")
    engineers = _people(User.engineers())
    summary.recipients = len(engineers)
    if not engineers:
        return summary
    periods = {e.id: digests.day_key(now, e.timezone) for e in engineers}
    sent = _sent(summary.job, set(periods.values()))
    due = [e for e in engineers if (periods[e.id], e.email) not in sent]
    summary.already = len(engineers) - len(due)
    if not due:
        return summary
    queue = digests.queue_of(open_tickets(), now=now, no_answer=dt.timedelta(hours=config.no_answer_hours))
    deadlines = sla_deadlines(now)
    mails = []
    for e in due:
        context = digests.engineer_digest(queue, e.id, e.timezone)
        late = digests.sla_sections(deadlines, e.id, e.timezone, now)
        if context is None and late is None:
            summary.nothing += 1
            continue
        context = {**(context or digests.EMPTY_ENGINEER_DIGEST), **(late or digests.EMPTY_SLA_SECTIONS)}
        mails.append(Mail(**_person(e), template="digest_engineer", periods=(periods[e.id],),
                          context={**context, "no_answer_hours": config.no_answer_hours}))
    return _queue(config, summary, mails, now)


def sla_deadlines(now: dt.datetime) -> list[digests.Deadline]:
    """Open tickets whose running clock is past its deadline or due within two days (every
    zone's "today" is inside that), one query."""
    query = (Ticket.select(Ticket.id, Ticket.subject, Ticket.status, Ticket.assignee, Ticket.requester_email,
                           Ticket.sla_next_due)
             .where(Ticket.sla_next_due.is_null(False), Ticket.sla_next_due < now + dt.timedelta(days=2),
                    Ticket.status.in_(OPEN))
             .order_by(Ticket.sla_next_due, Ticket.id).tuples())
    return [digests.Deadline(*row) for row in query]


# --- service levels: escalations at 80% and at the breach ----------------------------------------


def run_sla_escalations(config: Config, now: dt.datetime) -> JobSummary:
    """A mail to the assignee (or, unassigned, to every engineer) when a running clock reaches
    80% of its deadline, and one when it passes it; each exactly once per ticket, clock and
    stage: the claim (job, "T<id>:<clock>:<stage>", "*") is inserted with the outbox rows, and
    a run that finds both stages reached claims the warning silently and sends the breach."""
    summary = JobSummary("sla_escalations")
    reached = ((Ticket.first_response_at.is_null() & (Ticket.first_response_warn <= now))
               | (Ticket.resolution_warn <= now))
    rows = list(Ticket.select(Ticket.id, Ticket.subject, Ticket.assignee, Ticket.sla_policy, Ticket.first_response_at,
                              Ticket.first_response_warn, Ticket.first_response_due, Ticket.resolution_warn,
                              Ticket.resolution_due)
                .where(Ticket.status.in_(OPEN), Ticket.sla_paused_at.is_null(), Ticket.sla_policy.is_null(False),
                       reached).order_by(Ticket.id))
    if not rows:
        return summary
    keys = {f"T{t.id}:{clock}:{stage}" for t in rows for clock in ("fr", "res") for stage in ("80", "100")}
    claimed = {period for period, _ in _sent(summary.job, keys)}
    engineers = _people(User.engineers())
    by_id = {e.id: e for e in engineers}
    for t in rows:
        clocks = [("res", t.resolution_warn, t.resolution_due)]
        if t.first_response_at is None:
            clocks.insert(0, ("fr", t.first_response_warn, t.first_response_due))
        for clock, warn, due in clocks:
            stages = [s for s, at in (("80", warn), ("100", due)) if at is not None and at <= now]
            keys = [f"T{t.id}:{clock}:{s}" for s in stages]  # type: ignore[assignment]
            if not keys or set(keys) <= claimed:
                continue
            people = [by_id[t.assignee_id]] if t.assignee_id in by_id else engineers
            summary.recipients += len(people)
            mails = [Mail(**_person(p), template="sla_escalation", periods=(), context={
                "id": t.id, "subject": t.subject[:200], "policy": t.sla_policy, "clock": clock,
                "stage": stages[-1], "due": digests.shown(due, p.timezone)}) for p in people]
            breach = None if stages[-1] != "100" else {  # a webhook event with the mails, as exactly once
                "ticket": {"id": t.id, "subject": t.subject[:200], "assignee_id": t.assignee_id},
                "policy": t.sla_policy, "clock": "first_response" if clock == "fr" else "resolution",
                "due": due.replace(microsecond=0).isoformat() + "Z"}
            queued = _queue_claimed(config, summary.job, keys, mails, t.id, now, breach=breach)  # type: ignore[arg-type]
            summary.queued += queued
            summary.already += 0 if queued or not mails else 1
    return summary


def _queue_claimed(config: Config, job: str, keys: list[str], mails: list[Mail], ticket_id: int,
                   now: dt.datetime, *, breach: dict | None = None) -> int:
    """Claim the keys and queue the mails in one transaction; nothing when the last key (the
    stage the mails are about) was claimed before, by this or another scheduler. `breach`:
    the `sla.breached` webhook event to queue with them."""
    due = min(now, utcnow())
    domain = config.support_address.split("@", 1)[1]
    with db.atomic():
        won = {period for period, _ in _claim(job, {(k, "*") for k in keys}, now)}
        if keys[-1] not in won:
            return 0
        if breach is not None:
            webhooks.emit("sla.breached", breach, now=now)
        rows = []
        for m in mails:
            try:
                outbox.safe(m.to, "recipient address")
            except outbox.HeaderInjection as exc:
                log.error("%s: no mail to %r: %s", job, m.to, exc)
                continue
            spec = {"digest": job, "template": m.template, "to": m.to, "name": " ".join(m.name.split()),
                    "language": m.language or config.language, "context": m.context, "queued_at": due.isoformat()}
            rows.append(outbox.row(kind=job, ticket=ticket_id, recipient=m.to, mail_from=config.support_address,
                                   message_id=outbox.new_message_id(domain, ticket_id), now=now, due=due,
                                   spec=json.dumps(spec, ensure_ascii=False, separators=(",", ":"))))
        insert_rows(Outbox, rows)
    return len(rows)


# --- D2: customers, weekly ------------------------------------------------------------------


def _opted_in():
    return User.select(User.id).where(User.digest_opt_in == True, User.is_active == True,  # noqa: E712
                                      User.role.not_in(STAFF_ROLES))


def customer_tickets(since: dt.datetime) -> dict[int, list[CustomerTicket]]:
    """The tickets of every customer who opted in, open or changed since `since`, by
    requester; and to each verified partner who opted in, its customers' tickets (the
    contracts its company sold; issue 17). Five queries, whatever the number of people."""
    sellers: dict[int, list[int]] = defaultdict(list)  # company -> its partner users who opted in
    for user_id, company_id in (User.select(User.id, User.company).join(Company, on=(User.company == Company.id))
                                .where(User.id.in_(_opted_in()), User.role == Role.PARTNER.value,
                                       Company.verified_at.is_null(False)).tuples()):
        sellers[company_id].append(user_id)
    sold = Contract.select(Contract.id).where(Contract.partner.in_(list(sellers)))
    theirs = Ticket.select(Ticket.id).where(Ticket.requester.in_(_opted_in()))
    if sellers:
        theirs = theirs | Ticket.select(Ticket.id).where(Ticket.contract.in_(sold))
    changes: dict[int, list] = defaultdict(list)
    for ticket_id, status, at in (StatusChange.select(StatusChange.ticket, StatusChange.new_status,
                                                      StatusChange.changed_at)
                                  .where(StatusChange.changed_at >= since, StatusChange.ticket.in_(theirs))
                                  .order_by(StatusChange.changed_at, StatusChange.id).tuples()):
        changes[ticket_id].append((status, at))
    answers = dict(Message.select(Message.ticket, fn.COUNT(Message.id))
                   .where(Message.created_at >= since, Message.kind == MessageKind.STAFF.value,
                          Message.ticket.in_(theirs)).group_by(Message.ticket).tuples())
    out: dict[int, list[CustomerTicket]] = defaultdict(list)
    query = (Ticket.select(Ticket.id, Ticket.requester, Ticket.subject, Ticket.status, Ticket.updated_at)
             .where(Ticket.requester.in_(_opted_in()), Ticket.merged_into.is_null(),
                    (Ticket.status != Status.CLOSED.value) | (Ticket.closed_at >= since)).tuples())
    for ticket_id, requester, subject, status, updated in query:
        out[requester].append(CustomerTicket(ticket_id, subject, status, updated, tuple(changes.get(ticket_id, ())),
                                             answers.get(ticket_id, 0)))
    if sellers:
        listed = {user_id: {t.id for t in out.get(user_id, [])} for users in sellers.values() for user_id in users}
        for ticket_id, company_id, subject, status, updated in (
                Ticket.select(Ticket.id, Contract.partner, Ticket.subject, Ticket.status, Ticket.updated_at)
                .join(Contract, on=(Ticket.contract == Contract.id))
                .where(Contract.partner.in_(list(sellers)), Ticket.merged_into.is_null(),
                       (Ticket.status != Status.CLOSED.value) | (Ticket.closed_at >= since)).tuples()):
            for user_id in sellers[company_id]:
                if ticket_id not in listed[user_id]:  # its own ticket is listed once
                    out[user_id].append(CustomerTicket(ticket_id, subject, status, updated,
                                                       tuple(changes.get(ticket_id, ())), answers.get(ticket_id, 0)))
    return out


def run_customer_digest(config: Config, now: dt.datetime) -> JobSummary:
    """D2: to each customer who opted in, once a week in their zone: their open tickets and
    what changed in the last seven days."""
    summary = JobSummary("customer_digest")
    customers = _people(_opted_in())
    summary.recipients = len(customers)
    periods = {c.id: digests.week_key(now, c.timezone) for c in customers}
    sent = _sent(summary.job, set(periods.values()))
    due = [c for c in customers if (periods[c.id], c.email) not in sent]
    summary.already = len(customers) - len(due)
    by_requester = customer_tickets(now - WEEK) if due else {}
    mails = []
    for c in due:
        context = digests.customer_digest(by_requester.get(c.id, []), c.timezone)
        if context is None:
            summary.nothing += 1
            continue
        mails.append(Mail(**_person(c), template="digest_customer", periods=(periods[c.id],), context=context))
    return _queue(config, summary, mails, now)


# --- D3: contract expiry, daily -------------------------------------------------------------


def run_contract_reminders(config: Config, now: dt.datetime) -> JobSummary:
    """D3: 30 and 7 days before a contract ends (in the reader's zone), to the users with
    access to it and to the partner that sold it; one mail per recipient and run, listing
    the contracts whose reminder is due, each reminder claimed on its own."""
    summary = JobSummary("contract_reminders")
    today = now.date()
    horizon = Contract.ends_on.between(today - dt.timedelta(days=1), today + dt.timedelta(days=max(
        digests.REMINDER_DAYS) + 1))
    contracts = {c.id: c for c in Contract.select(Contract.id, Contract.number, Contract.customer_name,
                                                  Contract.ends_on, Contract.partner).where(horizon)}
    if not contracts:
        return summary
    readers: dict[int, Person] = {}
    roles: dict[int, dict[int, bool]] = defaultdict(dict)  # user -> contract -> as partner
    for contract_id, *person in (ContractAccess.select(ContractAccess.contract, *PERSON).join(User)
                                 .where(ContractAccess.contract.in_(Contract.select(Contract.id).where(horizon)),
                                        User.is_active == True)  # noqa: E712
                                 .tuples()):
        reader = readers[person[0]] = Person(*person)
        roles[reader.id][contract_id] = False
    by_partner: dict[int, list[int]] = defaultdict(list)
    for c in contracts.values():
        if c.partner_id:
            by_partner[c.partner_id].append(c.id)
    partners = Contract.select(Contract.partner).where(horizon, Contract.partner.is_null(False))
    partner_users = _people(User.select().where(User.company.in_(partners), User.is_active == True))  # noqa: E712
    for u in partner_users:
        readers[u.id] = u
        for contract_id in by_partner[u.company_id]:  # type: ignore[index]
            roles[u.id].setdefault(contract_id, True)
    summary.recipients = len(roles)
    mails = []
    for user_id, theirs in roles.items():
        u = readers[user_id]
        local_today = digests.local(now, u.timezone).date()
        items = []
        for contract_id, as_partner in sorted(theirs.items(), key=lambda kv: (contracts[kv[0]].ends_on, kv[0])):
            c = contracts[contract_id]
            days = digests.reminder_due(c.ends_on, local_today)
            if days is None:
                continue
            items.append({"period": digests.reminder_key(c.id, c.ends_on, days), "id": c.id, "number": c.number,
                          "customer": c.customer_name, "ends_on": c.ends_on.isoformat(), "reminder": days,
                          "days_left": (c.ends_on - local_today).days, "as_partner": as_partner})
        if not items:
            summary.nothing += 1
            continue
        mails.append(Mail(**_person(u), template="contract_expiry", periods=tuple(i["period"] for i in items),
                          context={"contracts": items}, items="contracts"))
    return _queue(config, summary, mails, now)


# --- D4: admins, daily, and the mailbox's health -------------------------------------------------


def _admins() -> list:
    return _people(User.select().where(User.role == Role.ADMIN.value, User.is_active == True))  # noqa: E712


def _mailboxes() -> list[Mailbox]:
    return [Mailbox(*row) for row in MailboxState.select(
        MailboxState.id, MailboxState.mailbox, MailboxState.last_fetch_at, MailboxState.last_message_at,
        MailboxState.last_error).order_by(MailboxState.id).tuples()]


def pending_for_admins() -> dict[str, tuple[list[dict], int]]:
    """What waits for an admin: section -> (the oldest few, each with `at`; how many in all)."""
    limit = digests.SECTION_LIMIT
    sections = {
        "applications": (PartnerApplication.select(PartnerApplication.id, Company.name,
                                                   PartnerApplication.declared_level, PartnerApplication.submitted_at)
                         .join(Company).where(PartnerApplication.status == RequestStatus.PENDING.value)
                         .order_by(PartnerApplication.submitted_at)),
        "role_changes": (RoleChangeRequest.select(RoleChangeRequest.id, Company.name, RoleChangeRequest.requested_role,
                                                  RoleChangeRequest.created_at)
                         .join(Company).where(RoleChangeRequest.status == RequestStatus.PENDING.value)
                         .order_by(RoleChangeRequest.created_at)),
        "level_applications": (LevelApplication.select(LevelApplication.id, Company.name, LevelApplication.level,
                                                       LevelApplication.created_at)
                               .join(Company).where(LevelApplication.status == RequestStatus.PENDING.value)
                               .order_by(LevelApplication.created_at)),
        "quarantine": (Quarantine.select(Quarantine.id, InboundMail.from_addr, Quarantine.error, Quarantine.created_at)
                       .join(InboundMail).where(Quarantine.resolved_at.is_null()).order_by(Quarantine.created_at)),
    }
    out = {}
    for name, query in sections.items():
        items = [{"id": i, "who": who or "", "what": str(what)[:200], "at": at}
                 for i, who, what, at in query.limit(limit).tuples()]
        out[name] = (items, query.count() if len(items) == limit else len(items))
    return out


def run_admin_digest(config: Config, now: dt.datetime) -> JobSummary:
    """D4: to each admin, once a day in their zone: pending partner applications, role changes,
    level applications, quarantined mail, and how the mailboxes are doing."""
    summary = JobSummary("admin_digest")
    admins = _admins()
    summary.recipients = len(admins)
    if not admins:
        return summary
    pending, boxes = pending_for_admins(), _mailboxes()
    threshold = dt.timedelta(minutes=config.mailbox_stalled_minutes)
    mails = []
    for a in admins:
        context = digests.admin_digest(pending, boxes, now=now, threshold=threshold, tz=a.timezone)
        if context is None:
            summary.nothing += 1
            continue
        mails.append(Mail(**_person(a), template="digest_admin", periods=(digests.day_key(now, a.timezone),),
                          context=context))
    return _queue(config, summary, mails, now)


def run_mailbox_health(config: Config, now: dt.datetime) -> JobSummary:
    """D4: an alert to the admins once when a mailbox stops being fetched, and a notice once
    when it recovers; the alerts sent (`DigestSent`, job mailbox_stalled) are the state."""
    summary = JobSummary("mailbox_health")
    threshold = dt.timedelta(minutes=config.mailbox_stalled_minutes)
    boxes = _mailboxes()
    admins = _admins()
    summary.recipients = len(admins)
    alerts = []
    for box in boxes:
        if digests.stalled(box, now, threshold):
            for a in admins:
                alerts.append(Mail(**_person(a), template="mailbox_stalled", periods=(digests.stall_key(box),),
                                   context=_box_context(box, a.timezone, config)))
    _queue(config, summary, alerts, now, job="mailbox_stalled")
    by_id = {b.id: b for b in boxes}
    told = set(DigestSent.select(DigestSent.period, DigestSent.recipient)
               .where(DigestSent.job == "mailbox_recovered").tuples())
    people = {a.email: a for a in admins}
    recoveries = []
    for key, to in DigestSent.select(DigestSent.period, DigestSent.recipient).where(
            DigestSent.job == "mailbox_stalled").tuples():
        if (key, to) in told or not digests.recovered(key, by_id):
            continue
        person = _person(people[to]) if to in people else {"to": to, "name": "", "language": "", "timezone": ""}
        box = by_id.get(int(key.split(":", 1)[0][1:]))  # type: ignore[assignment]
        context = _box_context(box, person["timezone"], config) if box else {"mailbox": "", "last_fetch": ""}
        recoveries.append(Mail(**person, template="mailbox_recovered", periods=(key,), context=context))
    _queue(config, summary, recoveries, now, job="mailbox_recovered")
    _tell_faults(config, summary, admins, now)
    return _oauth_health(config, summary, admins, now)


def _oauth_health(config: Config, summary: JobSummary, admins: list[Person], now: dt.datetime) -> JobSummary:
    """An alert once when an OAuth2 refresh token stops working, and a notice once when that
    account signs in again; each death is its own episode (account and when it died)."""
    dead = {oauth.episode(account, since): (account, since, error) for account, since, error in oauth.dead_tokens()}
    alerts = [Mail(**_person(a), template="oauth_dead", periods=(key,),
                   context={"account": account, "since": digests.shown(since, a.timezone), "error": error[:500]})
              for key, (account, since, error) in dead.items() for a in admins]
    _queue(config, summary, alerts, now, job="oauth_dead")
    told = set(DigestSent.select(DigestSent.period, DigestSent.recipient)
               .where(DigestSent.job == "oauth_recovered").tuples())
    people = {a.email: a for a in admins}
    recoveries = []
    for key, to in DigestSent.select(DigestSent.period, DigestSent.recipient).where(
            DigestSent.job == "oauth_dead").tuples():
        back = None if key in dead or (key, to) in told else oauth.recovered(key)
        if back is None:
            continue
        person = _person(people[to]) if to in people else {"to": to, "name": "", "language": "", "timezone": ""}
        recoveries.append(Mail(**person, template="oauth_recovered", periods=(key,),
                               context={"account": back[0], "since": digests.shown(back[1], person["timezone"])}))
    return _queue(config, summary, recoveries, now, job="oauth_recovered")




def _tell_faults(config: Config, summary: JobSummary, admins: list, now: dt.datetime) -> JobSummary:
    """The admins hear once when the file store or the database fails (read-only, full,
    locked: recorded by the worker, domain/faults.py) and once when that is over; one
    period per fault record (`f<id>`), so a fault that comes back is told again."""
    recent = now - dt.timedelta(days=7)
    rows = list(FaultRecord.select().where(FaultRecord.cleared_at.is_null() | (FaultRecord.cleared_at > recent))
                .order_by(FaultRecord.id))
    started, over = [], []
    for row in rows:
        for a in admins:
            context = {"component": row.component, "kind": row.kind, "detail": row.detail,
                       "since": digests.shown(row.since, a.timezone),
                       "until": digests.shown(row.cleared_at, a.timezone) if row.cleared_at else ""}
            started.append(Mail(**_person(a), template="fault", periods=(f"f{row.id}",), context=context))
            if row.cleared_at is not None:
                over.append(Mail(**_person(a), template="fault_over", periods=(f"f{row.id}",), context=context))
    _queue(config, summary, started, now, job="fault")
    return _queue(config, summary, over, now, job="fault_over")


def _box_context(box: Mailbox, tz: str, config: Config) -> dict:
    return {"mailbox": box.name, "last_fetch": digests.shown(box.last_fetch_at, tz),
            "last_message": digests.shown(box.last_message_at, tz), "error": box.last_error[:500],
            "minutes": config.mailbox_stalled_minutes}


def run_search_upkeep(config: Config, now: dt.datetime) -> JobSummary:
    """The full-text indexes' segments merged, then the planner's statistics gathered (SQLite;
    `domain.search_upkeep`): no mail."""
    search_upkeep.merge_all()
    search_upkeep.analyze()
    return JobSummary("search_upkeep")


# --- running: by name, under a lease, and on a schedule ----------------------------------------


@dataclass(frozen=True)
class Job:
    run: Callable[[Config, dt.datetime], JobSummary]
    period: str | None  # "day" | "week": what a scheduler started late catches up; None: runs at start


JOBS = {
    "engineer_digest": Job(run_engineer_digest, "day"),
    "customer_digest": Job(run_customer_digest, "week"),
    "contract_reminders": Job(run_contract_reminders, "day"),
    "admin_digest": Job(run_admin_digest, "day"),
    "mailbox_health": Job(run_mailbox_health, None),
    "sla_escalations": Job(run_sla_escalations, None),
    "search_upkeep": Job(run_search_upkeep, "day"),
}


def take_lease(name: str, owner: str, *, ttl: dt.timedelta = LEASE_TTL) -> bool:
    return owners.take(name, owner, ttl=ttl)


release_lease = owners.release


def run_job(config: Config, name: str, now: dt.datetime | None = None, *, owner: str | None = None) -> JobSummary | None:
    """Run one job under its lease; None when another scheduler holds it (it is doing the work)."""
    job = JOBS[name]
    owner = owner or owners.owner_name(str(threading.get_ident()))
    lease = f"job:{name}"
    if not take_lease(lease, owner):
        log.info("%s: skipped, another scheduler is running it", name)
        return None
    try:
        summary = job.run(config, now or utcnow())
    finally:
        release_lease(lease, owner)
    # A run that queued nothing is routine (every job runs at start and every few minutes): debug only.
    log.log(logging.INFO if summary.queued else logging.DEBUG,
            "%s: %d recipient(s), %d queued, %d already sent, %d with nothing to say",
            name, summary.recipients, summary.queued, summary.already, summary.nothing)
    return summary


def _scheduled(config: Config, name: str) -> None:
    try:
        run_job(config, name)
    except Exception:  # the database, most likely: the next run tries again
        log.exception("%s failed", name)


def build_scheduler(config: Config, *, now: dt.datetime | None = None):
    """A BackgroundScheduler (not started) running every job on its cron schedule, in the
    configured zone. A job whose time has already come this period runs once at start:
    after downtime the current period is sent once (coalesced), not each missed one."""
    from apscheduler.schedulers.background import BackgroundScheduler

    tz = digests.zone(config.timezone)
    scheduler = BackgroundScheduler(timezone=tz)
    now_local = digests.local(now or utcnow(), config.timezone)
    for name, job in JOBS.items():
        trigger = digests.cron_trigger(getattr(config, f"schedule_{name}"), tz)
        extra = {"next_run_time": now_local} if digests.missed_this_period(trigger, job.period, now_local) else {}
        scheduler.add_job(_scheduled, trigger, args=(config, name), id=name, name=name, coalesce=True,
                          max_instances=1, misfire_grace_time=MISFIRE_GRACE_SECONDS, **extra)
    return scheduler


def parse_now(value: str) -> dt.datetime:
    """`--now`: an ISO time; with an offset it is converted, without one it is UTC."""
    when = dt.datetime.fromisoformat(value)
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return when
