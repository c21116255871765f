"""The reports' tickets closed in a period (per week, and per engineer) read an index on
(closed_at, assignee_id, merged_into_id) alone, instead of every ticket (issue 18)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_index("ticket", "closed_at", "assignee", "merged_into")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.drop_index("ticket", "closed_at", "assignee", "merged_into")
