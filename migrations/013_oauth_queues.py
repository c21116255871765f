"""OAuth2 tokens for the mail servers, and queues: each ticket belongs to the queue of the
mailbox its first mail came to (existing tickets to the default queue), and an engineer
may be limited to some queues."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class OAuthToken(pw.Model):
        id = pw.AutoField()
        account = pw.CharField(max_length=320, unique=True)
        refresh_token = pw.TextField(default="")
        seed_sha256 = pw.CharField(max_length=64, default="")
        access_token = pw.TextField(default="")
        expires_at = pw.DateTimeField(null=True)
        updated_at = pw.DateTimeField()
        dead_since = pw.DateTimeField(null=True)
        last_error = pw.TextField(default="")

        class Meta:
            table_name = "oauth_token"

    migrator.add_fields("ticket", queue=pw.CharField(max_length=50, default="default", index=True))
    migrator.add_fields("user", queues=pw.CharField(max_length=500, default=""))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("user", "queues")
    migrator.remove_fields("ticket", "queue")
    migrator.remove_model("oauth_token")
