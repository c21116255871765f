"""The words of SQLite's full-text indexes of messages and ticket subjects, readable one at a
time (issue 18): `domain/search.py` turns a search word that FTS5 would read as a prefix
("drukar" for "drukarka", "drukarki") into the few indexed words it stands for.

FTS5 answers a prefix by first merging the whole list of every matching word's rows: 50 ms
for a word in most of a million messages, whether one row is asked about or all of them. A
list of whole words it reads as far as it is asked, and can look up one row in it. So a search
for a common word can check the tickets of a list in its order, one by one, and stop when the
page is full, instead of collecting every message that has the word first.

An `fts5vocab` table of type `instance` holds no data of its own: it reads the index, and a
range of words (term >= ?) starts where the range starts. PostgreSQL has nothing to add: it
checks a message against a search from its stored tsvector."""

import peewee as pw
from peewee_migrate import Migrator

TABLES = ("message_search", "ticket_search")


def _is_sqlite(database) -> bool:
    return "sqlite" in type(database).__name__.lower()


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    if _is_sqlite(database):
        for table in TABLES:
            migrator.sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS {table}_terms USING fts5vocab({table}, instance)")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    if _is_sqlite(database):
        for table in TABLES:
            migrator.sql(f"DROP TABLE IF EXISTS {table}_terms")
