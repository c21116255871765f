"""The tickets opened and closed per local day (issue 18, domain/rollups.py): the weekly
report reads a row per day instead of every ticket of the period. Built here from every
ticket in the zone the other per-day sums are kept in (migration 024); from here on, opening,
closing, reopening, splitting and merging tickets keep them."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class TicketDay(pw.Model):
        id = pw.AutoField()
        day = pw.DateField(unique=True)
        opened = pw.IntegerField(default=0)
        closed = pw.IntegerField(default=0)

        class Meta:
            table_name = "ticket_day"

    if not fake:
        migrator.run(_backfill, database)  # after the table is made


def _backfill(database: pw.Database) -> None:
    from helpdesk.domain import rollups

    rollups.rebuild_ticket_days(database)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("ticket_day")
