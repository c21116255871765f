"""Scale benchmark (issue 8): ingest on SQLite and PostgreSQL with 1 and 2 workers, and the
memory of each process after many messages.

The mailboxes are filled by writing into the Dovecot user's Maildir (then one SELECT
indexes them, before any clock starts): the pool of 1,000 messages of the mix again and
again, each round with its own Message-IDs.

Ingest: a private Dovecot (the tests' fixture) gets one mailbox per variant, filled with
the mix of `bench/ingest.py`; each variant is run by worker processes that start
together on that mailbox and one fresh database, each worker with one parsing process:

  ceiling          IMAP fetch plus parse in one process, nothing stored (the baseline)
  SQLite, 1 / 2    the embedded default (WAL), one worker process or two
  PostgreSQL, 1 / 2  a private PostgreSQL 15 on 127.0.0.1 (durable: fsync and
                   synchronous_commit on, as in production), one worker process or two

msg/s is the messages committed over the wall time from the common start to the last
worker's end. Memory (`--memory N`): one worker ingests N messages into PostgreSQL, then
a sender renders and delivers (into the outbox folder) the first 10,000 mails they caused, then the
portal (Flask test client, an engineer signed in) serves the staff queue, the ticket
list, a search and ticket pages; each prints its resident memory (VmRSS) and peak (VmHWM).

    python bench/scale.py [--messages 3000] [--memory 100000] [--sender-mails 10000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.ingest import child_ceiling, make_mix  # noqa: E402


def memory_mb() -> dict:
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {"rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            "peak_mb": round(int(fields["VmHWM"].split()[0]) / 1024, 1)}


def _config(url: str, data_dir: str, database_url: str, parse_workers: int = 1):
    from helpdesk import config as config_mod

    return config_mod.load_config({
        "HELPDESK_DATA_DIR": data_dir, "HELPDESK_MAILBOX_URL": url, "HELPDESK_SECRET_KEY": "bench",
        "HELPDESK_DATABASE_URL": database_url, "HELPDESK_PARSE_WORKERS": str(parse_workers),
    }, dotenv=None)


# --- the measured children ------------------------------------------------------------------


def child_worker(url: str, data_dir: str, database_url: str, start_at: str) -> dict:
    """One worker process: ready its parsers, wait for the common start, run until done."""
    from helpdesk import database
    from helpdesk.inbox_worker.pipeline import Worker

    config = _config(url, data_dir, database_url)
    database.open_database(config.database_url)
    with Worker(config) as worker:
        worker.start_parsers()
        time.sleep(max(0.0, float(start_at) - time.time()))
        summary = worker.run_once()
        ended = time.time()
    return {"messages": summary.processed, "ended": ended, "outcomes": dict(summary.outcomes), **memory_mb()}


def child_sender(data_dir: str, database_url: str, limit: str) -> dict:
    from helpdesk import database
    from helpdesk.outgoing.sender import Sender

    config = _config("maildir:///nonexistent", data_dir, database_url)
    database.open_database(config.database_url)
    sender = Sender(config)
    start = time.perf_counter()
    sent = 0
    while sent < int(limit) and (done := sender.send_due(limit=500)):
        sent += done.get("sent", 0)
    return {"sent": sent, "seconds": time.perf_counter() - start, **memory_mb()}


def child_web(data_dir: str, database_url: str) -> dict:
    import datetime as dt

    from helpdesk import database
    from helpdesk.domain import passwords
    from helpdesk.models import Role, Ticket, User
    from helpdesk.web import create_app
    from tests.portal import Portal

    config = _config("maildir:///nonexistent", data_dir, database_url)
    db = database.open_database(config.database_url)
    User.create(email="bench-engineer@helpdesk.localhost", role=Role.ENGINEER.value, is_active=True,
                password_hash=passwords.hash_password("bench password 1"), activated_at=dt.datetime(2026, 1, 1))
    app = create_app(config, db=db)
    portal = Portal(app)
    assert portal.post("/login", {"email": "bench-engineer@helpdesk.localhost",
                                  "password": "bench password 1"}).status_code == 302
    ids = [t.id for t in Ticket.select(Ticket.id).order_by(Ticket.id.desc()).limit(50)]
    pages = ["/staff?queue=all", "/staff?queue=new", "/tickets", "/staff?queue=all&q=drukarka",
             "/tickets?q=licencja"] + [f"/staff/tickets/{i}" for i in ids]
    start = time.perf_counter()
    served = 0
    for _ in range(4):
        for page in pages:
            response = portal.get(page)
            assert response.status_code == 200, (page, response.status_code)
            served += 1
    return {"requests": served, "seconds": time.perf_counter() - start, **memory_mb()}


def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_workers(count: int, url: str, data_dir: str, database_url: str) -> dict:
    """`count` worker processes on one mailbox and one database, started together."""
    from helpdesk import database

    database.migrate(database.open_database(database_url))  # as `helpdesk init-db` would, before
    start_at = time.time() + 5  # time for every worker to start its parsers
    procs = [subprocess.Popen([sys.executable, __file__, "--child", "worker", url, data_dir, database_url,
                               str(start_at)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(count)]
    results = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a worker failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return {"messages": sum(r["messages"] for r in results), "seconds": max(r["ended"] for r in results) - start_at,
            "per_worker": [r["messages"] for r in results], "rss_mb": max(r["rss_mb"] for r in results)}


# --- the parent -------------------------------------------------------------------------------


POOL = 1000


def messages(count: int, pool: list[bytes]):
    """`count` messages: the pool of the mix again and again, each round with its own
    Message-IDs (replies refer to messages of their own round)."""
    for n in range(count):
        yield pool[n % POOL].replace(b"<bench-", f"<bench{n // POOL}-".encode())


def fill_maildir(server, url: str, raws) -> None:
    """Deliver straight into the user's Maildir (as a local delivery agent would): much
    faster than APPEND for 100,000 messages. Dovecot indexes them at the first SELECT,
    done here, before any clock starts."""
    import shutil
    from urllib.parse import urlsplit

    home = server.base_dir / "home" / urlsplit(url).username / "mail"
    for sub in ("cur", "new", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    for n, raw in enumerate(raws):
        (home / "new" / f"1764000000.M{n}P1.bench").write_bytes(raw)
    if os.geteuid() == 0:
        for path in [home.parent, home, *home.iterdir(), *(home / "new").iterdir()]:
            shutil.chown(path, "nobody", "nogroup")
    with server.client(url, select=True):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--memory", type=int, default=0, help="messages for the memory run (0: none)")
    parser.add_argument("--sender-mails", type=int, default=10_000, help="mails the sender delivers in the memory run")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = {"ceiling": child_ceiling, "worker": child_worker, "sender": child_sender,
                  "web": child_web}[kind](*rest)
        if kind == "ceiling":
            result.update(memory_mb())
        print(json.dumps(result))
        return

    from tests.dovecot import Dovecot, dovecot_binary
    from tests.postgres import start_cluster, stop_cluster

    binary = dovecot_binary()
    if binary is None:
        raise SystemExit("Dovecot is needed: apt-get install dovecot-imapd (or run scripts/test once as root)")
    print(f"{args.messages} messages per ingest variant, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        os.chmod(tmp, 0o755)  # Dovecot's auth process reads the passwd-file below it
        server = Dovecot(binary, Path(tmp) / "dovecot")
        (Path(tmp) / "dovecot").mkdir()
        server.start()
        cluster = start_cluster(durable=True)
        try:
            pool = make_mix(POOL)

            def filled(count: int) -> str:
                url = server.new_mailbox()
                fill_maildir(server, url, messages(count, pool))
                return url

            def sqlite_url(data: str) -> str:
                return f"sqlite:///{data}/helpdesk.sqlite3"

            results = {"ceiling": run_child("ceiling", filled(args.messages))}
            for backend in ("SQLite", "PostgreSQL"):
                for workers in (1, 2):
                    data = tempfile.mkdtemp(dir=tmp)
                    url = cluster.new_database(migrated=False) if backend == "PostgreSQL" else sqlite_url(data)
                    results[f"{backend}, {workers} worker{'s' if workers > 1 else ''}"] = run_workers(
                        workers, filled(args.messages), data, url)
            memory = None
            if args.memory:
                data = tempfile.mkdtemp(dir=tmp)
                url = cluster.new_database(migrated=False)
                print(f"memory run: filling a mailbox with {args.memory} messages ...", flush=True)
                mailbox = filled(args.memory)
                memory = {"worker": run_workers(1, mailbox, data, url)}
                memory["sender"] = run_child("sender", data, url, str(args.sender_mails))
                memory["web"] = run_child("web", data, url)
        finally:
            stop_cluster(cluster)
            server.stop()

    ceiling = results["ceiling"]["messages"] / results["ceiling"]["seconds"]
    print("\nmsg/s: committed messages per second over the wall time (ceiling: fetched and parsed "
          "in one process, nothing stored); MB: the largest worker's resident memory at the end")
    print(f"\n{'variant':<26}{'msg/s':>8}{'x ceiling':>11}{'per worker':>14}{'MB':>8}")
    for name, r in results.items():
        rate = r["messages"] / r["seconds"]
        split = "/".join(str(n) for n in r.get("per_worker", [r["messages"]]))
        print(f"{name:<26}{rate:>8.0f}{rate / ceiling:>11.2f}{split:>14}{r['rss_mb']:>8.1f}")
    if memory:
        w, s, p = memory["worker"], memory["sender"], memory["web"]
        print(f"\nafter {w['messages']} messages on PostgreSQL ({w['messages'] / w['seconds']:.0f} msg/s):")
        print(f"  worker  RSS {w['rss_mb']:.1f} MB (parsing processes not counted)")
        print(f"  sender  RSS {s['rss_mb']:.1f} MB, peak {s['peak_mb']:.1f} MB, after sending {s['sent']} mails "
              f"({s['sent'] / s['seconds']:.0f}/s into the outbox folder)")
        print(f"  portal  RSS {p['rss_mb']:.1f} MB, peak {p['peak_mb']:.1f} MB, after {p['requests']} requests "
              f"(staff queue, ticket list, search, ticket pages; {p['requests'] / p['seconds']:.0f}/s in-process)")


if __name__ == "__main__":
    main()
