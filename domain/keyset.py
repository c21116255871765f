"""Paging a list from where the last page ended (keyset pagination, issue 18): the ticket lists'
orders (`domain.queue_order`) and the contract lists' (`domain.contract_order`) share this, and the
admins' lists page by an `Order` of a few columns (users, companies, the audit trail, ...).

An offset reads every row before its page; a cursor (the place of a page's last or first row in
the list's order) lets a page read only its own rows, however deep. In: a function that reads up
to n rows after a cursor, or before it (nearest first), or from the top without one. Out: a page.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from peewee import DateTimeField, Field, ForeignKeyField, IntegerField, Model, ModelSelect, Tuple


class Page(NamedTuple):
    rows: list
    first: bool  # the list's first page (no link to the rows before it)
    more: bool  # rows after it (a link to the next page)


Reader = Callable[[Any, bool, int], list]  # (cursor or None, backward, limit) -> rows


def page_of(read: Reader, cursor: Any, *, backward: bool, size: int) -> Page:
    """A page of `size` rows after the cursor, or before it (`backward`: the previous page). A
    previous page that reaches the top is the first page, whole (rows changed since the reader
    left it move up); so is a next page with no rows (they went since, or the link was made by
    hand)."""
    if cursor is not None and backward:
        rows = read(cursor, True, size + 1)
        if len(rows) > size:
            return Page(rows[:size][::-1], first=False, more=True)
        cursor = None
    rows = read(cursor, False, size + 1)  # the one past the page only says there is more
    if not rows and cursor is not None:
        return page_of(read, None, backward=False, size=size)
    return Page(rows[:size], first=cursor is None, more=len(rows) > size)


# --- a list in one direction over a few columns (the admins' lists) --------------------------------


@dataclass(frozen=True)
class Order:
    """A list ordered by `columns`, all ascending or all descending, the last one unique so that it
    ends every tie. A page after a cursor is one row-value comparison, `(a, b) > (x, y)`, which
    both databases read along an index on the same columns from the cursor's place. The columns
    must not be NULL (a comparison with NULL is never true, so such a row would drop out of the
    pages after it)."""

    columns: tuple[Field, ...]
    descending: bool = False

    def reader(self, query: ModelSelect) -> Reader:
        """`query`'s rows from a cursor (the values of `columns`), either way (`Reader`)."""
        def read(cursor: tuple | None, backward: bool, limit: int) -> list:
            return list(self.page_query(query, cursor, backward, limit))
        return read

    def page_query(self, query: ModelSelect, cursor: tuple | None, backward: bool, limit: int) -> ModelSelect:
        """The statement `reader` runs: `limit` rows of `query` after the cursor (or before it,
        nearest first)."""
        down = self.descending != backward  # the rows wanted come in descending order
        if cursor is not None:
            row, at = Tuple(*self.columns), Tuple(*cursor)
            query = query.where(row < at if down else row > at)
        return query.order_by(*(c.desc() if down else c.asc() for c in self.columns)).limit(limit)

    def cursor_of(self, row: Model) -> tuple:
        return tuple(getattr(row, column.name) for column in self.columns)

    def text(self, row: Model) -> str:
        """A row's cursor for a link: opaque, URL-safe."""
        return cursor_text(self.cursor_of(row))

    def read_text(self, text: str | None) -> tuple | None:
        """A link's cursor read back as the columns' values; None when it is not one (the page starts
        at the top)."""
        kinds = tuple(_kind(column) for column in self.columns)
        try:
            return read_cursor(text or "", kinds)
        except ValueError:
            return None


def cursor_text(values: tuple) -> str:
    """Values (text, numbers, times) as an opaque, URL-safe cursor."""
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def read_cursor(text: str, kinds: tuple) -> tuple:
    """`cursor_text`'s values read back, each by its kind (str, int, dt.datetime.fromisoformat);
    ValueError for anything else."""
    if not text or len(text) > MAX_CURSOR:
        raise ValueError("not a cursor")
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError("not a cursor")
        return tuple(_read(kind, value) for kind, value in zip(kinds, values))
    except (TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise ValueError("not a cursor") from error


def _read(kind, value):
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError("not a number")
    if kind is not int and not isinstance(value, str):
        raise ValueError("not a text")
    return kind(value)


def _kind(column: Field):
    if isinstance(column, DateTimeField):
        return dt.datetime.fromisoformat
    return int if isinstance(column, (IntegerField, ForeignKeyField)) else str


MAX_CURSOR = 2000  # characters: a few columns' values; an email is at most 320
