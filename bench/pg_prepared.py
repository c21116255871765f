"""What PostgreSQL's prepared statements give the portal: the same pages served with them
(HELPDESK_DATABASE_PREPARED=on, the default) and without (off: every statement sent whole,
parsed and planned each time), alternately, in one run.

Reuses a data set of `bench/web_pg.py --reuse DIR` (build one first). Two portals run at
once on the same database, each under gunicorn with 2 sync workers; each page is loaded
on one, then the other, `--rounds` times (the order swapped every round), with the Python
load generator (4 keep-alive connections). It prints, per page, the median requests/s
and p95 of each and their ratio (on / off), and each one's statements' time in-process
(with and without, the median of 30 requests). The static page uses no database: its
ratio shows how far apart two identical portals come out in the run.

    python bench/pg_prepared.py --reuse DIR [--rounds 4] [--duration 4] [--only TEXT ...]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


# the pages of bench/web.py measured here: those whose statements differ most in kind
MEASURED = ("static page (/terms, anonymous)", "customer: dashboard", "customer: contract list",
            "customer: tickets, active", "customer: ticket list", "staff: dashboard", "staff: queue all",
            "staff: queue due soonest", "staff: ticket, 200 messages", "customer: ticket, 200 messages",
            "staff: reports, 12 weeks", "customer: knowledge base", "partner: customers' tickets")


def in_process_times(work: Path, users: dict, chosen: list, prepared: bool) -> dict:
    """Per page, the CPU and wall time of one request in-process (median of 30), the portal's
    database opened with server-side preparation on or off."""
    from bench import web
    from helpdesk import database

    opened = database.open_database
    # the app opens its database through open_configured, then open_database: the switch, for this measurement only
    database.open_database = lambda *a, **k: opened(*a, **{**k, "server_prepared": prepared})
    try:
        measured = web.in_process(work, users, chosen)
    finally:
        database.open_database = opened
    return {key: (m["request_ms"], m["cpu_ms"]) for key, m in measured.items() if isinstance(key, tuple)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reuse", type=Path, required=True, help="a data set of bench/web_pg.py --reuse")
    parser.add_argument("--rounds", type=int, default=4, help="each portal goes first in half of them")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of load per page, portal and round")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--only", nargs="+", metavar="TEXT", help="the pages whose names contain one of these")
    args = parser.parse_args()
    if not (args.reuse / "built.json").exists():
        sys.exit(f"{args.reuse}: no data set (build one with bench/web_pg.py --reuse {args.reuse})")

    from bench import web
    from tests.postgres import start_cluster, stop_cluster

    cluster = start_cluster(durable=True, directory=args.reuse / "pg")
    servers: list[subprocess.Popen] = []
    try:
        os.environ["HELPDESK_BENCH_DATABASE_URL"] = cluster.url("bench")
        built = json.loads((args.reuse / "built.json").read_text())
        var = args.reuse / "var"
        web.migrate(var)
        extras = web.add_extras(var)
        chosen = [page for page in web.pages_of(built, extras) if page[0] in MEASURED]
        if args.only:
            chosen = chosen[:1] + [p for p in chosen[1:] if any(text in p[0] for text in args.only)]
        users = {"customer": built["customer"], "staff": built["staff"], "partner": extras["partner"]}
        print(f"load average {web.load_average()} on {os.cpu_count()} cores; PostgreSQL 15 on 127.0.0.1:"
              f"{cluster.port}, the data set of {args.reuse}", flush=True)
        inproc = {flag: in_process_times(var, users, chosen, flag) for flag in (True, False)}

        ports = {}
        for flag in ("on", "off"):
            port = web.free_port()
            env = {**web.env_for(var, port), "HELPDESK_DATABASE_PREPARED": flag}
            server = subprocess.Popen([sys.executable, "-m", "helpdesk.cli", "web", "--workers", "2"], cwd=args.reuse,
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            servers.append(server)
            web.wait_for_server(port, server)
            ports[flag] = port
        cookies = {flag: {"": "", **{who: web.log_in(port, email) for who, email in users.items()}}
                   for flag, port in ports.items()}
        print(f"load: Python load generator, 4 keep-alive connections, {args.duration:g} s per page and portal, "
              f"{args.rounds} rounds alternately\n", flush=True)
        results: dict[tuple[str, str], list[dict]] = {}
        for name, path, who in chosen:
            for flag, port in ports.items():
                status, _, _ = web.request(port, "GET", path, cookie=cookies[flag][who])
                assert status == 200, (name, flag, status)
                web.load_python(port, path, cookies[flag][who], args.warmup, 4)
            for round_ in range(args.rounds):
                for flag in (("on", "off") if round_ % 2 == 0 else ("off", "on")):
                    result = web.load_python(ports[flag], path, cookies[flag][who], args.duration, 4)
                    results.setdefault((name, flag), []).append(result)
            print(f"  {name}: done", flush=True)

        print(f"\n{'page':<34}{'req/s on':>9}{'req/s off':>10}{'on/off':>8}{'p95 on':>8}{'p95 off':>8}"
              f"{'wall ms on':>11}{'wall ms off':>12}{'CPU on':>8}{'CPU off':>8}")
        for name, path, who in chosen:
            rate = {flag: statistics.median(r["requests"] / r["seconds"] for r in results[name, flag])
                    for flag in ports}
            p95 = {flag: statistics.median(r["p95_ms"] for r in results[name, flag]) for flag in ports}
            (wall_on, cpu_on), (wall_off, cpu_off) = inproc[True][path, who], inproc[False][path, who]
            print(f"{name:<34}{rate['on']:>9.0f}{rate['off']:>10.0f}{rate['on'] / rate['off']:>8.2f}"
                  f"{p95['on']:>8.1f}{p95['off']:>8.1f}{wall_on:>11.1f}{wall_off:>12.1f}{cpu_on:>8.1f}{cpu_off:>8.1f}")
        print("\nreq/s and p95: the median of the rounds under load; wall ms and CPU: one request in-process (the "
              "median of 30; PostgreSQL's own work is in the wall time, not in this process's CPU). "
              f"Load average at the end: {web.load_average()}.")
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        stop_cluster(cluster, keep=True)


if __name__ == "__main__":
    main()
