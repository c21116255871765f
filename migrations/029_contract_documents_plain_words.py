"""SQLite's contract documents as plain words (issue 18): the contract search now also reads
them and matches in Python (`domain.search.document_matcher`), whose word boundaries must
be the index's. FTS5's tokenizer knows Unicode 6.1, so a later sign (₽, ₿) or a bidi mark
(U+2066-2069, which a CSV import can carry) joined two words for it but not for Python.
Documents are written as their words, one space between, from now on (as PostgreSQL's
already were); this rewrites the stored ones that are not (most are: nothing to do)."""

import re

import peewee as pw
from peewee_migrate import Migrator

TOKEN = re.compile(r"[^\W_]+")  # domain.search.TOKEN as of this migration


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    if not fake:
        migrator.run(_rewrite, database)


def _rewrite(database: pw.Database) -> None:
    if not isinstance(database, pw.SqliteDatabase):
        return  # PostgreSQL keeps a tsvector of the words already
    changed = [(" ".join(TOKEN.findall(body or "")), rowid)
               for rowid, body in database.execute_sql("SELECT rowid, body FROM contract_search").fetchall()
               if body != " ".join(TOKEN.findall(body or ""))]
    with database.atomic():
        database.connection().executemany("UPDATE contract_search SET body = ? WHERE rowid = ?", changed)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    pass  # plain words are a valid document for the code before too
