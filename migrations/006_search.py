"""Full-text search over tickets and messages on both databases, and over contracts on
PostgreSQL (SQLite has had `contract_search` since 003). See `domain/search.py`.

SQLite: contentless FTS5 tables `ticket_search` and `message_search` (rowid = the row's
id), kept up to date by triggers, and filled from the rows already there.
PostgreSQL: `helpdesk_fold(text)` (lower case without diacritics: the `unaccent`
extension when it can be created, else a translation table of the letters Polish and
its neighbours use; punctuation made spaces), GIN expression indexes on `ticket` and `message`, and a
`contract_search` table (contract id, folded document) with a GIN index; its documents
are written by `domain.contracts.reindex` (`helpdesk contracts reindex` rebuilds them).
"""

import peewee as pw
from peewee_migrate import Migrator

INDEXED_CHARS = 100_000  # as domain/search.py
# SQLite's FTS5 (remove_diacritics 2) folds accents itself, but not these letters.
SQLITE_FOLD = "replace(replace(replace(replace({}, 'ł', 'l'), 'Ł', 'L'), 'ß', 'ss'), 'ø', 'o')"
MESSAGE_TEXT = f"substr(coalesce({{0}}.subject, '') || ' ' || coalesce({{0}}.body_text, ''), 1, {INDEXED_CHARS})"
FROM = "ąćęłńóśźżĄĆĘŁŃÓŚŹŻáàâäãåéèêëíìîïñòôöõúùûüýÿçčďěňřšťůžÁÀÂÄÃÅÉÈÊËÍÌÎÏÑÒÔÖÕÚÙÛÜÝÇČĎĚŇŘŠŤŮŽøØđĐ"
TO__ = "acelnoszzACELNOSZZaaaaaaeeeeiiiinoooouuuuyyccdenrstuzAAAAAAEEEEIIIINOOOOUUUUYCCDENRSTUZooDD"


def _is_sqlite(database) -> bool:
    return "sqlite" in type(database).__name__.lower()


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    if _is_sqlite(database):
        for table, text in (("ticket", "coalesce({0}.subject, '')"), ("message", MESSAGE_TEXT)):
            new, old = SQLITE_FOLD.format(text.format("new")), SQLITE_FOLD.format(text.format("old"))
            migrator.sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS {table}_search USING fts5("
                         "body, content = '', tokenize = 'unicode61 remove_diacritics 2')")
            migrator.sql(f"CREATE TRIGGER IF NOT EXISTS {table}_search_insert AFTER INSERT ON {table} BEGIN "
                         f"INSERT INTO {table}_search (rowid, body) VALUES (new.id, {new}); END")
            migrator.sql(f"CREATE TRIGGER IF NOT EXISTS {table}_search_delete AFTER DELETE ON {table} BEGIN "
                         f"INSERT INTO {table}_search ({table}_search, rowid, body) VALUES ('delete', old.id, {old}); END")
            columns = "subject" if table == "ticket" else "subject, body_text"
            migrator.sql(f"CREATE TRIGGER IF NOT EXISTS {table}_search_update AFTER UPDATE OF {columns} ON {table} "
                         f"BEGIN INSERT INTO {table}_search ({table}_search, rowid, body) VALUES ('delete', old.id, {old}); "
                         f"INSERT INTO {table}_search (rowid, body) VALUES (new.id, {new}); END")
            migrator.sql(f"INSERT INTO {table}_search (rowid, body) SELECT id, {SQLITE_FOLD.format(text.format(table))} "
                         f"FROM {table}")
        return
    migrator.run(_fold_function, database)
    migrator.sql("CREATE TABLE IF NOT EXISTS contract_search ("
                 "contract_id INTEGER PRIMARY KEY REFERENCES contract (id) ON DELETE CASCADE, body TEXT NOT NULL)")
    migrator.sql("CREATE INDEX IF NOT EXISTS contract_search_body ON contract_search "
                 "USING gin (to_tsvector('simple', body))")
    migrator.sql("CREATE INDEX IF NOT EXISTS ticket_search ON ticket "
                 "USING gin (to_tsvector('simple', helpdesk_fold(subject)))")
    migrator.sql("CREATE INDEX IF NOT EXISTS message_search ON message USING gin (to_tsvector('simple', "
                 f"helpdesk_fold(left(subject || ' ' || body_text, {INDEXED_CHARS}))))")


def _fold_function(database: pw.Database) -> None:
    """helpdesk_fold: IMMUTABLE, so that indexes may use it."""
    try:
        with database.atomic():
            database.execute_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
            folded = "lower(public.unaccent('public.unaccent'::regdictionary, $1))"
    except pw.DatabaseError:  # not allowed to create it, or contrib not installed
        folded = f"lower(translate($1, '{FROM}', '{TO__}'))"
    # Punctuation separates words, as in FTS5 and domain/search.py: "FGVM-1234-ABCD" is
    # three words (PostgreSQL's parser would read "-1234" as a signed number).
    body = f"SELECT regexp_replace({folded}, '[[:punct:]]+', ' ', 'g')"
    database.execute_sql("CREATE OR REPLACE FUNCTION helpdesk_fold(text) RETURNS text "
                         f"LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ {body} $$")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    if _is_sqlite(database):
        for table in ("ticket", "message"):
            for event in ("insert", "delete", "update"):
                migrator.sql(f"DROP TRIGGER IF EXISTS {table}_search_{event}")
            migrator.sql(f"DROP TABLE IF EXISTS {table}_search")
        return
    migrator.sql("DROP INDEX IF EXISTS message_search")
    migrator.sql("DROP INDEX IF EXISTS ticket_search")
    migrator.sql("DROP TABLE IF EXISTS contract_search")
    migrator.sql("DROP FUNCTION IF EXISTS helpdesk_fold(text)")
