"""Ticket operations from the portal and the staff pages (SPEC W7, W8).

The same rows and the same notices as the mail path (`domain.tickets`, `inbox_worker.notify`):
a reply typed in the portal and a reply sent by mail differ only in their channel. Every
operation is one transaction that re-reads the ticket first (BEGIN IMMEDIATE on SQLite,
SELECT ... FOR UPDATE elsewhere), so a portal reply racing an incoming mail loses nothing.
Files are stored and made durable before the commit that refers to them.
"""
from __future__ import annotations

import datetime as dt
import logging
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from helpdesk import database
from helpdesk.config import Config
from helpdesk.domain import outbox
from helpdesk.domain.notify import Event, notify, notify_reopened
from helpdesk.models import (
    PARTNER_ROLES,
    Attachment,
    Blob,
    Contract,
    DeviceLine,
    KnownMessageId,
    Message,
    MessageKind,
    Outcome,
    Participant,
    Role,
    Status,
    Ticket,
    User,
    db,
    utcnow,
)

from . import audit, collisions, limits, rollups, security_events, service_levels, tickets, webhooks
from .storage import BlobStore, safe_filename
from .validation import N_, Invalid, one_line

log = logging.getLogger(__name__)

MAX_FILES = 10  # per message
MAX_CCS = 100  # addresses read from one form; how many may join is config's caps (add_cc, submit_ticket)
MAX_TEXT = 100_000


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


class TooManyParticipants(Invalid):
    """Over the caps on participants (issue 13): nothing was added."""


class NotFound(LookupError):
    """No such object, or not one this user may see: the page says 404 either way."""


# --- pure checks -----------------------------------------------------------------------


def checked_uploads(uploads: list[Upload], limit: int) -> list[Upload]:
    """The uploads as they will be stored; `Invalid` names the first one we refuse."""
    uploads = [u for u in uploads if u.filename or u.data]  # an empty file input sends nothing useful
    if len(uploads) > MAX_FILES:
        raise Invalid(N_("At most 10 files can be attached to one message."))
    out = []
    for upload in uploads:
        name = safe_filename(upload.filename, upload.content_type)
        if not upload.data:
            raise Invalid(N_("The file %(name)s is empty."), {"name": name})
        if len(upload.data) > limit:
            raise Invalid(N_("The file %(name)s is larger than %(limit)s MB."),
                          {"name": name, "limit": f"{limit / 1_048_576:g}"})
        content_type = (upload.content_type or "").split(";")[0].strip().lower()
        if not re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", content_type):
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        out.append(Upload(name, content_type, upload.data))
    return out


def parse_addresses(text: str, *, limit: int = MAX_CCS) -> list[str]:
    """Addresses separated by commas, semicolons, spaces or lines; `Invalid` lists the bad ones."""
    parts = [p for p in re.split(r"[,;\s]+", text or "") if p]
    if len(parts) > limit:
        raise Invalid(N_("Give at most %(limit)s addresses at a time."), {"limit": limit})
    good, bad = [], []
    for part in parts:
        try:
            address = validate_email(one_line(part), check_deliverability=False).normalized.lower()
        except (EmailNotValidError, Invalid):
            bad.append(part[:80])
            continue
        if address not in good:
            good.append(address)
    if bad:
        raise Invalid(N_("These are not valid email addresses: %(addresses)s"), {"addresses": ", ".join(bad)})
    return good


def checked_text(text: str, *, required: bool = True) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise Invalid(N_("This field is required."))
    if len(text) > MAX_TEXT:
        raise Invalid(N_("This is too long."))
    return text


# --- writing ------------------------------------------------------------------------------


def _locked(ticket_id: int) -> Ticket:
    """The ticket as it is now, locked for this transaction (SQLite: the write lock is held)."""
    query = Ticket.select().where(Ticket.id == ticket_id)
    if not database.is_sqlite(db.obj):
        query = query.for_update()
    ticket = query.get_or_none()
    if ticket is None:
        raise NotFound(ticket_id)
    return ticket


