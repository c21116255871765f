"""Route: what to do with a mail.

In: the `Inbound`, its `Classification`, its `ThreadMatch` (or None) and `Facts`
the caller read from the database. Out: one `Decision` with a human-readable
reason. Pure: no I/O, no exceptions for ordinary outcomes.

The policy is the ordered table `RULES` below; the first rule that returns a
decision wins.
"""
from __future__ import annotations

from dataclasses import dataclass

from .commands import Commands, commands_of
from .message import Classification, Inbound, MailKind, ThreadMatch


@dataclass(frozen=True)
class Facts:
    """What the database says about this mail's sender and ticket."""

    duplicate_of: str = ""  # a ledger entry with the same Message-ID: its description
    ticket_status: str | None = None  # of the matched ticket
    sender_is_staff: bool = False  # From is an active engineer or admin
    token_user_is_sender: bool = False  # the reply token was issued to the sender's user
    bounce_ticket_id: int | None = None  # the ticket of the mail a bounce returns
    bounce_marks: tuple[str, ...] = ()  # the addresses a bounce proved to be about (lookup.bounce_proof)
    bounce_proof: str = ""  # how it proved it, or why it did not


@dataclass(frozen=True)
class Decision:
    reason: str


@dataclass(frozen=True)
class NewTicket(Decision):
    pass


@dataclass(frozen=True)
class Reply(Decision):
    ticket_id: int
    rule: str
    reopen: bool = False


@dataclass(frozen=True)
class StaffReply(Decision):
    ticket_id: int
    rule: str
    commands: Commands = Commands()


@dataclass(frozen=True)
class Bounce(Decision):
    ticket_id: int | None = None
    marks: tuple[str, ...] = ()  # addresses it may mark undeliverable: it proved it returns our mail to them
    proof: str = ""


@dataclass(frozen=True)
class Ignore(Decision):
    outcome: str  # duplicate | loop | autoreply | ignored


@dataclass(frozen=True)
class QuarantineDecision(Decision):
    pass


def route(inbound: Inbound, classification: Classification, match: ThreadMatch | None, facts: Facts) -> Decision:
    for rule in RULES:
        decision = rule(inbound, classification, match, facts)
        if decision is not None:
            return decision
    raise AssertionError("the last rule always decides")


def duplicate(inbound, classification, match, facts):
    if facts.duplicate_of:
        return Ignore(f"Message-ID already processed: {facts.duplicate_of}", outcome="duplicate")


def loop(inbound, classification, match, facts):
    if classification.kind == MailKind.LOOP:
        return Ignore(classification.reason, outcome="loop")


def bounce(inbound, classification, match, facts):
    if classification.kind == MailKind.BOUNCE:
        return Bounce(classification.reason, ticket_id=facts.bounce_ticket_id, marks=facts.bounce_marks,
                      proof=facts.bounce_proof)


def auto_reply(inbound, classification, match, facts):
    if classification.kind == MailKind.AUTOREPLY:
        return Ignore(classification.reason, outcome="autoreply")


def no_sender(inbound, classification, match, facts):
    if not inbound.from_addr:
        return QuarantineDecision("no sender address: nobody to open a ticket for or answer")


def staff_reply(inbound, classification, match, facts):
    # Only with a reply token issued to this engineer: a forged From alone is not enough.
    if match and facts.sender_is_staff and match.rule == "reply_token" and facts.token_user_is_sender:
        commands, _ = commands_of(inbound.reply_text or inbound.text)
        what = "internal note" if commands.note else "engineer reply"
        return StaffReply(f"{what} ({match.rule})", ticket_id=match.ticket_id, rule=match.rule, commands=commands)


def reply(inbound, classification, match, facts):
    if match:
        reopen = facts.ticket_status == "closed"
        why = f"reply to ticket {match.ticket_id} by {match.rule}" + (", reopened" if reopen else "")
        return Reply(why, ticket_id=match.ticket_id, rule=match.rule, reopen=reopen)


def new_ticket(inbound, classification, match, facts):
    return NewTicket("no ticket matched: new ticket")


RULES = (duplicate, loop, bounce, auto_reply, no_sender, staff_reply, reply, new_ticket)
