"""The values that flow between the pipeline's stages: plain frozen dataclasses."""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class Fetched:
    """One message as the source holds it: where it is, and its raw bytes."""

    mailbox: str  # the source's stable name (no password)
    uidvalidity: int  # 0 for a Maildir
    uid: str  # IMAP UID as decimal, or the Maildir key
    raw: bytes  # the whole message, or only its header when `truncated`
    size: int  # the size the server reports (RFC822.SIZE)
    truncated: bool = False  # True when over the size limit: only the header was fetched


@dataclass(frozen=True)
class Part:
    """An attachment or inline image, decoded."""

    filename: str  # decoded (RFC 2047/2231), never a path: no slashes
    content_type: str
    payload: bytes  # b"" once stored, in what a parsing process sends back (pipeline.prepare)
    inline: bool = False
    content_id: str | None = None  # without angle brackets
    size: int = -1  # bytes decoded; -1: len(payload), filled in

    def __post_init__(self):
        if self.size < 0:
            object.__setattr__(self, "size", len(self.payload))


@dataclass(frozen=True)
class DeliveryReport:
    """What a bounce says: who failed, how, and which mail of ours it was about."""

    failed: tuple[str, ...] = ()  # recipient addresses, lower-case
    permanent: bool = False  # a 5.x.x status (or a non-DSN bounce that says so)
    status: str = ""  # e.g. "5.1.1"
    diagnostic: str = ""
    original_message_id: str = ""  # normalised, from the returned headers
    action: str = ""  # "failed" or "delayed" (the DSN Action, or what a non-DSN bounce says)


@dataclass(frozen=True)
class Inbound:
    """A parsed message: everything later stages need, decoded, and nothing mutable."""

    message_id: str  # normalised (no <>); synthesised from the raw hash when missing
    from_addr: str  # addr-spec, lower-case; "" when there is none
    from_name: str = ""
    reply_to: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    # Addresses the mail was delivered to (Delivered-To, X-Original-To, Envelope-To):
    # a reply to support+token@ may arrive with the token only there.
    delivered_to: tuple[str, ...] = ()
    subject: str = ""
    date: dt.datetime | None = None  # naive UTC
    in_reply_to: tuple[str, ...] = ()  # normalised Message-IDs
    references: tuple[str, ...] = ()
    # Header names lower-cased, values decoded and unfolded, in order, repeats kept.
    headers: tuple[tuple[str, str], ...] = ()
    return_path: str | None = None  # None when absent; "" for the null path <>
    content_type: str = "text/plain"  # the top-level type, lower-case
    text: str = ""  # the full text: the text part, or the sanitised HTML turned into text
    html: str | None = None  # sanitised HTML (nh3), never the raw HTML
    reply_text: str = ""  # `text` with quoted history folded away
    attachments: tuple[Part, ...] = ()
    report: DeliveryReport | None = None  # set when the mail carries a delivery report
    defects: tuple[str, ...] = ()  # parser defects worth recording
    raw_sha256: str = ""
    # The mail as its author wrote it: the SHA-256 of its body and of the headers its author's
    # client wrote, without the trace headers servers add on the way (Received, Delivered-To,
    # ...). The same mail fetched twice, or delivered through two routes, has the same one.
    fingerprint: str = ""
    size: int = 0

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def all_recipients(self) -> tuple[str, ...]:
        return self.to + self.cc + self.delivered_to


class MailKind(enum.StrEnum):
    """What `classify` says a mail is."""

    NORMAL = "normal"  # written by a person
    AUTOREPLY = "autoreply"  # out of office, auto-responders
    BOUNCE = "bounce"  # a delivery failure or delay
    LOOP = "loop"  # our own mail coming back


@dataclass(frozen=True)
class Classification:
    """What kind of mail this is, and why we think so."""

    kind: MailKind
    reason: str = ""

    @property
    def is_normal(self) -> bool:
        return self.kind == MailKind.NORMAL


NORMAL = Classification(MailKind.NORMAL, "no sign of automation")


@dataclass(frozen=True)
class ThreadMatch:
    """The ticket a mail belongs to, and the rule that found it."""

    ticket_id: int
    rule: str  # reply_token | in_reply_to | references | subject_tag
    detail: str = ""
