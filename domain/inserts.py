"""One-row inserts without building the SQL each time, for the mail worker's hot path.

Peewee builds an INSERT from its expression tree on every `create()`: about 0.1 ms for
a wide row, several times what SQLite needs to run it, and most of the worker's time.
`insert_row` builds the statement once per model and set of columns, then runs it with
new values, using the model's own defaults and field conversions, so the row is the one
`Model.create(**values)` would have written. Returns the model instance, id set.
"""
from __future__ import annotations

from peewee import Model, SqliteDatabase

_SQL: dict[tuple, str] = {}
_ROW: dict[tuple, tuple[str, list]] = {}
_DEFAULTS: dict[type, list[tuple[str, object]]] = {}
_ADD: dict[tuple, tuple[str, list, list[tuple[str, object]]]] = {}
_PARTS: dict[tuple, tuple[str, str, str]] = {}


def insert_row(model: type[Model], **values) -> Model:
    meta = model._meta
    database = meta.database.obj if hasattr(meta.database, "obj") else meta.database
    row = {name: default() if callable(default) else default
           for name, default in _defaults_of(model) if name not in values}
    row.update(values)
    key = (model, type(database), tuple(row))
    built = _ROW.get(key)
    if built is None:
        fields = [meta.fields[name] for name in row]
        quote = database.quote[0], database.quote[1]
        columns = ", ".join(f"{quote[0]}{f.column_name}{quote[1]}" for f in fields)
        sql = (f"INSERT INTO {quote[0]}{meta.table_name}{quote[1]} ({columns}) "
               f"VALUES ({', '.join([database.param] * len(fields))})")
        if database.returning_clause:
            sql += f" RETURNING {quote[0]}{meta.primary_key.column_name}{quote[1]}"
        built = _ROW[key] = (sql, fields)
    sql, fields = built
    cursor = database.execute_sql(sql, [f.db_value(v) for f, v in zip(fields, row.values())])
    new_id = cursor.fetchone()[0] if database.returning_clause else cursor.lastrowid
    # Every column is in `row` already: no second round of defaults (utcnow() and the like).
    return model(__no_default__=True, **{meta.primary_key.name: new_id}, **row)


def _defaults_of(model: type[Model]) -> list[tuple[str, object]]:
    defaults = _DEFAULTS.get(model)
    if defaults is None:
        defaults = _DEFAULTS[model] = [(f.name, d) for f, d in model._meta.defaults.items()]
    return defaults


def insert_rows(model: type[Model], rows: list[dict], *, ignore_conflicts: bool = False) -> None:
    """Many rows with the same columns in one INSERT, the statement's parts built once per
    model and columns (Peewee's `insert_many` spends longer building a big INSERT than
    SQLite spends running it). Defaults as `Model.create` would give them; nothing returned.
    `ignore_conflicts`: a row that clashes with a unique index is skipped, as Peewee's
    `on_conflict_ignore()` does it (SQLite: INSERT OR IGNORE; PostgreSQL: ON CONFLICT DO NOTHING)."""
    if not rows:
        return
    meta = model._meta
    database = meta.database.obj if hasattr(meta.database, "obj") else meta.database
    defaults = {f.name: d for f, d in meta.defaults.items() if f.name not in rows[0]}
    names = [*rows[0], *defaults]
    fields = [meta.fields[name] for name in names]
    key = (model, type(database), tuple(names), ignore_conflicts)
    parts = _PARTS.get(key)
    if parts is None:
        quote = database.quote[0], database.quote[1]
        columns = ", ".join(f"{quote[0]}{f.column_name}{quote[1]}" for f in fields)
        sqlite = isinstance(database, SqliteDatabase)
        verb = "INSERT OR IGNORE" if ignore_conflicts and sqlite else "INSERT"
        parts = _PARTS[key] = (
            f"{verb} INTO {quote[0]}{meta.table_name}{quote[1]} ({columns}) VALUES ",
            f"({', '.join([database.param] * len(fields))})",
            " ON CONFLICT DO NOTHING" if ignore_conflicts and not sqlite else "")
    # The VALUES list is joined for each call: cheap, and the cache stays one entry per columns.
    head, one, tail = parts
    fixed = {name: d() if callable(d) else d for name, d in defaults.items()}
    database.execute_sql(head + ", ".join([one] * len(rows)) + tail,
                         [f.db_value(row[f.name] if f.name in row else fixed[f.name])
                          for row in rows for f in fields])


