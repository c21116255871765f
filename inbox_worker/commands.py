"""Commands an engineer writes at the top of a reply by mail (SPEC E7).

In: the reply's text (quoted history already folded away). Out: the commands found on
the lines at its top, and the text without them. Pure.

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

from helpdesk.domain.timespent import minutes_of

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
        if not m:
            break
        name = " ".join(m["name"].lower().split())
        if m["spent"] is not None:
            minutes = minutes_of(m["spent"])
            if minutes is None:
                break
            found["minutes"] = minutes
        elif m["canned"]:
            found.setdefault("canned", m["canned"].lower())
        elif name == "assign me":
            found["assign_me"] = True
        elif name in ("open", "wait"):
            found["status"] = "open" if name == "open" else "waiting_customer"
        else:
            found[name] = True
        i += 1
    if not found:
        return Commands(), text
    return Commands(**found), "\n".join(lines[i:]).strip("\n")
