"""Outbox rows may hold what to render (`spec`) instead of the rendered message (`raw`)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("outbox", spec=pw.TextField(default=""))
    migrator.drop_not_null("outbox", "raw")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("outbox", "spec")
    migrator.add_not_null("outbox", "raw")
