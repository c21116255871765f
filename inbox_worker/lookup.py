"""Reads the pure stages need: the thread Lookup and the routing Facts.

Only reads; `apply` is the writer.
"""
from __future__ import annotations

from domain import tickets
from models import InboundMail, KnownMessageId, Outcome, Ticket

from .message import Classification, Inbound, ThreadMatch
from .route import Facts

# Ledger outcomes that mean the message's content is already in the system.
PROCESSED = [o.value for o in Outcome if o not in (Outcome.QUARANTINED, Outcome.DUPLICATE)]


class DbLookup:
    def ticket_exists(self, ticket_id: int) -> bool:
        return Ticket.select().where(Ticket.id == ticket_id).exists()

    def tickets_by_message_id(self, message_ids: list[str]) -> dict[str, int]:
        query = KnownMessageId.select(KnownMessageId.message_id, KnownMessageId.ticket).where(
            KnownMessageId.message_id.in_(message_ids[:200])
        )
        return {row.message_id: row.ticket_id for row in query}

    def is_participant(self, ticket_id: int, email: str) -> bool:
        return bool(email) and tickets.is_participant(ticket_id, email)

    def is_own_message_id(self, message_id: str) -> bool:
        """A Message-ID we put on a mail we sent: that mail has come back to us."""
        return KnownMessageId.select().where(
            KnownMessageId.message_id == message_id, KnownMessageId.outgoing == True  # noqa: E712
        ).exists()


def facts_for(inbound: Inbound, classification: Classification, match: ThreadMatch | None,
              *, ledger_id: int | None = None) -> Facts:
    duplicate = (
        InboundMail.select(InboundMail.id, InboundMail.outcome, InboundMail.mailbox, InboundMail.uid)
        .where(InboundMail.message_id == inbound.message_id, InboundMail.outcome.in_(PROCESSED))
        .order_by(InboundMail.id)
    )
    if ledger_id is not None:
        duplicate = duplicate.where(InboundMail.id != ledger_id)
    first = duplicate.first()
    sender = tickets.user_by_email(inbound.from_addr)
    status = None
    if match is not None:
        status = Ticket.select(Ticket.status).where(Ticket.id == match.ticket_id).scalar()
    bounce_ticket = None
    if inbound.report and inbound.report.original_message_id:
        bounce_ticket = DbLookup().tickets_by_message_id([inbound.report.original_message_id]).get(
            inbound.report.original_message_id
        )
    return Facts(
        duplicate_of=f"ledger #{first.id} ({first.outcome}, {first.mailbox} uid {first.uid})" if first else "",
        ticket_status=status,
        sender_is_staff=bool(sender and sender.is_staff and sender.is_active),
        token_user_is_sender=bool(
            sender and match and match.rule == "reply_token" and match.detail == f"u{sender.id}"
        ),
        bounce_ticket_id=bounce_ticket,
    )
