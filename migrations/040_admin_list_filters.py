"""Indexes for the admins' lists that are filtered (issue 18, after 039): a filter that few rows
pass must not have a page step over the others.

- the webhook log by state, newest first (`webhook_delivery_status_id`, which replaces the index
  on the state alone): PostgreSQL walked the whole log by id for the failed deliveries;
- the security events by kind, newest first (`security_event_kind_id`, likewise);
- the partner companies waiting for verification, oldest first (`company_waiting`, partial:
  only companies not verified and not customers', which are most companies).

SQLite's index on a column alone ends with the rowid, so it had the first two already.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("CREATE INDEX IF NOT EXISTS webhook_delivery_status_id ON webhook_delivery (status, id)")
    migrator.sql("DROP INDEX IF EXISTS webhookdelivery_status")
    migrator.sql("CREATE INDEX IF NOT EXISTS security_event_kind_id ON security_event (kind, id)")
    migrator.sql("DROP INDEX IF EXISTS securityevent_kind")
    migrator.sql("CREATE INDEX IF NOT EXISTS company_waiting ON company (created_at, id) "
                 "WHERE verified_at IS NULL AND role <> 'customer'")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("DROP INDEX IF EXISTS company_waiting")
    migrator.sql("CREATE INDEX IF NOT EXISTS securityevent_kind ON security_event (kind)")
    migrator.sql("DROP INDEX IF EXISTS security_event_kind_id")
    migrator.sql("CREATE INDEX IF NOT EXISTS webhookdelivery_status ON webhook_delivery (status)")
    migrator.sql("DROP INDEX IF EXISTS webhook_delivery_status_id")
