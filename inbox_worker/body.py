"""Body: the text, sanitised HTML and attachments in a message's MIME tree.

In: a compat32 `email.message.Message`, as the stdlib parsed it (broken boundaries,
unknown charsets and bad transfer encodings included).
Out: a `Body` (text parts, HTML parts, attachments with safe file names, winmail.dat
unpacked, defects found on the way), and from it the text and the sanitised HTML.
Never: raises for a malformed tree, keeps the raw HTML in what it returns, or does I/O.
Delivery-status parts and a bounce's returned mail are skipped here: `dsn` reads them.
"""
from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

import html2text
import nh3

from helpdesk.domain.storage import safe_filename

from . import tnef
from .decoding import codec_of, decode_bytes, decode_header
from .headers import content_type, normalise_message_id, raw_header
from .message import Part

MAX_HTML_TO_TEXT_CHARS = 2_000_000


@dataclass
class Body:
    """What the MIME walk collects: text and HTML parts, attachments, defects."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Part] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    tnef_plain: list[str] = field(default_factory=list)  # the body inside winmail.dat: used when
    tnef_html: list[str] = field(default_factory=list)   # the mail has no other body


_REPORT_TYPES = {"message/delivery-status", "message/global-delivery-status", "text/rfc822-headers",
                 "message/global-headers", "message/disposition-notification", "message/feedback-report"}
MAX_DEPTH = 20


def body_of(msg: Message) -> Body:
    """The text parts, attachments and defects of a message's MIME tree."""
    body = Body()
    _walk(msg, body, depth=0)
    return body


def _walk(part: Message, body: Body, depth: int, in_report: bool = False) -> None:
    ctype = content_type(part)
    if depth > MAX_DEPTH:
        body.defects.append("mime-too-deep")
        return
    if part.is_multipart() and ctype != "message/rfc822":
        children = part.get_payload()
        if not isinstance(children, list):
            return
        in_report = in_report or ctype == "multipart/report"
        if ctype == "multipart/alternative":
            _walk_alternative(children, body, depth)
            return
        for child in children:
            _walk(child, body, depth + 1, in_report)  # type: ignore[arg-type]
        return
    if ctype.startswith("multipart/"):  # its boundary was not found: guess it from the body
        repaired = _rebound(part, ctype)
        if repaired is not None:
            body.defects.append("boundary-guessed")
            _walk(repaired, body, depth + 1, in_report)
        else:
            body.plain.append(_part_text(part, body))
        return
    if ctype in _REPORT_TYPES:
        return  # read by the delivery report, not a body or an attachment
    if ctype == "message/rfc822" or ctype == "message/global":
        if not in_report:  # a bounce's returned mail is not an attachment
            _add_attachment(part, body, ctype)
        return
    if ctype in ("application/ms-tnef", "application/vnd.ms-tnef") or _filename_raw(part).lower() == "winmail.dat":
        _add_tnef(part, body)
        return
    if ctype in ("text/plain", "text/html", "text/enriched") and not _is_attachment(part):
        text = _part_text(part, body)
        (body.html if ctype == "text/html" else body.plain).append(text)
        return
    if ctype in ("text/plain", "text") and depth == 0:
        body.plain.append(_part_text(part, body))
        return
    _add_attachment(part, body, ctype)


_BOUNDARY_LINE = re.compile(r"^--(\S[^\r\n]*?)[ \t]*\r?$", re.MULTILINE)


def _rebound(part: Message, ctype: str) -> Message | None:
    """The multipart re-read with the first "--boundary" line of its body as boundary."""
    payload = part.get_payload()
    if not isinstance(payload, str):
        return None
    m = _BOUNDARY_LINE.search(payload)
    if m is None:
        return None
    boundary = m[1].replace('"', "")
    head = f'Content-Type: {ctype}; boundary="{boundary}"\n\n'
    repaired = message_from_bytes(head.encode() + payload.encode("utf-8", "surrogateescape"), policy=compat32)
    return repaired if repaired.is_multipart() else None


def _walk_alternative(children: list, body: Body, depth: int) -> None:
    """Take the plain and the HTML alternative; anything richer is walked as a whole."""
    sub = Body()
    for child in children:
        _walk(child, sub, depth + 1)
    if sub.plain:
        body.plain.append(sub.plain[0])
    if sub.html:
        body.html.append(sub.html[-1] if len(sub.html) == 1 else "\n".join(sub.html))
    body.attachments.extend(sub.attachments)
    body.defects.extend(sub.defects)
    body.tnef_plain.extend(sub.tnef_plain)
    body.tnef_html.extend(sub.tnef_html)


def _is_attachment(part: Message) -> bool:
    disposition = _disposition(part)
    return disposition == "attachment" or bool(_filename_raw(part) and disposition != "inline")


def payload_of(part: Message) -> bytes:
    """The decoded bytes of a part; its raw text when the transfer encoding is broken."""
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, IndexError, AssertionError):
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _part_text(part: Message, body: Body) -> str:
    try:
        charset = part.get_content_charset()
    except (ValueError, TypeError, LookupError):
        charset = None
    if charset and codec_of(charset) is None:
        body.defects.append(f"unknown-charset:{charset[:40]}")
    return decode_bytes(payload_of(part), charset).replace("\r\n", "\n").replace("\x00", "")


