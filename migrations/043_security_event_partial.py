"""The security events' links to a ticket, a message and a mail indexed only where they are set
(issue 18). Most events have none (a refused sign-in, a throttled sender), and a stranger makes
as many as he likes. ANALYZE counts the NULLs as one value: with 200,000 events and none on a
ticket, SQLite took the index on ticket_id for one that matches every row and scanned the table
instead, on every staff ticket page (11 ms; its events are asked for there). A partial index
holds only the rows that name a ticket (or message, or mail), so its statistics are about those;
`ticket_id = ?` implies the index's condition, so both databases use it. The ticket's is ordered
by id too, as its page lists them.
"""

import peewee as pw
from peewee_migrate import Migrator

OLD = ("securityevent_ticket_id", "securityevent_message_id", "securityevent_inbound_id")


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.sql("CREATE INDEX IF NOT EXISTS security_event_ticket ON security_event (ticket_id, id) "
                 "WHERE ticket_id IS NOT NULL")
    migrator.sql("CREATE INDEX IF NOT EXISTS security_event_message ON security_event (message_id) "
                 "WHERE message_id IS NOT NULL")
    migrator.sql("CREATE INDEX IF NOT EXISTS security_event_inbound ON security_event (inbound_id) "
                 "WHERE inbound_id IS NOT NULL")
    for index in OLD:
        migrator.sql(f"DROP INDEX IF EXISTS {index}")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for index, column in zip(OLD, ("ticket_id", "message_id", "inbound_id")):
        migrator.sql(f"CREATE INDEX IF NOT EXISTS {index} ON security_event ({column})")
    for index in ("security_event_ticket", "security_event_message", "security_event_inbound"):
        migrator.sql(f"DROP INDEX IF EXISTS {index}")
