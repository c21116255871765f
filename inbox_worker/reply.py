"""Reply: the newest part of a reply, its quoted history and signature folded away.

In: the text of a mail (any length, any language).
Out: the text the sender wrote on top; the whole text, unchanged, when nothing in it
looks like quoted history or it is too long to fold safely.
Never: raises, or does I/O.
"""
from __future__ import annotations

import functools
import re
import warnings

from mailparser_reply import EmailReplyParser

REPLY_LANGUAGES = ("en", "pl", "de")
MAX_REPLY_FOLD_CHARS = 200_000  # longer texts are kept whole: the quote regexes get slow


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
