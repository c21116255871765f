"""The minutes spent per contract per month (issue 18): `contract_minutes_month`, the sums of
`contract_minutes_day` (migration 024) per local month, kept by the database in the
statement that writes a day's row, whoever writes it (a message with minutes, minutes moved
to another contract, a contract deleted: migration 030's trigger, a rebuild).

"Time spent per contract" ranks every contract by its minutes in the period: over twelve
weeks it summed 10,800 day rows of 4,000 contracts on every view, over a year 45,000. Whole
months in the period are read as one row per contract instead (about 1,600 a month in
bench/web.py's data set), and only the days at the period's ends as days.

SQLite: AFTER INSERT, UPDATE and DELETE triggers on contract_minutes_day adding the row's
messages and minutes to its month's (an upsert on the unique (month, contract_id)) and taking
them away, a month's row with nothing left deleted; PostgreSQL: the same, with one function.
The rows already there are summed here."""

import peewee as pw
from peewee_migrate import Migrator

# Add `sign` times the {row}'s messages and minutes to its month's row.
ADD = ("INSERT INTO contract_minutes_month (month, contract_id, messages, minutes) "
       "VALUES ({month}, {row}.contract_id, {sign}{row}.messages, {sign}{row}.minutes) "
       "ON CONFLICT (month, contract_id) DO UPDATE SET "
       "messages = contract_minutes_month.messages + excluded.messages, "
       "minutes = contract_minutes_month.minutes + excluded.minutes")
EMPTIED = ("DELETE FROM contract_minutes_month WHERE month = {month} AND contract_id = {row}.contract_id "
           "AND messages = 0 AND minutes = 0")
SQLITE_MONTH = "substr({row}.day, 1, 7) || '-01'"  # dates are stored 'YYYY-MM-DD'
POSTGRES_MONTH = "CAST(date_trunc('month', {row}.day) AS date)"


def _is_sqlite(database) -> bool:
    return "sqlite" in type(database).__name__.lower()


def _month(sqlite: bool, row: str) -> str:
    return (SQLITE_MONTH if sqlite else POSTGRES_MONTH).format(row=row)


def added(sqlite: bool, row: str, sign: str = "") -> str:
    return ADD.format(month=_month(sqlite, row), row=row, sign=sign)


def emptied(sqlite: bool, row: str) -> str:
    return EMPTIED.format(month=_month(sqlite, row), row=row)


def triggers(sqlite: bool) -> list[str]:
    """The new row's added first, then the old one's taken away: a month's row is deleted only
    when nothing is left of it, not on the way (an UPDATE of a day's row within its month)."""
    new, old = added(sqlite, "NEW"), added(sqlite, "OLD", "-")
    inserted, deleted = f"{new}; {emptied(sqlite, 'NEW')}", f"{old}; {emptied(sqlite, 'OLD')}"
    updated = f"{new}; {old}; {emptied(sqlite, 'OLD')}; {emptied(sqlite, 'NEW')}"
    if sqlite:
        return [f"CREATE TRIGGER contract_minutes_month_{op} AFTER {op.upper()} ON contract_minutes_day "
                f"BEGIN {body}; END" for op, body in (("insert", inserted), ("update", updated), ("delete", deleted))]
    return ["CREATE FUNCTION contract_minutes_month() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP = 'INSERT' THEN {inserted}; ELSIF TG_OP = 'UPDATE' THEN {updated}; ELSE {deleted}; END IF; "
            "RETURN NULL; END $$",
            "CREATE TRIGGER contract_minutes_month AFTER INSERT OR UPDATE OR DELETE ON contract_minutes_day "
            "FOR EACH ROW EXECUTE FUNCTION contract_minutes_month()"]


def dropped(sqlite: bool) -> list[str]:
    if sqlite:
        return [f"DROP TRIGGER IF EXISTS contract_minutes_month_{op}" for op in ("insert", "update", "delete")]
    return ["DROP TRIGGER IF EXISTS contract_minutes_month ON contract_minutes_day",
            "DROP FUNCTION IF EXISTS contract_minutes_month()"]


def fill(sqlite: bool) -> str:
    """Every month's sums from the day rows already there."""
    month = _month(sqlite, "contract_minutes_day")
    return ("INSERT INTO contract_minutes_month (month, contract_id, messages, minutes) "
            f"SELECT {month}, contract_id, SUM(messages), SUM(minutes) FROM contract_minutes_day "
            f"GROUP BY {month}, contract_id")


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class ContractMinutesMonth(pw.Model):
        id = pw.AutoField()
        month = pw.DateField()
        contract_id = pw.IntegerField()
        messages = pw.IntegerField(default=0)
        minutes = pw.IntegerField(default=0)

        class Meta:
            table_name = "contract_minutes_month"
            indexes = ((("month", "contract_id"), True), (("month", "contract_id", "minutes", "messages"), False))

    sqlite = _is_sqlite(database)
    for statement in (fill(sqlite), *triggers(sqlite)):
        migrator.sql(statement)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for statement in dropped(_is_sqlite(database)):
        migrator.sql(statement)
    migrator.remove_model("contract_minutes_month")
