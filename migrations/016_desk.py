"""The engineers' working day (issue 15, items 2-5): canned answers, merged tickets,
tags, and who has had a ticket open lately (collision warnings)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class CannedAnswer(pw.Model):
        id = pw.AutoField()
        name = pw.CharField(max_length=64, unique=True)
        title = pw.CharField(max_length=200, default="")
        body_pl = pw.TextField(default="")
        body_en = pw.TextField(default="")
        updated_by = pw.ForeignKeyField(migrator.orm["user"], null=True, on_delete="SET NULL",
                                        column_name="updated_by_id", field="id")
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "canned_answer"

    migrator.add_fields("ticket", merged_into=pw.ForeignKeyField(
        migrator.orm["ticket"], null=True, on_delete="SET NULL", column_name="merged_into_id", field="id",
        index=True))

    @migrator.create_model
    class TicketTag(pw.Model):
        id = pw.AutoField()
        ticket = pw.ForeignKeyField(migrator.orm["ticket"], on_delete="CASCADE", column_name="ticket_id", field="id")
        tag = pw.CharField(max_length=40)
        added_at = pw.DateTimeField()

        class Meta:
            table_name = "ticket_tag"
            indexes = ((("ticket", "tag"), True), (("tag",), False))

    @migrator.create_model
    class TicketView(pw.Model):
        id = pw.AutoField()
        ticket = pw.ForeignKeyField(migrator.orm["ticket"], on_delete="CASCADE", column_name="ticket_id", field="id")
        user = pw.ForeignKeyField(migrator.orm["user"], on_delete="CASCADE", column_name="user_id", field="id")
        seen_at = pw.DateTimeField()

        class Meta:
            table_name = "ticket_view"
            indexes = ((("ticket", "user"), True),)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("ticket_view")
    migrator.remove_model("ticket_tag")
    migrator.remove_fields("ticket", "merged_into")
    migrator.remove_model("canned_answer")
