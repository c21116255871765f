"""Issue 17: a partner's opt-in to its customers' notices (item 5), and the knowledge
base (item 6): articles, their manufacturer/model tags and files, and their search
documents (`article_search`: FTS5 on SQLite, a tsvector with a GIN index on PostgreSQL;
written by `domain.kb.reindex`, see `domain.search`)."""

import peewee as pw
from peewee_migrate import Migrator


def _is_sqlite(database) -> bool:
    return "sqlite" in type(database).__name__.lower()


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("user", customer_notices_since=pw.DateTimeField(null=True))

    @migrator.create_model
    class Article(pw.Model):
        id = pw.AutoField()
        title = pw.CharField(max_length=300)
        body = pw.TextField(default="")
        language = pw.CharField(max_length=5, default="pl")
        audience = pw.CharField(max_length=20, default="public")
        min_level = pw.IntegerField(default=0)
        author = pw.ForeignKeyField(migrator.orm["user"], null=True, on_delete="SET NULL", column_name="author_id",
                                    field="id")
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        published_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "article"
            indexes = ((("published_at", "id"), False),)

    @migrator.create_model
    class ArticleTag(pw.Model):
        id = pw.AutoField()
        article = pw.ForeignKeyField(migrator.orm["article"], on_delete="CASCADE", column_name="article_id",
                                     field="id")
        kind = pw.CharField(max_length=20)
        value = pw.CharField(max_length=200)
        label = pw.CharField(max_length=200)

        class Meta:
            table_name = "article_tag"
            indexes = ((("article", "kind", "value"), True), (("value", "article"), False))

    @migrator.create_model
    class ArticleFile(pw.Model):
        id = pw.AutoField()
        article = pw.ForeignKeyField(migrator.orm["article"], on_delete="CASCADE", column_name="article_id",
                                     field="id")
        blob = pw.ForeignKeyField(migrator.orm["blob"], on_delete="RESTRICT", column_name="blob_id", field="id")
        filename = pw.CharField(max_length=255)
        content_type = pw.CharField(max_length=255, default="application/octet-stream")
        size = pw.BigIntegerField(default=0)
        added_at = pw.DateTimeField()

        class Meta:
            table_name = "article_file"

    # A partner's contracts, newest first, a page at a time (`domain.partner_view.contracts_page`).
    migrator.sql("CREATE INDEX IF NOT EXISTS contract_partner_id_id ON contract (partner_id, id)")
    if _is_sqlite(database):
        migrator.sql("CREATE VIRTUAL TABLE IF NOT EXISTS article_search USING fts5("
                     "body, tokenize = 'unicode61 remove_diacritics 2')")
    else:
        migrator.sql("CREATE TABLE IF NOT EXISTS article_search ("
                     "article_id INTEGER PRIMARY KEY REFERENCES article (id) ON DELETE CASCADE, "
                     "document TSVECTOR NOT NULL)")
        migrator.sql("CREATE INDEX IF NOT EXISTS article_search_document ON article_search USING gin (document)")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("DROP TABLE IF EXISTS article_search")
    migrator.sql("DROP INDEX IF EXISTS contract_partner_id_id")
    migrator.remove_model("article_file")
    migrator.remove_model("article_tag")
    migrator.remove_model("article")
    migrator.remove_fields("user", "customer_notices_since")
