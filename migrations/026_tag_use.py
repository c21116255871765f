"""How many tickets carry each tag (`tag_use`), kept by domain/tags.py in the transaction
that tags or untags: the tag suggestions read the 50 most used from an index on
(uses DESC, tag) instead of counting every tag of every ticket (issue 18)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class TagUse(pw.Model):
        tag = pw.CharField(max_length=40, primary_key=True)
        uses = pw.IntegerField()

        class Meta:
            table_name = "tag_use"

    migrator.sql("CREATE INDEX IF NOT EXISTS tag_use_uses_tag ON tag_use (uses DESC, tag)")
    migrator.sql("INSERT INTO tag_use (tag, uses) SELECT tag, COUNT(*) FROM ticket_tag GROUP BY tag")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("tag_use")
