"""The rows of the long lists (contracts, tickets), worked out once in Python: each row's
links, labels and texts as plain values, so a template's loop only prints them.

Building a link with `url_for` costs about 100 µs and a Jinja macro call about as much;
a page of 50 rows made hundreds of each. Here one `url_for` per kind of link gives a
pattern that every row's link is formatted from, and labels are translated once a page.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import NamedTuple

from flask import url_for

from .i18n import _translations

_ID = 987654321987  # stands for the row's id in the pattern; an int, as the routes' converters want


def link_for(endpoint: str, key: str, **values) -> Callable[[int], str]:
    """A function id -> `url_for(endpoint, key=id, **values)`, with one `url_for` in all."""
    values[key] = _ID
    before, _, after = url_for(endpoint, **values).partition(str(_ID))
    return lambda value: f"{before}{value}{after}"


class ContractRow(NamedTuple):
    url: str
    number: str
    customer_name: str
    service_level: str
    models: str  # the first three models of its lines, "…" after them when there are more
    devices: str  # "(3 devices)", translated
    period: str  # "2026-01-01 – 2026-12-31"
    state: str  # the badge's class beside "badge": "bad" expired, "" not started, "ok" in force
    state_label: str
    new_ticket_url: str | None  # in force today: a ticket may be opened on it


def contract_rows(contracts: Iterable, models: dict[int, list[str]], today: dt.date, *,
                  detail_page: str = "contracts.detail") -> list[ContractRow]:
    """`contracts` (id, number, customer_name, service_level, starts_on, ends_on) as the
    lists show them; `models`: each contract's lines' models, in line order; `detail_page`:
    the endpoint a contract's number links to (its `contract_id`)."""
    catalogue = _translations()
    detail = link_for(detail_page, "contract_id")
    new_ticket = link_for("tickets.new", "contract")
    expired, active = catalogue.upgettext("contract", "Expired"), catalogue.upgettext("contract", "Active")
    devices: dict[int, str] = {}
    rows = []
    for contract_id, number, customer_name, service_level, starts_on, ends_on in contracts:
        lines = models[contract_id]
        n = len(lines)
        if n not in devices:
            devices[n] = catalogue.ungettext("%(num)d device", "%(num)d devices", n) % {"num": n}
        names = _distinct(lines)
        shown = ", ".join(names[:3]) + (" …" if len(names) > 3 else "")
        if ends_on < today:
            state, state_label = "bad", expired
        elif starts_on > today:
            state, state_label = "", catalogue.ugettext("Starts on %(date)s") % {"date": starts_on.isoformat()}
        else:
            state, state_label = "ok", active
        rows.append(ContractRow(detail(contract_id), number, customer_name, service_level, shown, devices[n],
                                f"{starts_on.isoformat()} – {ends_on.isoformat()}", state, state_label,
                                new_ticket(contract_id) if starts_on <= today <= ends_on else None))
    return rows


def _distinct(models: list[str]) -> list[str]:
    """The non-empty models, each once, case aside (the first spelling kept), as Jinja's
    `unique` filter did."""
    seen: set[str] = set()
    names = []
    for model in models:
        key = model.lower()
        if model and key not in seen:
            seen.add(key)
            names.append(model)
    return names

