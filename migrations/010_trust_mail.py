"""Trust (issue 13): the security-event log (refused or flagged attempts, for admins), and
a fingerprint per inbound mail, so that only the same mail fetched twice is a duplicate and a
different mail reusing a Message-ID is kept."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("inbound_mail", fingerprint=pw.CharField(max_length=64, default=""))

    @migrator.create_model
    class SecurityEvent(pw.Model):
        id = pw.AutoField()
        at = pw.DateTimeField(index=True)
        kind = pw.CharField(max_length=40, index=True)
        sender = pw.CharField(max_length=320, default="")
        ticket = pw.ForeignKeyField(column_name="ticket_id", field="id", model=migrator.orm["ticket"], null=True,
                                    on_delete="SET NULL", index=True)
        message = pw.ForeignKeyField(column_name="message_id", field="id", model=migrator.orm["message"],
                                     null=True, on_delete="SET NULL", index=True)
        inbound = pw.ForeignKeyField(column_name="inbound_id", field="id", model=migrator.orm["inbound_mail"],
                                     null=True, on_delete="SET NULL", index=True)
        reason = pw.TextField(default="")
        addresses = pw.TextField(default="")

        class Meta:
            table_name = "security_event"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("security_event")
    migrator.remove_fields("inbound_mail", "fingerprint")