def _store(config: Config, message: Message, uploads: list[Upload], now: dt.datetime) -> None:
    store = BlobStore(config.blob_dir, config.raw_dir)  # fsyncs each file before the commit
    for upload in uploads:
        sha = store.put(upload.data)
        blob, _ = Blob.get_or_create(sha256=sha, defaults={"size": len(upload.data), "created_at": now})
        Attachment.create(message=message, blob=blob, filename=upload.filename, content_type=upload.content_type,
                          size=len(upload.data))


def _message_id(config: Config, ticket_id: int) -> str:
    return outbox.new_message_id(config.support_address.split("@", 1)[1], ticket_id)


def portal_queue(config: Config, user: User) -> str:
    """The queue of a ticket opened in the portal: the first rule of HELPDESK_PORTAL_QUEUE_RULES
    that fits the user (partner: a partner account, or a user of a partner company), else the
    default queue (the first mailbox's)."""
    for who, queue in config.portal_queue_rules:
        if who == "partner" and (user.role == Role.PARTNER.value
                                 or (user.company_id and user.company.role in PARTNER_ROLES)):
            return queue
    return config.default_queue


def submit_ticket(config: Config, user: User, *, contract: Contract, line: DeviceLine | None, title: str,
                  description: str, uploads: Sequence[Upload] = (), ccs: Sequence[str] = (),
                  now: dt.datetime | None = None) -> Ticket:
    """A new ticket from the portal, about a contract (and one of its device lines)."""
    now = now or utcnow()
    title = limits.one_line(title)  # a subject every later mail carries: no NUL, no line break
    ccs = list(tickets.candidates_of([(a, "") for a in ccs], exclude=lambda a: a in config.support_addresses
                                     or a == user.email.lower()))
    room = tickets.room_for(config.max_new_participants_per_mail, config.max_participants_per_ticket, 1)
    if len(ccs) > room:
        with db.atomic():
            security_events.record(
                "participant_cap", f"{user.email} named {len(ccs)} CC addresses on a new ticket in the portal: at "
                f"most {room}; nothing was stored", sender=user.email, addresses=ccs, now=now)
        raise TooManyParticipants(N_("Give at most %(limit)s addresses at a time."), {"limit": room})
    with db.atomic():
        ticket = tickets.open_ticket(subject=title, requester_email=user.email, channel="portal", now=now,
                                     contract=contract, device_line=line, requester=user,
                                     sla=service_levels.settings_of(config), queue=portal_queue(config, user))
        message_id = _message_id(config, ticket.id)
        message = tickets.add_message(ticket, kind=MessageKind.CUSTOMER, author_email=user.email,
                                      author_name=user.name, subject=title, body_text=description,
                                      message_id=message_id, thread_rule="portal", now=now, author=user)
        _store(config, message, uploads, now)  # type: ignore[arg-type]
        tickets.add_participants(ticket, [(user.email, user.name)], role="requester", added_by="portal", now=now)
        tickets.add_participants(ticket, [(a, "") for a in ccs], added_by="portal", now=now,
                                 exclude=lambda a: a in config.support_addresses)
        notify(config, [Event(Outcome.NEW_TICKET.value, ticket.id, user.email, message_id)], now=now)
    log.info("ticket %s opened in the portal by %s", ticket.ref(config.ticket_prefix), user.email)
    return ticket


