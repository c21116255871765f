"""Signed reply addresses: support+<token>@domain, one per ticket and recipient.

A token names a ticket and a recipient ("u12" a user, "p34" a participant, "0" none)
and carries an HMAC of both under the secret key, so a reply to it proves it answers
mail we sent to that recipient about that ticket. Lower-case only: some mail servers
lower-case local parts.
"""
from __future__ import annotations

import hashlib
import hmac
import re

MAC_CHARS = 12
TOKEN = re.compile(
    r"""^(?P<ticket>[1-9][0-9]{0,11})    # ticket id
        -(?P<recipient>0|[up][1-9][0-9]{0,11})   # recipient: u<user id>, p<participant id> or 0
        -(?P<mac>[0-9a-f]{12})$          # truncated HMAC-SHA256, hex
    """,
    re.VERBOSE,
)


def _mac(secret: str, ticket_id: int, recipient: str) -> str:
    msg = f"reply:{ticket_id}:{recipient}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()[:MAC_CHARS]


def reply_token(secret: str, ticket_id: int, recipient: str = "0") -> str:
    return f"{ticket_id}-{recipient}-{_mac(secret, ticket_id, recipient)}"


def reply_address(support_address: str, secret: str, ticket_id: int, recipient: str = "0") -> str:
    local, _, domain = support_address.partition("@")
    return f"{local}+{reply_token(secret, ticket_id, recipient)}@{domain}"


def verify_token(secret: str, token: str) -> tuple[int, str] | None:
    """(ticket id, recipient) when the token is ours and intact, else None."""
    m = TOKEN.match(token.lower())
    if not m:
        return None
    ticket_id, recipient = int(m["ticket"]), m["recipient"]
    if not hmac.compare_digest(m["mac"], _mac(secret, ticket_id, recipient)):
        return None
    return ticket_id, recipient


def tokens_in(addresses, support_addresses) -> list[str]:
    """The +tokens of the addresses that are plus-variants of a support address."""
    bases = {tuple(a.lower().split("@", 1)) for a in support_addresses if "@" in a}
    found = []
    for address in addresses:
        local, _, domain = address.lower().partition("@")
        base, plus, token = local.partition("+")
        if plus and (base, domain) in bases:
            found.append(token)
    return found


def is_own_address(address: str, support_addresses) -> bool:
    """A support address itself, or a plus-variant of one."""
    local, _, domain = address.lower().partition("@")
    base = local.split("+", 1)[0]
    return any(f"{base}@{domain}" == a.lower() for a in support_addresses)


# --- signed return paths (VERP): support+b<outbox id>-<mac>@domain ------------------------
# The envelope sender of each mail we send names its outbox row, signed: a delivery report
# that arrives on it proves which of our mails failed and to whom it went.

BOUNCE_TOKEN = re.compile(r"^b(?P<row>[1-9][0-9]{0,15})-(?P<mac>[0-9a-f]{12})$")


def _bounce_mac(secret: str, row_id: int) -> str:
    return hmac.new(secret.encode(), f"bounce:{row_id}".encode(), hashlib.sha256).hexdigest()[:MAC_CHARS]


def return_path(support_address: str, secret: str, row_id: int) -> str:
    """The signed envelope sender for outbox row `row_id`."""
    local, _, domain = support_address.partition("@")
    return f"{local}+b{row_id}-{_bounce_mac(secret, row_id)}@{domain}"


def returned_row(addresses, support_addresses, secret: str) -> int | None:
    """The outbox row named by a signed return path among the addresses, or None."""
    for token in tokens_in(addresses, support_addresses):
        m = BOUNCE_TOKEN.match(token)
        if m and hmac.compare_digest(m["mac"], _bounce_mac(secret, int(m["row"]))):
            return int(m["row"])
    return None