def _filename_raw(part: Message) -> str:
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except (ValueError, TypeError, IndexError, LookupError):
        return ""
    if isinstance(name, tuple):  # an RFC 2231 value get_param could not collapse
        name = decode_bytes((name[2] or "").encode("latin-1", "replace"), name[0])
    return decode_header(name)


def _disposition(part: Message) -> str:
    value = raw_header(part, "content-disposition") or ""
    return value.split(";", 1)[0].strip().lower()


def _content_id(part: Message) -> str | None:
    return normalise_message_id(raw_header(part, "content-id")) or None


def _add_attachment(part: Message, body: Body, ctype: str) -> None:
    index = len(body.attachments) + 1
    name = _filename_raw(part)
    if ctype in ("message/rfc822", "message/global"):
        payload = _message_bytes(part)
        if not name:
            inner = part.get_payload()
            subject = inner[0].get("subject") if isinstance(inner, list) and inner else None
            name = f"{decode_header(subject)[:80]}.eml" if subject else ""
        elif not name.lower().endswith(".eml"):
            name += ".eml"
    else:
        payload = payload_of(part)
    disposition = _disposition(part)
    content_id = _content_id(part)
    body.attachments.append(Part(
        filename=safe_filename(name, ctype, index),
        content_type=ctype,
        payload=payload,
        inline=disposition == "inline" or (content_id is not None and disposition != "attachment"),
        content_id=content_id,
    ))


def _message_bytes(part: Message) -> bytes:
    inner = part.get_payload()
    if isinstance(inner, list) and inner:
        try:
            return inner[0].as_bytes(policy=compat32)
        except (ValueError, TypeError, LookupError, UnicodeError, AttributeError, IndexError):
            return str(inner[0]).encode("utf-8", "surrogateescape")
    return payload_of(part)


def _add_tnef(part: Message, body: Body) -> None:
    data = payload_of(part)
    unpacked = tnef.unpack(data)
    if unpacked is None:
        body.defects.append("tnef-unreadable")
        _add_attachment(part, body, "application/ms-tnef")
        return
    if unpacked.text.strip():
        body.tnef_plain.append(unpacked.text.replace("\r\n", "\n"))
    elif unpacked.html.strip():
        body.tnef_html.append(unpacked.html)
    for name, payload in unpacked.attachments:
        index = len(body.attachments) + 1
        ctype = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
        body.attachments.append(Part(safe_filename(name, ctype, index), ctype, payload))


# --- text and HTML ----------------------------------------------------------------

def texts(body: Body) -> tuple[str, str | None]:
    """(text, sanitised HTML or None): the text part, else the HTML turned into text. HTML
    nested deeper than MAX_HTML_DEPTH (the sanitiser's time grows with the square of the
    depth: 170,000 nested <div> take minutes) is kept as text only."""
    if not any(p.strip() for p in body.plain + body.html):
        body.plain, body.html = body.tnef_plain, body.tnef_html
    raw_html = "\n".join(body.html) if body.html else None
    html = None
    if raw_html is not None and html_depth(raw_html) > MAX_HTML_DEPTH:
        body.defects.append(f"html-too-deep: nested deeper than {MAX_HTML_DEPTH}, kept as text")
    elif raw_html is not None:
        html = sanitise_html(raw_html)
    if any(p.strip() for p in body.plain):
        text = "\n\n".join(p.strip("\n") for p in body.plain if p.strip())
    elif html:
        text = html_to_text(html)
    elif raw_html:
        text = _tags_removed(raw_html)
    else:
        text = ""
    return text, html


# The URL schemes kept in links and images: `cid:` images are pointed at their attachment
# when the HTML is shown (web/tickets.py), which then needs no second sanitising.
URL_SCHEMES = {"http", "https", "mailto", "cid"}
MAX_HTML_DEPTH = 1000
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(/?)>")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
         "wbr", "p", "li", "td", "tr", "th", "option", "dt", "dd"}  # void, or closed by their next sibling


def html_depth(html: str) -> int:
    """How deep the elements nest at most, counted on the tags (cheap, an upper bound for
    well-formed HTML)."""
    depth = peak = 0
    for closing, name, self_closing in _TAG.findall(html):
        if name.lower() in _VOID or self_closing:
            continue
        depth = max(0, depth - 1) if closing else depth + 1
        peak = max(peak, depth)
    return peak


def _tags_removed(html: str) -> str:
    from html import unescape

    return " ".join(unescape(re.sub(r"<[^>]*>", " ", html)).split())


def sanitise_html(html: str) -> str:
    """HTML with scripts, styles, event handlers and unknown tags removed (nh3)."""
    return nh3.clean(html, url_schemes=URL_SCHEMES)


def html_to_text(html: str) -> str:
    """Readable text from (already sanitised) HTML."""
    if len(html) > MAX_HTML_TO_TEXT_CHARS:
        return re.sub(r"<[^>]*>", " ", html)
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.unicode_snob = True
    try:
        return converter.handle(html).strip()
    except (ValueError, AssertionError, IndexError):  # html2text chokes on some broken markup
        return re.sub(r"<[^>]*>", " ", html).strip()
