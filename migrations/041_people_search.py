"""A trigram index of each person's address and name, for the admins' search of people at
`/staff/users` (issue 18, `domain/people_search.py`): a part of an address or a name, case
aside. By a scan it took 13 ms on SQLite and 50 on PostgreSQL for 52,000 people when nothing
matched, and grows with every sign-up.

SQLite: a contentless FTS5 table `user_search` with the trigram tokenizer (SQLite 3.34 on),
kept by triggers on `user`, filled from the rows already there. A phrase of three characters
or more is a substring.
PostgreSQL: a GIN index of pg_trgm over the same text, lower-cased, when the extension can be
created; without it the search scans, as before.
"""

import peewee as pw
from peewee_migrate import Migrator

TEXT = "lower({0}.email || ' ' || {0}.first_name || ' ' || {0}.last_name)"  # as domain/people_search.py


def _is_sqlite(database) -> bool:
    return "sqlite" in type(database).__name__.lower()


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    if _is_sqlite(database):
        new, old = TEXT.format("new"), TEXT.format("old")
        migrator.sql("CREATE VIRTUAL TABLE IF NOT EXISTS user_search USING fts5("
                     "body, content = '', tokenize = 'trigram')")
        migrator.sql('CREATE TRIGGER IF NOT EXISTS user_search_insert AFTER INSERT ON "user" BEGIN '
                     f"INSERT INTO user_search (rowid, body) VALUES (new.id, {new}); END")
        migrator.sql('CREATE TRIGGER IF NOT EXISTS user_search_delete AFTER DELETE ON "user" BEGIN '
                     f"INSERT INTO user_search (user_search, rowid, body) VALUES ('delete', old.id, {old}); END")
        migrator.sql('CREATE TRIGGER IF NOT EXISTS user_search_update AFTER UPDATE OF email, first_name, last_name '
                     'ON "user" BEGIN '
                     f"INSERT INTO user_search (user_search, rowid, body) VALUES ('delete', old.id, {old}); "
                     f"INSERT INTO user_search (rowid, body) VALUES (new.id, {new}); END")
        migrator.sql(f'INSERT INTO user_search (rowid, body) SELECT id, {TEXT.format("user")} FROM "user"')
        return
    migrator.run(_trigram_index, database)


def _trigram_index(database: pw.Database) -> None:
    try:
        with database.atomic():
            database.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except pw.DatabaseError:  # not allowed to create it, or contrib not installed: the search scans
        return
    text = TEXT.format('"user"')
    database.execute_sql(f'CREATE INDEX IF NOT EXISTS user_search ON "user" USING gin (({text}) gin_trgm_ops)')


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    if _is_sqlite(database):
        for event in ("insert", "delete", "update"):
            migrator.sql(f"DROP TRIGGER IF EXISTS user_search_{event}")
        migrator.sql("DROP TABLE IF EXISTS user_search")
        return
    migrator.sql("DROP INDEX IF EXISTS user_search")
