"""Compose: the mail an outbox row with a `spec` stands for, just before it is delivered.

In: an `Outbox` row queued by `domain.notify` (a ticket notice) or by the scheduler (a
digest, `digest_mail.py`). Out: the complete message as bytes, rendered from
`templates/mail/` with the conversation as it was up to the message it is about, and the
files of that message attached up to the attachment limit. Reads the database; never writes.
"""
from __future__ import annotations

import datetime as dt
import json

from helpdesk.config import Config
from helpdesk.domain import i18n, outbox, tokens
from helpdesk.domain.storage import BlobStore
from helpdesk.models import Attachment, Blob, Message, MessageKind, Outbox, Ticket

from . import digest_mail

HISTORY = 5  # earlier messages quoted below a notice, newest first


def _history(ticket_id: int, message_id: str) -> tuple[dict, list[dict]]:
    """The message itself and the public ones before it, newest first."""
    about = Message.select(Message.id).where(Message.ticket == ticket_id, Message.message_id == message_id).scalar()
    query = Message.select(Message.id, Message.author_email, Message.author_name, Message.body_text,
                           Message.body_display, Message.created_at).where(
        Message.ticket == ticket_id, Message.kind.in_([MessageKind.CUSTOMER.value, MessageKind.STAFF.value]))
    if about:  # not what came after it: the sender may render this long after
        query = query.where(Message.id <= about)
    shown = [{"id": r.id, "author": r.author_name or r.author_email, "when": f"{r.created_at:%Y-%m-%d %H:%M} UTC",
              "text": r.display.strip()} for r in query.order_by(Message.id.desc()).limit(HISTORY + 1)]
    return (shown[0] if shown else {}), shown[1:]


def _files(config: Config, message_id: int | None) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """The message's files to attach (up to the attachment limit in all), and the names of
    those left for the portal."""
    if not message_id:
        return [], []
    store = BlobStore(config.blob_dir, config.raw_dir)
    attached, left, total = [], [], 0
    for a in (Attachment.select(Attachment, Blob).join(Blob).where(Attachment.message == message_id,
                                                                      Attachment.inline == False)  # noqa: E712
              .order_by(Attachment.id)):
        if total + a.size > config.max_attachment_bytes:
            left.append(a.filename)
            continue
        total += a.size
        attached.append((a.filename, a.content_type, store.get(a.blob.sha256)))
    return attached, left



def compose(config: Config, row: Outbox) -> bytes:
    """The mail an outbox row with a `spec` stands for, rendered from the templates with
    the conversation as it was up to the message it is about (newest first)."""
    spec = json.loads(row.spec)
    if digest_mail.is_digest(spec):  # queued by the scheduler: no ticket, a digest template
        return digest_mail.compose(config, row, spec)
    ticket = Ticket.select(Ticket.id, Ticket.subject, Ticket.status).where(Ticket.id == row.ticket_id).get()
    language = spec["language"]
    message, earlier = _history(ticket.id, spec["about"])
    files, left = _files(config, message.get("id")) if spec["template"] != "ack" else ([], [])
    team = i18n.gettext(language, i18n.SUPPORT_TEAM)
    page = "staff/tickets" if spec["template"] == "engineer" else "tickets"
    subject, text, html = outbox.render(spec["template"], language, {
        "ref": ticket.ref(config.ticket_prefix), "subject": ticket.subject, "status": ticket.status,
        "message": message, "history": earlier, "link": f"{config.base_url}/{page}/{ticket.id}", "team": team,
        "left_out": left,
    })
    msg = outbox.build(
        mail_from=row.mail_from, from_name=team, to=spec["to"], to_name=spec["name"], subject=subject, text=text,
        html=html, reply_to=tokens.reply_address(config.support_address, config.secret_key, ticket.id, spec["token"]),
        message_id=row.message_id, in_reply_to=spec["about"], references=tuple(spec["references"]),
        auto_submitted=spec["auto_submitted"], loop_marker=config.support_address,
        now=dt.datetime.fromisoformat(spec["queued_at"]), attachments=files,
    )
    return msg.as_bytes(policy=outbox.SMTP_POLICY)
