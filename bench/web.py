"""Portal benchmark: requests/second and latency of the contract pages under load.

With 100,000 contracts and 300,000 device lines (and 10,000 tickets) in a throwaway data
dir, the portal runs under the production server (`helpdesk web --workers 2`: gunicorn,
2 sync workers) on 127.0.0.1, and a load tool on loopback requests, one page at a time:

  static page     /terms, anonymous: a template and no database (the baseline)
  dashboard       /dashboard
  contract list   /contracts (current contracts, first page of 50)
  search          /contracts?q=lodz (FTS5; about a quarter of all contracts have a line in Łódź)

each as a customer who has verified the 50 contracts of its company (the typical view)
and as staff, who see all 100,000 (the worst case). The load tool is `wrk` (Debian's
`wrk`, with a Lua script printing percentiles) when installed, else a Python load
generator in a separate process; the output says which.

    python bench/web.py [--contracts 100000] [--duration 10] [--connections 4]
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PASSWORD = "bench password 1"
CITIES = ["Warszawa", "Kraków", "Łódź", "Wrocław", "Poznań", "Gdańsk", "Szczecin", "Lublin", "Katowice", "Białystok"]
MODELS = ["Rejestrator NVR-16", "Kamera IP-4K", "Centrala alarmowa", "Czujnik ruchu", "Zasilacz UPS",
          "Switch PoE 24", "Licencja VMS", "Kontroler dostępu", "Router LTE", "Serwer rack 2U"]
STREETS = ["Piotrkowska", "Długa", "Zielona", "Polna", "Leśna", "Słoneczna", "Krótka", "Szkolna", "Ogrodowa"]
LINES_PER_CONTRACT = 3
CONTRACTS_PER_COMPANY = 50

WRK_SCRIPT = r"""
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, ' ..
    '"bad_status": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


# --- the data set ----------------------------------------------------------------------------


