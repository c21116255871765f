"""Parse: raw bytes of one mail into an `Inbound`.

In: the raw message as bytes, exactly as fetched (CRLF, LF or bare CR line endings,
an optional leading mbox "From " line, any size).
Out: a frozen `Inbound`: addresses lower-cased, headers and subject decoded
(RFC 2047, 8-bit and unusual charsets, with replacement characters rather than
errors; the subject and sender's name without control or bidi characters), the text body (or the sanitised HTML turned into text), the sanitised
HTML, the reply without its quoted history, attachments with safe file names
(winmail.dat unpacked), and a `DeliveryReport` when the mail is a bounce.
Never: does I/O, keeps the raw HTML, or raises for a malformed message; the only
exception is `ParseError` for input that is not a mail at all (the pipeline
quarantines it).

The MIME tree comes from the stdlib `email` package (compat32 policy, the most
tolerant and fastest). This module repairs the raw bytes and assembles the
`Inbound`; the work is done by its helpers, each with its own contract:
`decoding` (charsets, RFC 2047 words), `headers` (addresses, ids, dates), `body`
(text, HTML, attachments), `reply` (quote folding) and `dsn` (delivery reports).
"""
from __future__ import annotations

import hashlib
import re
import warnings
from email import message_from_bytes
from email.policy import compat32

from helpdesk.domain.limits import one_line

from . import headers
from .body import body_of, texts
from .decoding import decode_header
from .dsn import report_of
from .message import Inbound
from .reply import reply_of


class ParseError(ValueError):
    """The input is not a mail message we can read at all."""


def parse(raw: bytes) -> Inbound:
    """The `Inbound` for one raw message."""
    if not isinstance(raw, (bytes, bytearray)):
        raise ParseError(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    digest = hashlib.sha256(raw).hexdigest()
    data = _clean_start(raw)
    if not data.strip():
        raise ParseError("empty message")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            msg = message_from_bytes(data, policy=compat32)
        except (ValueError, TypeError, IndexError, LookupError) as exc:  # pragma: no cover - stdlib is lenient
            raise ParseError(f"unreadable MIME structure: {exc}") from exc
        hint = headers.charset_hint(msg)
        items = tuple((name.lower(), decode_header(value, hint)) for name, value in msg.raw_items())
        body = body_of(msg)
        text, html = texts(body)
        report = report_of(msg, items, text)
    from_name, from_addr = headers.sender(msg, hint)
    message_id = headers.normalise_message_id(headers.raw_header(msg, "message-id"))
    return Inbound(
        message_id=message_id or f"sha256-{digest}@helpdesk.invalid",
        from_addr=from_addr,
        from_name=one_line(from_name),
        reply_to=headers.addresses(msg, "reply-to"),
        to=headers.addresses(msg, "to"),
        cc=headers.addresses(msg, "cc"),
        delivered_to=headers.addresses(msg, "delivered-to", "x-original-to", "envelope-to"),
        subject=one_line(headers.subject(msg, hint)),
        date=headers.date(headers.raw_header(msg, "date")),
        in_reply_to=headers.message_ids(headers.raw_header(msg, "in-reply-to")),
        references=headers.message_ids(" ".join(headers.raw_headers(msg, "references"))),
        headers=items,
        return_path=headers.return_path(msg),
        content_type=headers.content_type(msg),
        text=text,
        html=html,
        reply_text=reply_of(text),
        attachments=tuple(body.attachments),
        report=report,
        defects=headers.defects(msg) + tuple(body.defects),
        raw_sha256=digest,
        size=len(raw),
    )


# --- the raw bytes ---------------------------------------------------------------------

_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
_OBS_HEADER_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)  # "Subject  : x" (RFC 822 obs syntax)
_KNOWN_HEADER = re.compile(rb"^(?:from|to|cc|subject|date|message-id|content-type|mime-version|received):",
                           re.IGNORECASE)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def _clean_start(raw: bytes) -> bytes:
    """The message without an mbox "From " line or junk lines before its header, bare CR
    line endings (classic Mac) turned into LF, and header lines some mailers broke repaired."""
    if b"\n" not in raw[:65536] and b"\r" in raw:
        raw = raw.replace(b"\r", b"\n")
    start = 0
    for _ in range(5):
        end = raw.find(b"\n", start)
        line = raw[start:end if end >= 0 else len(raw)]
        if _HEADER_LINE.match(line) or end < 0:
            break
        start = end + 1
    else:
        start = 0
    if not _HEADER_LINE.match(raw[start:start + 1000]):
        return raw
    raw = raw[start:]
    blank = _BLANK_LINE.search(raw)
    head_end = blank.start() if blank else len(raw)
    return _repair_header(raw[:head_end]) + raw[head_end:]


def _repair_header(head: bytes) -> bytes:
    """Header lines without a colon that sit between real header lines are folded
    continuations that lost their indent; obsolete "Name  :" loses its spaces."""
    if _OBS_HEADER_NAME.search(head):
        head = _OBS_HEADER_NAME.sub(rb"\1:", head)
    lines = head.split(b"\n")
    last_known = max((i for i, line in enumerate(lines) if _KNOWN_HEADER.match(line)), default=-1)
    broken = [i for i in range(1, last_known)
              if lines[i][:1] not in (b" ", b"\t") and not _HEADER_LINE.match(lines[i])]
    if not broken:
        return head
    for i in broken:
        lines[i] = b" " + lines[i]
    return b"\n".join(lines)
