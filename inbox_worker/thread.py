"""Thread: which ticket a mail belongs to, if any, and by which rule.

In: an `Inbound` and a `Lookup` (answers questions about stored tickets and
Message-IDs). Out: a `ThreadMatch` or None (a new ticket). Pure given the lookup:
it never writes, and it reads only through the lookup. A ticket merged into another
answers for it: the match names the ticket it was merged into, by the same rule.

The rules, first match wins:
 1. reply_token  a signed support+<token>@ address among the recipients
 2. in_reply_to  In-Reply-To names a Message-ID we stored or sent
 3. references   References does (newest first)
 4. subject_tag  [HD-123] in the subject, only when the sender takes part in that ticket
"""
from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from helpdesk.domain import tokens

from . import subjects
from .message import Inbound, ThreadMatch


class Lookup(Protocol):
    def ticket_exists(self, ticket_id: int) -> bool: ...

    def tickets_by_message_id(self, message_ids: list[str]) -> dict[str, int]:
        """Ticket ids for those of the Message-IDs we know."""

    def is_participant(self, ticket_id: int, email: str) -> bool: ...

    def current(self, ticket_id: int) -> int:
        """The ticket it was merged into, or itself."""


def thread_of(
    inbound: Inbound,
    lookup: Lookup,
    *,
    secret: str,
    support_addresses: tuple[str, ...],
    prefix: str,
) -> ThreadMatch | None:
    for rule in RULES:
        match = rule(inbound, lookup, secret, support_addresses, prefix)
        if match is not None:
            target = lookup.current(match.ticket_id)
            return match if target == match.ticket_id else replace(match, ticket_id=target)
    return None


def by_reply_token(inbound, lookup, secret, support_addresses, prefix):
    for token in tokens.tokens_in(inbound.all_recipients, support_addresses):
        verified = tokens.verify_token(secret, token)
        if verified and lookup.ticket_exists(verified[0]):
            ticket_id, recipient = verified
            return ThreadMatch(ticket_id, "reply_token", detail=recipient)
    return None


def by_in_reply_to(inbound, lookup, secret, support_addresses, prefix):
    return _by_ids(lookup, list(inbound.in_reply_to), "in_reply_to")


def by_references(inbound, lookup, secret, support_addresses, prefix):
    return _by_ids(lookup, list(reversed(inbound.references)), "references")


def _by_ids(lookup, ids: list[str], rule: str) -> ThreadMatch | None:
    if not ids:
        return None
    known = lookup.tickets_by_message_id(ids)
    for message_id in ids:
        if message_id in known:
            return ThreadMatch(known[message_id], rule, detail=message_id)
    return None


def by_subject_tag(inbound, lookup, secret, support_addresses, prefix):
    for ticket_id in subjects.ticket_ids_in(inbound.subject, prefix):
        if lookup.ticket_exists(ticket_id) and lookup.is_participant(ticket_id, inbound.from_addr):
            return ThreadMatch(ticket_id, "subject_tag", detail=f"[{prefix}-{ticket_id}]")
    return None


RULES = (by_reply_token, by_in_reply_to, by_references, by_subject_tag)
