"""Claims on server messages, so that several workers can share one mailbox."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class InboundClaim(pw.Model):
        id = pw.AutoField()
        mailbox = pw.CharField(max_length=500)
        uidvalidity = pw.BigIntegerField()
        uid = pw.CharField(max_length=200)
        owner = pw.CharField(max_length=100)
        until = pw.DateTimeField()

        class Meta:
            table_name = "inbound_claim"
            indexes = ((("mailbox", "uidvalidity", "uid"), True),)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("inbound_claim")
