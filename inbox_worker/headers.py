"""Headers: the values `parse` reads from a message's header, decoded and normalised.

In: a compat32 `email.message.Message` (raw header values, 8-bit text kept as
surrogates) and, where text may be raw 8-bit, the body's charsets as hints.
Out: lower-cased addresses, Message-IDs without angle brackets, naive UTC dates,
decoded subjects and display names; "" or None or () when a header is absent or
unreadable.
Never: raises for a malformed header, or does I/O.
"""
from __future__ import annotations

import datetime as dt
import re
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_tz

from .decoding import codec_of, decode_header, from_raw_str, unfold


def raw_headers(msg: Message, name: str) -> list[str]:
    """Every raw value of a header (name lower-case), in order."""
    return [str(v) for k, v in msg.raw_items() if k.lower() == name]


def raw_header(msg: Message, name: str) -> str | None:
    """The first raw value of a header, or None."""
    values = raw_headers(msg, name)
    return values[0] if values else None


def subject(msg: Message, hint: tuple[str, ...]) -> str:
    """The decoded Subject on one line; "" when there is none."""
    raw = raw_header(msg, "subject")
    return " ".join(decode_header(raw, hint).split()) if raw else ""


_MULTIBYTE = re.compile(r"utf|gb|big5|jis|932|euc|2022|949|hz")


def charset_hint(msg: Message) -> tuple[str, ...]:
    """Codecs of the text parts, multi-byte ones first (they can tell when they are wrong):
    what raw 8-bit header text is most likely in."""
    found: list[str] = []
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
    value = unfold(from_raw_str(str(value))).strip()
    m = _ANGLE.search(value)
    if m:
        return m[1]
    value = value.strip("<> \t")
    return value.split()[0] if value else ""


def message_ids(value: str | None) -> tuple[str, ...]:
    """The Message-IDs in an In-Reply-To or References value, in order, once each."""
    if not value:
        return ()
    value = unfold(from_raw_str(value))
    found = _ANGLE.findall(value) or [t.strip("<>,;") for t in value.split() if "@" in t]
    return tuple(dict.fromkeys(i for i in found if i))


def clean_address(addr: str) -> str:
    """An addr-spec, lower-case; "" when it is not one."""
    addr = from_raw_str(addr).strip().strip("<>'\"").strip().lower()
    return addr if "@" in addr and " " not in addr else ""


def _pairs(msg: Message, *names: str) -> list[tuple[str, str]]:
    values = [v for name in names for v in raw_headers(msg, name)]
    if not values:
        return []
    values = [unfold(v) for v in values]
    try:
        return getaddresses(values)
    except (ValueError, IndexError, TypeError):
        return []


def addresses(msg: Message, *names: str) -> tuple[str, ...]:
    """The addresses in these headers, lower-case, in order, once each."""
    found = (clean_address(addr) for _, addr in _pairs(msg, *names))
    return tuple(dict.fromkeys(a for a in found if a))


_BARE_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def sender(msg: Message, hint: tuple[str, ...]) -> tuple[str, str]:
    """(name, address) of the author: From, else Sender, else Reply-To (From: "x" <> happens)."""
    found = first_address(msg, "from", hint)
    if found is None:
        found = first_address(msg, "sender", hint) or first_address(msg, "reply-to", hint)
    return found or (_from_name_only(msg, hint), "")


def _from_name_only(msg: Message, hint: tuple[str, ...]) -> str:
    pairs = _pairs(msg, "from")
    return " ".join(decode_header(pairs[0][0], hint).split()).strip("\"' ") if pairs else ""


def first_address(msg: Message, name: str, hint: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(decoded display name, addr-spec) of the first address in a header."""
    raw = raw_header(msg, name)
    if raw is None:
        return None
    for display, addr in _pairs(msg, name):
        addr = clean_address(addr)
        if addr:
            return " ".join(decode_header(display, hint).split()).strip("\"' "), addr
    # A header getaddresses cannot read: take the first thing that looks like an address.
    decoded = decode_header(raw, hint)
    m = _BARE_ADDRESS.search(decoded)
    if m:
        display = decoded[:m.start()].strip(" <\"'")
        return display, m[0].lower()
    return None


def date(value: str | None) -> dt.datetime | None:
    """A Date value as naive UTC; None when absent or unreadable."""
    if not value:
        return None
    try:
        parts = parsedate_tz(unfold(value))
        if parts is None:
            return None
        stamp = dt.datetime(*parts[:6])
        return stamp - dt.timedelta(seconds=parts[9] or 0)
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


def return_path(msg: Message) -> str | None:
    """The Return-Path address; "" for the null path <>, None when absent."""
    raw = raw_header(msg, "return-path")
    if raw is None:
        return None
    value = unfold(raw).strip()
    if value.replace(" ", "") in ("<>", ""):
        return ""
    m = _ANGLE.search(value)
    return clean_address(m[1] if m else value) or value.strip("<>").lower()


def content_type(msg: Message) -> str:
    """The part's content type, lower-case; text/plain when unreadable."""
    try:
        return msg.get_content_type().lower()
    except (ValueError, IndexError, TypeError):
        return "text/plain"


def defects(msg: Message) -> tuple[str, ...]:
    """The names of the stdlib parser's defects in the whole tree, once each."""
    found = []  # type: ignore[var-annotated]
    for part in msg.walk():
        found.extend(type(d).__name__ for d in getattr(part, "defects", ()))
    return tuple(dict.fromkeys(found))


def message_id_of(raw: bytes) -> str:
    """The Message-ID of a message the parser gave up on, read from its header alone
    (for the ledger and the log); "" when even that cannot be read."""
    try:
        head = BytesHeaderParser(policy=compat32).parsebytes(raw[:256 * 1024])
        return normalise_message_id(head.get("Message-ID"))
    except Exception:  # the message is already known to be broken
        return ""
