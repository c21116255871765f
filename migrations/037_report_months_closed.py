"""The kept months (migration 035) hold the tickets closed in the month per assignee too, for the
report "per engineer" (issue 18): over a period it counted every ticket closed in it, along
the index on closed_at (5,200 over twelve weeks, 47,000 over two years: 21 ms on SQLite).

So a kept month is now also a month in which tickets were closed, and the triggers forget:
- a ticket inserted or deleted: the months of its created_at and of its closed_at;
- a ticket updated in a column the reports read, now with assignee_id: the months of its
  created_at and closed_at before and after.
The rows kept so far lack the new counts: they are dropped, and worked out again when read.
SQLite: AFTER INSERT, DELETE and UPDATE triggers; PostgreSQL: the same, with one function."""

import peewee as pw
from peewee_migrate import Migrator

# What the reports read of a ticket (report_months._times, _deadlines and _closed)
READ = ("created_at", "merged_into_id", "sla_policy", "first_response_at", "first_response_due", "closed_at",
        "resolution_due", "sla_paused_at", "first_response_s", "resolution_s", "assignee_id")
# A NULL closed_at matches no month
FORGET = ("DELETE FROM report_month WHERE (since <= {row}.created_at AND until > {row}.created_at) "
          "OR (since <= {row}.closed_at AND until > {row}.closed_at)")
# Migration 035's, for the rollback
READ_035 = READ[:-1]
FORGET_035 = "DELETE FROM report_month WHERE since <= {row}.created_at AND until > {row}.created_at"


def _is_sqlite(database) -> bool:
    return "sqlite" in type(database).__name__.lower()


def triggers(sqlite: bool, read: tuple[str, ...] = READ, forget: str = FORGET) -> list[str]:
    columns = ", ".join(read)
    if sqlite:
        differs = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in read)
        return [f"CREATE TRIGGER report_month_insert AFTER INSERT ON ticket BEGIN {forget.format(row='NEW')}; END",
                f"CREATE TRIGGER report_month_delete AFTER DELETE ON ticket BEGIN {forget.format(row='OLD')}; END",
                f"CREATE TRIGGER report_month_update AFTER UPDATE OF {columns} ON ticket WHEN {differs} "
                f"BEGIN {forget.format(row='OLD')}; {forget.format(row='NEW')}; END"]
    differs = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in read)
    return ["CREATE FUNCTION report_month_forget() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP <> 'INSERT' THEN {forget.format(row='OLD')}; END IF; "
            f"IF TG_OP <> 'DELETE' THEN {forget.format(row='NEW')}; END IF; RETURN NULL; END $$",
            "CREATE TRIGGER report_month_insert_delete AFTER INSERT OR DELETE ON ticket "
            "FOR EACH ROW EXECUTE FUNCTION report_month_forget()",
            f"CREATE TRIGGER report_month_update AFTER UPDATE OF {columns} ON ticket FOR EACH ROW "
            f"WHEN ({differs}) EXECUTE FUNCTION report_month_forget()"]


def dropped(sqlite: bool) -> list[str]:
    if sqlite:
        return [f"DROP TRIGGER IF EXISTS report_month_{op}" for op in ("insert", "delete", "update")]
    return ["DROP TRIGGER IF EXISTS report_month_insert_delete ON ticket",
            "DROP TRIGGER IF EXISTS report_month_update ON ticket", "DROP FUNCTION IF EXISTS report_month_forget()"]


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    sqlite = _is_sqlite(database)
    for statement in (*dropped(sqlite), "DELETE FROM report_month", *triggers(sqlite)):
        migrator.sql(statement)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    sqlite = _is_sqlite(database)
    for statement in (*dropped(sqlite), "DELETE FROM report_month", *triggers(sqlite, READ_035, FORGET_035)):
        migrator.sql(statement)