def reply(config: Config, ticket_id: int, user: User, text: str, *, uploads: Sequence[Upload] = (),
          internal: bool = False, close: bool = False, now: dt.datetime | None = None,
          minutes: int | None = None, seen_message_id: int | None = None) -> Message:
    """A message on a ticket: a customer's reply (reopens a closed ticket), an engineer's
    public answer (mailed to every participant; then waiting for the customer), or an
    engineer's internal note (never mailed). `close`: an engineer answers and closes.
    `seen_message_id`: the newest message the engineer's form showed; when someone else's
    message came after it, nothing is saved and `collisions.Held` says what arrived."""
    now = now or utcnow()
    staff = user.is_staff
    if internal and not staff:
        raise PermissionError("only engineers write internal notes")
    kind = MessageKind.NOTE if internal else MessageKind.STAFF if staff else MessageKind.CUSTOMER
    with db.atomic():
        ticket = _locked(ticket_id)
        if staff and seen_message_id is not None:
            arrived = collisions.arrived_since(ticket.id, seen_message_id, user)
            if arrived:
                raise collisions.Held(arrived, collisions.newest_id(ticket.id))
        message_id = _message_id(config, ticket.id)
        message = tickets.add_message(ticket, kind=kind, author_email=user.email, author_name=user.name,
                                      subject=ticket.subject, body_text=text, message_id=message_id,
                                      thread_rule="portal" if not staff else "staff page", now=now, author=user,
                                      references=_last_ids(ticket.id), minutes=minutes if staff else None)
        _store(config, message, uploads, now)  # type: ignore[arg-type]
        calendar = service_levels.settings_of(config).calendar
        if kind is MessageKind.CUSTOMER:
            tickets.set_status(ticket, tickets.status_after_customer_message(ticket.status), by=user,
                               reason="customer replied in the portal", now=now, calendar=calendar)
        elif close:
            tickets.set_status(ticket, Status.CLOSED, by=user, reason="closed with the engineer's answer", now=now)
        elif kind is MessageKind.STAFF and ticket.status != Status.CLOSED.value:
            tickets.set_status(ticket, Status.WAITING_CUSTOMER, by=user, reason="engineer replied", now=now)
        if kind is not MessageKind.NOTE:
            event = (Outcome.STAFF_REPLY if staff else Outcome.REPLY).value
            notify(config, [Event(event, ticket.id, user.email, message_id, tuple(_last_ids(ticket.id)))], now=now)
    return message


def _last_ids(ticket_id: int) -> list[str]:
    """The ticket's latest Message-IDs, for References: mail clients thread by them."""
    rows = (KnownMessageId.select(KnownMessageId.message_id).where(KnownMessageId.ticket == ticket_id)
            .order_by(KnownMessageId.id.desc()).limit(5))
    return [r.message_id for r in rows][::-1]


def add_cc(ticket_id: int, addresses: list[str], by: User, config: Config, *,
           now: dt.datetime | None = None) -> list[str]:
    """Add CCs; they get every public message from now on. Returns the ones new to the ticket.
    Within the caps (per form, per ticket): over them nothing is added, the attempt is a
    security event and `TooManyParticipants` says why."""
    now = now or utcnow()
    per_form, per_ticket = config.max_new_participants_per_mail, config.max_participants_per_ticket
    refused: list[str] = []
    with db.atomic():
        ticket = _locked(ticket_id)
        count = tickets.participant_count(ticket.id)
        new = [a for a in tickets.candidates_of([(a, "") for a in addresses],
                                                exclude=lambda a: a in config.support_addresses)
               if not tickets.is_participant(ticket.id, a)]
        if len(new) > tickets.room_for(per_form, per_ticket, count):
            refused = new
        else:
            added = tickets.add_participants(ticket, [(a, "") for a in new],
                                             added_by="staff" if by.is_staff else "portal", now=now,
                                             exclude=lambda a: a in config.support_addresses)
            tickets.touch(ticket, now)
            _audit(by, "add_cc", ticket, ", ".join(added), now)
    if refused:
        with db.atomic():
            security_events.record(
                "participant_cap", f"{by.email} tried to add {len(refused)} address(es) on the "
                f"{'staff' if by.is_staff else 'customer'} page; the ticket has {count} participant(s): at most "
                f"{per_form} new ones at a time and {per_ticket} per ticket; nothing was added",
                sender=by.email, ticket_id=ticket_id, addresses=refused, now=now)
        if len(refused) > per_form:
            raise TooManyParticipants(N_("Give at most %(limit)s addresses at a time."), {"limit": per_form})
        raise TooManyParticipants(N_("A ticket can have at most %(limit)s people on it; this one has %(count)s."),
                                  {"limit": per_ticket, "count": count})
    return added


