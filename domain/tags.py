"""Tags: free-text labels staff put on tickets, for the queue's and the CLI's filters.

In: what an engineer typed ("Drukarka, VIP  sieć"). Out: normalised tags (NFC, lower
case, inner spaces collapsed; commas separate tags) on the ticket's `ticket_tag` rows.
Caps: `MAX_LENGTH` characters a tag, `MAX_PER_TICKET` tags a ticket, `MAX_PER_CHANGE`
tags in one request; anything over them is refused with the reason, never cut silently.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata

from helpdesk.models import TagUse, Ticket, TicketTag, db, utcnow

from .prepared import prepared, slices
from .validation import N_, Invalid

MAX_LENGTH = 40
MAX_PER_TICKET = 20
MAX_PER_CHANGE = 20
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalised(tag: str) -> str:
    """One tag as stored; `Invalid` when it is empty, too long or has control characters."""
    tag = " ".join(unicodedata.normalize("NFC", tag or "").split()).lower()
    if not tag:
        raise Invalid(N_("A tag cannot be empty."))
    if CONTROL.search(tag) or "," in tag:
        raise Invalid(N_("A tag is one line of text without commas."))
    if len(tag) > MAX_LENGTH:
        raise Invalid(N_("A tag is at most %(limit)s characters: %(tag)s"), {"limit": MAX_LENGTH,
                                                                              "tag": tag[:MAX_LENGTH] + "…"})
    return tag


def parse(text: str | list[str]) -> list[str]:
    """The tags in a comma-separated text (or a list of such texts), normalised, once each."""
    parts = text if isinstance(text, list) else [text]
    raw = [p for part in parts for p in (part or "").split(",") if p.strip()]
    if len(raw) > MAX_PER_CHANGE:
        raise Invalid(N_("Give at most %(limit)s tags at a time."), {"limit": MAX_PER_CHANGE})
    out: list[str] = []
    for part in raw:
        tag = normalised(part)
        if tag not in out:
            out.append(tag)
    return out


@prepared
def _of(ticket_id: int):
    return TicketTag.select(TicketTag.tag).where(TicketTag.ticket == ticket_id).order_by(TicketTag.tag).tuples()


def of(ticket_id: int) -> list[str]:
    return [tag for tag, in _of(ticket_id)]


def add(ticket_id: int, tags: list[str], *, now: dt.datetime | None = None) -> list[str]:
    """Add tags (already `parse`d); returns those new to the ticket. `Invalid` past the cap."""
    now = now or utcnow()
    with db.atomic():
        have = set(of(ticket_id))
        new = [t for t in tags if t not in have]
        if len(have) + len(new) > MAX_PER_TICKET:
            raise Invalid(N_("A ticket has at most %(limit)s tags."), {"limit": MAX_PER_TICKET})
        for tag in new:
            _tag(ticket_id, tag, now)
        if new:
            Ticket.update(updated_at=now).where(Ticket.id == ticket_id).execute()
    return new


def remove(ticket_id: int, tags: list[str], *, now: dt.datetime | None = None) -> int:
    """Remove tags; returns how many the ticket had."""
    if not tags:
        return 0
    removed = 0
    with db.atomic():
        for tag in dict.fromkeys(tags):
            if TicketTag.delete().where(TicketTag.ticket == ticket_id, TicketTag.tag == tag).execute():
                _count(tag, -1)
                removed += 1
    return removed


def copy(source_id: int, target_id: int, now: dt.datetime) -> None:
    """Give the target every tag of the source (a merge), up to the cap."""
    have = set(of(target_id))
    for tag in of(source_id):
        if tag not in have and len(have) < MAX_PER_TICKET:
            _tag(target_id, tag, now)
            have.add(tag)


def _tag(ticket_id: int, tag: str, now: dt.datetime) -> None:
    """One tag on one ticket, counted in `tag_use` when it was not there yet (the caller's transaction)."""
    cursor = db.execute(TicketTag.insert(ticket=ticket_id, tag=tag, added_at=now).on_conflict_ignore())
    if cursor.rowcount:
        _count(tag, +1)


def _count(tag: str, change: int) -> None:
    """`tag_use` follows `ticket_tag`: one upsert, so concurrent taggers add up instead of
    overwriting each other; a tag no ticket carries any more leaves the table."""
    (TagUse.insert(tag=tag, uses=max(change, 0))
     .on_conflict(conflict_target=[TagUse.tag], update={TagUse.uses: TagUse.uses + change}).execute())
    if change < 0:
        TagUse.delete().where(TagUse.tag == tag, TagUse.uses <= 0).execute()


@prepared
def _most_used(limit: int):
    return TagUse.select(TagUse.tag).order_by(TagUse.uses.desc(), TagUse.tag).limit(limit).tuples()


def suggestions(limit: int = 50) -> list[str]:
    """The tags in use, most used first: offered while typing (an HTML datalist). Read from
    `tag_use` (the 50 first entries of its index), not by counting every ticket's tags."""
    return [tag for tag, in _most_used(limit)]


def tagged(query, tag: str):
    """The tickets of `query` that carry `tag` (a normalised tag; nothing when it is not one)."""
    try:
        tag = normalised(tag)
    except Invalid:
        return query.where(Ticket.id.in_([]))
    return query.where(Ticket.id.in_(TicketTag.select(TicketTag.ticket).where(TicketTag.tag == tag)))


def of_tickets(ticket_ids: list[int]) -> dict[int, list[str]]:
    """The tags of each of these tickets (one query), for a page of the queue."""
    found: dict[int, list[str]] = {}
    for ids in slices(ticket_ids):  # any number of tickets (the CLI's list)
        for ticket_id, tag in _tags_of(ids):
            found.setdefault(ticket_id, []).append(tag)
    return found


@prepared
def _tags_of(ticket_ids: list):
    return TicketTag.select(TicketTag.ticket, TicketTag.tag).where(TicketTag.ticket.in_(ticket_ids)) \
        .order_by(TicketTag.tag).tuples()
