"""What the reports' kept figures cost the writers: the triggers of migrations 035 and 037 (a
ticket's write forgets the kept figures of the months it was opened and closed in) and 036 (a
day's minutes added to its month's sums), timed with them and without them in the same run.

Each kind of write runs row by row, in transactions of 100 as the mail worker commits its
batches, on a database with 36 kept months in each of two zones:

  ticket inserted      INSERT INTO ticket (037: a DELETE on report_month by its months)
  ticket closed        UPDATE of closed_at and status, a column the reports read (037: two)
  ticket touched       UPDATE of updated_at only, as most of the worker's are (037: the
                       trigger's column list leaves it out; nothing runs)
  minutes added        a message's minutes added to its contract's day (036: an upsert on
                       the month's sums)

Rounds alternate: with the triggers, without them (dropped), and so on; each figure is the
median of its rounds, in µs a row. The mail worker spends about 1.9 ms a message in its
writer (bench/README.md, "ingest.py"), which opens a ticket for a new thread and adds a
message to one otherwise.

    python bench/report_triggers.py [--rows 2000] [--rounds 4] [--postgresql]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MIGRATIONS = ("037_report_months_closed", "036_contract_minutes_month")  # 037: 035's triggers now
BATCH = 100


def _set_triggers(db, sqlite: bool, on: bool) -> None:
    from tests.harness import load_migration

    for module in map(load_migration, MIGRATIONS):
        for statement in module.dropped(sqlite) + (module.triggers(sqlite) if on else []):
            db.execute_sql(statement)


def _kept_months(now: dt.datetime) -> None:
    from helpdesk.models import ReportMonth

    rows = []
    for zone, hours in (("Europe/Warsaw", 23), ("America/New_York", 5)):
        first = dt.datetime(now.year - 3, now.month, 1, hours)
        for month in range(36):
            since = first + dt.timedelta(days=31 * month)
            rows.append({"zone": zone, "since": since, "until": since + dt.timedelta(days=31), "figures": "[]",
                         "computed_at": now, "valid_until": None})
    ReportMonth.insert_many(rows).execute()


def _timed(db, rows: int, write) -> float:
    """µs a row for `write(i)` over `rows` rows, committed every BATCH."""
    start = time.perf_counter()
    for first in range(0, rows, BATCH):
        with db.atomic():
            for i in range(first, min(first + BATCH, rows)):
                write(i)
    return (time.perf_counter() - start) / rows * 1e6


def one_round(db, rows: int, now: dt.datetime, day: dt.date) -> dict[str, float]:
    """µs a row of each kind of write, on `rows` new tickets and one day's minutes."""
    from helpdesk.domain.inserts import add_to_row
    from helpdesk.models import ContractMinutesDay, Status, Ticket

    ids: list[int] = []
    opened = now - dt.timedelta(days=40)
    return {
        "ticket inserted": _timed(db, rows, lambda i: ids.append(Ticket.insert(
            subject=f"Bench {i}", status=Status.NEW.value, requester_email=f"c{i}@example.com",
            created_at=opened + dt.timedelta(minutes=i), updated_at=now).execute())),
        "ticket closed": _timed(db, rows, lambda i: Ticket.update(
            closed_at=now, status=Status.CLOSED.value).where(Ticket.id == ids[i]).execute()),
        "ticket touched": _timed(db, rows, lambda i: Ticket.update(
            updated_at=now + dt.timedelta(seconds=i)).where(Ticket.id == ids[i]).execute()),
        "minutes added": _timed(db, rows, lambda i: add_to_row(
            ContractMinutesDay, {"day": day, "contract_id": i % 500 + 1}, messages=1, minutes=5)),
    }


def run(db, sqlite: bool, rows: int, rounds: int) -> dict[str, dict[bool, list[float]]]:
    """Per kind of write, its figures with the triggers (True) and without (False)."""
    from helpdesk.models import utcnow

    now = utcnow()
    _kept_months(now)
    out: dict[str, dict[bool, list[float]]] = {}
    for round_ in range(rounds):
        on = round_ % 2 == 0
        _set_triggers(db, sqlite, on)
        for name, value in one_round(db, rows, now, now.date() - dt.timedelta(days=round_)).items():
            out.setdefault(name, {True: [], False: []})[on].append(value)
    _set_triggers(db, sqlite, True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000, help="rows written by each kind of write, each round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, alternately with and without the triggers")
    parser.add_argument("--postgresql", action="store_true", help="a private PostgreSQL (tests/postgres.py)")
    args = parser.parse_args()

    from helpdesk import config as config_mod, database

    cluster = None
    with tempfile.TemporaryDirectory() as tmp:
        env = {"HELPDESK_DATA_DIR": tmp, "HELPDESK_SECRET_KEY": "bench"}
        if args.postgresql:
            from tests.postgres import start_cluster

            cluster = start_cluster(durable=True)
            env["HELPDESK_DATABASE_URL"] = cluster.new_database(migrated=False)
        try:
            config = config_mod.load_config(env, dotenv=None)
            db = database.open_database(config.database_url)
            database.migrate(db)
            sqlite = database.is_sqlite(db)
            print(f"{'PostgreSQL' if not sqlite else 'SQLite'}: {args.rows:,} rows a write and round, "
                  f"{args.rounds} rounds, transactions of {BATCH}")
            figures = run(db, sqlite, args.rows, args.rounds)
            print(f"{'write':<18}{'with µs':>9}{'without µs':>12}{'cost µs':>9}{'x without':>11}")
            for name, by in figures.items():
                with_, without = statistics.median(by[True]), statistics.median(by[False])
                print(f"{name:<18}{with_:>9.1f}{without:>12.1f}{with_ - without:>9.1f}{with_ / without:>11.2f}")
            db.close()
        finally:
            if cluster is not None:
                from tests.postgres import stop_cluster

                stop_cluster(cluster)


if __name__ == "__main__":
    main()
