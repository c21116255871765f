"""Indexes for "the tickets this user may see": by requester address and by participant address."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_index("ticket", "requester_email")
    migrator.add_index("participant", "email")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.drop_index("participant", "email")
    migrator.drop_index("ticket", "requester_email")
