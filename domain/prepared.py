"""Peewee queries whose SQL is built once per shape, then run again with new values.

Turning a Peewee query into SQL costs more than SQLite needs to run it on the portal's
pages: 0.3-4 ms a query (the customer's visible tickets, a UNION of nested INs, takes
3.7 ms to build and 3.3 ms to run), several queries a page. `prepared` builds the
query of a function once, with stand-in values of the same types as the real ones,
records where each stand-in went among the statement's parameters and which field
conversion Peewee applied to it, and from then on runs the same SQL with the real
values put through the same conversions. The rows are the ones the query itself would
give (models, joined models, dicts or tuples: Peewee's own cursor wrapper reads them).

The function must only build a query: its arguments may be used as values in it (in a
comparison, a LIMIT, a function call's argument), never to decide its shape, and it
must not run queries itself. Arguments of type bool, None or an Enum member are part of
the shape instead (one statement each), so `if verified:` is allowed on a bool. An
argument that does not reach the parameters unchanged (`x + 1`, `f"%{x}%"`) is found on
the first call and refused with `PreparedError`, as is an unused one.

A list or tuple argument (the values of an `IN`) is a value too, of up to MAX_LISTED
items: its SQL is built for the next power of two of its length, and a shorter list is
padded by repeating its last item (which changes nothing for `IN`), so a page of 37 ids
and one of 50 share one statement. Use it only where repeating an item cannot change
the answer (`IN`, never a VALUES list). An empty list is a shape of its own.

On PostgreSQL each statement is also prepared by the server, once per connection
(`PREPARE`, then `EXECUTE` with the arguments): the server then parses it once, and plans
it once when its plan does not depend on the values, where psycopg2 alone sends the SQL
with the values written in and has it parsed and planned on every run (1 ms of 2.3 for
the customer's visible tickets). The constants of a statement (a status, a role) stay
written in its SQL, so a partial index whose condition names them still serves it.
`open_database(..., server_prepared=False)` turns this off, for a connection pooler that
gives each transaction another server session (PgBouncer in transaction mode). The log
and the hooks see the statement with its values, as before.
"""
from __future__ import annotations

import datetime as dt
import decimal
import enum
import functools
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from peewee import Context, __exception_wrapper__

from helpdesk.models import db

log = logging.getLogger(__name__)
_peewee_log = logging.getLogger("peewee")  # where Peewee logs each statement


class PreparedError(TypeError):
    """The function's query cannot be prepared: an argument does not reach the SQL as a value."""


_STRING_MARK = "\x00prepared\x00"
MAX_LISTED = 1024  # longest list argument; lists' statements come in lengths 1, 2, 4, ... this


def slices(values: Iterable) -> Iterator[list]:
    """`values` in lists of at most MAX_LISTED items: the pieces a list argument takes (by
    slicing: Peewee's `chunked` builds a tuple of MAX_LISTED items for a list of any length)."""
    values = list(values)
    for start in range(0, len(values), MAX_LISTED):
        yield values[start:start + MAX_LISTED]


def _bucket(length: int) -> int:
    """The length a list's statement is built for: the next power of two."""
    return 1 << (length - 1).bit_length() if length else 0


def _stand_in(value: Any, position: int) -> Any:
    """A value of the argument's type that nothing else in a query will equal."""
    if isinstance(value, int):
        return -7_340_000_000_000_017 - position
    if isinstance(value, float):
        return -7.340000000000017e15 - position
    if isinstance(value, str):
        return f"{_STRING_MARK}{position}\x00"
    if isinstance(value, dt.datetime):
        return dt.datetime(1, 1, 1, 0, 0, 0, 1 + position, tzinfo=value.tzinfo)
    if isinstance(value, dt.date):
        return dt.date(1, 1, 1) + dt.timedelta(days=1 + position)
    raise PreparedError(f"argument {position}: {type(value).__name__} cannot be a prepared value")


