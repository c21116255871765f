"""Notify: a batch's new messages become outbox rows, in the batch's transaction.

In: `Event`s, the stored messages of a mail batch (`events_of`) or of a portal form. Out: `Outbox` rows (and
`AutoReplyLog` rows for acknowledgements). Reads what it needs in a few queries per
batch; who is told is `notices.notices_for` (pure). The rows say what to send; the
sender renders each (`outgoing.compose`: `outbox.render` and `outbox.build`) just before it is
delivered, so the mail path's transaction stays cheap. A notice that cannot be built is
failed with its reason: the ticket is stored, and a bad address holds nothing up.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from email.errors import MessageError

from helpdesk.config import Config
from helpdesk.models import (
    AutoReplyLog,
    KnownMessageId,
    Message,
    MessageKind,
    Outbox,
    Outcome,
    Participant,
    Status,
    Ticket,
    User,
    db,
    utcnow,
)

from . import outbox, partner_view, tickets, tokens
from .notices import Notice, Recipient, notices_for
from .rows import Deferred

log = logging.getLogger(__name__)

ACKS_PER_HOUR = 3  # automatic answers to one address: E9's rate limit
# Notices about one ticket to one customer address in an hour: two auto-responders that
# ignore Auto-Submitted and answer each other through a ticket stop here. The cap is for
# automated mail: an engineer's answer over it is delayed until the hour has room, never
# dropped. (Engineers are not limited: they are ours.)
NOTICES_PER_TICKET_HOUR = 10
EVENTS = (Outcome.NEW_TICKET.value, Outcome.REPLY.value, Outcome.STAFF_REPLY.value)


@dataclass(frozen=True)
class Event:
    """A message stored on a ticket, by mail or from the portal: who may need telling."""

    outcome: str  # new_ticket | reply | staff_reply
    ticket_id: int
    author: str  # the address it came from: nobody is told about their own message
    message_id: str  # the stored message's Message-ID: notices are replies to it
    references: tuple[str, ...] = ()
    held: bool = False  # its sender is not on the ticket: engineers are told, customers are not
    message: int | None = None  # the stored Message row, when its Message-ID may not be unique


def events_of(pairs) -> list[Event]:
    """The events among a mail batch's (Applied, Inbound) pairs: stored now, public, on a ticket."""
    return [Event(a.outcome, a.ticket_id, i.from_addr, i.message_id, tuple(i.references), held=a.held,
                  message=a.message) for a, i in pairs
            if a.outcome in EVENTS and not a.already and not a.internal and a.ticket_id]


