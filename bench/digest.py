"""Digest benchmark: building and queuing the engineers' daily digests and the customers'
weekly digests over a large database (SQLite, as `scripts/run` uses it).

Builds a database of `--tickets` tickets (5% open, each with a customer message and a
status change; a tenth of the open ones answered by us), `--customers` customers who
opted in (as many again who did not) and `--engineers` engineers, then runs each job
twice: for a tenth of the recipients and for all of them, to show that the number of
SELECTs does not grow with the recipients (INSERTs do, one per chunk of 500 mails).
Each run is timed with nothing else measured; then run again (after clearing what it
queued) under tracemalloc for the peak of Python memory.

    python bench/digest.py [--tickets 1000000] [--customers 50000] [--engineers 1000]
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def populate(db, *, tickets: int, customers: int, engineers: int, now: dt.datetime) -> None:
    rnd = random.Random(7)
    conn = db.connection()
    with db.atomic():
        conn.executemany(
            "INSERT INTO user (email, first_name, last_name, phone, role, is_active, language, timezone, "
            "digest_opt_in, session_version, created_at) VALUES (?, ?, '', '', ?, 1, ?, ?, ?, 0, ?)",
            [(f"eng{i}@firma.pl", f"Eng{i}", "engineer", "pl", "Europe/Warsaw", 0, now) for i in range(engineers)]
            + [(f"c{i}@example.com", f"Klient{i}", "customer", "pl" if i % 5 else "en",
                "Europe/Warsaw" if i % 10 else "America/New_York", 0, now) for i in range(customers * 2)])
    first_customer = engineers + 1
    requesters = customers * 2
    ticket_rows, message_rows, change_rows = [], [], []
    for i in range(1, tickets + 1):
        is_open = i % 20 == 0
        created = now - dt.timedelta(hours=rnd.randint(1, 24 * 700 if not is_open else 24 * 20))
        updated = created + dt.timedelta(hours=1)
        status = rnd.choice(["new", "open", "waiting_us", "waiting_customer"]) if is_open else "closed"
        assignee = rnd.randint(1, engineers) if is_open and status != "new" and rnd.random() < 0.6 else None
        requester = first_customer + rnd.randrange(requesters)
        ticket_rows.append((f"Zgłoszenie {i}", status, requester, f"c{requester - first_customer}@example.com",
                            assignee, created, updated, None if is_open else updated))
        message_rows.append((i, "customer", f"c{requester - first_customer}@example.com", "Treść", created))
        change_rows.append((i, None, "new", "opened by mail", created))
        if is_open and i % 200 == 0:
            message_rows.append((i, "staff", "eng1@firma.pl", "Odpowiedź", updated))
            change_rows.append((i, "new", status, "", updated))
    with db.atomic():
        conn.executemany("INSERT INTO ticket (subject, status, requester_id, requester_email, assignee_id, channel, "
                         "created_at, updated_at, closed_at) VALUES (?, ?, ?, ?, ?, 'mail', ?, ?, ?)", ticket_rows)
        conn.executemany("INSERT INTO message (ticket_id, kind, author_email, author_name, subject, body_text, "
                         "body_display, in_reply_to, \"references\", thread_rule, created_at) "
                         "VALUES (?, ?, ?, '', '', ?, '', '', '', 'new', ?)", message_rows)
        conn.executemany("INSERT INTO status_change (ticket_id, old_status, new_status, reason, changed_at) "
                         "VALUES (?, ?, ?, ?, ?)", change_rows)
    conn.execute("ANALYZE")


class Counting:
    """Counts the statements run through the database, by their first word."""

    def __init__(self, db):
        self.db, self.counts, self._original = db, Counter(), db.execute_sql

    def __enter__(self):
        def counted(sql, params=None, *args, **kwargs):
            self.counts[sql.split(None, 1)[0].upper()] += 1
            return self._original(sql, params, *args, **kwargs)

        self.db.execute_sql = counted
        return self.counts

    def __exit__(self, *exc):
        self.db.execute_sql = self._original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=50_000, help="customers who opted in")
    parser.add_argument("--engineers", type=int, default=1_000)
    args = parser.parse_args()

    from helpdesk import config as config_mod, database, scheduler
    from helpdesk.models import DigestSent, Outbox, User, utcnow
    from helpdesk.outgoing.compose import compose

    now = utcnow()
    with tempfile.TemporaryDirectory() as tmp:
        config = config_mod.load_config({"HELPDESK_DATA_DIR": tmp, "HELPDESK_SECRET_KEY": "bench"}, dotenv=None)
        db = database.open_database(config.database_url)
        database.migrate(db)
        start = time.perf_counter()
        populate(db, tickets=args.tickets, customers=args.customers, engineers=args.engineers, now=now)
        print(f"database: {args.tickets:,} tickets, {args.engineers:,} engineers, {args.customers:,} of "
              f"{2 * args.customers:,} customers opted in ({time.perf_counter() - start:.0f} s to build)\n")

        def share(fraction: float) -> None:
            """Make `fraction` of the engineers engineers, and of the customers opted in."""
            engineer_ids = [u.id for u in User.select(User.id).where(User.email.startswith("eng")).order_by(User.id)]
            cut = int(len(engineer_ids) * fraction)
            User.update(role="engineer").where(User.id.in_(engineer_ids[:cut])).execute()
            User.update(role="partner").where(User.id.in_(engineer_ids[cut:])).execute()
            customer_ids = [u.id for u in User.select(User.id).where(User.email.startswith("c")).order_by(User.id)][::2]
            cut = int(len(customer_ids) * fraction)
            User.update(digest_opt_in=True).where(User.id.in_(customer_ids[:cut])).execute()
            User.update(digest_opt_in=False).where(User.id.in_(customer_ids[cut:])).execute()

        def clear() -> None:
            DigestSent.delete().execute()
            Outbox.delete().execute()

        print(f"{'job':<18}{'recipients':>11}{'queued':>8}{'seconds':>9}{'peak MB':>9}   statements")
        for fraction in (0.1, 1.0):
            share(fraction)
            for name in ("engineer_digest", "customer_digest"):
                clear()
                with Counting(db) as counts:
                    start = time.perf_counter()
                    summary = scheduler.JOBS[name].run(config, now)
                    seconds = time.perf_counter() - start
                clear()
                tracemalloc.start()
                scheduler.JOBS[name].run(config, now)
                peak = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
                shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                print(f"{name:<18}{summary.recipients:>11,}{summary.queued:>8,}{seconds:>9.2f}{peak:>9.1f}   {shown}")
        again = time.perf_counter()
        summary = scheduler.JOBS["customer_digest"].run(config, now)
        print(f"\ncustomer_digest run again in the same week: {summary.queued} queued, {summary.already:,} already "
              f"sent, {time.perf_counter() - again:.2f} s")
        rows = list(Outbox.select().limit(1000))
        start = time.perf_counter()
        size = sum(len(compose(config, row)) for row in rows)
        seconds = time.perf_counter() - start
        print(f"rendering at delivery (the sender's compose): {len(rows) / seconds:,.0f} digests/s, "
              f"{size / len(rows) / 1024:.1f} KB each")
        print(f"process peak RSS (database build included): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