def build(data_dir: Path, contracts: int, seed: int = 11) -> dict:
    """Fill a fresh database with insert_many; returns what the load needs to know."""
    import config as config_mod
    import database
    from domain import passwords
    from models import Company, Contract, ContractAccess, DeviceLine, Role, Ticket, User, db
    from peewee import chunked

    config = config_mod.load_config(env_for(data_dir), dotenv=None)
    database_ = database.open_database(config.database_url)
    database.migrate(database_)
    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    today = now.date()
    companies = max(1, contracts // CONTRACTS_PER_COMPANY)
    started = time.perf_counter()
    with db.atomic():
        for rows in chunked(({"nip": f"{1000000000 + i}", "name": f"Firma {i} Sp. z o.o.", "created_at": now}
                             for i in range(1, companies + 1)), 500):
            Company.insert_many(rows).execute()
        company_ids = [c for (c,) in Company.select(Company.id).order_by(Company.id).tuples()]

        def contract_rows():
            for i in range(1, contracts + 1):
                starts = today - dt.timedelta(days=rng.randint(0, 3 * 365))
                ends = starts + dt.timedelta(days=rng.choice([365, 730, 1095]))
                company = company_ids[(i - 1) % companies]
                yield {"number": f"K{i:06d}", "company": company, "customer_name": f"Firma {company} Sp. z o.o.",
                       "service_level": rng.choice(["NBD", "4h", "8x5"]), "starts_on": starts, "ends_on": ends,
                       "created_at": now}

        for rows in chunked(contract_rows(), 500):
            Contract.insert_many(rows).execute()

        def line_rows():
            for contract in range(1, contracts + 1):
                for j in range(LINES_PER_CONTRACT):
                    yield {"contract": contract, "model": rng.choice(MODELS),
                           "serial": f"SN-{contract:06d}-{j}{rng.randrange(16 ** 4):04X}",
                           "address": f"ul. {rng.choice(STREETS)} {rng.randint(1, 200)}, {rng.choice(CITIES)}"}

        for rows in chunked(line_rows(), 500):
            DeviceLine.insert_many(rows).execute()
        customer_company = company_ids[0]
        customer = User.create(email="customer@bench.example", first_name="Anna", last_name="Klient",
                               company=customer_company, role=Role.CUSTOMER.value, is_active=True,
                               activated_at=now, password_hash=passwords.hash_password(PASSWORD))
        staff = User.create(email="staff@bench.example", first_name="Jan", last_name="Serwis",
                            role=Role.ENGINEER.value, is_active=True, activated_at=now,
                            password_hash=passwords.hash_password(PASSWORD))
        own = [c for (c,) in Contract.select(Contract.id).where(Contract.company == customer_company).tuples()]
        ContractAccess.insert_many([{"user": customer.id, "contract": c, "granted_at": now} for c in own]).execute()

        def ticket_rows():
            for i in range(10_000):
                contract = rng.randint(1, contracts) if i % 10 else rng.choice(own)
                yield {"subject": f"Zgłoszenie {i}", "status": "closed" if rng.random() < 0.8 else "open",
                       "requester_email": "klient@bench.example", "contract": contract,
                       "created_at": now - dt.timedelta(minutes=i), "updated_at": now - dt.timedelta(minutes=i)}

        for rows in chunked(ticket_rows(), 500):
            Ticket.insert_many(rows).execute()
    inserted = time.perf_counter() - started
    started = time.perf_counter()
    how = index_contracts(contracts)
    indexed = time.perf_counter() - started
    db.execute_sql("ANALYZE")
    database_.close()
    return {"companies": companies, "customer_contracts": len(own), "insert_s": inserted, "index_s": indexed,
            "index_how": how, "staff": staff.email, "customer": customer.email}


def index_contracts(contracts: int) -> str:
    """Fill the FTS5 `contract_search` table: domain.contracts.reindex when it is there."""
    ids = range(1, contracts + 1)
    try:
        from domain.contracts import reindex
    except ImportError:
        reindex = None
    if reindex is not None:
        reindex(ids)
        return "domain.contracts.reindex"
    from models import Contract, DeviceLine, db  # an older tree: one plain document per contract

    bodies: dict[int, list[str]] = {}
    for contract, number, customer in Contract.select(Contract.id, Contract.number, Contract.customer_name).tuples():
        bodies[contract] = [number, number[1:], customer]
    for contract, model, serial, address in DeviceLine.select(
            DeviceLine.contract, DeviceLine.model, DeviceLine.serial, DeviceLine.address).tuples():
        bodies[contract] += [model, serial, address]
    with db.atomic():
        db.connection().executemany("INSERT INTO contract_search (rowid, body) VALUES (?, ?)",
                                    ((k, " ".join(v).lower()) for k, v in bodies.items()))
    return "filled here"


# --- the server and the sessions -------------------------------------------------------------------


def env_for(data_dir: Path, port: int = 0) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(data_dir), HELPDESK_SECRET_KEY="bench-secret",
               HELPDESK_WEB_LISTEN=f"127.0.0.1:{port}", HELPDESK_BASE_URL=f"http://127.0.0.1:{port}",
               HELPDESK_LOG_LEVEL="WARNING", PYTHONPATH=str(REPO))
    if os.environ.get("HELPDESK_BENCH_DATABASE_URL"):  # bench/web_pg.py: the same on PostgreSQL
        env["HELPDESK_DATABASE_URL"] = os.environ["HELPDESK_BENCH_DATABASE_URL"]
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, *, cookie: str = "", body: str = "") -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body or None, headers=headers)
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, text


def session_cookie(headers: dict) -> str:
    match = re.search(r"(helpdesk_session=[^;]+)", headers.get("set-cookie", ""))
    assert match, f"no session cookie in {headers}"
    return match.group(1)


def log_in(port: int, email: str) -> str:
    status, headers, html = request(port, "GET", "/login")
    cookie = session_cookie(headers)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": PASSWORD, "next": ""})
    status, headers, _ = request(port, "POST", "/login", cookie=cookie, body=form)
    assert status == 302 and headers["location"].endswith("/dashboard"), (status, headers)
    return session_cookie(headers)


