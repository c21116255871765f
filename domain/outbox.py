"""Outbox: outgoing mail as rows, written in the caller's transaction (SPEC E11).

In: the parts of a mail (sender, one recipient, subject, bodies, threading headers).
Out: an `Outbox` row holding the complete RFC 5322 message, due now; `outgoing/sender.py`
delivers it. Never talks to an SMTP server, and never commits: the row goes in with
the change that caused it, or not at all.

Header values are built by `email.message.EmailMessage` with the default policy; an
address or id that carries CR, LF or NUL (a header injection attempt, or a broken address)
is refused with `HeaderInjection` before anything is written. A subject, a name or a file
name is cleaned instead (control and bidi characters become spaces): text a stranger
wrote never makes a ticket unmailable.
"""
from __future__ import annotations

import datetime as dt
import functools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from pathlib import Path

import jinja2

from helpdesk.config import Config
from helpdesk.models import Outbox, OutboxStatus, Ticket, utcnow

from . import tickets
from .limits import one_line

LOOP_HEADER = "X-Helpdesk-Loop"  # classify.py treats mail carrying it as our own coming back


class HeaderInjection(ValueError):
    """A header value from a user contains CR, LF or NUL."""


def safe(value: str, what: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise HeaderInjection(f"{what} contains a line break or NUL: {value[:80]!r}")
    return value


def new_message_id(domain: str, ticket_id: int | None = None) -> str:
    """A Message-ID of ours (without angle brackets): hd.<ticket>.<random>@<domain>."""
    return f"hd.{ticket_id or 0}.{secrets.token_hex(8)}@{domain}"


def build(*, mail_from: str, from_name: str, to: str, to_name: str = "", subject: str, text: str,
          html: str | None = None, reply_to: str | None = None, message_id: str, in_reply_to: str = "",
          references: tuple[str, ...] = (), auto_submitted: str = "auto-generated",
          loop_marker: str, now: dt.datetime | None = None,
          attachments: Sequence[tuple[str, str, bytes]] = ()) -> EmailMessage:
    """The complete message; addresses and ids from a user are checked for line breaks first,
    subjects, names and file names cleaned."""
    msg = EmailMessage()
    # Names and the subject are cleaned, not refused: a NUL or line break a stranger put in a
    # subject must not make the ticket unmailable. Addresses and ids are refused.
    msg["From"] = Address(one_line(from_name), addr_spec=safe(mail_from, "sender address"))
    msg["To"] = Address(one_line(to_name), addr_spec=safe(to, "recipient address"))
    msg["Subject"] = one_line(subject)
    msg["Date"] = format_datetime((now or utcnow()).replace(tzinfo=dt.timezone.utc))
    msg["Message-ID"] = f"<{safe(message_id, 'Message-ID')}>"
    if reply_to:
        msg["Reply-To"] = safe(reply_to, "Reply-To")
    if in_reply_to:
        msg["In-Reply-To"] = f"<{safe(in_reply_to, 'In-Reply-To')}>"
    if references:
        msg["References"] = " ".join(f"<{safe(r, 'References')}>" for r in references)
    # RFC 3834, and Exchange's own switch: automatic answers to this mail are not wanted.
    msg["Auto-Submitted"] = auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = safe(loop_marker, "loop marker")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=one_line(filename) or "file")
    return msg


def row(*, kind: str, recipient: str, mail_from: str, message_id: str, now: dt.datetime,
        due: dt.datetime | None = None, ticket=None, raw: bytes | None = None, spec: str = "") -> dict:
    """The columns of a new outbox row, due at `due` (default `now`): with `raw` the complete
    message, or with `spec` (JSON) what the sender renders just before delivery. The one
    place that says what a queued mail is; the callers write it (`queue`, `notify`, the
    scheduler's bulk insert)."""
    return {"kind": kind, "ticket": ticket, "recipient": recipient, "mail_from": mail_from,
            "message_id": message_id, "raw": raw, "spec": spec, "status": OutboxStatus.PENDING.value,
            "attempts": 0, "next_attempt_at": due or now, "created_at": now, "last_error": "",
            "lease_owner": None, "lease_until": None, "sent_at": None}


def queue(msg: EmailMessage, *, kind: str, recipient: str, ticket: Ticket | None = None,
          now: dt.datetime | None = None) -> Outbox:
    """Write the mail as an outbox row, due now; its Message-ID is remembered for the
    ticket so that replies thread and the mail coming back is known as ours."""
    now = now or utcnow()
    message_id = msg["Message-ID"].strip("<>")
    created = Outbox.create(**row(
        kind=kind, ticket=ticket, recipient=safe(recipient, "recipient address").lower(),
        # CRLF line ends, as SMTP wants them: smtplib sends bytes unchanged.
        mail_from=msg["From"].addresses[0].addr_spec, message_id=message_id, raw=msg.as_bytes(policy=SMTP_POLICY),
        now=now,
    ))
    if ticket is not None:
        tickets.remember_message_id(message_id, ticket, outgoing=True, recipient=recipient.lower())
    return created


# --- notices: rendered from templates/mail/<language>/<name>.{subject.txt,txt,html} --------------

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "mail"
LANGUAGES = ("pl", "en")


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=jinja2.select_autoescape(["html"]), keep_trailing_newline=True)


@dataclass(frozen=True)
class Contact:
    """How to reach us, under every mail: the support address and the hotline ("" for none)."""

    address: str
    hotline: str = ""
    dial: str = ""  # the hotline's digits, for a tel: link

    @classmethod
    def of(cls, config: Config, address: str = "") -> Contact:
        """`address`: the one the mail comes from (a queue's own), else the first support address."""
        return cls(address or config.support_address, config.hotline, config.hotline_dial)


def render(name: str, language: str, context: dict, *, contact: Contact) -> tuple[str, str, str]:
    """(subject, text, html) of a mail template, in the language if we have it, else Polish;
    both bodies end with the contact footer (`_contact.txt`, `_contact.html`)."""
    language = language if language in LANGUAGES else LANGUAGES[0]
    env = _environment()
    subject = " ".join(env.get_template(f"{language}/{name}.subject.txt").render(context).split())
    text = env.get_template(f"{language}/{name}.txt").render(context)
    html = env.get_template(f"{language}/{name}.html").render(context)
    footer = {"contact": contact}
    text = text.rstrip("\n") + "\n" + env.get_template(f"{language}/_contact.txt").render(footer)
    html = html.rstrip("\n") + "\n" + env.get_template(f"{language}/_contact.html").render(footer)
    return subject, text, html
