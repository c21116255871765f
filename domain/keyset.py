"""Paging a list from where the last page ended (keyset pagination, issue 18): the ticket lists'
orders (`domain.queue_order`) and the contract lists' (`domain.contract_order`) share this.

An offset reads every row before its page; a cursor (the place of a page's last or first row in
the list's order) lets a page read only its own rows, however deep. In: a function that reads up
to n rows after a cursor, or before it (nearest first), or from the top without one. Out: a page.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


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