def notify(config: Config, events: list[Event], *, now: dt.datetime | None = None) -> int:
    """Queue the notices for stored messages. Returns the mails queued."""
    events = [e for e in events if e.outcome in EVENTS]
    if not events:
        return 0
    now = now or utcnow()
    ticket_ids = {e.ticket_id for e in events}
    tickets = {t.id: t for t in Ticket.select(Ticket.id, Ticket.assignee, Ticket.requester_email, Ticket.queue,
                                              Ticket.status).where(Ticket.id.in_(ticket_ids))}
    people = _participants(ticket_ids)
    watching = {ticket_id: [Recipient(u.email, f"{u.first_name} {u.last_name}".strip(), f"w{u.id}", u.language)
                            for u in users if u.customer_notices_since <= now]
                for ticket_id, users in partner_view.watchers(ticket_ids).items()}
    staff, works = _staff()
    acks = _acks_this_hour({e.author for e in events if e.outcome == Outcome.NEW_TICKET.value}, now)
    own = lambda address: tokens.is_own_address(address, config.support_addresses)  # noqa: E731
    sent = _notices_this_hour(ticket_ids, now)
    sent_to = _our_mail_recipients({r for e in events for r in e.references[-8:]})
    staff_addresses = {s.email for s in staff}
    queued = 0
    rows = Deferred()  # written together below: one INSERT per table, not a round trip per notice
    for event in events:
        ticket = tickets[event.ticket_id]
        allowed = acks.get(event.author, 0) < ACKS_PER_HOUR
        chosen = notices_for(event.outcome, author=event.author, requester=ticket.requester_email,
                             participants=[] if event.held else people[ticket.id],
                             engineers=_engineers_of(ticket, staff, works), ack_allowed=allowed,
                             own=own, watchers=[] if event.held else watching.get(ticket.id, []))
        for notice in chosen:
            key = (ticket.id, notice.recipient.email)
            recent = sent.setdefault(key, [])
            due = now
            if notice.recipient.email not in staff_addresses and len(recent) >= NOTICES_PER_TICKET_HOUR:
                if event.outcome != "staff_reply":
                    log.warning("no %s to %s about %s: %d notices on this ticket in the last hour (a mail loop?)",
                                notice.template, notice.recipient.email, event.message_id, len(recent))
                    continue
                # A person's answer: it waits until the last hour holds fewer than the cap.
                due = max(now, sorted(recent)[-NOTICES_PER_TICKET_HOUR] + dt.timedelta(hours=1))
                log.info("%s to %s about %s delayed until %s: %d notices on this ticket in the last hour",
                         notice.template, notice.recipient.email, event.message_id, due, len(recent))
            # Our Message-IDs of mail to someone else stay out of References: each is half of
            # the proof that lets a delivery report mark its recipient undeliverable.
            own_refs = tuple(r for r in event.references if sent_to.get(r, notice.recipient.email)
                             == notice.recipient.email)
            # An engineer's answer that closed the ticket says so to the customer (issue 17).
            closed = event.outcome == Outcome.STAFF_REPLY.value and ticket.status == Status.CLOSED.value
            try:
                _queue(config, notice, ticket, replace(event, references=own_refs), now, rows, due=due,
                       extra={"closed": True} if closed and notice.template == "message" else {})
            except (ValueError, MessageError) as exc:  # a header we refuse to build (line breaks, bad address)
                log.error("no %s to %s about %s: %s", notice.template, notice.recipient.email, event.message_id, exc)
                continue
            if notice.template == "ack":
                rows.add(AutoReplyLog, {"email": notice.recipient.email, "sent_at": now})
                acks[notice.recipient.email] = acks.get(notice.recipient.email, 0) + 1
            recent.append(due)
            queued += 1
    with db.atomic():
        rows.flush()
    return queued


def _staff() -> tuple[list[Recipient], dict[str, list[str]]]:
    """The active engineers as recipients, and the queues each is limited to (by token)."""
    engineers = list(User.engineers().select(User.id, User.email, User.first_name, User.last_name, User.language,
                                             User.queues))
    staff = [Recipient(u.email, f"{u.first_name} {u.last_name}".strip(), f"u{u.id}", u.language) for u in engineers]
    return staff, {f"u{u.id}": u.queue_names for u in engineers}


def _engineers_of(ticket: Ticket, staff: list[Recipient], works: dict[str, list[str]]) -> list[Recipient]:
    """Who is told about a ticket: its assignee, or, when it has none, the engineers of its
    queue (an engineer limited to some queues hears about those queues' tickets only)."""
    assignee = [s for s in staff if ticket.assignee_id and s.token == f"u{ticket.assignee_id}"]
    return assignee or [s for s in staff if not works[s.token] or ticket.queue in works[s.token]]


def notify_reopened(config: Config, ticket_id: int, by: User, *, now: dt.datetime | None = None) -> int:
    """A customer reopened a closed ticket in the portal: its assignee is told, or the
    engineers of its queue when nobody has it (issue 17), with the last public message.
    Returns the mails queued."""
    now = now or utcnow()
    ticket = Ticket.get_by_id(ticket_id)
    last = (Message.select(Message.id, Message.message_id).where(
        Message.ticket == ticket.id, Message.kind.in_([MessageKind.CUSTOMER.value, MessageKind.STAFF.value]))
        .order_by(Message.id.desc()).first())
    if last is None:
        return 0
    staff, works = _staff()
    event = Event("reopened", ticket.id, by.email, last.message_id, message=last.id)
    rows = Deferred()
    queued = 0
    for recipient in _engineers_of(ticket, staff, works):
        if recipient.email == by.email:
            continue
        try:
            _queue(config, Notice("reopened", recipient, "auto-generated"), ticket, event, now, rows,
                   extra={"by": by.name or by.email})
        except (ValueError, MessageError) as exc:
            log.error("no reopened notice to %s about %s: %s", recipient.email, ticket.id, exc)
            continue
        queued += 1
    with db.atomic():
        rows.flush()
    return queued


