"""The migrations build exactly the schema the models describe, and are safe to repeat."""
from __future__ import annotations

import database
import models


def test_migrations_match_the_models(db):
    for model in models.ALL_MODELS:
        table = model._meta.table_name
        columns = {c.name for c in db.get_columns(table)}
        assert columns == {f.column_name for f in model._meta.sorted_fields}, table
        unique = {tuple(i.columns) for i in db.get_indexes(table) if i.unique}
        for fields, is_unique in model._meta.indexes:
            if is_unique:
                cols = tuple(model._meta.fields[f].column_name for f in fields)
                assert cols in unique, (table, cols)


def test_migrating_again_does_nothing(db):
    assert database.migrate(db) == []


def test_sqlite_runs_in_wal_mode(db):
    assert db.execute_sql("pragma journal_mode").fetchone()[0] == "wal"
