"""Opening the database named by the config, and bringing its schema up to date.

SQLite runs in WAL mode with a busy timeout, so the worker, the web site and the
scheduler can share one file; PostgreSQL is chosen by a postgresql:// URL.
"""
from __future__ import annotations

import logging
from pathlib import Path

from peewee import Database
from playhouse.db_url import connect as connect_url

from helpdesk import models

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",  # durable at each WAL checkpoint; a crash loses no committed row
    "foreign_keys": 1,
    "busy_timeout": 30_000,
}


def open_database(url: str, *, busy_timeout_ms: int = 30_000) -> Database:
    """A Database for the URL, bound to `models.db`; connections open lazily."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        pragmas = {**SQLITE_PRAGMAS, "busy_timeout": busy_timeout_ms}
        # BEGIN IMMEDIATE: a writer waits for the lock up front (honouring busy_timeout)
        # instead of failing at once when a read transaction tries to upgrade.
        database = connect_url(url, pragmas=pragmas, timeout=busy_timeout_ms / 1000, lock_type="IMMEDIATE")
    elif url.startswith(("postgres://", "postgresql://")):
        # Peewee runs psycopg2 in autocommit mode outside `atomic()`: a failed statement
        # never leaves the connection in an aborted transaction.
        # lock_timeout: a table locked by another session fails the statement after the
        # same wait as SQLite's busy timeout, instead of hanging the request or the batch.
        database = connect_url(url.replace("postgres://", "postgresql://", 1),
                               options=f"-c lock_timeout={int(busy_timeout_ms)}")
    else:
        raise ValueError(f"HELPDESK_DATABASE_URL: unsupported database URL {url!r}")
    models.db.initialize(database)
    return database


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
    return database.__class__.__name__.lower().startswith("sqlite")
