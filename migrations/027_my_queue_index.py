"""The engineer's own queue ("mine": open tickets assigned to them, most recently changed
first) from an index (issue 18): without it SQLite read every ticket ever assigned to the
engineer (thousands, mostly closed) and sorted them, or walked every ticket newest first
when the engineer had none open. A partial index holds only the open, unmerged tickets,
so "mine" is a seek on the assignee and a walk in page order.

The query must spell the index's condition with the same literals (web/staff.py: MINE)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("CREATE INDEX ticket_open_assignee_updated ON ticket (assignee_id, updated_at, id) "
                 "WHERE status != 'closed' AND merged_into_id IS NULL")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("DROP INDEX ticket_open_assignee_updated")
