"""Parse: raw bytes of one mail into an `Inbound`.

In: the raw message as bytes, exactly as fetched (CRLF, LF or bare CR line endings,
an optional leading mbox "From " line, any size).
Out: a frozen `Inbound`: addresses lower-cased, headers and subject decoded
(RFC 2047, 8-bit and unusual charsets, with replacement characters rather than
errors), the text body (or the sanitised HTML turned into text), the sanitised
HTML, the reply without its quoted history, attachments with safe file names
(winmail.dat unpacked), and a `DeliveryReport` when the mail is a bounce.
Never: does I/O, keeps the raw HTML, or raises for a malformed message; the only
exception is `ParseError` for input that is not a mail at all (the pipeline
quarantines it).

The MIME tree comes from the stdlib `email` package (compat32 policy, the most
tolerant and fastest); header words, charsets and file names are decoded here,
leniently, because real mail breaks the rules the stdlib decoders enforce.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import datetime as dt
import functools
import hashlib
import logging
import mimetypes
import re
import warnings
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parsedate_tz

import html2text
import nh3
from mailparser_reply import EmailReplyParser

from . import tnef
from .message import DeliveryReport, Inbound, Part

log = logging.getLogger(__name__)

REPLY_LANGUAGES = ("en", "pl", "de")
MAX_REPLY_FOLD_CHARS = 200_000  # longer texts are kept whole: the quote regexes get slow
MAX_HTML_TO_TEXT_CHARS = 2_000_000


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
        hint = _charset_hint(msg)
        headers = tuple((name.lower(), decode_header(value, hint)) for name, value in msg.raw_items())
        body = _Body()
        _walk(msg, body, depth=0)
        text, html = _texts(body)
        report = report_of(msg, headers, text)
    from_name, from_addr = _sender(msg, hint)
    return Inbound(
        message_id=normalise_message_id(_raw_header(msg, "message-id")) or f"sha256-{digest}@helpdesk.invalid",
        from_addr=from_addr,
        from_name=from_name,
        reply_to=_addresses(msg, "reply-to"),
        to=_addresses(msg, "to"),
        cc=_addresses(msg, "cc"),
        delivered_to=_addresses(msg, "delivered-to", "x-original-to", "envelope-to"),
        subject=_subject(msg, hint),
        date=_date(_raw_header(msg, "date")),
        in_reply_to=message_ids(_raw_header(msg, "in-reply-to")),
        references=message_ids(" ".join(_raw_headers(msg, "references"))),
        headers=headers,
        return_path=_return_path(msg),
        content_type=_content_type(msg),
        text=text,
        html=html,
        reply_text=reply_of(text),
        attachments=tuple(body.attachments),
        report=report,
        defects=_defects(msg) + tuple(body.defects),
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


# --- charsets --------------------------------------------------------------------------

# Labels seen in the wild, mapped to the codec that reads what their senders meant.
_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "chinese": "gb18030", "cp936": "gb18030",
    "big5": "big5hkscs", "x-big5": "big5hkscs",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext", "csiso2022jp": "iso2022_jp_ext", "euc-jp": "euc_jis_2004",
    "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949", "euc-kr": "cp949", "korean": "cp949",
    "iso-8859-8-i": "iso-8859-8", "iso-8859-6-i": "iso-8859-6", "iso-8859-1": "cp1252",
    "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "utf-8", "ascii": "utf-8", "ansi_x3.4-1968": "utf-8",
    "unicode-1-1-utf-7": "utf-7", "utf7": "utf-7", "unknown-8bit": "utf-8", "x-unknown": "utf-8",
    "unknown": "utf-8", "default": "utf-8", "x-user-defined": "cp1252", "windows-874": "cp874",
    "tis-620": "cp874", "x-mac-roman": "mac-roman", "macintosh": "mac-roman", "utf8": "utf-8",
    "x-mac-ce": "mac-latin2", "iso-8859-16": "iso8859_16",
}


@functools.lru_cache(maxsize=256)
def codec_of(charset: str | None) -> str | None:
    """A Python codec for a MIME charset label, or None when unknown."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    label = _CHARSET_ALIASES.get(label, label)
    for candidate in (label, label.replace("_", "-"), re.sub(r"^(?:x-|cs)", "", label)):
        try:
            codecs.lookup(candidate)
            return _CHARSET_ALIASES.get(candidate, candidate)
        except LookupError:
            continue
    return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text from bytes in a declared charset: strict first, then UTF-8, then replacement."""
    codec = codec_of(charset)
    if codec is not None and codec != "utf-8":
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
        except (LookupError, ValueError):  # a codec that refuses this input shape
            codec = None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(codec or "cp1252", errors="replace")


def _from_raw_str(value: str, hints: tuple[str, ...] = ()) -> str:
    """A compat32 header string (8-bit bytes kept as surrogates) as proper text; raw
    8-bit text that is not UTF-8 is read in one of `hints`, the charsets of the body."""
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        data = value.encode("utf-8", "surrogateescape")
        for codec in ("utf-8",) + hints:
            try:
                return data.decode(codec)
            except (UnicodeDecodeError, LookupError):
                continue
        return data.decode(hints[0] if hints else "cp1252", errors="replace")
    if hints and "+" in value and hints[0] == "utf-7":  # a whole mail in UTF-7
        try:
            return value.encode("ascii").decode("utf-7")
        except UnicodeDecodeError:
            pass
    return value


# --- RFC 2047 header words -------------------------------------------------------------

_ENCODED_WORD = re.compile(
    r"""=\?
        (?P<charset>[^?\s*]+)(?:\*[^?\s]*)?   # charset, and an RFC 2231 language we drop
        \?(?P<encoding>[bBqQ])\?
        (?P<text>[^?]*?)                       # the encoded text; spaces tolerated
        \?=""",
    re.VERBOSE,
)
_FOLD = re.compile(r"\r?\n[ \t]*|\r[ \t]*")


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        text = re.sub(r"[^A-Za-z0-9+/]", "", text)
        if len(text) % 4 == 1:
            text = text[:-1]
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4))
        except binascii.Error:
            return text.encode("ascii", "replace")
    raw = text.replace("_", " ").encode("utf-8", "surrogateescape")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]), raw)


def decode_header(value, hints: tuple[str, ...] = ()) -> str:
    """A header value unfolded and decoded: encoded words, raw 8-bit text (read as UTF-8,
    else in one of the `hints` codecs), any charset."""
    if value is None:
        return ""
    value = _FOLD.sub(" ", str(value)).strip()
    if "=?" not in value:
        return _from_raw_str(value, hints)
    out: list[str] = []
    pending: list[tuple[str, bytes]] = []  # adjacent encoded words, joined before decoding
    pos = 0

    def flush():
        if pending:
            charset, chunks = pending[0][0], []
            for word_charset, data in pending:
                if word_charset != charset:
                    out.append(decode_bytes(b"".join(chunks), charset))
                    charset, chunks = word_charset, []
                chunks.append(data)
            out.append(decode_bytes(b"".join(chunks), charset))
            pending.clear()

    for m in _ENCODED_WORD.finditer(value):
        between = value[pos:m.start()]
        if between and not (pending and between.isspace()):
            flush()
            out.append(_from_raw_str(between, hints))
        pending.append((m["charset"].lower(), _word_bytes(m["encoding"], m["text"])))
        pos = m.end()
    flush()
    out.append(_from_raw_str(value[pos:], hints))
    return "".join(out).replace("\x00", "")


# --- headers ---------------------------------------------------------------------------


def _raw_headers(msg: Message, name: str) -> list[str]:
    return [str(v) for k, v in msg.raw_items() if k.lower() == name]


def _raw_header(msg: Message, name: str) -> str | None:
    values = _raw_headers(msg, name)
    return values[0] if values else None


def _subject(msg: Message, hint: tuple[str, ...]) -> str:
    raw = _raw_header(msg, "subject")
    return " ".join(decode_header(raw, hint).split()) if raw else ""


_MULTIBYTE = re.compile(r"utf|gb|big5|jis|932|euc|2022|949|hz")


def _charset_hint(msg: Message) -> tuple[str, ...]:
    """Codecs of the text parts, multi-byte ones first (they can tell when they are wrong):
    what raw 8-bit header text is most likely in."""
    found = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            try:
                codec = codec_of(part.get_content_charset())
            except (ValueError, TypeError, LookupError):
                codec = None
            if codec and codec not in found:
                found.append(codec)
    return tuple(sorted(found, key=lambda c: not _MULTIBYTE.search(c)))


_ANGLE = re.compile(r"<\s*([^<>\s]+)\s*>")


def normalise_message_id(value: str | None) -> str:
    """A Message-ID without its angle brackets and whitespace; "" when there is none."""
    if not value:
        return ""
    value = _FOLD.sub(" ", _from_raw_str(str(value))).strip()
    m = _ANGLE.search(value)
    if m:
        return m[1]
    value = value.strip("<> \t")
    return value.split()[0] if value else ""


def message_ids(value: str | None) -> tuple[str, ...]:
    """The Message-IDs in an In-Reply-To or References value, in order, once each."""
    if not value:
        return ()
    value = _FOLD.sub(" ", _from_raw_str(value))
    found = _ANGLE.findall(value) or [t.strip("<>,;") for t in value.split() if "@" in t]
    return tuple(dict.fromkeys(i for i in found if i))


def _clean_address(addr: str) -> str:
    addr = _from_raw_str(addr).strip().strip("<>'\"").strip().lower()
    return addr if "@" in addr and " " not in addr else ""


def _pairs(msg: Message, *names: str) -> list[tuple[str, str]]:
    values = [v for name in names for v in _raw_headers(msg, name)]
    if not values:
        return []
    values = [_FOLD.sub(" ", v) for v in values]
    try:
        return getaddresses(values)
    except (ValueError, IndexError, TypeError):
        return []


def _addresses(msg: Message, *names: str) -> tuple[str, ...]:
    found = (_clean_address(addr) for _, addr in _pairs(msg, *names))
    return tuple(dict.fromkeys(a for a in found if a))


_BARE_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def _sender(msg: Message, hint: tuple[str, ...]) -> tuple[str, str]:
    """(name, address) of the author: From, else Sender, else Reply-To (From: "x" <> happens)."""
    found = _first_address(msg, "from", hint)
    if found is None:
        found = _first_address(msg, "sender", hint) or _first_address(msg, "reply-to", hint)
    return found or (_from_name_only(msg, hint), "")


def _from_name_only(msg: Message, hint: tuple[str, ...]) -> str:
    pairs = _pairs(msg, "from")
    return " ".join(decode_header(pairs[0][0], hint).split()).strip("\"' ") if pairs else ""


def _first_address(msg: Message, name: str, hint: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(decoded display name, addr-spec) of the first address in a header."""
    raw = _raw_header(msg, name)
    if raw is None:
        return None
    for display, addr in _pairs(msg, name):
        addr = _clean_address(addr)
        if addr:
            return " ".join(decode_header(display, hint).split()).strip("\"' "), addr
    # A header getaddresses cannot read: take the first thing that looks like an address.
    decoded = decode_header(raw, hint)
    m = _BARE_ADDRESS.search(decoded)
    if m:
        display = decoded[:m.start()].strip(" <\"'")
        return display, m[0].lower()
    return None


