"""Apply: the only writer of the mail path.

In: a `Decision`, the `Fetched` message, its `Inbound` (None when parsing failed) and the
batch's `BatchView`. Out: an `Applied` (outcome, ticket, reason) carrying the dependent
rows (status changes, participants, Message-IDs) for the caller to insert with the rest
of its batch (`Applied.rows`, a `Deferred`). Writes the ledger row, the ticket and the
message in ONE savepoint inside the caller's transaction; files (raw mail, attachments)
are written before it, by content hash. Never talks to the mail server: the caller
marks the message only after its transaction commits.

Database trouble (locked, connection lost) propagates as peewee.OperationalError /
InterfaceError so the caller can retry the batch; a uniqueness clash on the ledger means
another run got there first and is reported, not raised.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field, replace

from peewee import IntegrityError

from helpdesk.domain import canned, deliverability, limits, security_events, tickets, tokens, webhooks
from helpdesk.domain.inserts import id_of_or_insert, insert_row
from helpdesk.domain.rows import Deferred
from helpdesk.domain.storage import BlobStore
from helpdesk.models import (
    AddressStatus,
    Attachment,
    Blob,
    InboundMail,
    Message,
    MessageKind,
    Outcome,
    Quarantine,
    Status,
    Ticket,
    User,
    db,
    utcnow,
)

from . import subjects
from .body import sanitise_html
from .commands import commands_of, html_has_commands, html_without_commands
from .headers import message_id_of
from .lookup import BatchView
from .message import Fetched, Inbound
from .route import Bounce, Decision, Ignore, NewTicket, QuarantineDecision, Reply, StaffReply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applied:
    outcome: str
    reason: str
    ledger_id: int
    ticket_id: int | None = None
    already: bool = False  # the ledger had this message: nothing was written now
    ticket_status: str | None = None  # the ticket's status after this message
    internal: bool = False  # an engineer's #note: never mailed to customers
    held: bool = False  # mailed to engineers only: its sender is not on the ticket (see trust.py)
    message: int | None = None  # the stored Message row (its Message-ID may not be unique)
    rows: Deferred = field(default_factory=Deferred, compare=False, repr=False)


@dataclass(frozen=True)
class Context:
    store: BlobStore
    support_addresses: tuple[str, ...]
    prefix: str
    max_attachment_bytes: int
    max_message_bytes: int
    max_new_participants: int = 10  # per mail, besides a new ticket's sender
    max_participants: int = 50  # per ticket
    max_text_bytes: int = 512 * 1024  # text and HTML kept per message; the raw mail keeps all
    max_attachments: int = 100  # stored from one mail; the rest are listed, up to LISTED_ATTACHMENTS
    sla: object = None  # service_levels.Settings: the tickets' service-level clocks
    queue: str = "default"  # the queue of the mailbox being read: its new tickets go there


# Attachment rows one mail may add (stored or listed); beyond them a note counts the rest.
LISTED_ATTACHMENTS = 1000
CUT_MARKER = ("[Cut here: this message has {total} characters; the first {kept} are kept for display, mail "
              "and search. The raw mail keeps all of it (message #{ledger} in `helpdesk mail log`; "
              "\"Raw mail\" on the staff page).]")
HTML_CUT = "<p><em>[Cut here: the formatted version is longer than {limit:,} bytes. The raw mail keeps all of it.]</em></p>"


@dataclass
class _Job:
    """One message's write: what the writers share."""

    decision: Decision
    fetched: Fetched
    inbound: Inbound | None
    ctx: Context
    view: BatchView
    rows: Deferred
    blobs: dict[int, str | None]
    raw_sha: str
    error_detail: str
    now: dt.datetime
    ledger: InboundMail | None  # given when re-processing
    internal: bool = False  # the message was stored as an internal note: mail it to nobody
    message: Message | None = None  # the message it stored, if any

    def record(self, ticket_id: int | None) -> InboundMail:
        """Write the ledger row (the message's place in the mailbox, and what came of it)."""
        inbound, decision = self.inbound, self.decision
        fields = dict(
            message_id=(inbound.message_id if inbound else (
                message_id_of(self.fetched.raw) or f"sha256-{self.raw_sha}@helpdesk.invalid"))[:998],
            raw_sha256=self.raw_sha, fingerprint=inbound.fingerprint if inbound else "", size=self.fetched.size,
            from_addr=(inbound.from_addr if inbound else "")[:320], subject=(inbound.subject if inbound else "")[:998],
            outcome=_outcome_of(decision), reason=decision.reason, processed_at=self.now, ticket=ticket_id,
        )
        if self.ledger is None:
            self.ledger = insert_row(InboundMail, mailbox=self.fetched.mailbox,
                                     uidvalidity=self.fetched.uidvalidity, uid=self.fetched.uid,
                                     received_at=self.now, **fields)
        else:
            InboundMail.update(**fields).where(InboundMail.id == self.ledger.id).execute()
            for key, value in fields.items():
                setattr(self.ledger, key, value)
        return self.ledger


