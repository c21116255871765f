"""Trust: what a reply may do on its ticket, from how it proved it belongs there (issue 13).

In: the `Inbound`, its `ThreadMatch` and the `Facts` the database gave (who the matched
reply token was issued to, and whether that holder still has it; whether the sender takes
part in the ticket or is an engineer). Out: a `Trust`. Pure: no I/O.

A From header proves nothing; a signed reply address proves that its holder received our
mail. So:
- only a reply on a signed reply address, sent by the address it was issued to, adds
  participants (its Reply-To, To and Cc, within the caps);
- a mail matched by In-Reply-To, References or the subject tag adds nobody (staff see the
  new addresses and may add them), and neither does a reply address without a holder;
- someone else's reply address (the From differs from its holder), or one whose holder is
  gone (a removed CC, an engineer demoted or deactivated), adds nobody and is flagged;
- an engineer's address in From without that engineer's own reply address is flagged: it
  is kept as a customer message and acts as nothing (no #commands, not staff);
- a message whose sender is not on the ticket is held: mailed to engineers only, never
  to the customers on the ticket (nobody is mailed on a stranger's word).
"""
from __future__ import annotations

from dataclasses import dataclass

from .message import Inbound, ThreadMatch


@dataclass(frozen=True)
class Trust:
    signed: bool  # may add participants
    flag: str = ""  # a security-event kind ("" when nothing is wrong)
    why: str = ""  # the flag in words, for staff
    held: bool = False  # mailed to engineers only


def trust_of(inbound: Inbound, match: ThreadMatch, facts) -> Trust:
    held = not facts.sender_is_participant
    if match.rule == "reply_token" and facts.token_problem:
        return Trust(False, "stale_reply_address",
                     f"reply address of {facts.token_holder or 'a former recipient'}: {facts.token_problem}; "
                     "nobody was added", held)
    if match.rule == "reply_token" and facts.token_holder and facts.token_holder != inbound.from_addr:
        return Trust(False, "forged_reply_address",
                     f"reply address issued to {facts.token_holder} used by {inbound.from_addr}; nobody was added",
                     held)
    signed = match.rule == "reply_token" and bool(facts.token_holder)
    if facts.sender_is_staff and not signed:
        return Trust(False, "staff_impersonation",
                     f"{inbound.from_addr} is an engineer's address, but the mail did not come on that engineer's "
                     f"reply address ({match.rule}): kept as a customer message, no commands", held)
    return Trust(signed, "", "", held)
