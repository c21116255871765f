"""Compose: the mail an outbox row with a `spec` stands for, just before it is delivered.

In: an `Outbox` row queued by `domain.notify` (a ticket notice) or by the scheduler (a
digest, `digest_mail.py`). Out: the complete message as bytes, rendered from
`templates/mail/` with the conversation as it was up to the message it is about, and the
files of that message attached while they fit (`config.max_notice_bytes`), the rest listed.
Reads the database; never writes.
"""
from __future__ import annotations

import datetime as dt
import json

from helpdesk.config import Config
from helpdesk.domain import devices, i18n, limits, local_time, outbox, partner_view, tokens
from helpdesk.domain.storage import BlobStore
from helpdesk.models import Attachment, Blob, Message, MessageKind, Outbox, Participant, Ticket, User

from . import digest_mail

HISTORY = 5  # earlier messages quoted below a notice, newest first
HISTORY_CHARS = 4000  # of each earlier message quoted below a notice
CUT_TAIL = "\n\n[...]"  # what limits.cut puts after a cut text here
LEFT_OUT_NAMES = 50  # file names listed in a notice; the rest are counted


def _history(ticket_id: int, message_id: str, max_bytes: int, *, message: int | None = None,
             since: dt.datetime | None = None, zone: str = "") -> tuple[dict, list[dict]]:
    """The message itself and the public ones before it, newest first; the message cut to
    `max_bytes` (its `cut` then says how much is shown), earlier ones to HISTORY_CHARS.
    `message`: the stored message's row (a Message-ID may be reused by another mail);
    `since`: only what came from then on (a participant who joined later never gets what
    was mailed before it joined)."""
    about = message or Message.select(Message.id).where(
        Message.ticket == ticket_id, Message.message_id == message_id).order_by(Message.id).scalar()
    query = Message.select(Message.id, Message.author_email, Message.author_name, Message.body_text,
                           Message.body_display, Message.created_at).where(
        Message.ticket == ticket_id, Message.kind.in_([MessageKind.CUSTOMER.value, MessageKind.STAFF.value]))
    if about:  # not what came after it: the sender may render this long after
        query = query.where(Message.id <= about)
    if since is not None:
        query = query.where((Message.created_at >= since) | (Message.id == about))
    shown = [{"id": r.id, "author": r.author_name or r.author_email, "when": local_time.shown(r.created_at, zone, named=True),
              "text": r.display.strip()} for r in query.order_by(Message.id.desc()).limit(HISTORY + 1)]
    for i, item in enumerate(shown):
        text = item["text"]
        item["text"], cut = limits.cut(text, max_bytes if i == 0 else HISTORY_CHARS, marker="[...]")
        item["cut"] = f"{len(item['text']) - len(CUT_TAIL):,} / {len(text):,}" if cut else ""
    return (shown[0] if shown else {}), shown[1:]


def _zone_of(config: Config, address: str) -> str:
    """The recipient's time zone: its account's own, else HELPDESK_TIMEZONE (issue 17)."""
    return User.select(User.timezone).where(User.email == address.lower()).scalar() or config.timezone


def _joined(token: str, ticket_id: int) -> dt.datetime | None:
    """When the participant a notice goes to joined the ticket (None for engineers): what
    was mailed before is not theirs to get. A participant removed since gets no history.
    A partner watching its customers' tickets ("w<user id>") gets what came after it
    opted in (no history once it opted out)."""
    if token.startswith("w") and token[1:].isdigit():
        return partner_view.watching_since(int(token[1:]), ticket_id) or dt.datetime.max
    if not token.startswith("p") or not token[1:].isdigit():
        return None
    added = Participant.select(Participant.added_at).where(Participant.id == int(token[1:]),
                                                           Participant.ticket == ticket_id).scalar()
    return added or dt.datetime.max


