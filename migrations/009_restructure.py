"""Dead weight (issue 14): `mailbox_state.last_uid` was never read or written (the ledger,
`inbound_mail`, says what has been read), so the column goes."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("mailbox_state", "last_uid")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("mailbox_state", last_uid=pw.BigIntegerField(default=0))
