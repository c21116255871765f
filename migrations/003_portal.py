"""The portal: rate-limit attempts, one device line per serial per contract, contract search.

Contract search is an FTS5 index on SQLite (one document per contract: its number,
customer, company, models, serials and addresses), kept up to date by `domain.contracts`.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class AuthAttempt(pw.Model):
        id = pw.AutoField()
        kind = pw.CharField(max_length=20)
        key = pw.CharField(max_length=320)
        ok = pw.BooleanField(default=False)
        detail = pw.CharField(max_length=300, default="")
        at = pw.DateTimeField()

        class Meta:
            table_name = "auth_attempt"
            indexes = ((("kind", "key", "at"), False),)

    migrator.add_index("device_line", "contract", "serial", unique=True)
    if isinstance(database, pw.SqliteDatabase) or "sqlite" in type(database).__name__.lower():
        migrator.sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS contract_search USING fts5("
            "body, tokenize = 'unicode61 remove_diacritics 2')"
        )


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("DROP TABLE IF EXISTS contract_search")
    migrator.drop_index("device_line", "contract", "serial")
    migrator.remove_model("auth_attempt")