def _date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parts = parsedate_tz(_FOLD.sub(" ", value))
        if parts is None:
            return None
        stamp = dt.datetime(*parts[:6])
        return stamp - dt.timedelta(seconds=parts[9] or 0)
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


def _return_path(msg: Message) -> str | None:
    raw = _raw_header(msg, "return-path")
    if raw is None:
        return None
    value = _FOLD.sub(" ", raw).strip()
    if value.replace(" ", "") in ("<>", ""):
        return ""
    m = _ANGLE.search(value)
    return _clean_address(m[1] if m else value) or value.strip("<>").lower()


def _content_type(msg: Message) -> str:
    try:
        return msg.get_content_type().lower()
    except (ValueError, IndexError, TypeError):
        return "text/plain"


def _defects(msg: Message) -> tuple[str, ...]:
    found = []
    for part in msg.walk():
        found.extend(type(d).__name__ for d in getattr(part, "defects", ()))
    return tuple(dict.fromkeys(found))


# --- the body --------------------------------------------------------------------------

@dataclass
class _Body:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Part] = field(default_factory=list)
    report_parts: list[Message] = field(default_factory=list)  # delivery-status and returned headers
    defects: list[str] = field(default_factory=list)
    tnef_plain: list[str] = field(default_factory=list)  # the body inside winmail.dat: used when
    tnef_html: list[str] = field(default_factory=list)   # the mail has no other body


