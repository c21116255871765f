"""A page of an admin's list, from the cursor in the request (`after`: the next page, `before`:
the previous one), and the links to the pages around it (`templates/_pager.html`).

Every list an admin reads (people, companies, the audit trail, the quarantine, ...) grows with
use, and some with what strangers do. Each is read a page at a time along an index
(`domain.keyset.Order`), however deep, and every row can be reached: no list stops at a cap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request, url_for
from peewee import ModelSelect

from helpdesk.domain import keyset

from .security import safe_next

PAGE = 50


@dataclass(frozen=True)
class Pager:
    rows: list
    first_url: str | None  # None on the first page
    previous_url: str | None
    next_url: str | None
    here: str  # this page (path and arguments): where a row's form brings the reader back (`back_to`)


def paged(query: ModelSelect, order: keyset.Order, *, size: int = PAGE, prefix: str = "") -> Pager:
    """`query`'s page from the request's cursor, in `order`. `prefix` names the page's arguments
    (`{prefix}after`, `{prefix}before`) where one page has two lists."""
    after, before = (order.read_text(request.args.get(prefix + name)) for name in ("after", "before"))
    cursor, backward = (before, True) if before is not None else (after, False)
    page = keyset.page_of(order.reader(query), cursor, backward=backward, size=size)
    kept: dict[str, Any] = {k: v for k, v in request.args.items() if k not in (prefix + "after", prefix + "before")}
    kept.update(request.view_args or {})
    endpoint = request.endpoint or ""

    def link(**cursor: Any) -> str:
        return url_for(endpoint, **kept, **cursor)

    first = page.first
    return Pager(page.rows, None if first else link(),
                 None if first else link(**{prefix + "before": order.text(page.rows[0])}),
                 link(**{prefix + "after": order.text(page.rows[-1])}) if page.more else None,
                 request.full_path.rstrip("?"))


def search_text(name: str = "q", limit: int = 200) -> str:
    """A list's filter from the request, as people type it: without control characters (a NUL
    is refused by PostgreSQL and by FTS5), trimmed, at most `limit` characters."""
    return "".join(c for c in request.args.get(name, "") if c.isprintable()).strip()[:limit]


def back_to(default: str) -> str:
    """Where a form posted from a page of a list returns: that page (its `back` field, a path on
    this site), so an admin who changed a row on page 37 stays there; else `default`."""
    return safe_next(request.form.get("back"), default)