def id_of_or_insert(model: type[Model], key: str, value, **values) -> int:
    """The id of the row whose unique `key` column has `value`, inserted with `values` when
    there is none: `get_or_create` without Peewee building its SELECT and INSERT each time,
    and without a savepoint (a row another worker inserts meanwhile is skipped, then found)."""
    meta = model._meta
    database = meta.database.obj if hasattr(meta.database, "obj") else meta.database
    sql_key = (model, type(database), "id of", key)
    sql = _SQL.get(sql_key)
    if sql is None:
        quote = database.quote[0], database.quote[1]
        sql = _SQL[sql_key] = (f"SELECT {quote[0]}{meta.primary_key.column_name}{quote[1]} FROM "
                               f"{quote[0]}{meta.table_name}{quote[1]} WHERE "
                               f"{quote[0]}{meta.fields[key].column_name}{quote[1]} = {database.param}")
    param = [meta.fields[key].db_value(value)]
    row = database.execute_sql(sql, param).fetchone()
    if row is None:
        insert_rows(model, [{key: value, **values}], ignore_conflicts=True)
        row = database.execute_sql(sql, param).fetchone()
    return row[0]


def update_row(model: type[Model], row_id: int, **values) -> None:
    """UPDATE one row by id, the statement built once per model and columns (the worker
    touches a ticket with every message)."""
    meta = model._meta
    database = meta.database.obj if hasattr(meta.database, "obj") else meta.database
    fields = [meta.fields[name] for name in values]
    key = (model, type(database), "update", tuple(values))
    sql = _SQL.get(key)
    if sql is None:
        quote = database.quote[0], database.quote[1]
        columns = ", ".join(f"{quote[0]}{f.column_name}{quote[1]} = {database.param}" for f in fields)
        sql = _SQL[key] = (f"UPDATE {quote[0]}{meta.table_name}{quote[1]} SET {columns} WHERE "
                           f"{quote[0]}{meta.primary_key.column_name}{quote[1]} = {database.param}")
    database.execute_sql(sql, [*(f.db_value(v) for f, v in zip(fields, values.values())), row_id])


def add_to_row(model: type[Model], key: dict, **amounts: int) -> None:
    """Add the amounts to the row of `key` (its columns a unique index), creating it with the
    model's defaults for the rest: one upsert, its SQL built once per model and columns (the
    reports' per-day sums move with every ticket the worker opens)."""
    meta = model._meta
    database = meta.database.obj if hasattr(meta.database, "obj") else meta.database
    names = [*key, *amounts]
    sql_key = (model, type(database), "add", tuple(key), tuple(amounts))
    built = _ADD.get(sql_key)
    if built is None:
        defaults = [(f.name, d) for f, d in meta.defaults.items() if f.name not in names]
        fields = [meta.fields[name] for name in [*names, *(name for name, _ in defaults)]]
        q0, q1 = database.quote[0], database.quote[1]
        table = f"{q0}{meta.table_name}{q1}"
        columns = ", ".join(f"{q0}{f.column_name}{q1}" for f in fields)
        target = ", ".join(f"{q0}{meta.fields[name].column_name}{q1}" for name in key)
        sums = ", ".join(f"{q0}{c}{q1} = ({table}.{q0}{c}{q1} + EXCLUDED.{q0}{c}{q1})"
                         for c in (meta.fields[name].column_name for name in amounts))
        sql = (f"INSERT INTO {table} ({columns}) VALUES ({', '.join([database.param] * len(fields))}) "
               f"ON CONFLICT ({target}) DO UPDATE SET {sums}")
        built = _ADD[sql_key] = (sql, fields, defaults)
    sql, fields, defaults = built
    values = {**key, **amounts}
    for name, default in defaults:
        values[name] = default() if callable(default) else default
    database.execute_sql(sql, [f.db_value(values[f.name]) for f in fields])
