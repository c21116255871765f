"""Claims: which worker handles which server message, when several share a mailbox.

In: the (mailbox, UIDVALIDITY) and the UIDs a worker is about to fetch. Out: the UIDs
it may process (claimed for it, for a while), and those the ledger already has (another
worker committed them: only to be marked done). A claim is a row with a unique index
per server message, taken with INSERT ... ON CONFLICT DO UPDATE WHERE the old claim has
run out (or is our own), in one short transaction: on PostgreSQL the second of two
workers waits for the first's row lock and then finds the claim taken; on SQLite
BEGIN IMMEDIATE serialises them. Claims are released after the batch's commit, so a
UID claimed after a release is already in the ledger and is skipped. Never decides
anything about the mail itself.
"""
from __future__ import annotations

import datetime as dt
import logging

from peewee import EXCLUDED

from helpdesk.domain import owners
from helpdesk.domain.rows import chunks
from helpdesk.models import InboundClaim, InboundMail, db

log = logging.getLogger(__name__)
LEASE = dt.timedelta(minutes=15)  # a worker that died lets its messages go after this


def claim(owner: str, mailbox: str, uidvalidity: int, uids: list[str], now: dt.datetime,
          lease: dt.timedelta = LEASE) -> tuple[list[str], list[str]]:
    """(UIDs now ours to process, UIDs already in the ledger), both in the order given."""
    if not uids:
        return [], []
    until = now + lease
    mine: set[str] = set()
    known: set[str] = set()
    target = [InboundClaim.mailbox, InboundClaim.uidvalidity, InboundClaim.uid]
    with db.atomic():
        for chunk in chunks(uids):
            rows = [{"mailbox": mailbox, "uidvalidity": uidvalidity, "uid": uid, "owner": owner, "until": until}
                    for uid in chunk]
            (InboundClaim.insert_many(rows)
             .on_conflict(conflict_target=target,
                          update={InboundClaim.owner: EXCLUDED.owner, InboundClaim.until: EXCLUDED.until},
                          where=(InboundClaim.until < now) | (InboundClaim.owner == owner))
             .execute())
            mine.update(uid for (uid,) in InboundClaim.select(InboundClaim.uid).where(
                InboundClaim.mailbox == mailbox, InboundClaim.uidvalidity == uidvalidity,
                InboundClaim.uid.in_(chunk), InboundClaim.owner == owner).tuples())
            known.update(uid for (uid,) in InboundMail.select(InboundMail.uid).where(
                InboundMail.mailbox == mailbox, InboundMail.uidvalidity == uidvalidity,
                InboundMail.uid.in_(chunk)).tuples())
    return [u for u in uids if u in mine and u not in known], [u for u in uids if u in mine and u in known]


def release(owner: str, mailbox: str, uidvalidity: int, uids: list[str]) -> None:
    """Let go of our claims (after the commit that wrote their ledger rows)."""
    for chunk in chunks(uids):
        InboundClaim.delete().where(InboundClaim.mailbox == mailbox, InboundClaim.uidvalidity == uidvalidity,
                                    InboundClaim.uid.in_(chunk), InboundClaim.owner == owner).execute()


def release_dead() -> int:
    """Let go of the claims of workers on this machine whose process is gone (killed,
    crashed), rather than waiting for their leases to run out."""
    released = owners.release_dead(
        InboundClaim.owner, lambda owner: InboundClaim.delete().where(InboundClaim.owner == owner).execute())
    if released:
        log.warning("released %d message claim(s) of workers that died", released)
    return released
