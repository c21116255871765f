"""The nightly `search_upkeep` job (domain/search_upkeep.py): SQLite's full-text indexes merged
into one segment each, a step at a time, with every search answering as before; nothing to do on
PostgreSQL."""
from __future__ import annotations

import datetime as dt

from helpdesk import database, scheduler
from helpdesk.domain import search_upkeep
from helpdesk.models import Message, Ticket, User, db

T0 = dt.datetime(2026, 5, 4, 9, 0)
WORDS = ["drukarka", "kamera", "rejestrator", "licencja", "zasilacz"]


def _written_in_many_transactions() -> None:
    for i in range(60):  # each transaction adds a segment to each index it writes
        with db.atomic():
            ticket = Ticket.create(subject=f"{WORDS[i % 5]} zgłoszenie {i}", requester_email="a@example.com",
                                   created_at=T0, updated_at=T0)
            Message.create(ticket=ticket, kind="customer", subject=ticket.subject, created_at=T0,
                           body_text=f"{WORDS[i % 5]} {WORDS[(i + 1) % 5]} numer {i}")
            User.create(email=f"osoba{i}@firma.example", last_name=f"Nazwisko{i}", created_at=T0)


def _found() -> dict[str, list[int]]:
    out = {}
    for word in WORDS + ["numer", "zzz"]:
        out[word] = [r for (r,) in db.execute_sql("SELECT rowid FROM message_search WHERE message_search MATCH ? "
                                                  "ORDER BY rowid", (word,))]
        out["t:" + word] = [r for (r,) in db.execute_sql("SELECT rowid FROM ticket_search WHERE ticket_search "
                                                         "MATCH ? ORDER BY rowid", (word,))]
    out["people"] = [r for (r,) in db.execute_sql("SELECT rowid FROM user_search WHERE user_search MATCH "
                                                  "'\"nazwisko1\"' ORDER BY rowid")]
    return out


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """SQLite's varint (as FTS5 writes them): the value and where the next one starts."""
    value = 0
    for i in range(8):
        byte = data[at + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    return (value << 8) | data[at + 8], at + 9


def segments(index: str) -> int:
    """The index's segments, from its structure record (row 10 of `{index}_data`: a 4-byte cookie,
    then the number of levels and of segments)."""
    (record,) = db.execute_sql(f"SELECT block FROM {index}_data WHERE id = 10").fetchone()
    _, at = _varint(record, 4)
    return _varint(record, at)[0]


def test_the_indexes_are_merged_and_answer_as_before(db, config, monkeypatch):
    if not database.is_sqlite(db):
        assert search_upkeep.merge_all() == 0  # PostgreSQL keeps its GIN indexes itself
        return
    _written_in_many_transactions()
    before = _found()
    assert len(before["drukarka"]) == 24 and len(before["people"]) == 11
    assert all(segments(index) > 1 for index in ("message_search", "ticket_search", "user_search"))
    monkeypatch.setattr(search_upkeep, "STEP_PAGES", 1)  # many small steps, each a transaction
    steps = search_upkeep.merge_all()
    assert steps >= 3  # there was work, done in steps
    assert _found() == before
    assert search_upkeep.merge_all() == 0  # one segment each: nothing left to merge
    assert {index: segments(index) for index in ("message_search", "ticket_search", "user_search")} == {
        "message_search": 1, "ticket_search": 1, "user_search": 1}
    for index in search_upkeep.INDEXES:
        db.execute_sql(f"INSERT INTO {index} ({index}) VALUES ('integrity-check')")
    with db.atomic():  # written after: a new segment, merged by the next run
        Message.create(ticket=Ticket.get(), kind="staff", body_text="drukarka", created_at=T0)
    assert search_upkeep.merge_all() >= 1 and len(_found()["drukarka"]) == 25


def test_the_job_runs_nightly_by_name_and_gathers_the_planners_statistics(config, db):
    assert config.schedule_search_upkeep == "30 3 * * *"
    _written_in_many_transactions()
    stats = ("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'" if database.is_sqlite(db) else None)
    if stats:
        assert db.execute_sql(stats).fetchone()[0] == 0  # a database never analyzed
    summary = scheduler.run_job(config, "search_upkeep", T0)
    assert summary is not None and summary.queued == 0
    if stats:  # the statistics of the tables, as bench/web.py measures the pages with them
        rows = dict(db.execute_sql("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'ticket'").fetchall())
        assert rows["ticket_updated_at_id"].split()[0] == "60"