def _is_shape(value: Any) -> bool:
    return value is None or isinstance(value, (bool, enum.Enum))


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _list_stand_in(value: list | tuple, position: int) -> list:
    if len(value) > MAX_LISTED:
        raise PreparedError(f"argument {position}: a list of {len(value)} items (at most {MAX_LISTED})")
    if value and _is_shape(value[0]):
        raise PreparedError(f"argument {position}: a list of {type(value[0]).__name__} cannot be prepared values")
    if any(type(item) is not type(value[0]) for item in value):
        raise PreparedError(f"argument {position}: a list's items must be of one type")
    # Distinct stand-ins for each slot: position * MAX_LISTED + slot keeps them apart from
    # every other argument's.
    return [_stand_in(value[0], (position + 1) * (MAX_LISTED + 1) + slot) for slot in range(_bucket(len(value)))]


def _shape_key(value: Any) -> Any:
    if _is_shape(value):
        return (type(value), value)
    if _is_list(value):
        return (list, _bucket(len(value)), type(value[0]) if value else None)
    return type(value)


class _RecordingContext(Context):
    """Peewee's SQL context, noting for each parameter the value before conversion and the
    conversion applied to it (a field's `db_value`)."""

    def __init__(self, **settings):
        super().__init__(**settings)
        self.recorded: list[tuple[Any, Callable | None]] = []

    def value(self, value, converter=None, add_param=True):
        applied = converter if converter else (self.state.converter if converter is None else None)
        before = len(self._values)
        result = super().value(value, converter, add_param)
        if len(self._values) == before + 1:
            self.recorded.append((value, applied))
        return result


_numbers = itertools.count(1)


class _Statement:
    """One shape's SQL, the query it came from (for its cursor wrapper) and, for each
    parameter, the argument it comes from (with its conversion) or a constant; on
    PostgreSQL, its server-side form (`server`: built on its first run there)."""

    def __init__(self, query, sql: str, slots: list[tuple[int | tuple[int, int] | None, Any]]):
        self.query, self.sql, self.slots = query, sql, slots
        self.name = f"hd_prepared_{next(_numbers)}"
        self.server: _ServerForm | None = None

    def params(self, args: tuple) -> list:
        return [constant if index is None else (constant(_value(args, index)) if constant else _value(args, index))
                for index, constant in self.slots]


def _value(args: tuple, index: int | tuple[int, int]) -> Any:
    if isinstance(index, int):
        return args[index]
    position, slot = index
    items = args[position]
    return items[min(slot, len(items) - 1)]  # a short list: its last item again


def _compile(build: Callable, args: tuple) -> _Statement:
    stand_ins = tuple(a if _is_shape(a) else _list_stand_in(a, i) if _is_list(a) else _stand_in(a, i)
                      for i, a in enumerate(args))
    query = build(*stand_ins)
    database = db.obj
    context = _RecordingContext(**database.get_context_options())
    sql, params = context.sql(query).query()
    if len(context.recorded) != len(params):
        raise PreparedError(f"{build.__qualname__}: its query adds parameters Peewee's value() does not see")
    by_stand_in: dict[tuple[type, Any], int | tuple[int, int]] = {}
    for i, s in enumerate(stand_ins):
        if _is_list(args[i]):
            by_stand_in.update(((type(item), item), (i, slot)) for slot, item in enumerate(s))
        elif not _is_shape(args[i]):
            by_stand_in[(type(s), s)] = i
    slots: list[tuple[int | tuple[int, int] | None, Any]] = []
    used: set[int | tuple[int, int]] = set()
    for (raw, converter), param in zip(context.recorded, params):
        index = by_stand_in.get((type(raw), raw)) if isinstance(raw, (int, float, str, dt.date)) else None
        if index is None:
            if isinstance(param, str) and _STRING_MARK in param:
                raise PreparedError(f"{build.__qualname__}: a string argument is changed before it reaches the SQL")
            slots.append((None, param))
        else:
            used.add(index)
            slots.append((index, converter))
    listed = {(i, slot) for i, s in enumerate(stand_ins) if _is_list(args[i]) for slot in range(len(s))}
    if listed - used:
        raise PreparedError(f"{build.__qualname__}: a list argument's items do not all reach the SQL unchanged")
    unused = [i for i, a in enumerate(args) if not _is_shape(a) and not _is_list(a) and i not in used]
    if unused:
        raise PreparedError(f"{build.__qualname__}: argument(s) {unused} do not reach the SQL unchanged")
    return _Statement(query, sql, slots)