def remove_cc(ticket_id: int, participant_id: int, by: User, *, now: dt.datetime | None = None) -> str:
    """Remove a CC (never the requester); returns the address removed."""
    now = now or utcnow()
    with db.atomic():
        ticket = _locked(ticket_id)
        participant = Participant.get_or_none(Participant.id == participant_id, Participant.ticket == ticket.id)
        if participant is None:
            raise NotFound(participant_id)
        if participant.role == "requester":
            raise Invalid(N_("The requester cannot be removed from the ticket."))
        participant.delete_instance()
        _audit(by, "remove_cc", ticket, participant.email, now)
    return participant.email


def change_status(ticket_id: int, status: Status, by: User, *, now: dt.datetime | None = None,
                  config: Config | None = None) -> bool:
    """Reopen (anyone who sees the ticket), or any status (engineers)."""
    now = now or utcnow()
    if not by.is_staff and status is not Status.OPEN:
        raise PermissionError("customers may only reopen")
    with db.atomic():
        ticket = _locked(ticket_id)
        if not by.is_staff and ticket.status != Status.CLOSED.value:
            return False
        reason = "reopened in the portal" if not by.is_staff else "changed on the staff pages"
        calendar = service_levels.settings_of(config).calendar if config is not None else None
        changed = tickets.set_status(ticket, status, by=by, reason=reason, now=now, calendar=calendar)
        if changed and not by.is_staff and config is not None:
            notify_reopened(config, ticket.id, by, now=now)  # somebody must pick it up again
        return changed


def assign(ticket_id: int, engineer_id: int | None, by: User, *, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    with db.atomic():
        ticket = _locked(ticket_id)
        engineer = None
        if engineer_id is not None:
            engineer = User.get_or_none(User.id == engineer_id)
            if engineer is None or not engineer.is_staff or not engineer.is_active:
                raise Invalid(N_("Choose an active engineer."))
        Ticket.update(assignee=engineer, updated_at=now).where(Ticket.id == ticket.id).execute()
        if engineer_id != ticket.assignee_id:
            webhooks.emit("ticket.assigned", assigned_data(ticket, engineer, by), now=now)
        if engineer and ticket.status == Status.NEW.value:
            tickets.set_status(ticket, Status.OPEN, by=by, reason=f"assigned to {engineer.email}", now=now)
        _audit(by, "assign", ticket, engineer.email if engineer else "nobody", now)


def assigned_data(ticket: Ticket, engineer: User | None, by: User | None) -> dict:
    return {"ticket": {"id": ticket.id, "status": ticket.status},
            "assignee": {"id": engineer.id, "email": engineer.email, "name": engineer.name} if engineer else None,
            "assigned_by": by.email if by else None}


def move_message(message_id: int, target_ticket_id: int, by: User, *, now: dt.datetime | None = None) -> None:
    """Put a message on another ticket when threading got it wrong; its Message-ID moves too,
    so later replies to it follow."""
    now = now or utcnow()
    with db.atomic():
        message = Message.get_or_none(Message.id == message_id)
        target = Ticket.get_or_none(Ticket.id == target_ticket_id)
        if message is None or target is None:
            raise NotFound(message_id if message is None else target_ticket_id)
        if message.ticket_id == target.id:
            return
        source = message.ticket_id
        rollups.minutes_moved(Message.id == message.id, Ticket.select(Ticket.contract).where(
            Ticket.id == source).scalar(), target.contract_id)
        Message.update(ticket=target, thread_rule=f"moved from #{source} by {by.email}"[:40]).where(
            Message.id == message.id).execute()
        KnownMessageId.update(ticket=target).where(KnownMessageId.message == message.id).execute()
        tickets.touch(target, now)
        _audit(by, "move_message", target, f"message {message.id} from ticket {source}", now)


def _audit(actor: User, action: str, ticket: Ticket, detail: str, now: dt.datetime) -> None:
    audit.record(actor, action, "ticket", ticket.id, detail, now)
