"""The admins' two lists of programme applications read along indexes (issue 18, after 039):
those waiting for a decision, oldest first (`partner_application_pending`), and the decided
ones, latest decision first (`partner_application_decided`). Both partial: each holds its
list's rows only. Before, PostgreSQL joined every decided application to its company and
sorted them for a page (2 ms for 1,500; it grows with every partner company).
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("CREATE INDEX IF NOT EXISTS partner_application_pending ON partner_application (submitted_at, id) "
                 "WHERE status = 'pending'")
    migrator.sql("CREATE INDEX IF NOT EXISTS partner_application_decided ON partner_application (decided_at, id) "
                 "WHERE decided_at IS NOT NULL")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("DROP INDEX IF EXISTS partner_application_decided")
    migrator.sql("DROP INDEX IF EXISTS partner_application_pending")