class Prepared:
    """A query-building function, prepared: call it for the rows (a list), or use
    `first`, `scalar` and `exists`."""

    def __init__(self, build: Callable):
        self.build = build
        self.statements: dict[tuple, _Statement] = {}
        self.lock = threading.Lock()
        functools.update_wrapper(self, build)

    def statement(self, args: tuple) -> _Statement:
        database = db.obj
        key = (type(database), *(_shape_key(a) for a in args))
        found = self.statements.get(key)
        if found is None:
            with self.lock:
                found = self.statements.get(key) or _compile(self.build, args)
                self.statements[key] = found
        return found

    def cursor(self, args: tuple):
        statement = self.statement(args)
        params = statement.params(args)
        database = db.obj
        if getattr(database, "server_prepared", False):
            cursor = _run_server_side(database, statement, params)
            if cursor is not None:
                return statement, cursor
        return statement, db.execute_sql(statement.sql, params)

    def __call__(self, *args) -> list:
        statement, cursor = self.cursor(args)
        return list(statement.query._get_cursor_wrapper(cursor))

    def first(self, *args):
        """The first row, or None (the query should have its own LIMIT 1)."""
        statement, cursor = self.cursor(args)
        return next(iter(statement.query._get_cursor_wrapper(cursor)), None)

    def scalar(self, *args):
        """The first column of the first row, unconverted (a COUNT, an EXISTS), or None."""
        _, cursor = self.cursor(args)
        row = cursor.fetchone()
        return row[0] if row else None

    def exists(self, *args) -> bool:
        return self.scalar(*args) is not None


def prepared(build: Callable) -> Prepared:
    """Decorator: the function's query is built into SQL once per shape (see the module)."""
    return Prepared(build)


# --- PostgreSQL: statements prepared by the server ---------------------------------------------------


class _ServerForm:
    """A statement as PostgreSQL prepares it: the PREPARE (the arguments as $1, $2, ... with
    their types; the constants written in; None once the server has refused it, and it runs
    as plain SQL) and the EXECUTE taking the arguments."""

    def __init__(self, prepare: str | None, execute: str, arguments: list[int]):
        self.prepare, self.execute, self.arguments = prepare, execute, arguments


# Per connection, the statements its server session has prepared (sessions end with their
# connections, and a connection dropped by the pool is forgotten with it).
_prepared_on: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_IN_TRANSACTION, _IN_ERROR = 2, 3  # psycopg2.extensions.TRANSACTION_STATUS_INTRANS, _INERROR


