"""The unassigned queue (open, unmerged tickets nobody has, most recently changed first) from
an index on PostgreSQL (issue 18). PostgreSQL cannot read the index of migration 027 on
(assignee_id, updated_at, id) in page order for `assignee_id IS NULL` (an IS NULL is no
equality to it), so it read every unassigned open ticket, joined each to its contract and
sorted them for a page of 51 (945 on bench/web.py's data set: 3.4 ms, 15 cold). A partial
index of the unassigned ones in page order is walked backwards for the page alone.

SQLite reads migration 027's index in page order already (its IS NULL is an equality there):
no index for it. The query's `status != 'closed'` reaches PostgreSQL as a literal (psycopg2
puts the values into the statement), which lets the planner use a partial index."""

import peewee as pw
from peewee_migrate import Migrator


def _is_sqlite(database) -> bool:
    return isinstance(database, pw.SqliteDatabase) or database.__class__.__name__.lower().startswith("sqlite")


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    if not _is_sqlite(database):
        migrator.sql("CREATE INDEX ticket_open_unassigned_updated ON ticket (updated_at, id) "
                     "WHERE assignee_id IS NULL AND status != 'closed' AND merged_into_id IS NULL")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    if not _is_sqlite(database):
        migrator.sql("DROP INDEX ticket_open_unassigned_updated")
