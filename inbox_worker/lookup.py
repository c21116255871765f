"""What the pure stages need to know from the database, for a whole batch at once.

`BatchView.read(inbounds, ...)` answers, in a handful of queries, every question the
batch's messages will ask: which tickets their Message-IDs, tags and reply tokens name,
those tickets' status and participants, the users among their addresses, which
Message-IDs were processed before, the webhook endpoints. `absorb` then adds what each message of the batch
wrote, so a reply threads to a ticket opened earlier in the same batch. It implements
thread.Lookup and builds route.Facts. Only reads; `apply` is the writer.
"""
from __future__ import annotations

from helpdesk.domain import tickets, tokens, webhooks
from helpdesk.domain.rows import Deferred, chunks
from helpdesk.models import (
    AddressStatus,
    InboundMail,
    KnownMessageId,
    Outbox,
    Outcome,
    Participant,
    Ticket,
    User,
)

from . import subjects
from .message import Classification, Inbound, ThreadMatch
from .route import Facts

# Ledger outcomes that mean the message's content is already in the system.
PROCESSED = [o.value for o in Outcome if o not in (Outcome.QUARANTINED, Outcome.DUPLICATE)]


class BatchView:
    def __init__(self):
        self.known: dict[str, tuple[int, bool]] = {}  # Message-ID -> (ticket id, sent by us)
        self.processed: dict[str, list[tuple[int, str, str, str]]] = {}  # Message-ID -> [(ledger id, description)]
        self.status: dict[int, str] = {}  # ticket id -> status, for the tickets the batch names
        self.merged: dict[int, int] = {}  # a merged ticket's id -> the ticket it was merged into
        self.participants: dict[int, set[str]] = {}
        self.users: dict[str, User] = {}
        self.bounced: set[str] = set()  # senders marked undeliverable
        # (ticket id, token recipient) -> (the address it was issued to, why it no longer counts or "")
        self.token_holders: dict[tuple[int, str], tuple[str, str]] = {}
        self.sent_to: dict[str, str] = {}  # Message-ID of a mail we sent -> its recipient
        self.returned: dict[int, tuple[str, int | None]] = {}  # outbox row on a signed return path -> (recipient, ticket)
        self.secret = ""
        self.support_addresses: tuple[str, ...] = ()
        # The active webhook endpoints, read once for the batch (None: each message's writes look them up).
        self.webhook_endpoints: list[tuple[int, frozenset[str]]] | None = None

    @classmethod
    def read(cls, inbounds: list[Inbound], *, secret: str, support_addresses: tuple[str, ...],
             prefix: str) -> "BatchView":
        view = cls()
        view.secret, view.support_addresses = secret, support_addresses
        own_ids = {i.message_id for i in inbounds}
        ids = set(own_ids)
        addresses: set[str] = set()
        ticket_ids: set[int] = set()
        issued: set[tuple[int, str]] = set()
        reported: set[str] = set()
        return_rows: set[int] = set()
        for i in inbounds:
            ids.update(i.in_reply_to, i.references)
            if i.report and i.report.original_message_id:
                reported.add(i.report.original_message_id)
            row_id = tokens.returned_row(i.all_recipients, support_addresses, secret)
            if row_id is not None:
                return_rows.add(row_id)
            addresses.update((i.from_addr, *i.reply_to, *i.to, *i.cc))
            ticket_ids.update(subjects.ticket_ids_in(i.subject, prefix))
            for token in tokens.tokens_in(i.all_recipients, support_addresses):
                verified = tokens.verify_token(secret, token)
                if verified:
                    ticket_ids.add(verified[0])
                    issued.add(verified)
        ids |= reported
        for chunk in chunks(ids):
            for row in KnownMessageId.select(KnownMessageId.message_id, KnownMessageId.ticket,
                                             KnownMessageId.outgoing, KnownMessageId.recipient).where(
                    KnownMessageId.message_id.in_(chunk)):
                view.known[row.message_id] = (row.ticket_id, row.outgoing)
                if row.outgoing and row.recipient:
                    view.sent_to[row.message_id] = row.recipient
        view._read_sent(reported, return_rows)
        for chunk in chunks(own_ids):
            query = (InboundMail.select(InboundMail.id, InboundMail.message_id, InboundMail.outcome,
                                        InboundMail.mailbox, InboundMail.uid, InboundMail.raw_sha256,
                                        InboundMail.fingerprint)
                     .where(InboundMail.message_id.in_(chunk), InboundMail.outcome.in_(PROCESSED))
                     .order_by(InboundMail.id))
            for row in query:
                view._processed(row.message_id, row.id, f"{row.outcome}, {row.mailbox} uid {row.uid}",
                                row.raw_sha256, row.fingerprint)
        # Every address asked about, None for those with no user: later look-ups (the
        # participants a message adds) then need no query (one round trip each on PostgreSQL).
        view.users = {**{a.strip().lower(): None for a in addresses if a}, **tickets.users_by_email(addresses)}  # type: ignore[misc]
        view._read_tickets(ticket_ids | {t for t, _ in view.known.values()})
        view._read_token_holders(issued)
        view.webhook_endpoints = webhooks.active_endpoints()
        for chunk in chunks({i.from_addr for i in inbounds if i.from_addr}):
            view.bounced.update(a.email for a in AddressStatus.select(AddressStatus.email).where(
                AddressStatus.email.in_(chunk), AddressStatus.bounced_at.is_null(False)))
        return view

    def _read_sent(self, message_ids: set[str], row_ids: set[int]) -> None:
        """The outbox rows a batch's delivery reports name: by the Message-ID they quote (mail
        without a ticket, such as account mail, is only there) and by a signed return path."""
        for chunk in chunks(message_ids):
            for row in Outbox.select(Outbox.message_id, Outbox.recipient).where(Outbox.message_id.in_(chunk)):
                self.sent_to.setdefault(row.message_id, row.recipient)
        for chunk in chunks(row_ids):
            for row in Outbox.select(Outbox.id, Outbox.recipient, Outbox.ticket).where(Outbox.id.in_(chunk)):
                self.returned[row.id] = (row.recipient, row.ticket_id)

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

    def _read_token_holders(self, issued: set[tuple[int, str]]) -> None:
        """Who each reply token was issued to, and whether it still counts: a participant
        removed from the ticket, or an engineer demoted or deactivated, has lost it."""
        participants = {int(r[1:]) for _, r in issued if r.startswith("p")}
        users = {int(r[1:]) for _, r in issued if r.startswith("u")}
        found_p, found_u = {}, {}
        for chunk in chunks(participants):
            for p in Participant.select(Participant.id, Participant.ticket, Participant.email).where(
                    Participant.id.in_(chunk)):
                found_p[p.id] = p
        for chunk in chunks(users):
            for u in User.select(User.id, User.email, User.role, User.is_active).where(User.id.in_(chunk)):
                found_u[u.id] = u
        for ticket_id, recipient in issued:
            number = int(recipient[1:]) if recipient[1:].isdigit() else 0
            holder = None
            if recipient.startswith("p"):
                # A merge moves SOURCE's participants to TARGET with their ids (domain/merge.py).
                p = found_p.get(number)
                holder = ((p.email, "") if p is not None and p.ticket_id in (ticket_id, self.current(ticket_id))
                          else ("", "the participant it was issued to is no longer on the ticket"))
            elif recipient.startswith("u"):
                u = found_u.get(number)
                holder = ((u.email, "") if u is not None and u.is_staff and u.is_active else
                          (u.email if u is not None else "", "it was issued to an engineer who is no longer an "
                                                             "active engineer"))
            if holder is not None:
                # Threading names the ticket a merged one went into: the holder answers for both.
                self.token_holders[(ticket_id, recipient)] = holder
                self.token_holders.setdefault((self.current(ticket_id), recipient), holder)

    def _processed(self, message_id: str, ledger_id: int, description: str, raw_sha256: str = "",
                   fingerprint: str = "") -> None:
        self.processed.setdefault(message_id, []).append((ledger_id, description, raw_sha256, fingerprint))

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
        earlier = [(lid, d, raw, fp) for lid, d, raw, fp in self.processed.get(inbound.message_id, [])
                   if lid != ledger_id]
        # Only the same mail fetched twice is a duplicate: the same bytes, or the same mail as
        # its author wrote it (the servers' trace headers aside). A different mail reusing the
        # Message-ID is kept.
        same = next((f"ledger #{lid} ({d})" for lid, d, raw, fp in earlier
                     if raw == inbound.raw_sha256 or (fp and fp == inbound.fingerprint)), "")
        reused = "" if same else next((f"ledger #{lid} ({d})" for lid, d, _, _ in earlier), "")
        sender = self.users.get(inbound.from_addr)
        holder, problem = ("", "")
        if match and match.rule == "reply_token":
            holder, problem = self.token_holders.get((match.ticket_id, match.detail), ("", ""))
        marks, proof, bounce_ticket = self.bounce_proof(inbound)
        return Facts(
            duplicate_of=same,
            message_id_reused=reused,
            token_holder=holder,
            token_problem=problem,
            sender_is_participant=bool(match and self.is_participant(match.ticket_id, inbound.from_addr)),
            ticket_status=self.status.get(match.ticket_id) if match else None,
            sender_is_staff=bool(sender and sender.is_staff and sender.is_active),
            token_user_is_sender=bool(
                sender and match and match.rule == "reply_token" and match.detail == f"u{sender.id}"),
            bounce_ticket_id=bounce_ticket,
            bounce_marks=marks,
            bounce_proof=proof,
        )

    def bounce_proof(self, inbound: Inbound) -> tuple[tuple[str, ...], str, int | None]:
        """(the addresses a delivery report may mark, how it proves it is about our mail, the
        ticket of that mail). A report proves it by arriving on the signed return path of one
        of our mails, or by quoting the Message-ID of a mail we sent to the address it names;
        anyone can write any other report, so it marks nothing."""
        row_id = tokens.returned_row(inbound.all_recipients, self.support_addresses, self.secret)
        if row_id in self.returned:
            recipient, ticket_id = self.returned[row_id]
            return (recipient,), f"arrived on the signed return path of our mail #{row_id} to {recipient}", ticket_id
        if inbound.report is None:
            return (), "carries no delivery report", None
        original, failed = inbound.report.original_message_id, inbound.report.failed
        recipient = self.sent_to.get(original) if original else None  # type: ignore[assignment]
        if recipient is None:
            return (), "refers to no mail we sent", None
        ticket_id = self.known.get(original, (None,))[0]
        if failed and recipient not in failed:
            return (), f"refers to our mail {original}, sent to {recipient}, not to {', '.join(failed[:3])}", ticket_id
        return (recipient,), f"refers to our mail {original} to {recipient}", ticket_id

    # --- what the batch wrote -------------------------------------------------------
    def absorb(self, rows: Deferred, *, message_id: str, outcome: str, ledger_id: int, description: str,
               ticket_id: int | None, ticket_status: str | None, raw_sha256: str = "",
               fingerprint: str = "") -> None:
        """Take in one message's writes, so the next message of the batch sees them."""
        if outcome in PROCESSED:
            self._processed(message_id, ledger_id, description, raw_sha256, fingerprint)
        if ticket_id is not None and ticket_status is not None:
            self.status[ticket_id] = ticket_status
            self.participants.setdefault(ticket_id, set())
        for row in rows.of(KnownMessageId):
            self.known.setdefault(row["message_id"], (row["ticket"], row["outgoing"]))
        for row in rows.of(Participant):
            self.participants.setdefault(row["ticket"], set()).add(row["email"])