def wait_for_server(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited: {process.stderr.read()}")
        try:
            request(port, "GET", "/login")
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("the server did not answer within 60 s")


# --- the load ------------------------------------------------------------------------------------------


def load_wrk(port: int, path: str, cookie: str, seconds: float, connections: int, script: Path) -> dict:
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--latency", "-s", str(script)]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(command + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.split("RESULT ", 1)[1].splitlines()[0])


def child_load(port: int, path: str, cookie: str, seconds: float, connections: int) -> dict:
    """The Python load generator (in its own process): `connections` threads, each with
    one keep-alive connection, requesting `path` for `seconds`."""
    latencies: list[float] = []
    bad = [0]
    errors = [0]
    deadline = time.perf_counter() + seconds
    headers = {"Cookie": cookie} if cookie else {}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            start = time.perf_counter()
            if start >= deadline:
                break
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    bad[0] += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
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


def load_python(port: int, path: str, cookie: str, seconds: float, connections: int, script=None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(port), path, cookie or "-", str(seconds),
                          str(connections)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


# --- main ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per page")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load per page before measuring")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even with wrk")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        port, path, cookie, seconds, connections = args.child
        print(json.dumps(child_load(int(port), path, "" if cookie == "-" else cookie, float(seconds),
                                    int(connections))))
        return

    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    server = None
    try:
        print(f"building {args.contracts:,} contracts, {args.contracts * LINES_PER_CONTRACT:,} device lines, "
              f"10,000 tickets in {work} ...", flush=True)
        built = build(work / "var", args.contracts)
        print(f"  inserted in {built['insert_s']:.1f} s (insert_many), search index in {built['index_s']:.1f} s "
              f"({built['index_how']}); the customer sees {built['customer_contracts']} contracts of its company, "
              f"staff all {args.contracts:,}", flush=True)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "cli", "web", "--workers", str(args.workers)],
                                  cwd=work, env=env_for(work / "var", port), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        wait_for_server(port, server)
        cookies = {"customer": log_in(port, built["customer"]), "staff": log_in(port, built["staff"])}
        use_wrk = shutil.which("wrk") is not None and not args.python_load
        load = load_wrk if use_wrk else load_python
        script = work / "report.lua"
        script.write_text(WRK_SCRIPT)
        tool = (f"wrk (2 threads, {args.connections} connections)" if use_wrk else
                f"Python load generator in a separate process ({args.connections} keep-alive connections; "
                "wrk is not installed)")
        print(f"server: gunicorn, {args.workers} sync workers (helpdesk web --workers {args.workers}); "
              f"load: {tool}; {args.duration:g} s per page after {args.warmup:g} s of warm-up; {os.cpu_count()} cores")

        pages = [("static page (/terms, anonymous)", "/terms", "")]
        for who in ("customer", "staff"):
            pages += [(f"{who}: dashboard", "/dashboard", cookies[who]),
                      (f"{who}: contract list", "/contracts", cookies[who]),
                      (f"{who}: search 'lodz'", "/contracts?q=lodz", cookies[who])]
        results = []
        for name, path, cookie in pages:
            status, _, html = request(port, "GET", path, cookie=cookie)
            assert status == 200 and (not cookie or "/logout" in html), (name, status)
            if args.warmup:
                load(port, path, cookie, args.warmup, args.connections, script)
            result = load(port, path, cookie, args.duration, args.connections, script)
            result.update(name=name, path=path, kb=len(html.encode()) / 1024)
            results.append(result)
            print(f"  {name}: {result['requests'] / result['seconds']:.0f} req/s", flush=True)

        static = results[0]
        print(f"\n{'page':<34}{'req/s':>8}{'median ms':>11}{'p95 ms':>9}{'p99 ms':>9}{'x static':>10}{'KB':>7}"
              f"{'errors':>8}")
        for r in results:
            rate = r["requests"] / r["seconds"]
            print(f"{r['name']:<34}{rate:>8.0f}{r['p50_ms']:>11.2f}{r['p95_ms']:>9.2f}{r['p99_ms']:>9.2f}"
                  f"{rate / (static['requests'] / static['seconds']):>10.2f}{r['kb']:>7.1f}"
                  f"{r['bad_status'] + r['socket_errors']:>8}")
        print("\nx static: requests/s as a fraction of the static page's in this run.")
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
