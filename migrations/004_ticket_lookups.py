"""Indexes for the ticket lists: "the tickets this user may see" (by requester address and by
participant address) and "most recently changed first" (a queue of 50,000 tickets otherwise
sorts them all for each page)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_index("ticket", "requester_email")
    migrator.add_index("participant", "email")
    migrator.add_index("ticket", "updated_at", "id")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.drop_index("ticket", "updated_at", "id")
    migrator.drop_index("participant", "email")
    migrator.drop_index("ticket", "requester_email")
