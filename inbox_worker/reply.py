"""Reply: the newest part of a reply, its quoted history folded away.

In: the text of a mail (any length, any language).
Out: the text the sender wrote on top; the whole text, unchanged, when nothing in it
looks like quoted history or it is too long to fold safely.
Never: raises, or does I/O.

The quote headers ("On ... wrote:", "From: ... Sent: ...", "-----Original Message-----")
are mail-parser-reply's. Its `parse_reply` is slow on long mail: it tries its header
pattern at every character and runs signature and disclaimer passes that do not change
the latest reply. `_latest_reply` gives the same answer, trying the pattern only where
a match can start; tests/test_parse.py checks it against `parse_reply`.
"""
from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterator

from mailparser_reply import EmailReplyParser
from mailparser_reply.parser import EmailMessage

REPLY_LANGUAGES = ("en", "pl", "de")
MAX_REPLY_FOLD_CHARS = 200_000  # longer texts are kept whole: the quote regexes get slow


# An attribution line the reply parser's languages miss (Thunderbird's Polish "W dniu ... pisze:",
# Gmail's Polish "... napisał(a):"), followed by quoted lines.
_ATTRIBUTION = re.compile(
    r"""^(?![ \t]*>)[^\n]{0,300}?\b(?:pisze|napisał(?:\(a\)|a)?|wrote|schrieb|schreibt)[ \t]*:[ \t]*\n  # the attribution
        (?:[ \t]*\n)?                                                              # maybe a blank line
        [ \t]*>                                                                    # then the quote
    """,
    re.VERBOSE | re.MULTILINE | re.IGNORECASE,
)
# The tail every attribution ends with: cheap to find, and the attribution search starts
# on its line (an attribution is one line, so none can start on an earlier one).
_COLON_THEN_QUOTE = re.compile(r":[ \t]*\n(?:[ \t]*\n)?[ \t]*>")


def reply_of(text: str) -> str:
    """The newest part of a reply: quoted history folded away."""
    if not text.strip() or len(text) > MAX_REPLY_FOLD_CHARS:
        return text
    attribution = _attribution(text)
    if attribution and text[:attribution.start()].strip():
        text = text[:attribution.start()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reply = _latest_reply(text)
    except (re.error, RecursionError, ValueError, IndexError):
        return text
    return reply.strip() if reply and reply.strip() else text


def _attribution(text: str) -> re.Match | None:
    """The first `_ATTRIBUTION` in the text."""
    tail = _COLON_THEN_QUOTE.search(text)
    if tail is None:
        return None
    return _ATTRIBUTION.search(text, text.rfind("\n", 0, tail.start()) + 1)


@functools.lru_cache(maxsize=1)
def _languages() -> tuple[str, ...]:
    """The languages as the reply parser keeps them (lower-cased, unknown ones dropped)."""
    return tuple(EmailReplyParser(languages=list(REPLY_LANGUAGES)).languages)


@functools.lru_cache(maxsize=1)
def _header_pattern() -> re.Pattern:
    """The reply parser's pattern for the header that opens a quoted mail."""
    return EmailMessage(text="", languages=list(_languages())).HEADER_REGEX


def _latest_reply(text: str) -> str:
    """`EmailReplyParser(REPLY_LANGUAGES).parse_reply(text)`: the text before the first quote
    header with something in front of it, on the parser's normalised text (lines stripped)."""
    normalised = _normalised(text)
    current = 0
    # As EmailMessage.read: cut at each header's first occurrence after the previous cut.
    for match in _header_matches(normalised, _header_pattern()):
        for header in match.groups():
            if not header:
                continue
            position = normalised.find(header, current + 1 if current > 0 else current)
            content = normalised[current:position].strip()
            current = max(position, 0)
            if content:
                return content
    return normalised[current:].strip()


# The parser also rewrites a blank line before a run of 32 or more "_" or "-", with a regex
# that is slow over a whole text; a text without such a run needs only its lines stripped.
_SEPARATOR_LINE = re.compile(r"\n\n ?[_-]{32}")


def _normalised(text: str) -> str:
    """The text as the reply parser normalises it: LF line ends, every line stripped."""
    stripped = "\n".join([line.strip() for line in text.replace("\r\n", "\n").split("\n")])
    if _SEPARATOR_LINE.search(stripped) is None:
        return stripped
    return EmailMessage(text=text, languages=list(_languages())).text


def _header_matches(text: str, pattern: re.Pattern) -> Iterator[re.Match]:
    """`pattern.finditer(text)` for the header pattern, whose every alternative starts at a
    line start ("^") or on a line break ("\\n"): only those positions are tried."""
    pos, end = 0, len(text)
    while pos <= end:
        if pos == 0 or text[pos - 1] == "\n" or text.startswith("\n", pos):
            start = pos
        else:
            start = text.find("\n", pos)
            if start < 0:
                return
        match = pattern.match(text, start)
        if match:
            yield match
            pos = max(match.end(), start + 1)
        else:
            pos = start + 1