_REPORT_TYPES = {"message/delivery-status", "message/global-delivery-status", "text/rfc822-headers",
                 "message/global-headers", "message/disposition-notification", "message/feedback-report"}
MAX_DEPTH = 20


def _walk(part: Message, body: _Body, depth: int, in_report: bool = False) -> None:
    ctype = _content_type(part)
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
            _walk(child, body, depth + 1, in_report)
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
        body.report_parts.append(part)
        return
    if ctype == "message/rfc822" or ctype == "message/global":
        if in_report:
            body.report_parts.append(part)
        else:
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


def _walk_alternative(children: list, body: _Body, depth: int) -> None:
    """Take the plain and the HTML alternative; anything richer is walked as a whole."""
    sub = _Body()
    for child in children:
        _walk(child, sub, depth + 1)
    if sub.plain:
        body.plain.append(sub.plain[0])
    if sub.html:
        body.html.append(sub.html[-1] if len(sub.html) == 1 else "\n".join(sub.html))
    body.attachments.extend(sub.attachments)
    body.report_parts.extend(sub.report_parts)
    body.defects.extend(sub.defects)
    body.tnef_plain.extend(sub.tnef_plain)
    body.tnef_html.extend(sub.tnef_html)


def _is_attachment(part: Message) -> bool:
    disposition = _disposition(part)
    return disposition == "attachment" or bool(_filename_raw(part) and disposition != "inline")


