"""Decoding: bytes in a declared charset, and raw header values, into text.

In: bytes with a charset label from a MIME header (any label, right or wrong), or a
compat32 header value (RFC 2047 encoded words, raw 8-bit text, folded lines).
Out: a `str`, always: a strict decode when the label is right, else UTF-8, else the
label's (or cp1252's) reading with replacement characters.
Never: raises for bad bytes or an unknown label, or does I/O.

Lenient on purpose: real mail breaks the rules the stdlib decoders enforce.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import functools
import re

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


def from_raw_str(value: str, hints: tuple[str, ...] = ()) -> str:
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


def unfold(value: str) -> str:
    """A header value with its line folds turned into single spaces."""
    return _FOLD.sub(" ", value)


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
    value = unfold(str(value)).strip()
    if "=?" not in value:
        return from_raw_str(value, hints)
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
            out.append(from_raw_str(between, hints))
        pending.append((m["charset"].lower(), _word_bytes(m["encoding"], m["text"])))
        pos = m.end()
    flush()
    out.append(from_raw_str(value[pos:], hints))
    return "".join(out).replace("\x00", "")
