"""Each whole month's response times and deadlines, kept (issue 18, domain/report_months.py):
a row per local month of a zone (its first and last instants in UTC), holding the figures
the reports "first response and resolution times" and "service-level compliance" show for
it, when they were worked out, and until when the clock leaves them true.

The database forgets a month's row in the statement that changes one of its tickets, so
no writer (a status change, an answer, a merge, a split, an import, an administrator by
hand) can leave a kept month wrong:
- a ticket inserted or deleted: the month of its created_at;
- a ticket updated in a column the two reports read: the months of its created_at before
  and after (an UPDATE that changes none of them, most: the worker touches updated_at with
  every mail, forgets nothing).
SQLite: AFTER INSERT, DELETE and UPDATE triggers; PostgreSQL: the same, with one function."""

import peewee as pw
from peewee_migrate import Migrator

# What the two reports read of a ticket (report_months._times and _deadlines)
READ = ("created_at", "merged_into_id", "sla_policy", "first_response_at", "first_response_due", "closed_at",
        "resolution_due", "sla_paused_at", "first_response_s", "resolution_s")
FORGET = "DELETE FROM report_month WHERE since <= {row}.created_at AND until > {row}.created_at"


def _is_sqlite(database) -> bool:
    return "sqlite" in type(database).__name__.lower()


def triggers(sqlite: bool) -> list[str]:
    columns = ", ".join(READ)
    if sqlite:
        differs = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in READ)
        return [f"CREATE TRIGGER report_month_insert AFTER INSERT ON ticket BEGIN {FORGET.format(row='NEW')}; END",
                f"CREATE TRIGGER report_month_delete AFTER DELETE ON ticket BEGIN {FORGET.format(row='OLD')}; END",
                f"CREATE TRIGGER report_month_update AFTER UPDATE OF {columns} ON ticket WHEN {differs} "
                f"BEGIN {FORGET.format(row='OLD')}; {FORGET.format(row='NEW')}; END"]
    differs = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in READ)
    return ["CREATE FUNCTION report_month_forget() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP <> 'INSERT' THEN {FORGET.format(row='OLD')}; END IF; "
            f"IF TG_OP <> 'DELETE' THEN {FORGET.format(row='NEW')}; END IF; RETURN NULL; END $$",
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
    @migrator.create_model
    class ReportMonth(pw.Model):
        id = pw.AutoField()
        zone = pw.CharField(max_length=64)
        since = pw.DateTimeField()
        until = pw.DateTimeField()
        figures = pw.TextField()
        computed_at = pw.DateTimeField()
        valid_until = pw.DateTimeField(null=True)

        class Meta:
            table_name = "report_month"
            indexes = ((("zone", "since"), True), (("since", "until"), False))

    for statement in triggers(_is_sqlite(database)):
        migrator.sql(statement)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for statement in dropped(_is_sqlite(database)):
        migrator.sql(statement)
    migrator.remove_model("report_month")
