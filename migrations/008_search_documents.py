"""PostgreSQL search from stored tsvectors instead of expression indexes (see 006).

A GIN match is rechecked against its row; with an expression index that means computing
the vector of each hit again, and for a common word over 100,000 long messages a search
took minutes. Now `message_search` (message id, document) is kept by a trigger on
`message`, and `contract_search` keeps its documents as tsvectors; each has a GIN
index. SQLite (FTS5) is unchanged.
"""

import peewee as pw
from peewee_migrate import Migrator

INDEXED_CHARS = 100_000  # of a message (a tsvector holds at most 1 MB)
DOCUMENT = (f"to_tsvector('simple', helpdesk_fold(left(coalesce({{0}}.subject, '') || ' ' || "
            f"coalesce({{0}}.body_text, ''), {INDEXED_CHARS})))")


def _is_sqlite(database) -> bool:
    return "sqlite" in type(database).__name__.lower()


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    if _is_sqlite(database):
        return
    migrator.sql("DROP INDEX IF EXISTS message_search")  # 006's expression index (same name as the table)
    migrator.sql("CREATE TABLE message_search ("
                 "message_id INTEGER PRIMARY KEY REFERENCES message (id) ON DELETE CASCADE, "
                 "document TSVECTOR NOT NULL)")
    migrator.sql(f"INSERT INTO message_search (message_id, document) SELECT id, {DOCUMENT.format('message')} "
                 "FROM message")
    migrator.sql("CREATE INDEX message_search_document ON message_search USING gin (document)")
    migrator.sql("CREATE OR REPLACE FUNCTION message_search_write() RETURNS trigger LANGUAGE plpgsql AS $$ "
                 "BEGIN INSERT INTO message_search (message_id, document) VALUES "
                 f"(NEW.id, {DOCUMENT.format('NEW')}) ON CONFLICT (message_id) DO UPDATE "
                 "SET document = EXCLUDED.document; RETURN NULL; END $$")
    migrator.sql("CREATE TRIGGER message_search_write AFTER INSERT OR UPDATE OF subject, body_text ON message "
                 "FOR EACH ROW EXECUTE FUNCTION message_search_write()")

    migrator.sql("DROP INDEX IF EXISTS contract_search_body")
    migrator.sql("ALTER TABLE contract_search ADD COLUMN document TSVECTOR")
    migrator.sql("UPDATE contract_search SET document = to_tsvector('simple', body)")
    migrator.sql("ALTER TABLE contract_search ALTER COLUMN document SET NOT NULL")
    migrator.sql("ALTER TABLE contract_search DROP COLUMN body")
    migrator.sql("CREATE INDEX contract_search_document ON contract_search USING gin (document)")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    if _is_sqlite(database):
        return
    migrator.sql("DROP TRIGGER IF EXISTS message_search_write ON message")
    migrator.sql("DROP FUNCTION IF EXISTS message_search_write()")
    migrator.sql("DROP TABLE IF EXISTS message_search")
    migrator.sql("CREATE INDEX IF NOT EXISTS message_search ON message USING gin (to_tsvector('simple', "
                 f"helpdesk_fold(left(subject || ' ' || body_text, {INDEXED_CHARS}))))")
    migrator.sql("DROP INDEX IF EXISTS contract_search_document")
    migrator.sql("ALTER TABLE contract_search ADD COLUMN body TEXT NOT NULL DEFAULT ''")
    migrator.sql("ALTER TABLE contract_search DROP COLUMN document")
    migrator.sql("CREATE INDEX IF NOT EXISTS contract_search_body ON contract_search "
                 "USING gin (to_tsvector('simple', body))")