def apply(decision: Decision, fetched: Fetched, inbound: Inbound | None, ctx: Context, view: BatchView, *,
          error_detail: str = "", ledger: InboundMail | None = None, now: dt.datetime | None = None,
          raw_stored: str | None = None, blobs: dict[int, str | None] | None = None) -> Applied:
    """Write what the decision says. `ledger` is given when re-processing a quarantined mail;
    `raw_stored` and `blobs` are the hashes of the raw message and of the attachments when
    the caller has already stored them."""
    now = now or utcnow()
    raw_sha = raw_stored or ctx.store.put_raw(fetched.raw, inbound.raw_sha256 if inbound else None)
    if not (inbound and _keeps_content(decision)):
        blobs = {}
    elif blobs is None:
        blobs = store_attachments(inbound, ctx.store, ctx.max_attachment_bytes, ctx.max_attachments)
    rows = Deferred()
    rows.webhook_endpoints = view.webhook_endpoints  # read once for the batch (domain/webhooks.py)
    job = _Job(decision, fetched, inbound, ctx, view, rows, blobs, raw_sha, error_detail, now, ledger)
    try:
        with db.atomic():
            ticket_id, status = _WRITERS[type(decision)](job)
            row = job.ledger
            if ledger is not None and not isinstance(decision, QuarantineDecision):
                Quarantine.update(resolved_at=now).where(Quarantine.inbound == row).execute()
            internal = isinstance(decision, StaffReply) and job.internal
            held = isinstance(decision, Reply) and decision.trust.held
            return Applied(row.outcome, row.reason, row.id, ticket_id, ticket_status=status, internal=internal,
                           held=held, message=job.message.id if job.message else None, rows=job.rows)
    except IntegrityError:
        existing = _existing(fetched)
        if existing is not None:
            return Applied(existing.outcome, existing.reason, existing.id, existing.ticket_id, already=True)
        if isinstance(decision, (NewTicket, Reply, StaffReply)):
            # Another worker stored the same Message-ID between our read and our write.
            dup = Ignore("Message-ID stored meanwhile by another worker", outcome=Outcome.DUPLICATE.value)
            return apply(dup, fetched, inbound, ctx, view, ledger=ledger, now=now, raw_stored=raw_sha)
        raise


def _keeps_content(decision: Decision) -> bool:
    return isinstance(decision, (NewTicket, Reply, StaffReply))


def _existing(fetched: Fetched) -> InboundMail | None:
    return InboundMail.get_or_none(
        InboundMail.mailbox == fetched.mailbox,
        InboundMail.uidvalidity == fetched.uidvalidity,
        InboundMail.uid == fetched.uid,
    )


_OUTCOMES = {NewTicket: Outcome.NEW_TICKET, Reply: Outcome.REPLY, StaffReply: Outcome.STAFF_REPLY,
             Bounce: Outcome.BOUNCE, QuarantineDecision: Outcome.QUARANTINED}


def _outcome_of(decision: Decision) -> str:
    if isinstance(decision, Ignore):
        return decision.outcome
    return _OUTCOMES[type(decision)].value


def store_attachments(inbound: Inbound, store: BlobStore, limit: int, count: int = 100) -> dict[int, str | None]:
    """Blob hash per attachment index; None for the ones over the size limit and those after
    the first `count`."""
    return {i: None if part.size > limit or i >= count else store.put(part.payload)
            for i, part in enumerate(inbound.attachments)}


