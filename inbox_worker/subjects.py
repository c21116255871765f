"""Subjects: reply prefixes in many languages, and the ticket tag [HD-123]."""
from __future__ import annotations

import re

# Reply and forward prefixes as mail clients write them, in the languages our users meet.
PREFIX = re.compile(
    r"""^\s*
    (?:
      (?:re|r|aw|wg|fw|fwd|odp|pd|sv|vs|tr|rv|res|enc|antw|antwort|doorst|ynt|ilt
        |vá|vs|vl|atb|aw|odg|fs|ref|رد|回复|答复|转发|回覆|轉寄|返信|転送)  # the prefix word
      \s*(?:\[\d+\]|\(\d+\))?         # a reply counter: Re[2]: or Re(3):
      \s*[:：]                         # its colon (ASCII or full width)
      \s*
    )+""",
    re.VERBOSE | re.IGNORECASE,
)


def strip_prefixes(subject: str) -> str:
    """The subject without leading Re:/Fwd:/AW:/Odp:/... in any number or mix."""
    return PREFIX.sub("", subject or "").strip()


def tag_pattern(prefix: str) -> re.Pattern:
    return re.compile(
        rf"""\[\s*{re.escape(prefix)}   # opening bracket and our prefix
             \s*[-\#]?\s*(\d{{1,12}})    # separator and the ticket number
             \s*\]""",
        re.VERBOSE | re.IGNORECASE,
    )


def ticket_ids_in(subject: str, prefix: str) -> list[int]:
    """Every ticket number tagged in the subject, first first."""
    return [int(n) for n in tag_pattern(prefix).findall(subject or "")]


def tagged(subject: str, prefix: str, ticket_id: int) -> str:
    """The subject with this ticket's tag, once, in front of the cleaned subject."""
    clean = tag_pattern(prefix).sub("", strip_prefixes(subject)).strip()
    return f"[{prefix}-{ticket_id}] {clean}".rstrip()
