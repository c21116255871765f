"""API benchmark: the ticket list and one ticket through /api/v1, beside the static page and
the same portal pages, in one run on bench/web.py's data set (its builder, reused).

The portal runs under the production server (`helpdesk web --workers 2`: gunicorn, 2 sync
workers) on 127.0.0.1; each page is loaded in turn by `wrk` (when installed) or a Python
load generator in its own process, with a personal token (`Authorization: Bearer`) for
the API and a session cookie for the portal:

  static page        /terms, anonymous (the baseline)
  API ticket list    /api/v1/tickets (customer; staff), first page of 50
  API queue          /api/v1/tickets?queue=unassigned (staff)
  API ticket         /api/v1/tickets/<id>: the ticket with 200 messages (its 50 newest)
  portal             /tickets and /tickets/<id> (customer), for comparison

Before the load, each page is requested in-process (Flask test client) and its SQL
statements are counted: the API's own cost is the token check, the rate-limit count and
the last-use stamp (a few statements per request, one of them a write).

    python bench/api.py [--contracts 100000] [--messages 1000000] [--duration 10] [--connections 4]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _bench_web():
    """bench/web.py (the data set, the server, the load tools), loaded under its own name:
    `web` is the portal's package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_web", Path(__file__).resolve().parent / "web.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_web = _bench_web()

REPO = bench_web.REPO


def make_tokens(data_dir: Path, users: dict[str, str]) -> dict[str, str]:
    """A token with every scope it may have, for each bench user."""
    from helpdesk import config as config_mod, database
    from helpdesk.domain import api_tokens
    from helpdesk.models import User

    config = config_mod.load_config(bench_web.env_for(data_dir), dotenv=None)
    database_ = database.open_database(config.database_url)
    tokens = {}
    for who, email in users.items():
        user = User.get(User.email == email)
        tokens[who] = api_tokens.create(user, ["tickets:read", "tickets:write", "contracts:read"], days=1)[1]
    database_.close()
    return tokens


def in_process(data_dir: Path, pages, headers_of) -> dict:
    """Statements and time of one request of each page (the third one, warm)."""
    from helpdesk import config as config_mod, database
    from helpdesk.web import create_app

    env = {**bench_web.env_for(data_dir), "HELPDESK_API_RATE_LIMIT": "100000000"}
    config = config_mod.load_config(env, dotenv=None)
    app = create_app(config, db=database.open_database(config.database_url))
    client = app.test_client()
    out = {}
    for name, path, who in pages:
        for _ in range(2):
            client.get(path, headers=headers_of(who)).close()
        with bench_web.Statements() as seen:
            started = time.perf_counter()
            response = client.get(path, headers=headers_of(who))
            elapsed = time.perf_counter() - started
        assert response.status_code == 200, (name, response.status_code, response.get_data(as_text=True)[:300])
        out[name] = {"queries": len(seen.seen), "ms": elapsed * 1000, "kb": len(response.data) / 1024}
        response.close()
    return out