def _own(ctx: Context):
    return lambda address: tokens.is_own_address(address, ctx.support_addresses)


def _body(job: _Job) -> tuple[str, str, str | None]:
    """(full text, display text, HTML), each cut at the text limit with a marker that says
    what was cut and that the raw mail has it; a note in place of the body of a message too
    large to fetch."""
    if job.fetched.truncated:
        note = (f"[This message is {job.fetched.size / 1_048_576:.1f} MB, over the limit of "
                f"{job.ctx.max_message_bytes / 1_048_576:.1f} MB. Only its header was imported; "
                f"the whole message stays on the mail server.]")
        return note, note, None
    inbound, limit = job.inbound, job.ctx.max_text_bytes
    marker = CUT_MARKER.replace("{ledger}", str(job.ledger.id if job.ledger else "?"))
    text, _ = limits.cut(inbound.text, limit, marker=marker)
    display = text if not inbound.reply_text or inbound.reply_text == inbound.text else \
        limits.cut(inbound.reply_text, limit, marker=marker)[0]
    html = inbound.html
    if html is not None and len(html) > limit // 4 and len(html.encode("utf-8", "surrogatepass")) > limit:
        # Cut, then sanitised again: that closes the elements the cut left open.
        html = sanitise_html(limits.cut(html, limit, marker="")[0]) + HTML_CUT.format(limit=limit)
    return text, display, html


def _without_commands(text: str, display: str, html: str | None) -> tuple[str, str, str | None]:
    """The engineer's mail without its command lines, in every part a customer may be shown:
    the text, its quoted fold, the HTML (dropped when its markup hides a command line from
    us: the text part says the same). The raw mail keeps them; the effects are on the ticket."""
    if html is not None:
        html = html_without_commands(html)
        if html_has_commands(html):
            html = None
    return commands_of(text)[1], commands_of(display)[1], html


def _add_mail_message(job: _Job, ticket, kind: MessageKind, rule: str, *, without_commands: bool = False,
                      minutes: int | None = None, above: str = "") -> Message:
    """`above`: text put before what the sender wrote (a canned answer filled in)."""
    inbound, now = job.inbound, job.now
    author = job.view.users.get(inbound.from_addr)
    if author is not None and author.is_staff and kind is MessageKind.CUSTOMER:
        author = None  # an engineer's address in From, without its reply address: not the engineer
    text, display, html = _body(job)
    if without_commands:  # the engineer's #commands are acted on, never shown to a customer (issue 17)
        text, display, html = _without_commands(text, display, html)
    if above:
        display = above + ("\n\n" + display if display.strip() else "")
    message = tickets.add_message(
        ticket, kind=kind, author_email=inbound.from_addr, author_name=inbound.from_name,
        subject=inbound.subject, body_text=text, body_display=display, body_html=html,
        message_id=inbound.message_id, in_reply_to=inbound.in_reply_to, references=inbound.references,
        thread_rule=rule, inbound=job.ledger, sent_at=inbound.date, now=now,
        author=author, sink=job.rows, touch=False, minutes=minutes,
    )
    job.message = message
    for i, part in enumerate(inbound.attachments[:LISTED_ATTACHMENTS]):
        sha = job.blobs.get(i)
        blob = None if sha is None else id_of_or_insert(Blob, "sha256", sha, size=part.size, created_at=now)
        insert_row(
            Attachment, message=message, blob=blob, filename=part.filename[:255], content_type=part.content_type[:255],
            size=part.size, inline=part.inline, content_id=part.content_id,
            skipped_reason="" if blob else _not_stored(job.ctx, i, part.size),
        )
    unlisted = len(inbound.attachments) - LISTED_ATTACHMENTS
    stored = sum(1 for sha in job.blobs.values() if sha)
    if len(inbound.attachments) > job.ctx.max_attachments:
        text = (f"This mail has {len(inbound.attachments):,} attachments; {stored:,} are stored (at most "
                f"{job.ctx.max_attachments:,} from one mail)"
                + (f", {LISTED_ATTACHMENTS:,} are listed and {unlisted:,} more are not" if unlisted > 0 else
                   ", the others are listed")
                + f". The raw mail keeps them all (message #{job.ledger.id} in `helpdesk mail log`).")
        tickets.add_message(ticket, kind=MessageKind.SYSTEM, author_email="", body_text=text, thread_rule="limits",
                            now=now, author=None, sink=job.rows, touch=False)
    if inbound.from_addr in job.view.bounced:
        # Someone who writes to us again is deliverable again.
        AddressStatus.update(bounced_at=None).where(AddressStatus.email == inbound.from_addr).execute()
    return message


