"""The orders of the ticket lists (the staff queue's two, the portal's list by last change), read
a page at a time from where the last page ended (issue 18).

An offset reads every row before its page: page 999 of the bench's 50,000 tickets read about
50,000 index entries (130 ms; 240 ms by due time). A cursor, the place of the page's last (or
first) row in the order, lets a page start there and read only its own rows, however deep.

The orders:
- by last change: (updated_at, id), newest first. One part.
- by due time: the tickets with a next deadline, soonest first (ties: newest change first),
  then those without one (their clocks stand still, or they have none), newest change first.
  From its start (the first page) in one statement, along the index on the deadline. From a
  cursor in two parts, each read along its own index: a single OR over both would read neither
  in order.

In: the order, a cursor (or none: the start), which way (`backward`: the rows before the
cursor, nearest first, for the previous page). Out: the parts to read in turn, and for each
its condition and ORDER BY as Peewee expressions; a cursor's text for a link, and that text
read back (None when it is not one: the page starts from the top); a page (`page_of`) from a
caller's function that reads a part (`domain.keyset` pages it). Never runs a query itself.
"""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass

from peewee import Tuple

from helpdesk import database
from helpdesk.models import Ticket

from . import keyset


class Part(enum.Enum):
    """A part of an order, read by a statement of its own (a shape: `domain.prepared`)."""

    ALL = "all"  # by last change: the whole order
    BY_DUE = "by_due"  # by due time: the whole order, from its start (no cursor)
    DUE = "due"  # by due time: the tickets with a next deadline
    NO_DUE = "no_due"  # by due time: the rest, after them


@dataclass(frozen=True)
class Cursor:
    """A row's place in an order: its next deadline (by due time only), last change and id."""

    due: dt.datetime | None
    updated_at: dt.datetime
    id: int

    @classmethod
    def of(cls, row: dict, by_due: bool) -> "Cursor":
        return cls(row["sla_next_due"] if by_due else None, row["updated_at"], row["id"])

    def text(self, by_due: bool) -> str:
        """For a link: "updated~id", by due time "due~updated~id" (due empty when there is none)."""
        place = f"{self.updated_at.isoformat()}~{self.id}"
        return f"{self.due.isoformat() if self.due else ''}~{place}" if by_due else place

    @classmethod
    def read(cls, text: str, by_due: bool) -> "Cursor | None":
        """A cursor's text read back; None for anything else (a hand-made or stale link), which
        the page takes as its start."""
        fields = (text or "").split("~")
        if len(fields) != (3 if by_due else 2) or len(text) > 100:
            return None
        try:
            due = _moment(fields[0]) if by_due and fields[0] else None
            updated_at, ticket_id = _moment(fields[-2]), int(fields[-1])
        except ValueError:
            return None
        return cls(due, updated_at, ticket_id) if 0 < ticket_id < 2**63 else None


def _moment(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is not None:  # stored times are naive UTC, and so is every cursor we write
        raise ValueError("a cursor's time has no zone")
    return value


def part_of(cursor: Cursor | None, by_due: bool) -> Part:
    """The part a cursor is in (the first part when there is none)."""
    if not by_due:
        return Part.ALL
    return Part.NO_DUE if cursor is not None and cursor.due is None else Part.DUE


def parts(by_due: bool, cursor: Cursor | None, backward: bool) -> list[Part]:
    """The parts a page reads, in turn: the cursor's own, then those after it (before it, backward)."""
    if not by_due:
        return [Part.ALL]
    if cursor is None and not backward:
        # One statement, as the deadline index gives the order. Not the first part alone: its
        # "deadline IS NOT NULL" has PostgreSQL guess a few rows and sort every open ticket's.
        return [Part.BY_DUE]
    order = [Part.DUE, Part.NO_DUE]
    at = order.index(part_of(cursor, by_due))
    return order[at::-1] if backward else order[at:]


def ordering(part: Part, backward: bool) -> list:
    """The part's ORDER BY, or its reverse (the rows before a cursor, nearest first)."""
    newest = [Ticket.updated_at.asc(), Ticket.id.asc()] if backward else [Ticket.updated_at.desc(), Ticket.id.desc()]
    if part is Part.BY_DUE:
        return [Ticket.sla_next_due.asc(nulls="LAST"), *newest]
    if part is Part.DUE:
        return [Ticket.sla_next_due.desc() if backward else Ticket.sla_next_due.asc(), *newest]
    return newest


def condition(part: Part, backward: bool, due: dt.datetime | None, updated_at: dt.datetime | None,
              ticket_id: int | None):
    """The rows of `part` after the cursor (due, updated_at, ticket_id) in its order, or before
    it when `backward`; the whole part when updated_at is None (a page entering it from the
    next or previous part). Arguments are values, not a Cursor, so that `domain.prepared`
    sees them reach the SQL."""
    place = Tuple(Ticket.updated_at, Ticket.id)
    beyond = None if updated_at is None else (place > Tuple(updated_at, ticket_id) if backward
                                              else place < Tuple(updated_at, ticket_id))
    if part in (Part.ALL, Part.BY_DUE):
        return beyond
    if part is Part.NO_DUE:
        # `+sla_next_due` on SQLite: along the index on (updated_at, id), not every such ticket
        # by the index on sla_next_due and then sorted (19 ms at the bench's size).
        none_due = database.unindexed(Ticket.sla_next_due).is_null()
        return none_due if beyond is None else none_due & beyond
    if due is None:  # entering the part: all of it
        return Ticket.sla_next_due.is_null(False)
    # A range on the index on sla_next_due, then the ties by (updated_at, id).
    if backward:
        return (Ticket.sla_next_due <= due) & ((Ticket.sla_next_due < due) | beyond)
    return (Ticket.sla_next_due >= due) & ((Ticket.sla_next_due > due) | beyond)


def values(cursor: Cursor | None) -> tuple:
    """The cursor as `condition`'s arguments (due, updated_at, id); None for each without one."""
    return (cursor.due, cursor.updated_at, cursor.id) if cursor is not None else (None, None, None)


Page = keyset.Page
Reader = Callable[[Part, bool, "Cursor | None", int], list[dict]]  # (part, backward, cursor, limit) -> rows


def page_of(read: Reader, by_due: bool, cursor: Cursor | None, *, backward: bool, size: int) -> Page:
    """A page of `size` rows after the cursor, or before it (`domain.keyset`), each part by `read`."""
    return keyset.page_of(lambda at, back, limit: _read_parts(read, by_due, at, back, limit), cursor,
                          backward=backward, size=size)


def _read_parts(read: Reader, by_due: bool, cursor: Cursor | None, backward: bool, limit: int) -> list[dict]:
    """Up to `limit` rows from the cursor on: its part first, then the next ones (a statement each)."""
    rows: list[dict] = []
    for index, part in enumerate(parts(by_due, cursor, backward)):
        rows += read(part, backward, cursor if index == 0 else None, limit - len(rows))
        if len(rows) >= limit:
            break
    return rows


def links(page: Page, by_due: bool) -> tuple[str, str]:
    """The cursors of the page's first and last rows, for its "newer" and "older" links."""
    if not page.rows:
        return "", ""
    newer, older = (Cursor.of(row, by_due).text(by_due) for row in (page.rows[0], page.rows[-1]))
    return newer, older
