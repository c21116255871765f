"""Service levels and time spent (issue 15): `sla_policy` (a service level's clocks), each
ticket's deadlines (first response and resolution, each with its 80% warning point), when
it was first answered and since when its clocks stand still (waiting for the customer,
closed), and the minutes an engineer spent on a message."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class SlaPolicy(pw.Model):
        id = pw.AutoField()
        name = pw.CharField(max_length=100, unique=True)
        first_response_minutes = pw.IntegerField()
        resolution_minutes = pw.IntegerField()
        hours = pw.CharField(max_length=10, default="business")
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "sla_policy"

    migrator.add_fields(
        "ticket",
        sla_policy=pw.CharField(max_length=100, null=True),
        first_response_due=pw.DateTimeField(null=True),
        first_response_warn=pw.DateTimeField(null=True),
        first_response_at=pw.DateTimeField(null=True),
        resolution_due=pw.DateTimeField(null=True),
        resolution_warn=pw.DateTimeField(null=True),
        sla_paused_at=pw.DateTimeField(null=True),
        sla_next_due=pw.DateTimeField(null=True),
    )
    migrator.add_index("ticket", "sla_next_due", "id")
    migrator.add_fields("message", minutes=pw.IntegerField(null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("message", "minutes")
    migrator.drop_index("ticket", "sla_next_due", "id")
    migrator.remove_fields("ticket", "sla_policy", "first_response_due", "first_response_warn", "first_response_at",
                            "resolution_due", "resolution_warn", "sla_paused_at", "sla_next_due")
    migrator.remove_model("sla_policy")