def _participants(ticket_ids) -> dict[int, list[Recipient]]:
    rows = list(Participant.select(Participant.id, Participant.ticket, Participant.email, Participant.name,
                                   Participant.user).where(Participant.ticket.in_(ticket_ids))
                .order_by(Participant.id))
    languages = {u.id: u.language for u in User.select(User.id, User.language).where(
        User.id.in_({p.user_id for p in rows if p.user_id}))}
    out: dict[int, list[Recipient]] = defaultdict(list)
    for p in rows:
        out[p.ticket_id].append(Recipient(p.email, p.name, f"p{p.id}", languages.get(p.user_id, "")))
    return out


def _acks_this_hour(addresses, now: dt.datetime) -> dict[str, int]:
    if not addresses:
        return {}
    query = (AutoReplyLog.select(AutoReplyLog.email).where(
        AutoReplyLog.email.in_(addresses), AutoReplyLog.sent_at > now - dt.timedelta(hours=1)))
    counts: dict[str, int] = defaultdict(int)
    for row in query:
        counts[row.email] += 1
    return counts


def _our_mail_recipients(message_ids) -> dict[str, str]:
    """Message-ID -> recipient, for those of the ids that are mail we sent."""
    found: dict[str, str] = {}
    ids = list(message_ids)
    for start in range(0, len(ids), 500):
        for row in KnownMessageId.select(KnownMessageId.message_id, KnownMessageId.recipient).where(
                KnownMessageId.message_id.in_(ids[start:start + 500]), KnownMessageId.outgoing == True):  # noqa: E712
            found[row.message_id] = row.recipient
    return found


def _notices_this_hour(ticket_ids, now: dt.datetime) -> dict[tuple[int, str], list[dt.datetime]]:
    """When each (ticket, recipient)'s mail of the last hour goes out (delayed ones included)."""
    times: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
    for row in Outbox.select(Outbox.ticket, Outbox.recipient, Outbox.created_at, Outbox.next_attempt_at,
                             Outbox.attempts).where(
            Outbox.ticket.in_(ticket_ids), Outbox.created_at > now - dt.timedelta(hours=1)):
        planned = row.next_attempt_at if row.attempts == 0 else row.created_at  # not a retry's backoff
        times[(row.ticket_id, row.recipient)].append(max(row.created_at, planned))
    return times


def _queue(config: Config, notice, ticket: Ticket, event: Event, now: dt.datetime, rows: Deferred, *,
           due: dt.datetime | None = None, extra: dict | None = None) -> None:
    """An outbox row saying what to send (added to `rows`; raises ValueError, adding
    nothing, for an address we refuse); the sender renders it (`compose`) just before
    delivery, so the transaction that stores the message stays cheap."""
    recipient = notice.recipient
    address = config.queue_address(ticket.queue)  # the queue's mailbox answers, with its own reply addresses
    domain = address.split("@", 1)[1]
    message_id = outbox.new_message_id(domain, ticket.id)
    spec = {"template": notice.template, "to": recipient.email, "name": " ".join(recipient.name.split()),
            "token": recipient.token, "language": recipient.language or config.language,
            "auto_submitted": notice.auto_submitted, "about": event.message_id,
            "references": [*event.references[-8:], event.message_id], "queued_at": now.isoformat(),
            **({"message": event.message} if event.message else {}), **(extra or {})}
    rows.add(Outbox, outbox.row(kind=notice.template, ticket=ticket.id,
                                recipient=outbox.safe(recipient.email, "recipient"), mail_from=address,
                                message_id=message_id, spec=json.dumps(spec), now=now, due=due))
    tickets.remember_message_id(message_id, ticket, outgoing=True, recipient=recipient.email, sink=rows)
