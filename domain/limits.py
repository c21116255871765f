"""Limits on what strangers send: one-line values without control or bidi characters, and
texts cut at a size with a visible marker.

In: text from a mail or a form (a subject, a name, a file name, a body).
Out: the same text, cleaned or cut, and whether anything was cut.
Pure: no I/O, never raises.

Control characters (C0, DEL, C1), bidirectional overrides and isolates (U+202A-202E,
U+2066-2069, U+200E/200F, U+061C) and line or paragraph separators make a subject unmailable
(a NUL or line break in a header) or disguise a file name (`inv\u202egpj.exe` shows as
`invexe.jpg`); a one-line value keeps none of them. A cut text ends with a marker that
says how much there was and that the raw mail keeps all of it.
"""
from __future__ import annotations

import re

# Everything that has no place in a one-line value: C0 and C1 controls, DEL, bidi
# embeddings, overrides, isolates and marks, line and paragraph separators, BOM.
_NOT_IN_A_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
# In a body, line breaks and tabs stay; the rest go.
_NOT_IN_A_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def one_line(value: str) -> str:
    """A subject, name or file name: control and bidi characters become spaces, runs of
    whitespace one space, no space at the ends."""
    if not value:
        return ""
    return " ".join(_NOT_IN_A_LINE.sub(" ", value).split())


def clean_text(value: str) -> str:
    """A body: NUL and other controls, bidi overrides and isolates removed; line breaks kept."""
    return _NOT_IN_A_TEXT.sub("", value) if value else ""


def cut(text: str, max_bytes: int, *, marker: str) -> tuple[str, bool]:
    """The text, at most `max_bytes` of UTF-8 (cut at a character, after the last line break
    in the final tenth when there is one) followed by the marker; (text, False) when it fits.
    `marker` may use {total} and {kept} (characters)."""
    if max_bytes <= 0 or len(text) * 4 <= max_bytes or len(text.encode("utf-8", "surrogatepass")) <= max_bytes:
        return text, False
    kept = text.encode("utf-8", "surrogatepass")[:max_bytes].decode("utf-8", "ignore")
    line_end = kept.rfind("\n", len(kept) * 9 // 10)
    if line_end > 0:
        kept = kept[:line_end]
    return kept + "\n\n" + marker.format(total=f"{len(text):,}", kept=f"{len(kept):,}"), True