def _not_stored(ctx: Context, index: int, size: int) -> str:
    if index >= ctx.max_attachments:
        return f"over the limit of {ctx.max_attachments} attachments per mail; kept in the raw message"
    return f"over the attachment limit of {ctx.max_attachment_bytes / 1_048_576:.1f} MB; kept in the raw message"


def _cc_candidates(inbound: Inbound) -> list[tuple[str, str]]:
    return [(a, "") for a in inbound.reply_to + inbound.to + inbound.cc]


def _ticket(job: _Job) -> Ticket:
    """The matched ticket as far as a reply needs it: its id and status, from the batch's view."""
    ticket_id = job.decision.ticket_id  # type: ignore[attr-defined]
    return Ticket(id=ticket_id, status=job.view.status[ticket_id])


def _calendar(job: _Job):
    return job.ctx.sla.calendar if job.ctx.sla is not None else None  # type: ignore[attr-defined]


def write_new_ticket(job: _Job):
    inbound, users, ctx = job.inbound, job.view.users, job.ctx
    subject = subjects.strip_prefixes(inbound.subject) or "(no subject)"
    ticket = tickets.open_ticket(subject=subject, requester_email=inbound.from_addr, channel="mail", now=job.now,
                                 requester=users.get(inbound.from_addr), sink=job.rows, sla=job.ctx.sla,
                                 queue=job.ctx.queue)
    job.record(ticket.id)
    # The sender, its Reply-To, To and Cc take part (SPEC E6), within the caps (no relay).
    added = tickets.add_participants(ticket, [(inbound.from_addr, inbound.from_name)], role="requester",
                                     exclude=_own(ctx), now=job.now, users=users, existing=set(), sink=job.rows)
    refused: list[str] = []
    tickets.add_participants(ticket, _cc_candidates(inbound), exclude=_own(ctx), now=job.now, users=users,  # type: ignore[arg-type, attr-defined]
                             existing=set(added), sink=job.rows,
                             limit=tickets.room_for(ctx.max_new_participants, ctx.max_participants, len(added)),
                             refused=refused)
    _add_mail_message(job, ticket, MessageKind.CUSTOMER, "new")
    _record_cap(job, ticket.id, refused)
    _record_reused(job, ticket.id, job.decision.message_id_reused)  # type: ignore[arg-type, attr-defined]
    return ticket.id, ticket.status


