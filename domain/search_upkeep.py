"""The full-text indexes kept compact (SQLite; issue 18): the nightly `search_upkeep` job.

FTS5 adds a segment for every transaction that writes to an index, and merges them only when
enough pile up on one level, so a long-lived index is read through a dozen segments or more:
every word looked up in each. On bench/web.py's data set (1,000,000 messages) merging them into
one made the ticket searches 20-35% faster (12.8 to 9.6 CPU ms for staff's queue searched for a
common word) and took 4 s. Done here in steps of STEP_PAGES pages, each its own transaction, so
that the worker and the portal wait for one step at most (a tenth of a second), never for the
whole merge. PostgreSQL's GIN indexes are kept by the server (autovacuum), so nothing is done there.

Then the query planner's statistics are gathered afresh (`analyze`, SQLite's ANALYZE): the plans
bench/web.py measures are those of a database with statistics, and without them SQLite chose
worse ones for some (staff's queue searched for a common word: 23 CPU ms against 9 on the bench's
data set). ANALYZE took 1 s on that data set. PostgreSQL's autovacuum analyzes by itself.
"""
from __future__ import annotations

import logging
import time

from helpdesk import database
from helpdesk.models import db

log = logging.getLogger(__name__)

INDEXES = ("message_search", "ticket_search", "contract_search", "article_search", "user_search")
STEP_PAGES = 1000  # pages (4 KB) merged in one transaction
MAX_STEPS = 10_000  # a bound, not a limit reached: 40 GB of merging


def merge_all() -> int:
    """Merge every index's segments into one, a step at a time; the steps that did work."""
    if not database.is_sqlite(db.obj):
        return 0
    present = {name for (name,) in db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    started, steps = time.monotonic(), 0
    for index in INDEXES:
        if index not in present:
            continue
        for _ in range(MAX_STEPS):
            if not _step(index):
                break
            steps += 1
    log.info("search indexes merged: %d step(s) in %.1f s", steps, time.monotonic() - started)
    return steps


def analyze() -> None:
    """The planner's statistics gathered afresh (SQLite: every table and index)."""
    if database.is_sqlite(db.obj):
        started = time.monotonic()
        db.execute_sql("ANALYZE")
        log.info("planner statistics gathered in %.1f s", time.monotonic() - started)


def _step(index: str) -> bool:
    """One step of merging, negative: every segment on one level, as few as two merged (FTS5's
    'merge' command); False once the index is one segment (the step changed nothing)."""
    connection = db.connection()
    with db.atomic():
        before = connection.total_changes
        db.execute_sql(f"INSERT INTO {index} ({index}, rank) VALUES ('merge', ?)", (-STEP_PAGES,))
        return connection.total_changes - before >= 2
