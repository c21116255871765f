"""The contract lists' orders, read a page at a time from where the last page ended (issue 18).

An offset read every contract before its page: staff's page 1,000 of 2,000 current contracts
took 21 ms, the archive's page 1,000 73 ms, page 300 of a search for a common word 58 ms,
against 3-10 for the first. A cursor, the place of a page's last (or first) row, lets a page
start there along the list's index (`domain.keyset` pages it).

The orders: the current contracts by number; the archive latest ended first, then by number
(the index on (ends_on, number)). A number is unique, so it ends every tie.

In: which list (`archive`), a cursor or none (the top), which way (`backward`: the rows before
the cursor, nearest first). Out: the condition and ORDER BY as Peewee expressions (`in_order`
puts both on a query), a cursor's text for a link and that text read back (None when it is not
one: the page starts from the top), and the same cut made in Python for a list already read
whole (`beyond`). Never runs a query itself.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from helpdesk.models import Contract

MAX_TEXT = 60  # a cursor's text: a date, "~" and a number (7 characters today)


@dataclass(frozen=True)
class Cursor:
    """A contract's place in its list: its number, and in the archive its last day."""

    ends_on: dt.date | None
    number: str

    @classmethod
    def of(cls, row: tuple, archive: bool) -> "Cursor":
        """From a listed row (`domain.contracts.LISTED`: id, number, customer, level, starts_on, ends_on)."""
        return cls(row[5] if archive else None, row[1])

    def text(self) -> str:
        """For a link: the number; in the archive "ends_on~number"."""
        return f"{self.ends_on.isoformat()}~{self.number}" if self.ends_on else self.number

    @classmethod
    def read(cls, text: str, archive: bool) -> "Cursor | None":
        """A cursor's text read back; None for anything else (a hand-made or stale link, the other
        list's), which the page takes as its top."""
        if not text or len(text) > MAX_TEXT or not text.isprintable():
            return None
        if not archive:
            return None if "~" in text else cls(None, text)
        day, sep, number = text.partition("~")
        try:
            ends_on = dt.date.fromisoformat(day)
        except ValueError:
            return None
        return cls(ends_on, number) if sep and number and "~" not in number else None


def values(cursor: Cursor | None) -> tuple:
    """The cursor as `condition`'s arguments (ends_on, number); None for each without one."""
    return (cursor.ends_on, cursor.number) if cursor is not None else (None, None)


def ordering(archive: bool, backward: bool) -> list:
    """The list's ORDER BY, or its reverse (the rows before a cursor, nearest first)."""
    number = Contract.number.desc() if backward else Contract.number.asc()
    if not archive:
        return [number]
    return [Contract.ends_on.asc() if backward else Contract.ends_on.desc(), number]


def condition(archive: bool, backward: bool, ends_on: dt.date | None, number: str | None):
    """The rows after the cursor (ends_on, number) in the list's order, or before it when
    `backward`; None (every row) without one. Arguments are values, not a Cursor, so that
    `domain.prepared` sees them reach the SQL."""
    if number is None:
        return None
    past = Contract.number < number if backward else Contract.number > number
    if not archive:
        return past
    # A range on the index on (ends_on, number), then the ties by number.
    if backward:
        return (Contract.ends_on >= ends_on) & ((Contract.ends_on > ends_on) | past)
    return (Contract.ends_on <= ends_on) & ((Contract.ends_on < ends_on) | past)


def in_order(query, archive: bool, backward: bool, ends_on: dt.date | None, number: str | None):
    """`query`'s rows after the cursor (ends_on, number) in the list's order, or before it nearest
    first; all of them, in order, without one."""
    after = condition(archive, backward, ends_on, number)
    return (query if after is None else query.where(after)).order_by(*ordering(archive, backward))


def _key(row: tuple, archive: bool) -> tuple:
    """A listed row's place in the list's order, for Python's comparison (later rows are greater)."""
    return (-row[5].toordinal(), row[1]) if archive else (row[1],)


def beyond(rows: list[tuple], cursor: Cursor | None, backward: bool, archive: bool) -> list[tuple]:
    """`condition` and `ordering` on listed rows read whole in the list's order: those after the
    cursor, or before it nearest first."""
    if cursor is None:
        return rows[::-1] if backward else rows
    at = (-cursor.ends_on.toordinal(), cursor.number) if archive else (cursor.number,)
    if backward:
        return [row for row in reversed(rows) if _key(row, archive) < at]
    return [row for row in rows if _key(row, archive) > at]


def links(rows: list[tuple], archive: bool) -> tuple[str, str]:
    """The cursors of a page's first and last rows, for its "previous" and "next" links."""
    if not rows:
        return "", ""
    return Cursor.of(rows[0], archive).text(), Cursor.of(rows[-1], archive).text()
