"""The migrations build exactly the schema the models describe, and are safe to repeat."""
from __future__ import annotations

from helpdesk import database, models
from tests.postgres import sqlite_only


def test_migrations_match_the_models(db):
    for model in models.ALL_MODELS:
        table = model._meta.table_name
        columns = {c.name for c in db.get_columns(table)}
        assert columns == {f.column_name for f in model._meta.sorted_fields}, table
        unique = {tuple(i.columns) for i in db.get_indexes(table) if i.unique}
        for fields, is_unique in model._meta.indexes:
            if is_unique:
                cols = tuple(model._meta.fields[f].column_name for f in fields)
                assert cols in unique, (table, cols)


def test_migrating_again_does_nothing(db):
    assert database.migrate(db) == []


@sqlite_only
def test_sqlite_runs_in_wal_mode(db):
    assert db.execute_sql("pragma journal_mode").fetchone()[0] == "wal"


def test_insert_row_writes_the_row_create_would(db):
    """domain/inserts.py builds its SQL once; the row must be the one Model.create writes."""
    import datetime as dt

    from helpdesk.domain.inserts import insert_row

    now = dt.datetime(2026, 11, 25, 12, 0)
    values = {
        models.Ticket: dict(subject="Drukarka", requester_email="jan@example.com", created_at=now,
                            updated_at=now),
        models.InboundMail: dict(mailbox="m", uidvalidity=7, uid="1", message_id="a@b", raw_sha256="0" * 64,
                                 outcome="new_ticket", received_at=now, processed_at=now),
    }
    for model, row in values.items():
        fast = insert_row(model, **row)
        if model is models.InboundMail:
            row = {**row, "uid": "2"}
        slow = model.create(**row)
        a = model.select().where(model.id == fast.id).dicts().get()
        b = model.select().where(model.id == slow.id).dicts().get()
        assert {k: v for k, v in a.items() if k not in ("id", "uid")} == \
               {k: v for k, v in b.items() if k not in ("id", "uid")}
        assert fast.id and fast.id != slow.id


def test_insert_rows_writes_the_rows_create_would(db):
    import datetime as dt

    from helpdesk.domain.inserts import insert_rows

    now = dt.datetime(2026, 11, 25, 12, 0)
    rows = [dict(kind="digest", ticket=None, recipient=f"u{i}@example.com", mail_from="s@x", message_id=f"m{i}@x",
                 raw=None, spec="{}", status="pending", attempts=0, next_attempt_at=now, created_at=now)
            for i in range(3)]
    insert_rows(models.Outbox, rows)
    slow = models.Outbox.create(**{**rows[0], "message_id": "slow@x"})
    fast = list(models.Outbox.select().where(models.Outbox.id != slow.id).order_by(models.Outbox.id).dicts())
    assert [r["recipient"] for r in fast] == ["u0@example.com", "u1@example.com", "u2@example.com"]
    b = models.Outbox.select().where(models.Outbox.id == slow.id).dicts().get()
    assert {k: v for k, v in fast[0].items() if k not in ("id", "message_id")} == \
           {k: v for k, v in b.items() if k not in ("id", "message_id")}
