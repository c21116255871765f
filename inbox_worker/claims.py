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
    database = db.obj
    head, one, tail = _upsert_parts(database)
    until_value, now_value = InboundClaim.until.db_value(until), InboundClaim.until.db_value(now)
    with db.atomic():
        for chunk in chunks(uids):
            params = [value for uid in chunk for value in (mailbox, uidvalidity, uid, owner, until_value)]
            database.execute_sql(head + ", ".join([one] * len(chunk)) + tail, [*params, now_value, owner])
            mine.update(uid for (uid,) in InboundClaim.select(InboundClaim.uid).where(
                InboundClaim.mailbox == mailbox, InboundClaim.uidvalidity == uidvalidity,
                InboundClaim.uid.in_(chunk), InboundClaim.owner == owner).tuples())
            known.update(uid for (uid,) in InboundMail.select(InboundMail.uid).where(
                InboundMail.mailbox == mailbox, InboundMail.uidvalidity == uidvalidity,
                InboundMail.uid.in_(chunk)).tuples())
    return [u for u in uids if u in mine and u not in known], [u for u in uids if u in mine and u in known]


_UPSERT: dict[type, tuple[str, str, str]] = {}


def _upsert_parts(database) -> tuple[str, str, str]:
    """The claims' INSERT ... ON CONFLICT DO UPDATE WHERE, as Peewee's `insert_many(...).on_conflict`
    writes it, put together once per database type (Peewee took a few ms to build it for each
    batch of 100 UIDs): the start, one row's placeholders, the conflict clause (two parameters:
    now, owner)."""
    parts = _UPSERT.get(type(database))
    if parts is None:
        q, p = database.quote[0], database.param
        table = f"{q}{InboundClaim._meta.table_name}{q}"
        column = {name: f"{q}{InboundClaim._meta.fields[name].column_name}{q}"
                  for name in ("mailbox", "uidvalidity", "uid", "owner", "until")}
        parts = _UPSERT[type(database)] = (
            f"INSERT INTO {table} ({', '.join(column.values())}) VALUES ",
            f"({', '.join([p] * len(column))})",
            f" ON CONFLICT ({column['mailbox']}, {column['uidvalidity']}, {column['uid']}) DO UPDATE SET "
            f"{column['owner']} = EXCLUDED.{column['owner']}, {column['until']} = EXCLUDED.{column['until']} "
            f"WHERE (({table}.{column['until']} < {p}) OR ({table}.{column['owner']} = {p}))")
    return parts


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
