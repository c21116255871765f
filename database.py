"""Opening the database named by the config, and bringing its schema up to date.

SQLite runs in WAL mode with a busy timeout, so the worker, the web site and the
scheduler can share one file; PostgreSQL is chosen by a postgresql:// URL.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from peewee import SQL, Database, NodeList
from playhouse.db_url import connect as connect_url

from helpdesk import models

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    # FULL: each commit is on disk before it returns. The mail worker tells the IMAP server a
    # batch is done, and the sender marks a mail sent, right after their commits; with NORMAL a
    # power cut or an OS crash could take back a commit already acted on (lost or duplicated
    # mail). It costs one fsync a commit (0.5 ms here; the worker commits once a batch).
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 30_000,
}


def open_database(url: str, *, busy_timeout_ms: int = 30_000, pooled: bool = False,
                  server_prepared: bool = True) -> Database:
    """A Database for the URL, bound to `models.db`; connections open lazily.

    pooled: `close()` hands the connection back for the next request instead of closing it
    (the portal). Opening one costs 2-3 ms of CPU on SQLite (the schema is read again, and
    the last connection to close checkpoints the WAL), about half of a plain page's time,
    and a new server process on PostgreSQL. Idle connections are closed after 5 minutes.

    server_prepared: on PostgreSQL, the queries of `domain.prepared` are prepared by the
    server once per connection (HELPDESK_DATABASE_PREPARED; off behind a pooler that hands
    each transaction another session).
    """
    pool = {"max_connections": 0, "stale_timeout": POOL_STALE_S} if pooled else {}
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        pragmas = {**SQLITE_PRAGMAS, "busy_timeout": busy_timeout_ms}
        # BEGIN IMMEDIATE: a writer waits for the lock up front (honouring busy_timeout)
        # instead of failing at once when a read transaction tries to upgrade.
        # (A pool takes `timeout` as its own wait for a free connection; the busy_timeout
        # pragma gives SQLite the same wait either way.)
        database = connect_url(url.replace("sqlite:", "sqlite+pool:", 1) if pooled else url, pragmas=pragmas,
                               timeout=busy_timeout_ms / 1000, lock_type="IMMEDIATE", **pool)
    elif url.startswith(("postgres://", "postgresql://")):
        # Peewee runs psycopg2 in autocommit mode outside `atomic()`: a failed statement
        # never leaves the connection in an aborted transaction.
        # lock_timeout: a table locked by another session fails the statement after the
        # same wait as SQLite's busy timeout, instead of hanging the request or the batch.
        # jit=off: every statement here takes milliseconds; compiling one took 10 ms whenever a
        # guess of many rows put its cost over jit_above_cost (a search for a word nobody wrote).
        scheme = "postgresql+pool://" if pooled else "postgresql://"
        database = connect_url(scheme + url.split("://", 1)[1],
                               options=f"-c lock_timeout={int(busy_timeout_ms)} -c jit=off", **pool)
        database.server_prepared = server_prepared  # read by domain/prepared.py
    else:
        raise ValueError(f"HELPDESK_DATABASE_URL: unsupported database URL {url!r}")
    if pooled:
        os.register_at_fork(after_in_child=lambda: _forget_pool(database))
    models.db.initialize(database)
    return database


POOL_STALE_S = 300


def open_configured(config, *, pooled: bool = False) -> Database:
    """`open_database` with the config's database settings (the URL, the busy timeout, the
    server's prepared statements)."""
    return open_database(config.database_url, busy_timeout_ms=config.db_busy_timeout_ms, pooled=pooled,
                         server_prepared=config.database_prepared == "on")


def _forget_pool(database) -> None:
    """In a forked child: the parent's pooled connections are the parent's (using or closing
    one from here would break it); start with none."""
    database._connections, database._in_use = [], {}
    database._state.reset()


def migrate(database: Database) -> list[str]:
    """Apply the migrations not yet applied; returns their names. Safe to run again."""
    from peewee_migrate import Router

    router = Router(database, migrate_dir=str(MIGRATIONS), ignore=["basemodel"],
                    logger=logging.getLogger("helpdesk.migrations"))
    done = set(router.done)
    router.run()
    return [name for name in router.done if name not in done]


def pending_migrations(database: Database) -> list[str]:
    """The names of the migrations not yet applied (none after `migrate`)."""
    from peewee_migrate import Router

    return list(Router(database, migrate_dir=str(MIGRATIONS), ignore=["basemodel"],
                       logger=logging.getLogger("helpdesk.migrations")).diff)


def is_sqlite(database: Database) -> bool:
    """SqliteDatabase and its kin, pooled too (PooledSqliteDatabase)."""
    return "sqlite" in database.__class__.__name__.lower()


def unindexed(column):
    """`+column` on SQLite: the same value, but the planner will not use an index for it (in a
    condition, or to read a GROUP BY or ORDER BY in order). ANALYZE's statistics can make SQLite
    prefer such an index to a far better one; PostgreSQL plans on its own and gets the column."""
    return NodeList((SQL("+"), column), glue="") if is_sqlite(models.db.obj) else column
