"""Indexes that keep the portal's pages at an archive's size (issue 18):

- message (ticket_id, created_at, id): a ticket's conversation is read newest first a page
  at a time (keyset on created_at, id) without sorting all its messages;
- ticket (status, merged_into_id, queue, assignee_id): the queues' counts are read from this
  index alone, the open statuses exactly, closed ones up to a cap;
- contract (ends_on, number): the dashboard's "ending soonest" contracts without sorting
  every current contract."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_index("message", "ticket", "created_at", "id")
    # `queue` came by raw SQL (013), so the migrator's model does not know it: raw SQL here too.
    migrator.sql("CREATE INDEX ticket_status_merged_into_id_queue_assignee_id "
                 "ON ticket (status, merged_into_id, queue, assignee_id)")
    migrator.add_index("contract", "ends_on", "number")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.drop_index("contract", "ends_on", "number")
    migrator.sql("DROP INDEX ticket_status_merged_into_id_queue_assignee_id")
    migrator.drop_index("message", "ticket", "created_at", "id")
