"""Notices: who is told about a ticket's new message, and with which mail (SPEC E6, E9, E11).

In: what happened (a new ticket, a customer reply, a staff reply), its author, the
ticket's participants and the engineers to tell, and whether the requester may get one
more automatic answer. Out: a list of `Notice` (the template, the recipient, and the
token that names the recipient in their signed reply address). Pure: no I/O.

The rules:
- a new ticket: an acknowledgement to the requester (RFC 3834 `auto-replied`), unless
  the rate limit says no or the address is one nobody reads (noreply, mailer-daemon, ...);
- every public message: to every participant but its author (one mail each);
- a new ticket or a customer reply: to the engineers (all of them, or the assignee);
- every public message: to the partners watching the ticket (issue 17: opted in to their
  customers' notices; a `customer_notice`, whose reply address adds nobody), unless they
  are on the ticket already and get it as participants;
- never to the system's own addresses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from helpdesk.models import Outcome

from . import senders


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""
    token: str = "0"  # "p<participant id>" or "u<user id>": signed into their reply address
    language: str = ""  # "" for the system's default


@dataclass(frozen=True)
class Notice:
    template: str  # ack | message | engineer | customer_notice
    recipient: Recipient
    auto_submitted: str  # auto-replied (an answer to the sender) | auto-generated


def notices_for(event: str, *, author: str, requester: str, participants: list[Recipient],
                engineers: list[Recipient], ack_allowed: bool, own: Callable[[str], bool],
                watchers: Sequence[Recipient] = ()) -> list[Notice]:
    """`event`: new_ticket | reply | staff_reply."""
    out: list[Notice] = []
    told: set[str] = set()

    def tell(template: str, recipient: Recipient, auto: str = "auto-generated") -> None:
        if recipient.email in told or recipient.email == author or own(recipient.email):
            return
        told.add(recipient.email)
        out.append(Notice(template, recipient, auto))

    if event == Outcome.NEW_TICKET and ack_allowed and not senders.UNREAD.match(requester) and not own(requester):
        # The one notice its own author gets: "we have it, here is its number".
        for p in participants:
            if p.email == requester:
                told.add(p.email)
                out.append(Notice("ack", p, "auto-replied"))
    for p in participants:
        tell("message", p)
    for w in watchers:
        tell("customer_notice", w)
    if event in (Outcome.NEW_TICKET, Outcome.REPLY):
        for e in engineers:
            tell("engineer", e)
    return out
