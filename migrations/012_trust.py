"""Issue 13 (trust): the `fault` table, and user ids that are never reused.

Faults: one row per fault of the file store or the database, open until it is over
(domain/faults.py); the admins' health job tells them once at each end.

User ids: on SQLite the user table gets AUTOINCREMENT (PostgreSQL's
sequences never hand out an id twice already).

Without it SQLite gives a new row the largest id + 1, so deleting the newest account and
registering another gave the new one the deleted one's id, and a cookie kept from the
deleted account signed its holder in as the new one. SQLite cannot add AUTOINCREMENT to
a table: the table is rebuilt (SQLite's own procedure: foreign keys off, new table, copy,
drop, rename, foreign keys checked, on), outside peewee-migrate's transaction because
`PRAGMA foreign_keys` is a no-op inside one.
"""

import peewee as pw
from peewee_migrate import Migrator


def _is_sqlite(database) -> bool:
    return isinstance(database, pw.SqliteDatabase) or database.__class__.__name__.lower().startswith("sqlite")


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class FaultRecord(pw.Model):
        id = pw.AutoField()
        component = pw.CharField(max_length=20)
        kind = pw.CharField(max_length=20)
        detail = pw.CharField(max_length=500)
        since = pw.DateTimeField()
        last_seen_at = pw.DateTimeField()
        cleared_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "fault"

    if not fake and _is_sqlite(database):
        _user_ids_never_reused(database)


def _user_ids_never_reused(database: pw.Database) -> None:
    sql = database.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'user'").fetchone()[0]
    if "AUTOINCREMENT" in sql.upper():
        return
    indexes = [row[0] for row in database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'user' AND sql IS NOT NULL")]
    head, sep, rest = sql.partition("(")
    new_sql = 'CREATE TABLE "user_new" (' + rest.replace("PRIMARY KEY", "PRIMARY KEY AUTOINCREMENT", 1)
    assert "AUTOINCREMENT" in new_sql, sql
    # Leave peewee-migrate's transaction for the time of the rebuild (foreign keys off),
    # do the rebuild in a transaction of its own, and open one again for the router.
    database.execute_sql("COMMIT")
    database.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        database.execute_sql("BEGIN IMMEDIATE")
        database.execute_sql(new_sql)
        database.execute_sql('INSERT INTO "user_new" SELECT * FROM "user"')
        database.execute_sql('DROP TABLE "user"')
        database.execute_sql('ALTER TABLE "user_new" RENAME TO "user"')
        for index in indexes:
            database.execute_sql(index)
        broken = database.execute_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            database.execute_sql("ROLLBACK")
            raise RuntimeError(f"rebuilding the user table would break foreign keys: {broken[:5]}")
        database.execute_sql("COMMIT")
    finally:
        database.execute_sql("PRAGMA foreign_keys = ON")
        database.execute_sql("BEGIN IMMEDIATE")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("fault")  # (AUTOINCREMENT does no harm to keep)
