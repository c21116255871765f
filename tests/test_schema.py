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


@sqlite_only
def test_sqlite_commits_reach_the_disk_before_they_return(db):
    """synchronous=FULL (2): the worker and the sender act on a commit (an IMAP mark, an SMTP
    send) right after it, and a power cut must not take it back."""
    assert db.execute_sql("pragma synchronous").fetchone()[0] == 2


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


def test_insert_rows_can_skip_rows_that_clash_as_on_conflict_ignore_does(db):
    """Deferred.flush inserts participants and known Message-IDs this way: first writer wins."""
    import datetime as dt

    import pytest
    from peewee import IntegrityError

    from helpdesk.domain.inserts import insert_row, insert_rows

    now = dt.datetime(2026, 11, 25, 12, 0)
    ticket = insert_row(models.Ticket, subject="s", requester_email="a@x", created_at=now, updated_at=now)
    first = dict(ticket=ticket.id, email="a@x", name="first", added_at=now)
    insert_rows(models.Participant, [first])
    with pytest.raises(IntegrityError), db.atomic():
        insert_rows(models.Participant, [{**first, "name": "second"}])
    insert_rows(models.Participant, [{**first, "name": "second"}, {**first, "email": "b@x", "name": "b"}],
                ignore_conflicts=True)
    rows = list(models.Participant.select().order_by(models.Participant.id).tuples())
    assert [(r[2], r[3]) for r in rows] == [("a@x", "first"), ("b@x", "b")]


def test_id_of_or_insert_finds_the_row_or_inserts_the_one_create_would(db):
    import datetime as dt

    from helpdesk.domain.inserts import id_of_or_insert

    now = dt.datetime(2026, 11, 25, 12, 0)
    made = id_of_or_insert(models.Blob, "sha256", "a" * 64, size=10, created_at=now)
    assert id_of_or_insert(models.Blob, "sha256", "a" * 64, size=99, created_at=now) == made
    slow = models.Blob.create(sha256="b" * 64, size=10, created_at=now)
    a = models.Blob.select().where(models.Blob.id == made).dicts().get()
    b = models.Blob.select().where(models.Blob.id == slow.id).dicts().get()
    assert {k: v for k, v in a.items() if k not in ("id", "sha256")} == \
           {k: v for k, v in b.items() if k not in ("id", "sha256")}
    assert models.Blob.select().count() == 2


def test_update_row_writes_what_model_update_does(db):
    import datetime as dt

    from helpdesk.domain.inserts import insert_row, update_row

    now = dt.datetime(2026, 11, 25, 12, 0)
    later = now + dt.timedelta(hours=1, microseconds=5)
    one, two = (insert_row(models.Ticket, subject=s, requester_email="a@x", created_at=now, updated_at=now)
                for s in ("one", "two"))
    update_row(models.Ticket, one.id, status="closed", closed_at=later, updated_at=later)
    models.Ticket.update(status="closed", closed_at=later, updated_at=later).where(models.Ticket.id == two.id).execute()
    a, b = (models.Ticket.select().where(models.Ticket.id == t.id).dicts().get() for t in (one, two))
    assert a["updated_at"] == later and a["status"] == "closed"
    assert {k: v for k, v in a.items() if k not in ("id", "subject")} == \
           {k: v for k, v in b.items() if k not in ("id", "subject")}


def test_deferred_rows_keep_their_order_when_their_columns_differ(db):
    import datetime as dt

    from helpdesk.domain.inserts import insert_row
    from helpdesk.domain.rows import Deferred

    now = dt.datetime(2026, 11, 25, 12, 0)
    ticket = insert_row(models.Ticket, subject="s", requester_email="a@x", created_at=now, updated_at=now)
    rows = Deferred()
    for i, reason in enumerate(["a", None, "c", "d"]):
        row = {"ticket": ticket.id, "old_status": None, "new_status": f"s{i}", "changed_at": now}
        rows.add(models.StatusChange, row if reason is None else {**row, "reason": reason})
    rows.flush(chunk=2)
    got = [(r.new_status, r.reason) for r in models.StatusChange.select().order_by(models.StatusChange.id)]
    assert got == [("s0", "a"), ("s1", ""), ("s2", "c"), ("s3", "d")]


def test_add_to_row_adds_as_the_peewee_upsert_did(db):
    """domain/rollups.py's per-day sums go through it: created with the defaults, then added to."""
    import datetime as dt

    from helpdesk.domain.inserts import add_to_row

    day, other = dt.date(2026, 12, 2), dt.date(2026, 12, 3)
    add_to_row(models.TicketDay, {"day": day}, opened=1)
    add_to_row(models.TicketDay, {"day": day}, opened=1)
    add_to_row(models.TicketDay, {"day": day}, closed=-1)
    add_to_row(models.TicketDay, {"day": other}, closed=2)
    rows = {r.day: (r.opened, r.closed) for r in models.TicketDay.select()}
    assert rows == {day: (2, -1), other: (0, 2)}
    add_to_row(models.MinutesDay, {"day": day, "author_email": "a@x"}, messages=1, minutes=15)
    add_to_row(models.MinutesDay, {"day": day, "author_email": "a@x"}, messages=1, minutes=30)
    assert [(r.messages, r.minutes) for r in models.MinutesDay.select()] == [(2, 45)]
