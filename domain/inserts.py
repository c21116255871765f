"""One-row inserts without building the SQL each time, for the mail worker's hot path.

Peewee builds an INSERT from its expression tree on every `create()`: about 0.1 ms for
a wide row, several times what SQLite needs to run it, and most of the worker's time.
`insert_row` builds the statement once per model and set of columns, then runs it with
new values, using the model's own defaults and field conversions, so the row is the one
`Model.create(**values)` would have written. Returns the model instance, id set.
"""
from __future__ import annotations

from peewee import Model

_SQL: dict[tuple, str] = {}


def insert_row(model: type[Model], **values) -> Model:
    meta = model._meta
    database = meta.database.obj if hasattr(meta.database, "obj") else meta.database
    row = {name: default() if callable(default) else default
           for name, default in ((f.name, d) for f, d in meta.defaults.items()) if name not in values}
    row.update(values)
    fields = [meta.fields[name] for name in row]
    key = (model, type(database), tuple(row))
    sql = _SQL.get(key)
    if sql is None:
        quote = database.quote[0], database.quote[1]
        columns = ", ".join(f"{quote[0]}{f.column_name}{quote[1]}" for f in fields)
        sql = (f"INSERT INTO {quote[0]}{meta.table_name}{quote[1]} ({columns}) "
               f"VALUES ({', '.join([database.param] * len(fields))})")
        if database.returning_clause:
            sql += f" RETURNING {quote[0]}{meta.primary_key.column_name}{quote[1]}"
        _SQL[key] = sql
    cursor = database.execute_sql(sql, [f.db_value(v) for f, v in zip(fields, row.values())])
    new_id = cursor.fetchone()[0] if database.returning_clause else cursor.lastrowid
    return model(**{meta.primary_key.name: new_id}, **row)


def insert_rows(model: type[Model], rows: list[dict]) -> None:
    """Many rows with the same columns in one INSERT, its SQL built once per model, columns
    and number of rows (Peewee's `insert_many` spends longer building a big INSERT than
    SQLite spends running it). Defaults as `Model.create` would give them; nothing returned."""
    if not rows:
        return
    meta = model._meta
    database = meta.database.obj if hasattr(meta.database, "obj") else meta.database
    defaults = {f.name: d for f, d in meta.defaults.items() if f.name not in rows[0]}
    names = [*rows[0], *defaults]
    fields = [meta.fields[name] for name in names]
    key = (model, type(database), tuple(names), len(rows))
    sql = _SQL.get(key)
    if sql is None:
        quote = database.quote[0], database.quote[1]
        columns = ", ".join(f"{quote[0]}{f.column_name}{quote[1]}" for f in fields)
        one = f"({', '.join([database.param] * len(fields))})"
        sql = _SQL[key] = f"INSERT INTO {quote[0]}{meta.table_name}{quote[1]} ({columns}) VALUES " + ", ".join(
            [one] * len(rows))
    fixed = {name: d() if callable(d) else d for name, d in defaults.items()}
    database.execute_sql(sql, [f.db_value(row[f.name] if f.name in row else fixed[f.name])
                               for row in rows for f in fields])
