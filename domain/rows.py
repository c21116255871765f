"""Where dependent rows go: straight into the database, or held for one bulk insert; `chunks`.

Domain operations hand the rows that nothing else refers to by id (status changes,
participants, known Message-IDs) to a sink. `Immediate` inserts each one at once, as the
portal wants; `Deferred` collects them so that the mail worker writes a whole batch's
worth with one INSERT per table (`insert_rows`), inside the batch's transaction.
"""
from __future__ import annotations

from typing import Iterable

from peewee import Model

from helpdesk.domain.inserts import insert_rows

CHUNK = 500  # values per IN (...) list: well under every backend's parameter limit

# Tables whose rows may already be there (another worker, a re-run): first writer wins.
_IGNORE_CONFLICTS = ("participant", "known_message_id")


class Immediate:
    def add(self, model: type[Model], row: dict) -> None:
        model.insert(**row).execute()


class Deferred:
    def __init__(self):
        self.rows: dict[type[Model], list[dict]] = {}
        # What domain/webhooks.py read for these rows' events (kept for the batch; None: not read yet).
        self.webhook_endpoints: list | None = None

    def add(self, model: type[Model], row: dict) -> None:
        self.rows.setdefault(model, []).append(row)

    def of(self, model: type[Model]) -> list[dict]:
        return self.rows.get(model, [])

    def extend(self, other: "Deferred") -> None:
        for model, rows in other.rows.items():
            self.rows.setdefault(model, []).extend(rows)

    def flush(self, chunk: int = 200) -> None:
        """Insert everything held, table by table in the order first seen, rows in the order
        added; then forget it. The SQL is put together from parts built once (domain/inserts.py):
        Peewee's `insert_many` took longer to build a batch's INSERT than SQLite to run it."""
        for model, rows in self.rows.items():
            ignore = model._meta.table_name in _IGNORE_CONFLICTS
            for run in _runs(rows):
                for start in range(0, len(run), chunk):
                    insert_rows(model, run[start:start + chunk], ignore_conflicts=ignore)
        self.rows = {}


def _runs(rows: list[dict]):
    """The rows in consecutive runs with the same columns (one INSERT has one column list)."""
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i].keys() != rows[start].keys():
            yield rows[start:i]
            start = i


def chunks(values: Iterable, size: int = CHUNK):
    """The values in lists of at most `size`: for IN (...) lists and batched writes."""
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]