def _files(config: Config, message_id: int | None, room: int) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """The message's files to attach (within `room` bytes, and the attachment limit, in
    all), and the names of those left for the portal."""
    if not message_id:
        return [], []
    store = BlobStore(config.blob_dir, config.raw_dir)
    attached, left, total = [], [], 0
    room = min(room, config.max_attachment_bytes)
    for a in (Attachment.select(Attachment, Blob).join(Blob)  # files not stored are not offered
              .where(Attachment.message == message_id, Attachment.inline == False)  # noqa: E712
              .order_by(Attachment.id)):
        if total + a.size > room:
            left.append(a.filename)
            continue
        total += a.size
        attached.append((a.filename, a.content_type, store.get(a.blob.sha256)))
    return attached, left


def compose(config: Config, row: Outbox, *, files: bool = True) -> bytes:
    """The mail an outbox row with a `spec` stands for, rendered from the templates with
    the conversation as it was up to the message it is about (newest first). At most
    `config.max_notice_bytes`: the message's text is cut to a quarter of it (it is in the
    text and the HTML part), files go in while they fit and are listed otherwise;
    `files=False` lists them all (a server refused the mail as too large)."""
    spec = json.loads(row.spec)
    if digest_mail.is_digest(spec):  # queued by the scheduler: no ticket, a digest template
        return digest_mail.compose(config, row, spec)
    ticket = Ticket.select(Ticket.id, Ticket.subject, Ticket.status).where(Ticket.id == row.ticket_id).get()
    language = spec["language"]
    message, earlier = _history(ticket.id, spec["about"], config.max_notice_bytes // 4, message=spec.get("message"),
                                since=_joined(spec["token"], ticket.id), zone=_zone_of(config, spec["to"]))
    team = i18n.gettext(language, i18n.SUPPORT_TEAM)
    page = "staff/tickets" if spec["template"] in ("engineer", "reopened") else "tickets"
    context = {
        "ref": ticket.ref(config.ticket_prefix), "subject": ticket.subject, "status": ticket.status,
        "message": message, "history": earlier, "link": f"{config.base_url}/{page}/{ticket.id}", "team": team,
        "left_out": [], "left_more": 0,
        "closed": spec.get("closed", False), "by": spec.get("by", ""),  # a closing answer; who reopened
        # What the ticket is about, at the top of the engineers' notice (issue 17).
        "device": devices.of_ticket(ticket.id) if spec["template"] in ("engineer", "reopened") else None,
    }

    def built(attachments, left) -> bytes:
        context.update(left_out=left[:LEFT_OUT_NAMES], left_more=max(0, len(left) - LEFT_OUT_NAMES))
        subject, text, html = outbox.render(spec["template"], language, context,
                                            contact=outbox.Contact.of(config, row.mail_from))
        return outbox.build(
            mail_from=row.mail_from, from_name=team, to=spec["to"], to_name=spec["name"], subject=subject,
            text=text, html=html,
            # A watching partner's reply address is the plain one: its answer adds nobody.
            reply_to=row.mail_from if spec["token"].startswith("w") else
            tokens.reply_address(row.mail_from, config.secret_key, ticket.id, spec["token"]),
            message_id=row.message_id, in_reply_to=spec["about"], references=tuple(spec["references"]),
            auto_submitted=spec["auto_submitted"], loop_marker=row.mail_from,
            now=dt.datetime.fromisoformat(spec["queued_at"]), attachments=attachments,
        ).as_bytes(policy=outbox.SMTP_POLICY)

    if spec["template"] == "ack":
        return built([], [])
    bare = built([], [])
    room = (config.max_notice_bytes - len(bare) - 64 * 1024) * 3 // 4 if files else 0  # base64: 4 bytes per 3
    attachments, left = _files(config, message.get("id"), max(0, room))
    if not attachments and not left:
        return bare
    raw = built(attachments, left)
    if len(raw) > config.max_notice_bytes and attachments:  # file names and headers took more than guessed
        raw = built([], [name for name, _, _ in attachments] + left)
    return raw