def server_type(value: Any) -> str:
    """The parameter type to PREPARE for a value as psycopg2 would send it: the type its
    literal has (a string's literal has none: the server infers it, as for the literal)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double precision"
    if isinstance(value, decimal.Decimal):
        return "numeric"
    if isinstance(value, dt.datetime):
        return "timestamptz" if value.tzinfo is not None else "timestamp"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytea"
    return "unknown"


def _server_form(statement: _Statement, cursor, params: list) -> _ServerForm:
    from psycopg2.extensions import AsIs

    arguments = [i for i, (index, _) in enumerate(statement.slots) if index is not None]
    numbered = iter(range(1, len(arguments) + 1))
    written = [AsIs(f"${next(numbered)}") if index is not None else constant
               for index, constant in statement.slots]
    body = cursor.mogrify(statement.sql, written).decode()
    types = ", ".join(server_type(params[i]) for i in arguments)
    prepare = f"PREPARE {statement.name} ({types}) AS {body}" if arguments else f"PREPARE {statement.name} AS {body}"
    execute = f"EXECUTE {statement.name}({', '.join(['%s'] * len(arguments))})" if arguments else \
        f"EXECUTE {statement.name}"
    return _ServerForm(prepare, execute, arguments)


def _run_server_side(database, statement: _Statement, params: list):
    """The statement's cursor, run as prepared by the server (prepared first on this
    connection when it is not yet); None: run it as plain SQL instead."""
    connection = database.connection()
    status = connection.info.transaction_status
    if status == _IN_ERROR:
        return None  # the plain statement fails with the transaction's own error
    done = _prepared_on.get(connection)
    if done is None:
        done = _prepared_on[connection] = set()
    cursor = connection.cursor()
    if statement.server is None:
        statement.server = _server_form(statement, cursor, params)
    form = statement.server
    if form.prepare is None:
        return None
    if statement.name not in done:
        with __exception_wrapper__:  # a lost connection raises Peewee's error, as execute_sql would
            if not _prepare(connection, cursor, statement, in_transaction=status == _IN_TRANSACTION):
                return None
        done.add(statement.name)
    # Logged and hooked as the statement with its values (what `execute_sql` does), so what
    # reads the log (statement counts, the bench's timings) sees the same on both databases.
    if _peewee_log.isEnabledFor(logging.DEBUG):
        _peewee_log.debug((statement.sql, params))
    hooks = getattr(database, "query_hooks", None)
    started = time.perf_counter() if hooks else None
    try:
        with __exception_wrapper__:
            _execute(connection, cursor, statement, [params[i] for i in form.arguments], done,
                     retry=status != _IN_TRANSACTION)
    except Exception as error:
        if started is not None:
            database._notify_hooks(statement.sql, params, started, error)
        raise
    if started is not None:
        database._notify_hooks(statement.sql, params, started, None)
    return cursor


LOST = "26000"  # invalid_sql_statement_name: the session no longer holds it (DEALLOCATE, DISCARD ALL)


def _execute(connection, cursor, statement: _Statement, arguments: list, done: set, *, retry: bool) -> None:
    """EXECUTE; when the session has lost its prepared statements, they are all prepared again
    as they are next used: this one at once outside a transaction (nothing was done), else on
    the next run, the transaction having failed with the error."""
    import psycopg2

    try:
        cursor.execute(statement.server.execute, arguments)
    except psycopg2.Error as error:
        if error.pgcode != LOST:
            raise
        done.clear()
        if not retry or not _prepare(connection, cursor, statement, in_transaction=False):
            raise
        done.add(statement.name)
        cursor.execute(statement.server.execute, arguments)


REFUSED = "42"  # SQLSTATE class of what the statement is (syntax, types): the same every time
HELD = "42P05"  # duplicate_prepared_statement: the session holds it already (after a lost one's `clear`)


def _prepare(connection, cursor, statement: _Statement, *, in_transaction: bool) -> bool:
    """PREPARE on this connection; in a transaction inside a savepoint of its own, so that a
    failure leaves the transaction as it was. A statement the server refuses (its types) is
    not tried again; one that failed for the moment (a lock not had in time) is, next run."""
    import psycopg2

    try:
        if in_transaction:
            cursor.execute("SAVEPOINT hd_prepare")
        cursor.execute(statement.server.prepare)
    except psycopg2.Error as error:
        if in_transaction:
            cursor.execute("ROLLBACK TO SAVEPOINT hd_prepare")
            cursor.execute("RELEASE SAVEPOINT hd_prepare")
        if error.pgcode == HELD:
            return True
        if (error.pgcode or "").startswith(REFUSED):
            log.warning("%s: not prepared by the server, run as plain SQL: %s", statement.name, error)
            statement.server.prepare = None
        return False  # this time as plain SQL, which meets the same lock, or not
    if in_transaction:
        cursor.execute("RELEASE SAVEPOINT hd_prepare")
    return True
