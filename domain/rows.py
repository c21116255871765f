"""Where dependent rows go: straight into the database, or held for one bulk insert; `chunks`.

Domain operations hand the rows that nothing else refers to by id (status changes,
participants, known Message-IDs) to a sink. `Immediate` inserts each one at once, as the
portal wants; `Deferred` collects them so that the mail worker writes a whole batch's
worth with one `insert_many` per table, inside the batch's transaction.
"""
from __future__ import annotations

from typing import Iterable

from peewee import Model

CHUNK = 500  # values per IN (...) list: well under every backend's parameter limit

# Tables whose rows may already be there (another worker, a re-run): first writer wins.
_IGNORE_CONFLICTS = ("participant", "known_message_id")


class Immediate:
    def add(self, model: type[Model], row: dict) -> None:
        model.insert(**row).execute()


class Deferred:
    def __init__(self):
        self.rows: dict[type[Model], list[dict]] = {}

    def add(self, model: type[Model], row: dict) -> None:
        self.rows.setdefault(model, []).append(row)

    def of(self, model: type[Model]) -> list[dict]:
        return self.rows.get(model, [])

    def extend(self, other: "Deferred") -> None:
        for model, rows in other.rows.items():
            self.rows.setdefault(model, []).extend(rows)

    def flush(self, chunk: int = 200) -> None:
        """Insert everything held, table by table in the order first seen; then forget it."""
        for model, rows in self.rows.items():
            for start in range(0, len(rows), chunk):
                query = model.insert_many(rows[start:start + chunk])
                if model._meta.table_name in _IGNORE_CONFLICTS:
                    query = query.on_conflict_ignore()
                query.execute()
        self.rows = {}


def chunks(values: Iterable, size: int = CHUNK):
    """The values in lists of at most `size`: for IN (...) lists and batched writes."""
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]
