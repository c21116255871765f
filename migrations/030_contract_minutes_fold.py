"""A contract deleted takes its per-day minutes (`contract_minutes_day`, migration 024) to
"no contract" (0) in the same statement (issue 18). The application never deletes a
contract, but a database administrator may; its tickets lose the contract then (ON DELETE
SET NULL), so the messages count under no contract, and now their sums do too. The reports
no longer ask, for each of the period's thousands of contracts, whether it still exists,
and on SQLite a contract id used again after the newest contract is deleted no longer
inherits the old one's minutes.

An AFTER DELETE trigger on `contract` on both databases adds the contract's rows to the
day's 0 row (the unique key (day, contract_id): an upsert) and deletes them; the rows of
contracts deleted before this migration are folded the same way once. An id already used
again keeps what it inherited: `helpdesk init-db` for another zone, or `rollups.rebuild`,
counts the messages again."""

import peewee as pw
from peewee_migrate import Migrator

# The day's 0 row gets what `{gone}` selects (day, messages, minutes; one row a day). Each
# SELECT has a WHERE: SQLite reads the upsert of an INSERT ... SELECT only after one.
FOLD = ("INSERT INTO contract_minutes_day (day, contract_id, messages, minutes) {gone} "
        "ON CONFLICT (day, contract_id) DO UPDATE SET "
        "messages = contract_minutes_day.messages + excluded.messages, "
        "minutes = contract_minutes_day.minutes + excluded.minutes")
ONE = FOLD.format(gone="SELECT day, 0, messages, minutes FROM contract_minutes_day WHERE contract_id = {0}.id")
ONE_DELETED = "DELETE FROM contract_minutes_day WHERE contract_id = {0}.id"
GONE = "contract_id <> 0 AND NOT EXISTS (SELECT 1 FROM contract WHERE contract.id = contract_minutes_day.contract_id)"
EVERY = FOLD.format(gone=f"SELECT day, 0, SUM(messages), SUM(minutes) FROM contract_minutes_day WHERE {GONE} "
                    "GROUP BY day")
EVERY_DELETED = f"DELETE FROM contract_minutes_day WHERE {GONE}"


def _is_sqlite(database) -> bool:
    return "sqlite" in type(database).__name__.lower()


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    if _is_sqlite(database):
        migrator.sql("CREATE TRIGGER contract_minutes_fold AFTER DELETE ON contract BEGIN "
                     f"{ONE.format('old')}; {ONE_DELETED.format('old')}; END")
    else:
        migrator.sql("CREATE FUNCTION contract_minutes_fold() RETURNS trigger LANGUAGE plpgsql AS $$ "
                     f"BEGIN {ONE.format('OLD')}; {ONE_DELETED.format('OLD')}; RETURN NULL; END $$")
        migrator.sql("CREATE TRIGGER contract_minutes_fold AFTER DELETE ON contract "
                     "FOR EACH ROW EXECUTE FUNCTION contract_minutes_fold()")
    migrator.sql(EVERY)
    migrator.sql(EVERY_DELETED)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    # The rows folded stay folded: the code before counts a contract no longer there as none.
    if _is_sqlite(database):
        migrator.sql("DROP TRIGGER IF EXISTS contract_minutes_fold")
    else:
        migrator.sql("DROP TRIGGER IF EXISTS contract_minutes_fold ON contract")
        migrator.sql("DROP FUNCTION IF EXISTS contract_minutes_fold()")