def write_reply(job: _Job):
    decision, inbound, ctx = job.decision, job.inbound, job.ctx
    ticket = _ticket(job)
    job.record(ticket.id)
    existing = job.view.participants.get(ticket.id, set())
    candidates = [(inbound.from_addr, inbound.from_name)] + _cc_candidates(inbound)  # type: ignore[arg-type, attr-defined]
    message = _add_mail_message(job, ticket, MessageKind.CUSTOMER, decision.rule)  # type: ignore[arg-type, attr-defined]
    trust = decision.trust  # type: ignore[arg-type, attr-defined]
    if trust.signed:
        # Its reply address proves the sender got our mail: its Reply-To, To and Cc join.
        refused: list[str] = []
        tickets.add_participants(ticket, candidates, exclude=_own(ctx), now=job.now, users=job.view.users,
                                 existing=existing, sink=job.rows,
                                 limit=tickets.room_for(ctx.max_new_participants, ctx.max_participants,
                                                        len(existing)), refused=refused)
        _record_cap(job, ticket.id, refused)
    else:
        # Nobody joins; the staff page offers the new addresses to an engineer (one click).
        new = [a for a in tickets.candidates_of(candidates, exclude=_own(ctx)) if a not in existing]
        if trust.flag:
            security_events.record(trust.flag, trust.why, sender=inbound.from_addr, ticket_id=ticket.id,
                                   message_id=message.id, inbound_id=job.ledger.id, addresses=new, now=job.now,
                                   sink=job.rows)
        elif new:
            security_events.record(
                "unsigned_participants",
                f"matched by {decision.rule}, not by a signed reply address: {len(new)} new address(es) not added; "  # type: ignore[arg-type, attr-defined]
                "an engineer may add them on the ticket's page", sender=inbound.from_addr, ticket_id=ticket.id,
                message_id=message.id, inbound_id=job.ledger.id, addresses=new, now=job.now, sink=job.rows)
    _record_reused(job, ticket.id, decision.message_id_reused)  # type: ignore[arg-type, attr-defined]
    new_status = tickets.status_after_customer_message(ticket.status)
    reason = "reopened by a customer reply" if decision.reopen else "customer replied"  # type: ignore[attr-defined]
    if not tickets.set_status(ticket, new_status, reason=reason, now=job.now, sink=job.rows, calendar=_calendar(job)):
        tickets.touch(ticket, job.now)
    return ticket.id, ticket.status


def _record_cap(job: _Job, ticket_id: int, refused: list[str]) -> None:
    """The addresses the caps kept off the ticket: on the ticket's record for staff."""
    if refused:
        ctx = job.ctx
        security_events.record(
            "participant_cap", f"{len(refused)} address(es) not added: at most {ctx.max_new_participants} new "
            f"participants per mail and {ctx.max_participants} per ticket", sender=job.inbound.from_addr,
            ticket_id=ticket_id, message_id=job.message.id if job.message else None, inbound_id=job.ledger.id,
            addresses=refused, now=job.now, sink=job.rows)


def _record_reused(job: _Job, ticket_id: int, earlier: str) -> None:
    """A different mail with an earlier mail's Message-ID: kept, and flagged."""
    if earlier:
        security_events.record(
            "message_id_reused", f"Message-ID <{job.inbound.message_id}> was already used by a different mail "
            f"({earlier}); this one is kept as a message of its own", sender=job.inbound.from_addr,
            ticket_id=ticket_id, message_id=job.message.id if job.message else None, inbound_id=job.ledger.id,
            now=job.now, sink=job.rows)


def write_staff_reply(job: _Job):
    ticket = _ticket(job)
    commands = job.decision.commands  # type: ignore[attr-defined]
    job.record(ticket.id)
    engineer = job.view.users.get(job.inbound.from_addr)
    above, failed = _canned(job, commands.canned, engineer) if commands.canned else ("", False)
    job.internal = commands.note or failed
    kind = MessageKind.NOTE if job.internal else MessageKind.STAFF
    _add_mail_message(job, ticket, kind, job.decision.rule, without_commands=commands.any, above=above,  # type: ignore[attr-defined]
                      minutes=commands.minutes)
    if commands.assign_me and engineer is not None:
        Ticket.update(assignee=engineer.id).where(Ticket.id == ticket.id).execute()
        webhooks.emit("ticket.assigned", {"ticket": {"id": ticket.id, "status": ticket.status},
                                          "assignee": {"id": engineer.id, "email": engineer.email,
                                                       "name": engineer.email},
                                          "assigned_by": engineer.email}, now=job.now, sink=job.rows)
    if commands.close:
        status, why = Status.CLOSED, "closed by the engineer's #close"
    elif commands.status:
        status, why = Status(commands.status), f"set by the engineer's #{commands.status}"
    elif commands.note or ticket.status == Status.CLOSED.value:
        status, why = None, ""
    else:
        status, why = Status.WAITING_CUSTOMER, "engineer replied by mail"
    if status is None or not tickets.set_status(ticket, status, by=engineer, reason=why, now=job.now, sink=job.rows,
                                                calendar=_calendar(job)):
        tickets.touch(ticket, job.now)
    return ticket.id, ticket.status


