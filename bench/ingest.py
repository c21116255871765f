"""Ingest benchmark: messages/second from an IMAP mailbox to committed tickets.

Fills a private Dovecot (the same one the tests start) with a mix of messages (plain,
HTML, attachments, Polish charsets, replies) and measures, in the same run:

  ceiling    IMAP fetch (BODY.PEEK[], batches of 100) plus parse, one process, no database;
             measured twice, first and last, since it moves from run to run on a shared
             machine: the ratios are against the mean of the two (and the default worker's
             against the higher one too)
  unbatched  the worker with one message per fetch and per transaction, parsing in-process
  worker     the worker in batches of 100, parsing in-process or in 1, 2 or 4 processes

Each variant runs in its own process on its own copy of the mailbox and a fresh SQLite
database; its peak memory (VmHWM, and that of a parsing process) is read at the end, and
its CPU time. The worker also runs on half the messages, so memory growth shows.

    python bench/ingest.py [--messages 3000] [--quick]

--quick runs the ceiling, the default worker (2 parsing processes) and the ceiling again.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WORDS = ("drukarka nie działa zgłoszenie umowa serwis urządzenie licencja klucz błąd "
         "aktualizacja połączenie sieć kamera rejestrator alarm czujnik zasilanie").split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_mix(count: int, seed: int = 7) -> list[bytes]:
    """A helpdesk-like mix, about 37 KB a message on average."""
    rng = random.Random(seed)
    out: list[bytes] = []
    for i in range(count):
        kind = rng.choices(["plain", "latin2", "cp1250", "html", "attachment", "reply"],
                           weights=[25, 10, 10, 20, 15, 20])[0]
        msg = EmailMessage()
        msg["From"] = f"Klient {i % 97} <klient{i % 97}@firma{i % 13}.pl>"
        msg["To"] = "support@helpdesk.localhost"
        msg["Subject"] = f"Zgłoszenie {i}: {sentence(rng, 4)}"
        msg["Date"] = format_datetime(dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i))
        msg["Message-ID"] = f"<bench-{i}@firma.pl>"
        body = "\n\n".join(sentence(rng, rng.randint(20, 60)) for _ in range(rng.randint(20, 60)))
        if kind == "reply" and i > 0:
            parent = rng.randrange(max(0, i - 50), i)
            msg["In-Reply-To"] = f"<bench-{parent}@firma.pl>"
            msg["References"] = f"<bench-{parent}@firma.pl>"
            msg.replace_header("Subject", f"Re: Zgłoszenie {parent}")
            body += "\n\n> " + "\n> ".join(body.splitlines()[:40])
        if kind == "latin2":
            msg.set_content(body, charset="iso-8859-2")
        elif kind == "cp1250":
            msg.set_content(body, charset="windows-1250")
        elif kind == "html":
            html = "<html><body>" + "".join(f"<p>{p}</p>" for p in body.split("\n\n")) + \
                   "<script>alert(1)</script><img src='http://tracker.example/x.png'></body></html>"
            msg.set_content(body)
            msg.add_alternative(html, subtype="html")
        else:
            msg.set_content(body)
        if kind == "attachment":
            payload = rng.randbytes(rng.randint(20_000, 200_000))
            msg.add_attachment(payload, maintype="application", subtype="pdf", filename=f"faktura-{i}.pdf")
        out.append(msg.as_bytes())
    return out


# --- the measured children ------------------------------------------------------------------


def peak_memory_mb() -> dict:
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"main_mb": round(hwm / 1024, 1), "parse_process_mb": round(children / 1024, 1)}


def child_ceiling(url: str) -> dict:
    from helpdesk.config import parse_mailbox_url
    from helpdesk.inbox_worker.imap import ImapSource
    from helpdesk.inbox_worker.parse import parse

    source = ImapSource(parse_mailbox_url(url), batch=100)
    source.open()
    start = time.perf_counter()
    cpu = time.process_time()
    uids = source.pending()
    n = 0
    for fetched in source.fetch(uids, 25 * 1024 * 1024):
        parse(fetched.raw)
        n += 1
    elapsed = time.perf_counter() - start
    busy = (time.process_time() - cpu) / elapsed
    source.close()
    return {"messages": n, "seconds": elapsed, "main_busy": busy}


def child_worker(url: str, data_dir: str, batch: int, parse_workers: int) -> dict:
    from helpdesk import config as config_mod, database
    from helpdesk.inbox_worker.pipeline import Worker

    config = config_mod.load_config({
        "HELPDESK_DATA_DIR": data_dir, "HELPDESK_MAILBOX_URL": url, "HELPDESK_SECRET_KEY": "bench",
        "HELPDESK_FETCH_BATCH": str(batch), "HELPDESK_PARSE_WORKERS": str(parse_workers),
    }, dotenv=None)
    db = database.open_database(config.database_url)
    database.migrate(db)
    with Worker(config) as worker:
        worker.start_parsers()  # steady state, as in a long-running worker: not timed
        start = time.perf_counter()
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        summary = worker.run_once()
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
    # The parsers, ended by the `with` (their start-up is counted here too).
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = (after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime) / elapsed
    return {"messages": summary.processed, "seconds": elapsed, "outcomes": dict(summary.outcomes),
            "main_busy": busy, "parsers_busy": (children.ru_utime + children.ru_stime) / elapsed}


def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the parent -------------------------------------------------------------------------------

DEFAULT = "worker, 2 parsing processes"
# (name, half the messages?, messages a batch, parsing processes)
VARIANTS = (("unbatched", False, 1, 0), ("worker, in-process parse", False, 100, 0),
            ("worker, 1 parsing process", False, 100, 1), (DEFAULT, False, 100, 2),
            ("worker, 4 parsing processes", False, 100, 4), ("worker, half the messages", True, 100, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--quick", action="store_true",
                        help="only the ceiling, the default worker and the ceiling again")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = child_ceiling(*rest) if kind == "ceiling" else child_worker(
            rest[0], rest[1], int(rest[2]), int(rest[3]))
        print(json.dumps({**result, **peak_memory_mb()}))
        return

    from tests.dovecot import Dovecot, dovecot_binary

    binary = dovecot_binary()
    if binary is None:
        raise SystemExit("Dovecot is needed: apt-get install dovecot-imapd (or run scripts/test once as root)")
    mix = make_mix(args.messages)
    half = mix[: len(mix) // 2]
    size = sum(map(len, mix))
    print(f"{len(mix)} messages, {size / len(mix) / 1024:.1f} KB on average, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        os.chmod(tmp, 0o755)  # Dovecot's auth process reads the passwd-file below it
        server = Dovecot(binary, Path(tmp) / "dovecot")
        (Path(tmp) / "dovecot").mkdir()
        server.start()
        try:
            def filled(messages) -> str:
                url = server.new_mailbox()
                with server.client(url) as c:
                    for raw in messages:
                        c.append("INBOX", raw)
                # The mailbox on disk before the clock starts: otherwise the kernel writes it
                # back (and the variant before's files) while the next variant is measured.
                os.sync()
                return url

            variants = [v for v in VARIANTS if not args.quick or v[0] == DEFAULT]
            results = {"ceiling, first": run_child("ceiling", filled(mix))}
            for name, first_half, batch, workers in variants:
                data = tempfile.mkdtemp(dir=tmp)
                results[name] = run_child("worker", filled(half if first_half else mix), data, str(batch),
                                          str(workers))
            results["ceiling, last"] = run_child("ceiling", filled(mix))
        finally:
            server.stop()

    report(results)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def rate(result: dict) -> float:
    return result["messages"] / result["seconds"]


def report(results: dict) -> None:
    first, last = rate(results["ceiling, first"]), rate(results["ceiling, last"])
    ceiling = (first + last) / 2
    print("\nmsg/s: committed messages per second (ceiling: fetched and parsed, nothing stored); "
          "x ceiling: against the mean of the two ceilings; MB: peak resident memory; "
          "busy: CPU time / wall time (100% = one core)")
    print(f"\n{'variant':<28}{'msg/s':>8}{'x ceiling':>11}{'main MB':>9}{'parser MB':>11}{'main busy':>11}"
          f"{'parsers busy':>14}")
    for name, r in results.items():
        busy = f"{r['main_busy']:.0%}" if "main_busy" in r else "-"
        parsers = f"{r['parsers_busy']:.0%}" if "parsers_busy" in r else "-"
        print(f"{name:<28}{rate(r):>8.0f}{rate(r) / ceiling:>11.2f}{r['main_mb']:>9.1f}"
              f"{r['parse_process_mb']:>11.1f}{busy:>11}{parsers:>14}")
    spread = abs(first - last) / ceiling
    print(f"\nceiling: {first:.0f} first, {last:.0f} last msg/s (they differ by {spread:.0%} of their mean {ceiling:.0f})")
    if DEFAULT in results:
        worker = rate(results[DEFAULT])
        print(f"{DEFAULT}: {worker / ceiling:.2f} of the mean ceiling, {worker / max(first, last):.2f} of the "
              f"higher one")
    for name, r in results.items():
        if "outcomes" in r:
            print(f"  {name}: {r['outcomes']}")


if __name__ == "__main__":
    main()
