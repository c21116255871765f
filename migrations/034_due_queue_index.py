"""The engineers' "due soonest" queue after its first page, from an index on PostgreSQL (issue 18).

Its pages follow a cursor (domain/queue_order.py): the open tickets whose next deadline is at or
after the cursor's. PostgreSQL multiplies its guesses for "open" and for that range, as if they
were independent; they are not (the open tickets are the ones with deadlines), so it expected
6-28 rows of the 1,700 on bench/web.py's data set, gathered them all by two bitmap scans and
sorted them: 10 ms for page 2. A partial index of the open, unmerged tickets in the queue's
order gives the page from the cursor on, sorted.

SQLite reads the index on (sla_next_due, id) from the cursor already: no index for it. The
query's `status != 'closed'` reaches PostgreSQL as a literal (psycopg2 puts the values into
the statement), which lets the planner use a partial index."""

import peewee as pw
from peewee_migrate import Migrator


def _is_sqlite(database) -> bool:
    return isinstance(database, pw.SqliteDatabase) or database.__class__.__name__.lower().startswith("sqlite")


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    if not _is_sqlite(database):
        migrator.sql("CREATE INDEX ticket_open_due ON ticket (sla_next_due, updated_at DESC, id DESC) "
                     "WHERE status != 'closed' AND merged_into_id IS NULL")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    if not _is_sqlite(database):
        migrator.sql("DROP INDEX ticket_open_due")
