"""A partner's customers' open tickets from an index (issue 18). The page went from the
partner's contracts to every ticket of theirs (800 rows read for 40 open ones on a
partner with 2,000 contracts) and then to each contract's row. A partial index of the open,
unmerged tickets by contract, holding what the page sorts and filters on, answers "which
of these contracts' tickets are open, newest first" from index entries alone.

The query names the index on SQLite and spells its condition with the same literals
(domain/partner_view.py). No `ANALYZE` here: statistics for this one index made SQLite
pick a 40 times slower plan for the "due soonest" queue."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("CREATE INDEX ticket_open_contract ON ticket (contract_id, updated_at, id, status, merged_into_id) "
                 "WHERE status != 'closed' AND merged_into_id IS NULL")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("DROP INDEX ticket_open_contract")
