"""Each ticket's first response and resolution times as seconds, kept by the database
(issue 18): `first_response_s` = first_response_at - created_at, `resolution_s` = closed_at -
created_at (wall clock; NULL while not answered or not closed), and the reports' index of
the tickets opened in a period (migration 023) with both at its end.

The reports' "first response and resolution times" read every ticket opened in the period
(5,700 in 12 weeks of bench/web.py's data set) to take exact medians and percentiles; read
as three times each, SQLite handed over their text and Python subtracted them (8 of the
page's 30 CPU ms). Two numbers a ticket from the index cost a fraction of that.

Triggers keep them whoever writes the times (a status change, the first answer, a merge, a
split, an import, an administrator by hand), in the same statement:
- SQLite: AFTER INSERT and AFTER UPDATE, when a stored value differs from the times' (an
  UPDATE of the row alone; recursive triggers are off, so it does not fire itself);
- PostgreSQL: BEFORE INSERT OR UPDATE, NEW's values set from its times;
an UPDATE that names none of the five columns fires neither.
The rows already there get theirs here."""

import peewee as pw
from peewee_migrate import Migrator

OPENED = "ticket_opened_report"
OLD_COLUMNS = ("created_at, merged_into_id, sla_policy, first_response_at, first_response_due, closed_at, "
               "resolution_due, sla_paused_at")
NEW_COLUMNS = f"{OLD_COLUMNS}, first_response_s, resolution_s"

# Whole microseconds, divided once: the very float Python's timedelta.total_seconds() gives
# (julianday's would be rounded to milliseconds). Peewee writes "YYYY-MM-DD HH:MM:SS[.ffffff]".
SQLITE_MICROSECONDS = ("strftime('%s', substr({row}.{column}, 1, 19)) * 1000000 "
                       "+ CAST(substr(substr({row}.{column}, 21) || '000000', 1, 6) AS INTEGER)")
SQLITE_SECONDS = (f"({SQLITE_MICROSECONDS.format(row='{row}', column='{end}')} "
                  f"- ({SQLITE_MICROSECONDS.format(row='{row}', column='created_at')})) / 1000000.0")
# An UPDATE that sets none of these (most: the worker touches updated_at with every mail) fires nothing.
WRITTEN = "created_at, first_response_at, closed_at, first_response_s, resolution_s"
POSTGRES_SECONDS = "EXTRACT(EPOCH FROM ({row}.{end} - {row}.created_at))"  # numeric: exact


def _is_sqlite(database) -> bool:
    return isinstance(database, pw.SqliteDatabase) or database.__class__.__name__.lower().startswith("sqlite")


def fill(sqlite: bool) -> str:
    """Every ticket's durations from its times (the rows already there)."""
    seconds = SQLITE_SECONDS if sqlite else POSTGRES_SECONDS
    return (f"UPDATE ticket SET first_response_s = {seconds.format(row='ticket', end='first_response_at')}, "
            f"resolution_s = {seconds.format(row='ticket', end='closed_at')}")


def triggers(sqlite: bool) -> list[str]:
    """The statements that make the database keep them."""
    seconds = SQLITE_SECONDS if sqlite else POSTGRES_SECONDS
    first, whole = (seconds.format(row="NEW", end=end) for end in ("first_response_at", "closed_at"))
    if not sqlite:
        return ["CREATE FUNCTION ticket_durations() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN NEW.first_response_s := {first}; NEW.resolution_s := {whole}; RETURN NEW; END $$",
                f"CREATE TRIGGER ticket_durations BEFORE INSERT OR UPDATE OF {WRITTEN} ON ticket "
                "FOR EACH ROW EXECUTE FUNCTION ticket_durations()"]
    differs = f"NEW.first_response_s IS NOT {first} OR NEW.resolution_s IS NOT {whole}"
    update = f"UPDATE ticket SET first_response_s = {first}, resolution_s = {whole} WHERE id = NEW.id"
    return [f"CREATE TRIGGER ticket_durations_insert AFTER INSERT ON ticket WHEN {differs} BEGIN {update}; END",
            f"CREATE TRIGGER ticket_durations_update AFTER UPDATE OF {WRITTEN} ON ticket WHEN {differs} "
            f"BEGIN {update}; END"]


def dropped(sqlite: bool) -> list[str]:
    if sqlite:
        return ["DROP TRIGGER IF EXISTS ticket_durations_insert", "DROP TRIGGER IF EXISTS ticket_durations_update"]
    return ["DROP TRIGGER IF EXISTS ticket_durations ON ticket", "DROP FUNCTION IF EXISTS ticket_durations()"]


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    sqlite = _is_sqlite(database)
    for column in ("first_response_s", "resolution_s"):
        migrator.sql(f"ALTER TABLE ticket ADD COLUMN {column} {'REAL' if sqlite else 'DOUBLE PRECISION'}")
    for statement in (fill(sqlite), *triggers(sqlite), f"DROP INDEX {OPENED}",
                      f"CREATE INDEX {OPENED} ON ticket ({NEW_COLUMNS})"):
        migrator.sql(statement)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    sqlite = _is_sqlite(database)
    for statement in (f"DROP INDEX {OPENED}", f"CREATE INDEX {OPENED} ON ticket ({OLD_COLUMNS})", *dropped(sqlite),
                      "ALTER TABLE ticket DROP COLUMN first_response_s", "ALTER TABLE ticket DROP COLUMN resolution_s"):
        migrator.sql(statement)
