"""Feedback and clean starts (issue 17, item 8): a role change request keeps the company's
role at the time it was asked (the admins' list showed the role of today as "from")."""

import re

import peewee as pw
from peewee_migrate import Migrator

DECIDED = re.compile(r": (\w+) -> (\w+)")  # a decision's audit detail: "NIP: old -> new; reason"


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("role_change_request", from_role=pw.CharField(max_length=20, default=""))
    if not fake:
        migrator.run(_backfill, database)


def _backfill(database: pw.Database) -> None:
    """Pending requests: the company's role is still the one they were asked from. Decided
    ones: the role their decision's audit line names (written before the role changed)."""
    p = database.param
    database.execute_sql(
        "UPDATE role_change_request SET from_role = (SELECT role FROM company WHERE company.id = "
        "role_change_request.company_id) WHERE status = 'pending'")
    decided = database.execute_sql("SELECT id, company_id, requested_role FROM role_change_request "
                                   "WHERE status <> 'pending'").fetchall()
    for request_id, company_id, requested in decided:
        row = database.execute_sql(
            f"SELECT detail FROM audit_log WHERE object_type = 'company' AND object_id = {p} "
            f"AND action IN ('role_change_approved', 'role_change_rejected') AND detail LIKE {p} "
            "ORDER BY id DESC", (str(company_id), f"%-> {requested}%")).fetchone()
        found = DECIDED.search(row[0]) if row else None
        if found:
            database.execute_sql(f"UPDATE role_change_request SET from_role = {p} WHERE id = {p}",
                                 (found.group(1), request_id))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("role_change_request", "from_role")
