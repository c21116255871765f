"""The reports' per-day sums of what messages carry (issue 18, domain/rollups.py): answers
per engineer, minutes per engineer's address and per contract, per local day of the zone
in `rollup_zone`; built here from every message for Europe/Warsaw (HELPDESK_TIMEZONE's
default; `helpdesk init-db` builds them again for another zone). From here on, the
transactions that write or move messages keep them."""

import peewee as pw
from peewee_migrate import Migrator

ZONE = "Europe/Warsaw"


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class RollupZone(pw.Model):
        id = pw.AutoField()
        zone = pw.CharField(max_length=64)

        class Meta:
            table_name = "rollup_zone"

    @migrator.create_model
    class AnswerDay(pw.Model):
        id = pw.AutoField()
        day = pw.DateField()
        author = pw.ForeignKeyField(migrator.orm["user"], on_delete="CASCADE")
        answers = pw.IntegerField(default=0)

        class Meta:
            table_name = "answer_day"
            indexes = ((("day", "author"), True),)

    @migrator.create_model
    class MinutesDay(pw.Model):
        id = pw.AutoField()
        day = pw.DateField()
        author_email = pw.CharField(max_length=320)
        messages = pw.IntegerField(default=0)
        minutes = pw.IntegerField(default=0)

        class Meta:
            table_name = "minutes_day"
            indexes = ((("day", "author_email"), True),)

    @migrator.create_model
    class ContractMinutesDay(pw.Model):
        id = pw.AutoField()
        day = pw.DateField()
        contract_id = pw.IntegerField()
        messages = pw.IntegerField(default=0)
        minutes = pw.IntegerField(default=0)

        class Meta:
            table_name = "contract_minutes_day"
            # unique: the upserts' key; the other: a period's sums from the index alone
            indexes = ((("day", "contract_id"), True), (("day", "contract_id", "minutes", "messages"), False))

    if not fake:
        migrator.run(_backfill, database)  # after the tables are made


def _backfill(database: pw.Database) -> None:
    from helpdesk.domain import rollups

    rollups.rebuild_messages(ZONE, database)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for name in ("contract_minutes_day", "minutes_day", "answer_day", "rollup_zone"):
        migrator.remove_model(name)
