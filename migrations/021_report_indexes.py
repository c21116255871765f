"""Indexes that let the reports read a period's messages from an index alone (issue 18):
the answers per engineer (kind, author) and the time spent (only the messages that have
minutes: a partial index) over twelve weeks of an archive read about 115,000 whole message
rows (body and all) without them; with them, index entries only."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("CREATE INDEX message_created_at_kind_author_id ON message (created_at, kind, author_id)")
    migrator.sql("CREATE INDEX message_minutes_spent ON message (created_at, ticket_id, author_email, minutes) "
                 "WHERE minutes IS NOT NULL")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("DROP INDEX message_minutes_spent")
    migrator.sql("DROP INDEX message_created_at_kind_author_id")