def _payload(part: Message) -> bytes:
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


def _part_text(part: Message, body: _Body) -> str:
    try:
        charset = part.get_content_charset()
    except (ValueError, TypeError, LookupError):
        charset = None
    if charset and codec_of(charset) is None:
        body.defects.append(f"unknown-charset:{charset[:40]}")
    return decode_bytes(_payload(part), charset).replace("\r\n", "\n").replace("\x00", "")


def _filename_raw(part: Message) -> str:
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except (ValueError, TypeError, IndexError, LookupError):
        return ""
    if isinstance(name, tuple):  # an RFC 2231 value get_param could not collapse
        name = decode_bytes((name[2] or "").encode("latin-1", "replace"), name[0])
    return decode_header(name)


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


def safe_filename(name: str, content_type: str, index: int) -> str:
    """A base name that is safe to store: no directories, no "..", no control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name)
    while ".." in name:
        name = name.replace("..", ".")
    name = name.strip(" ._")
    if not name:
        extension = mimetypes.guess_extension(content_type, strict=False) or ".bin"
        return f"attachment-{index}{extension}"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + "." + ext[:9]) if dot and len(ext) < 10 else name[:200]
    return name


def _disposition(part: Message) -> str:
    value = _raw_header(part, "content-disposition") or ""
    return value.split(";", 1)[0].strip().lower()


def _content_id(part: Message) -> str | None:
    return normalise_message_id(_raw_header(part, "content-id")) or None


def _add_attachment(part: Message, body: _Body, ctype: str) -> None:
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
        payload = _payload(part)
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
    return _payload(part)


def _add_tnef(part: Message, body: _Body) -> None:
    data = _payload(part)
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


# --- text, HTML and the reply ----------------------------------------------------------

def _texts(body: _Body) -> tuple[str, str | None]:
    if not any(p.strip() for p in body.plain + body.html):
        body.plain, body.html = body.tnef_plain, body.tnef_html
    html = sanitise_html("\n".join(body.html)) if body.html else None
    if any(p.strip() for p in body.plain):
        text = "\n\n".join(p.strip("\n") for p in body.plain if p.strip())
    elif html:
        text = html_to_text(html)
    else:
        text = ""
    return text, html


def sanitise_html(html: str) -> str:
    """HTML with scripts, styles, event handlers and unknown tags removed (nh3)."""
    return nh3.clean(html)


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


@functools.lru_cache(maxsize=1)
def _reply_parser() -> EmailReplyParser:
    return EmailReplyParser(languages=list(REPLY_LANGUAGES))


# An attribution line the reply parser's languages miss (Thunderbird's Polish "W dniu ... pisze:",
# Gmail's Polish "... napisał(a):"), followed by quoted lines.
_ATTRIBUTION = re.compile(
    r"""^(?![ \t]*>)[^\n]{0,300}?\b(?:pisze|napisał(?:\(a\)|a)?|wrote|schrieb|schreibt)[ \t]*:[ \t]*\n  # the attribution
        (?:[ \t]*\n)?                                                              # maybe a blank line
        [ \t]*>                                                                    # then the quote
    """,
    re.VERBOSE | re.MULTILINE | re.IGNORECASE,
)


def reply_of(text: str) -> str:
    """The newest part of a reply: quoted history and signature folded away."""
    if not text.strip() or len(text) > MAX_REPLY_FOLD_CHARS:
        return text
    attribution = _ATTRIBUTION.search(text)
    if attribution and text[:attribution.start()].strip():
        text = text[:attribution.start()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reply = _reply_parser().parse_reply(text)
    except (re.error, RecursionError, ValueError, IndexError):
        return text
    return reply.strip() if reply and reply.strip() else text


# --- delivery reports ------------------------------------------------------------------

def _fields(text: str) -> list[dict[str, str]]:
    """RFC 3464 style field blocks ("Name: value", continuation lines, blank line between)."""
    blocks, current, last = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
        elif line[:1] in " \t" and last:
            current[last] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            last = name.strip().lower()
            current.setdefault(last, value.strip())
    if current:
        blocks.append(current)
    return blocks


def _part_as_text(part: Message) -> str:
    payload = part.get_payload()
    if isinstance(payload, list):  # compat32 parses delivery-status into header blocks
        blocks = []
        for block in payload:
            if isinstance(block, Message):
                fields = "".join(f"{k}: {_FOLD.sub(' ', str(v))}\n" for k, v in block.raw_items())
                inner = _payload(block).strip()  # a block some MTA base64-encoded
                blocks.append(fields + ("\n" + decode_bytes(inner) + "\n" if inner else ""))
        return "\n".join(blocks)
    return decode_bytes(_payload(part), None)


def _address_of(field_value: str) -> str:
    value = field_value.split(";", 1)[-1]
    return _clean_address(value.strip().strip("<>"))


_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_SMTP_CODE = re.compile(r"\s*([45]\d\d)\b")  # "Status: 553 ..." from MTAs that ignore RFC 3464


def _dsn_report(text: str) -> DeliveryReport | None:
    """The report in delivery-status fields; None when no recipient failed or waits."""
    recipients = [b for b in _fields(text) if "final-recipient" in b or "original-recipient" in b]
    failing = []
    for block in recipients:
        action = block.get("action", "").split()[0].lower() if block.get("action", "").split() else ""
        status = (_STATUS.search(block.get("status", "")) or _STATUS.search(block.get("diagnostic-code", ""))
                  or _SMTP_CODE.match(block.get("status", "")))
        status = status[1] if status else ""
        if action in ("delivered", "relayed", "expanded") or (not action and status[:1] not in ("4", "5")):
            continue
        if action.startswith("fail") or action not in ("delayed", ""):  # "failure", or anonymised
            action = "failed"
        failing.append((block, action or ("failed" if status.startswith("5") else "delayed"), status))
    if not failing:
        return None
    failed_ones = [f for f in failing if f[1] == "failed"] or failing
    block, action, status = failed_ones[0]
    addresses = (_address_of(b.get("final-recipient") or b.get("original-recipient", "")) for b, _, _ in failed_ones)
    return DeliveryReport(
        failed=tuple(dict.fromkeys(a for a in addresses if a)),
        permanent=status.startswith("5") or (action == "failed" and not status.startswith("4")),
        status=status,
        diagnostic=block.get("diagnostic-code", "").partition(";")[2].strip() or block.get("diagnostic-code", ""),
        action=action,
    )


_BOUNCE_SENDER = re.compile(
    r"""^(?:mailer[-_.]?daemon|mail[-_.]?daemon|postmaster|mdaemon|mail[-_.]?delivery[-_.]?(?:sub)?system
        |mail[-_.]?administrator|bounces?|mailerd?)(?:@|$)""", re.VERBOSE | re.IGNORECASE)
BOUNCE_SUBJECT = re.compile(
    r"""undeliver|undelivered|not\s+delivered|delivery\s+(?:status|failure|failed|has\s+failed|problem|report
        |notification|error)|returned\s+mail|failure\s+notice|mail\s+delivery|non[-\s]?delivery
        |could\s+not\s+(?:be\s+)?deliver|unzustellbar|nicht\s+zustellbar|non\s+remis|returned\s+to\s+sender
        |mail\s+system\s+error|delivery\s+warning|warning:\s+could\s+not\s+send|niedostarczon
        |message\s+(?:delayed|rejected|blocked)|delayed\s+mail|failed\s+mail|mail\s+failed
        |メールエラー|未達|配信(?:不能|エラー)|传输失败|投递失败|退信|无法(?:发送|投递|送达)""", re.VERBOSE | re.IGNORECASE)
# Sentences MTAs write when a mail could not be delivered; each one is strong enough alone.
FAILURE_WORDING = re.compile(
    r"""wasn'?t\s+able\s+to\s+deliver                   # qmail
      | could\s+not\s+be\s+delivered                   # Postfix, Exim
      | following\s+address(?:\(es\)|es)?\s+failed     # Exim
      | permanent\s+fatal\s+errors?                     # Sendmail
      | delivery\s+has\s+failed\s+to\s+these          # Exchange
      | did\s+not\s+reach\s+(?:some\s+or\s+all|the\s+following)  # Exchange
      | could\s+not\s+be\s+reached                     # Exchange, older
      | delivery\s+to\s+the\s+following\s+recipients?\s+(?:failed|has\s+been\s+delayed)
      | (?:user|recipient|mailbox|host)\s+(?:unknown|not\s+found|unavailable|does\s+not\s+exist)
      | unknown\s+(?:user|recipient|local\s+part)
      | no\s+such\s+(?:user|recipient|mailbox|address)
      | (?:unable|failed)\s+to\s+deliver
      | undeliverable
      | permanent\s+error | permanently\s+rejected | message\s+rejected
      | is\s+a\s+warning\s+message\s+only | not\s+(?:yet\s+)?been\s+delivered
      | delivery\s+(?:attempts\s+will\s+continue|is\s+delayed|has\s+been\s+delayed)
      | still\s+undelivered | will\s+(?:keep|continue)\s+trying | could\s+not\s+deliver
      | returned\s+mail | mail\s+delivery\s+failed | message\s+not\s+delivered
      | nie\s+(?:może\s+zostać|został[aoy]?)\s+dostarczon   # Polish
      | unzustellbar | konnte\s+nicht\s+zugestellt         # German
      | 送信できません | 配信できません | 届きませんでした          # Japanese
      | 无法(?:发送|投递|送达) | 投递失败 | 传输失败               # Chinese
      | error\s+delivering | failed\s+addresses | not\s+a\s+valid\s+(?:user|recipient|address|mailbox)
      | following\s+recipients?.{0,40}(?:failed|aborted|delayed|rejected)
    """,
    re.VERBOSE | re.IGNORECASE,
)
DELAY_WORDING = re.compile(
    r"""is\s+a\s+warning\s+message\s+only | not\s+yet\s+been\s+delivered | still\s+undelivered
      | delivery\s+attempts\s+will\s+continue | will\s+(?:keep|continue)\s+(?:trying|to\s+try)
      | has\s+been\s+delayed | delivery\s+is\s+delayed | \(delay\) | delayed\s+mail | temporar(?:y|ily)\s+(?:failure|error|deferred)""",
    re.VERBOSE | re.IGNORECASE,
)
# Where the returned message starts in a plain text bounce.
_RETURNED = re.compile(
    r"""^(?:-+\s*(?:original\s+message|this\s+is\s+a\s+copy|below\s+this\s+line|returned\s+mail|message\s+text)
        | (?:return-path|received|message-id|mime-version|dkim-signature):\s)""",
    re.VERBOSE | re.IGNORECASE | re.MULTILINE,
)
_RECIPIENT_LINE = re.compile(
    r"""^[ \t]*(?:[*\u2022-][ \t]*)?<?(?P<addr>[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+)>?  # an address opening the line
        [ \t]*(?::|\(|$|\.\.\.|\s+-|\s+on\s|\s+\[)                    # then a colon, reason or nothing
    """,
    re.VERBOSE | re.MULTILINE,
)
_ADDRESS_AFTER_COLON = re.compile(r":[ \t]*<?([\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+)>?[ \t.]*$", re.MULTILINE)
_SMTP_REPLY = re.compile(r"^.*\b[45]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3}\b)?.*$", re.MULTILINE)
_MESSAGE_ID_LINE = re.compile(r"^[ \t>]*Message-ID:[ \t]*(<[^>\s]+>|\S+)", re.IGNORECASE | re.MULTILINE)


def _bounce_signs(headers: tuple, from_addr: str) -> int:
    """0: nothing says bounce; 1: the sender or the subject does; 2: both do."""
    get = dict(reversed(headers)).get
    from_value = get("from", "").lower()
    sender = bool(_BOUNCE_SENDER.match(from_addr) or get("x-failed-recipients")
                  or any(w in from_value for w in ("mailer-daemon", "mail delivery", "postmaster"))
                  or (not from_addr and get("return-path", "").replace(" ", "") == "<>"))
    subject = bool(BOUNCE_SUBJECT.search(get("subject", "")))
    return sender + subject


def _non_dsn_report(text: str, headers: tuple, signs: int) -> DeliveryReport | None:
    cut = _RETURNED.search(text)
    head = text[:cut.start()] if cut and cut.start() > 40 else text[:8000]
    wording = FAILURE_WORDING.search(head)
    get = dict(reversed(headers)).get
    failed_header = get("x-failed-recipients", "")
    if not wording and not failed_header and signs < 2:
        return None
    dsn = _dsn_report(head)
    if dsn is not None:
        return dsn
    after = head[wording.start():] if wording else head
    addresses = [a.strip().lower() for a in failed_header.split(",") if "@" in a]
    addresses += [m["addr"].lower() for m in _RECIPIENT_LINE.finditer(head)]
    if not addresses:  # "User mailbox exceeds allowed size: a@b.c"
        addresses = [m[1].lower() for m in _ADDRESS_AFTER_COLON.finditer(head)]
    if not addresses and wording:  # "... delivering your mail to <x@y>." in a sentence
        addresses = [a.lower() for a in re.findall(r"<([^<>\s]+@[^<>\s]+)>", after[:400])]
    status = _STATUS.search(head)
    status = status[1] if status else ""
    smtp = _SMTP_REPLY.search(after)
    delayed = bool(DELAY_WORDING.search(head)) and not status.startswith("5")
    return DeliveryReport(
        failed=tuple(dict.fromkeys(a for a in addresses if _clean_address(a)))[:50],
        permanent=not delayed and not status.startswith("4"),
        status=status,
        diagnostic=" ".join(smtp[0].split())[:500] if smtp else "",
        action="delayed" if delayed else "failed",
    )


def _returned_message_id(msg: Message, text: str) -> str:
    for part in msg.walk():
        ctype = _content_type(part)
        if ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and inner[0].get("message-id"):
                return normalise_message_id(str(inner[0].get("message-id")))
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            m = _MESSAGE_ID_LINE.search(decode_bytes(_payload(part)))
            if m:
                return normalise_message_id(m[1])
    m = _MESSAGE_ID_LINE.search(text)
    return normalise_message_id(m[1]) if m else ""


def _rejection_mdn(msg: Message, text: str) -> DeliveryReport | None:
    """A disposition notification a mail server sent when it refused the mail (Sieve reject)."""
    for part in msg.walk():
        if _content_type(part) != "message/disposition-notification":
            continue
        for block in _fields(_part_as_text(part)):
            disposition = block.get("disposition", "").lower()
            if "automatic-action" in disposition and re.search(r"\b(?:deleted|failed|error)\b", disposition):
                if re.search(r"\brejected\b", text, re.IGNORECASE):
                    recipient = _address_of(block.get("final-recipient", ""))
                    return DeliveryReport(failed=(recipient,) if recipient else (), permanent=True,
                                          diagnostic=" ".join(text.split())[:500], action="failed")
    return None


def report_of(msg: Message, headers: tuple, text: str) -> DeliveryReport | None:
    """The delivery report a bounce carries: RFC 3464 fields, or an MTA's plain text."""
    content_type = _content_type(msg)
    report_type = str(msg.get_param("report-type") or "").lower() if content_type == "multipart/report" else ""
    if report_type in ("feedback-report", "disposition-notification"):
        return _rejection_mdn(msg, text)  # spam feedback and read receipts are not bounces
    report = None
    dsn_parts = [p for p in msg.walk()
                 if _content_type(p) in ("message/delivery-status", "message/global-delivery-status")]
    dsn_texts = [_part_as_text(part) for part in dsn_parts]
    for dsn_text in dsn_texts:
        report = _dsn_report(dsn_text)
        if report is not None:
            break
    if report is None and re.search(r"^(?:final|original)-recipient:", "\n".join(dsn_texts), re.I | re.M):
        return None  # a DSN that says delivered, relayed or expanded
    if report is None:
        pair = _first_address(msg, "from")
        signs = _bounce_signs(headers, pair[1] if pair else "")
        if not signs:
            return None
        report = _non_dsn_report(text, headers, signs)
    if report is None:
        return None
    original = _returned_message_id(msg, text)
    return DeliveryReport(report.failed, report.permanent, report.status, report.diagnostic, original, report.action)
