"""Commands an engineer writes at the top of a reply by mail (SPEC E7), and the same mail
without them: they are acted on, and never shown to a customer (issue 17).

In: the reply's text (quoted history already folded away), or its full text, or its
sanitised HTML. Out: the commands found on the lines at its top, and the text (or HTML)
without them. Pure.

    #note          the reply is an internal note: stored, never mailed to customers
    #close         close the ticket after this reply
    #assign me     the engineer takes the ticket
    #open / #wait  set the ticket to open / waiting for the customer
    #time 15m      the engineer spent this long on it (15, 15m, 1h, 1h30m)
    #canned NAME   the named canned answer, filled in for the ticket, takes this line's place

Anything else starting with # ends the command block and stays in the text (a ticket
number, a hashtag): commands are recognised only where they cannot be mistaken.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape

from .timespent import minutes_of

COMMAND = re.compile(
    r"""^\#(?P<name>note|close|assign\s+me|open|wait  # a command we know
            |time\s+(?P<spent>[0-9][0-9hm ]{0,15})       # or the time spent, e.g. "#time 1h 30m"
            |canned\s+(?P<canned>[A-Za-z0-9._-]{1,64}))  # or a canned answer, by its name
        \s*$                                           # alone on its line
    """,
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(frozen=True)
class Commands:
    note: bool = False
    close: bool = False
    assign_me: bool = False
    status: str | None = None  # open | waiting_customer, from #open / #wait
    minutes: int | None = None  # from #time
    canned: str | None = None  # the name of a canned answer, from #canned NAME

    @property
    def any(self) -> bool:
        return (self.note or self.close or self.assign_me or self.status is not None or self.minutes is not None
                or self.canned is not None)


def commands_of(text: str) -> tuple[Commands, str]:
    """(the commands at the top of the text, the text without them)."""
    lines = text.splitlines()
    found: dict = {}
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line and not found:
            i += 1
            continue
        m = COMMAND.match(line)
        command = _command(m) if m else None
        if command is None:
            break
        field, value = command
        if field == "canned":
            found.setdefault(field, value)
        else:
            found[field] = value
        i += 1
    if not found:
        return Commands(), text
    return Commands(**found), "\n".join(lines[i:]).strip("\n")


# The sanitised HTML as tags and the text between them: the command lines are text at its top.
_TAG = re.compile(r"(<[^>]*>)")
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_EMPTY_BLOCK = re.compile(r"<(p|div|span)(\s[^>]*)?>(\s|&nbsp;|<br\s*/?>)*</\1>", re.IGNORECASE)


def html_without_commands(html: str) -> str:
    """The HTML part without the command lines at the top of its text (the same lines
    `commands_of` finds in the text part); HTML that starts with anything else is returned
    unchanged."""
    parts = _TAG.split(html)
    removed = False
    for i, part in enumerate(parts):
        if part.startswith("<"):
            if removed and _LINE_BREAK.fullmatch(part):
                parts[i] = ""  # the line break that ended a removed command line
            continue
        kept, lines = [], part.splitlines(keepends=True)
        for j, line in enumerate(lines):
            plain = unescape(line).replace("\xa0", " ").strip()
            if not plain:
                kept.append(line)
                continue
            match = COMMAND.match(plain)
            if match and _command(match) is not None:
                removed = True
                continue
            parts[i] = "".join(kept + lines[j:])
            return _tidy("".join(parts[:i + 1]), removed) + "".join(parts[i + 1:])
        parts[i] = "".join(kept)
    return _tidy("".join(parts), removed)


_BLOCK_TAG = re.compile(r"</?(p|div|br|li|tr|h[1-6]|blockquote|pre|table|ul|ol)\b[^>]*>", re.IGNORECASE)


def html_has_commands(html: str) -> bool:
    """Whether the text of the HTML still starts with a command line (one in markup that
    `html_without_commands` cannot take apart, such as `#assign <b>me</b>`)."""
    text = unescape(_TAG.sub("", _BLOCK_TAG.sub("\n", html))).replace("\xa0", " ")
    return commands_of(text)[0].any


def _tidy(head: str, removed: bool) -> str:
    """The top of the HTML after command lines left it: without the blocks they emptied."""
    return _EMPTY_BLOCK.sub("", head) if removed else head


def _command(m: re.Match) -> tuple[str, object] | None:
    """(field, value) of a matched command line, or None for one that is not a command after all."""
    name = " ".join(m["name"].lower().split())
    if m["spent"] is not None:
        minutes = minutes_of(m["spent"])
        return None if minutes is None else ("minutes", minutes)
    if m["canned"]:
        return "canned", m["canned"].lower()
    if name == "assign me":
        return "assign_me", True
    if name in ("open", "wait"):
        return "status", "open" if name == "open" else "waiting_customer"
    return name, True