def _canned(job: _Job, name: str, engineer) -> tuple[str, bool]:
    """(the canned answer filled in, False), or (why it could not be, True): then the reply is
    kept as an internal note, so the engineer sees why and the customer gets nothing half-done."""
    full = User.get_or_none(User.id == engineer.id) if engineer is not None else None
    try:
        return canned.fill(name, job.decision.ticket_id, full, prefix=job.ctx.prefix), False  # type: ignore[attr-defined]
    except canned.NotFound:
        why = f"there is no canned answer named {name}"
    except canned.Invalid as error:
        why = f"the canned answer {name} cannot be filled in: {error}"
    return f"[#canned {name}: {why}. This reply was kept as an internal note and not sent.]", True


def write_bounce(job: _Job):
    """A delivery report: it marks an address undeliverable only when it proved it returns our
    mail to that address and says the address itself is dead (`domain.deliverability`)."""
    report, now = job.inbound.report, job.now
    decision: Bounce = job.decision  # type: ignore[assignment]  # write_bounce is for Bounce only
    marked, why = _bounce_marks(report, decision)
    for address in marked:
        status, _ = AddressStatus.get_or_create(email=address.lower()[:320])
        status.bounced_at = now
        status.bounce_reason = f"{report.status} {report.diagnostic}".strip()[:2000]
        status.bounce_count += 1
        status.save()
    outcome = (f"marked undeliverable: {', '.join(marked)} (the report {decision.proof})" if marked
               else f"nothing marked: {why}")
    job.decision = replace(decision, reason=f"{decision.reason}; {outcome}"[:2000])
    ticket_id = decision.ticket_id
    row = job.record(ticket_id)
    if report is not None and report.permanent and not decision.marks and \
            deliverability.verdict(status=report.status, text=report.diagnostic).marks:
        # It would have silenced these addresses had we believed it.
        security_events.record("bounce_refused", f"a delivery report that {decision.proof or 'proves nothing'} "
                               f"says {', '.join(report.failed[:5]) or 'an address'} failed for good: nothing marked",
                               sender=job.inbound.from_addr, ticket_id=ticket_id, inbound_id=row.id,
                               addresses=report.failed[:50], now=now, sink=job.rows)
    if ticket_id is None:
        return None, None
    failed = ", ".join(report.failed) if report and report.failed else "an address"
    kind = "permanently" if report and report.permanent else "temporarily"
    text = f"Delivery to {failed} failed {kind}"
    if report and (report.status or report.diagnostic):
        text += f": {report.status} {report.diagnostic}".rstrip()
    text += (f". {', '.join(marked)} is marked undeliverable: no more mail goes there." if marked
             else f". The address stays in use ({why}).")
    Message.create(ticket=ticket_id, kind=MessageKind.SYSTEM.value, author_email=job.inbound.from_addr,
                   subject=job.inbound.subject[:998], body_text=text, inbound=row,
                   thread_rule="bounce", created_at=now)
    return ticket_id, None


def _bounce_marks(report, decision: Bounce) -> tuple[list[str], str]:
    """(the addresses to mark undeliverable, or why none is)."""
    if report is None:
        return [], "no delivery report could be read"
    if not report.permanent:
        return [], "a delay or temporary failure"
    judged = deliverability.verdict(status=report.status, text=report.diagnostic)
    if not judged.marks:
        return [], judged.why
    if not decision.marks:
        return [], f"the report {decision.proof or 'refers to no mail we sent'}"
    return list(decision.marks), ""


def write_nothing(job: _Job):
    job.record(None)
    return None, None


def write_quarantine(job: _Job):
    row = job.record(None)
    entry = Quarantine.get_or_none(Quarantine.inbound == row)
    if entry is None:
        Quarantine.create(inbound=row, error=job.decision.reason, detail=job.error_detail, created_at=job.now)
    else:
        Quarantine.update(error=job.decision.reason, detail=job.error_detail, attempts=Quarantine.attempts + 1,
                          resolved_at=None).where(Quarantine.id == entry.id).execute()
    return None, None


_WRITERS = {
    NewTicket: write_new_ticket,
    Reply: write_reply,
    StaffReply: write_staff_reply,
    Bounce: write_bounce,
    Ignore: write_nothing,
    QuarantineDecision: write_quarantine,
}
