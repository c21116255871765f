"""Indexes that let the reports count the period's tickets from index entries alone (issue 18):

- ticket (created_at, merged_into_id, sla_policy, first_response_at, first_response_due,
  closed_at, resolution_due, sla_paused_at): the tickets opened in a period, per week, with
  their response and resolution times and service-level deadlines; it replaces the index
  on created_at alone (its first column);
- ticket (status, created_at, assignee_id): the open tickets by age (backlog) and per
  assignee, instead of reading every ticket."""

import peewee as pw
from peewee_migrate import Migrator

OPENED = "ticket_opened_report"  # the columns' names would pass PostgreSQL's 63 characters


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    # The service-level columns came by raw SQL (015), so the migrator's model may not know them.
    migrator.sql(f"CREATE INDEX {OPENED} ON ticket (created_at, merged_into_id, sla_policy, first_response_at, "
                 "first_response_due, closed_at, resolution_due, sla_paused_at)")
    migrator.sql("DROP INDEX ticket_created_at")
    migrator.sql("CREATE INDEX ticket_status_created_at_assignee_id ON ticket (status, created_at, assignee_id)")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("DROP INDEX ticket_status_created_at_assignee_id")
    migrator.sql("CREATE INDEX ticket_created_at ON ticket (created_at)")
    migrator.sql(f"DROP INDEX {OPENED}")