def child_load(port: int, path: str, header: str, seconds: float, connections: int) -> dict:
    """bench/web.py's Python load generator, with any one header (token or cookie)."""
    latencies: list[float] = []
    bad, errors = [0], [0]
    deadline = time.perf_counter() + seconds
    name, _, value = header.partition(": ")
    headers = {name: value} if value else {}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (start := time.perf_counter()) < deadline:
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                bad[0] += response.status >= 400
            except (OSError, http.client.HTTPException):
                errors[0] += 1
                conn.close()
                continue
            latencies.append(time.perf_counter() - start)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000 if latencies else 0.0

    return {"requests": len(latencies), "seconds": elapsed, "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "bad_status": bad[0], "socket_errors": errors[0]}


def load(port: int, path: str, header: str, seconds: float, connections: int, script: Path, use_wrk: bool) -> dict:
    if use_wrk:
        command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout",
                   "10s", "--latency", "-s", str(script)] + (["-H", header] if header else [])
        out = subprocess.run(command + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                             check=True).stdout
        return json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    out = subprocess.run([sys.executable, __file__, "--child", str(port), path, header or "-", str(seconds),
                          str(connections)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, help=f"default: --messages / {bench_web.MESSAGES_PER_TICKET}")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per page")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even with wrk")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        port, path, header, seconds, connections = args.child
        print(json.dumps(child_load(int(port), path, "" if header == "-" else header, float(seconds),
                                    int(connections))))
        return
    tickets = args.tickets or max(bench_web.BIG, args.messages // bench_web.MESSAGES_PER_TICKET)
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    server = None
    try:
        print(f"load average {bench_web.load_average()} on {os.cpu_count()} cores; building {args.contracts:,} "
              f"contracts, {tickets:,} tickets with {args.messages:,} messages (bench/web.py's data set) ...",
              flush=True)
        started = time.perf_counter()
        built = bench_web.build(work / "var", args.contracts, tickets, args.messages)
        print(f"  built in {time.perf_counter() - started:.0f} s; database {built['db_mb']:,.0f} MB; "
              f"the long ticket HD-{built['big']} has {bench_web.BIG} messages", flush=True)
        users = {"customer": built["customer"], "staff": built["staff"]}
        tokens = make_tokens(work / "var", users)
        big = built["big"]
        pages = [("static page (/terms, anonymous)", "/terms", ""),
                 ("API: customer ticket list", "/api/v1/tickets", "customer-api"),
                 ("API: staff ticket list", "/api/v1/tickets", "staff-api"),
                 ("API: staff queue unassigned", "/api/v1/tickets?queue=unassigned", "staff-api"),
                 (f"API: customer ticket, {bench_web.BIG} msgs", f"/api/v1/tickets/{big}", "customer-api"),
                 (f"API: staff ticket, {bench_web.BIG} msgs", f"/api/v1/tickets/{big}", "staff-api"),
                 ("portal: customer ticket list", "/tickets", "customer"),
                 (f"portal: customer ticket, {bench_web.BIG} msgs", f"/tickets/{big}", "customer")]

        port = bench_web.free_port()
        env = {**bench_web.env_for(work / "var", port), "HELPDESK_API_RATE_LIMIT": "100000000"}
        server = subprocess.Popen([sys.executable, "-m", "helpdesk.cli", "web", "--workers", str(args.workers)], cwd=work,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        bench_web.wait_for_server(port, server)
        cookies = {who: bench_web.log_in(port, email) for who, email in users.items()}

        def header_of(who: str) -> str:
            if who.endswith("-api"):
                return f"Authorization: Bearer {tokens[who[:-4]]}"
            return f"Cookie: {cookies[who]}" if who else ""

        def headers_of(who: str) -> dict:
            name, _, value = header_of(who).partition(": ")
            return {name: value} if value else {}

        measured = in_process(work / "var", [p for p in pages if p[2].endswith("-api") or not p[2]], headers_of)
        use_wrk = shutil.which("wrk") is not None and not args.python_load
        script = work / "report.lua"
        script.write_text(bench_web.WRK_SCRIPT)
        print(f"\nserver: gunicorn, {args.workers} sync workers; load: "
              f"{'wrk' if use_wrk else 'Python load generator'} ({args.connections} connections), "
              f"{args.duration:g} s per page after {args.warmup:g} s of warm-up", flush=True)
        results = []
        for name, path, who in pages:
            if args.warmup:
                load(port, path, header_of(who), args.warmup, args.connections, script, use_wrk)
            result = load(port, path, header_of(who), args.duration, args.connections, script, use_wrk)
            result.update(name=name, load=os.getloadavg()[0])
            results.append(result)
            print(f"  {name}: {result['requests'] / result['seconds']:.0f} req/s", flush=True)
        static = results[0]["requests"] / results[0]["seconds"]
        print(f"\n{'page':<38}{'req/s':>7}{'median ms':>11}{'p95 ms':>9}{'x static':>10}{'queries':>9}{'KB':>7}"
              f"{'errors':>8}{'load':>6}")
        for r in results:
            rate = r["requests"] / r["seconds"]
            m = measured.get(r["name"], {})
            print(f"{r['name']:<38}{rate:>7.0f}{r['p50_ms']:>11.2f}{r['p95_ms']:>9.2f}{rate / static:>10.2f}"
                  f"{m.get('queries', '-'):>9}{m.get('kb', 0):>7.1f}{r['bad_status'] + r['socket_errors']:>8}"
                  f"{r['load']:>6.1f}")
        print("\nqueries: SQL statements of one request, counted in-process (API pages and the static page). "
              "x static: requests/s as a fraction of the static page's in this run.")
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        if args.keep:
            print(f"data kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
