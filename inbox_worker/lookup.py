"""What the pure stages need to know from the database, for a whole batch at once.

`BatchView.read(inbounds, ...)` answers, in a handful of queries, every question the
batch's messages will ask: which tickets their Message-IDs, tags and reply tokens name,
those tickets' status and participants, the users among their addresses, which
Message-IDs were processed before. `absorb` then adds what each message of the batch
wrote, so a reply threads to a ticket opened earlier in the same batch. It implements
thread.Lookup and builds route.Facts. Only reads; `apply` is the writer.
"""
from __future__ import annotations

from collections.abc import Iterable

from domain import tickets
from domain.rows import Deferred
from models import (
    AddressStatus,
    InboundMail,
    KnownMessageId,
    Outcome,
    Participant,
    Ticket,
    User,
)

from . import subjects, tokens
from .message import Classification, Inbound, ThreadMatch
from .route import Facts

# Ledger outcomes that mean the message's content is already in the system.
PROCESSED = [o.value for o in Outcome if o not in (Outcome.QUARANTINED, Outcome.DUPLICATE)]
CHUNK = 500  # values per IN (...) list: well under every backend's parameter limit


def chunks(values: Iterable, size: int = CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


class BatchView:
    def __init__(self):
        self.known: dict[str, tuple[int, bool]] = {}  # Message-ID -> (ticket id, sent by us)
        self.processed: dict[str, list[tuple[int, str]]] = {}  # Message-ID -> [(ledger id, description)]
        self.status: dict[int, str] = {}  # ticket id -> status, for the tickets the batch names
        self.merged: dict[int, int] = {}  # a merged ticket's id -> the ticket it was merged into
        self.participants: dict[int, set[str]] = {}
        self.users: dict[str, User] = {}
        self.bounced: set[str] = set()  # senders marked undeliverable

    @classmethod
    def read(cls, inbounds: list[Inbound], *, secret: str, support_addresses: tuple[str, ...],
             prefix: str) -> "BatchView":
        view = cls()
        own_ids = {i.message_id for i in inbounds}
        ids = set(own_ids)
        addresses: set[str] = set()
        ticket_ids: set[int] = set()
        for i in inbounds:
            ids.update(i.in_reply_to, i.references)
            if i.report and i.report.original_message_id:
                ids.add(i.report.original_message_id)
            addresses.update((i.from_addr, *i.reply_to, *i.to, *i.cc))
            ticket_ids.update(subjects.ticket_ids_in(i.subject, prefix))
            for token in tokens.tokens_in(i.all_recipients, support_addresses):
                verified = tokens.verify_token(secret, token)
                if verified:
                    ticket_ids.add(verified[0])
        for chunk in chunks(ids):
            for row in KnownMessageId.select(KnownMessageId.message_id, KnownMessageId.ticket,
                                             KnownMessageId.outgoing).where(KnownMessageId.message_id.in_(chunk)):
                view.known[row.message_id] = (row.ticket_id, row.outgoing)
        for chunk in chunks(own_ids):
            query = (InboundMail.select(InboundMail.id, InboundMail.message_id, InboundMail.outcome,
                                        InboundMail.mailbox, InboundMail.uid)
                     .where(InboundMail.message_id.in_(chunk), InboundMail.outcome.in_(PROCESSED))
                     .order_by(InboundMail.id))
            for row in query:
                view._processed(row.message_id, row.id, f"{row.outcome}, {row.mailbox} uid {row.uid}")
        # Every address asked about, None for those with no user: later look-ups (the
        # participants a message adds) then need no query (one round trip each on PostgreSQL).
        view.users = {**{a.strip().lower(): None for a in addresses if a}, **tickets.users_by_email(addresses)}
        view._read_tickets(ticket_ids | {t for t, _ in view.known.values()})
        for chunk in chunks({i.from_addr for i in inbounds if i.from_addr}):
            view.bounced.update(a.email for a in AddressStatus.select(AddressStatus.email).where(
                AddressStatus.email.in_(chunk), AddressStatus.bounced_at.is_null(False)))
        return view

    def _read_tickets(self, ticket_ids: set[int]) -> None:
        targets: set[int] = set()
        for chunk in chunks(ticket_ids):
            for t in Ticket.select(Ticket.id, Ticket.status, Ticket.merged_into).where(Ticket.id.in_(chunk)):
                self.status[t.id] = t.status
                self.participants.setdefault(t.id, set())
                if t.merged_into_id:
                    self.merged[t.id] = t.merged_into_id
                    targets.add(t.merged_into_id)
            for p in Participant.select(Participant.ticket, Participant.email).where(Participant.ticket.in_(chunk)):
                self.participants[p.ticket_id].add(p.email)
        targets -= set(self.status)
        if targets:  # merges are flattened (domain/merge.py): a target is never merged itself
            self._read_tickets(targets)

    def _processed(self, message_id: str, ledger_id: int, description: str) -> None:
        self.processed.setdefault(message_id, []).append((ledger_id, description))

    # --- thread.Lookup ---------------------------------------------------------------
    def ticket_exists(self, ticket_id: int) -> bool:
        return ticket_id in self.status

    def tickets_by_message_id(self, message_ids: list[str]) -> dict[str, int]:
        return {m: self.known[m][0] for m in message_ids if m in self.known}

    def is_participant(self, ticket_id: int, email: str) -> bool:
        return bool(email) and email in self.participants.get(self.current(ticket_id), ())

    def current(self, ticket_id: int) -> int:
        """The ticket that answers for this one: itself, or the one it was merged into."""
        return self.merged.get(ticket_id, ticket_id)

    def is_own_message_id(self, message_id: str) -> bool:
        """A Message-ID we put on a mail we sent: that mail has come back to us."""
        return self.known.get(message_id, (0, False))[1]

    # --- route.Facts -------------------------------------------------------------------
    def facts(self, inbound: Inbound, classification: Classification, match: ThreadMatch | None,
              *, ledger_id: int | None = None) -> Facts:
        first = next((f"ledger #{lid} ({d})" for lid, d in self.processed.get(inbound.message_id, [])
                      if lid != ledger_id), "")
        sender = self.users.get(inbound.from_addr)
        report = inbound.report
        return Facts(
            duplicate_of=first,
            ticket_status=self.status.get(match.ticket_id) if match else None,
            sender_is_staff=bool(sender and sender.is_staff and sender.is_active),
            token_user_is_sender=bool(
                sender and match and match.rule == "reply_token" and match.detail == f"u{sender.id}"),
            bounce_ticket_id=self.known.get(report.original_message_id, (None,))[0]
            if report and report.original_message_id else None,
        )

    # --- what the batch wrote -------------------------------------------------------
    def absorb(self, rows: Deferred, *, message_id: str, outcome: str, ledger_id: int, description: str,
               ticket_id: int | None, ticket_status: str | None) -> None:
        """Take in one message's writes, so the next message of the batch sees them."""
        if outcome in PROCESSED:
            self._processed(message_id, ledger_id, description)
        if ticket_id is not None and ticket_status is not None:
            self.status[ticket_id] = ticket_status
            self.participants.setdefault(ticket_id, set())
        for row in rows.of(KnownMessageId):
            self.known.setdefault(row["message_id"], (row["ticket"], row["outgoing"]))
        for row in rows.of(Participant):
            self.participants.setdefault(row["ticket"], set()).add(row["email"])
