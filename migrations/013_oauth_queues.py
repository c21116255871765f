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

    # Plain ALTER TABLE ... ADD COLUMN: peewee's SQLite migrator would rebuild the ticket table
    # for a NOT NULL column, and with it drop the search triggers migration 006 put on it.
    migrator.sql("ALTER TABLE ticket ADD COLUMN queue VARCHAR(50) NOT NULL DEFAULT 'default'")
    migrator.sql("CREATE INDEX ticket_queue ON ticket (queue)")
    migrator.sql('ALTER TABLE "user" ADD COLUMN queues VARCHAR(500) NOT NULL DEFAULT \'\'')


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql('ALTER TABLE "user" DROP COLUMN queues')
    migrator.sql("DROP INDEX ticket_queue")
    migrator.sql("ALTER TABLE ticket DROP COLUMN queue")
    migrator.remove_model("oauth_token")
