"""Portal benchmark: requests/second, latency and SQL statements of the portal's pages.

In a throwaway data dir: 100,000 contracts with 300,000 device lines, and 1,000,000
messages on 50,000 tickets (with participants, status changes and attachments); the
customer of the bench asked about a hundred of those tickets, about two hundred more are
on its verified contracts and thirty have it as a CC; one of its tickets has 200
messages. The portal runs under the production server (`helpdesk web --workers 2`:
gunicorn, 2 sync workers) on 127.0.0.1, and a load tool on loopback requests, one page
at a time:

  static page     /terms, anonymous: a template and no database (the baseline)
  signed in       /terms as the customer: the floor of every signed-in page (session, user, navigation)
  dashboard       /dashboard
  contract list   /contracts (current contracts, first page of 50)
  search          /contracts?q=lodz (FTS5; about a quarter of all contracts have a line in Łódź)
  ticket list     /tickets and /tickets?status=active (customer), /staff?queue=unassigned
                  and /staff?queue=all (staff): first page of 50
  due soonest     /staff (the engineers' default: open tickets, next service-level deadline
                  first) and /staff?queue=all&sort=due (every ticket by due time)
  reports         /staff/reports (six reports over twelve weeks: their tables) and one of
                  its charts, /staff/reports/response_times.svg (pygal)
  long ticket     /tickets/<id> and /staff/tickets/<id>: the ticket with 200 messages

the contract pages as a customer who has verified the 50 contracts of its company (the
typical view) and as staff, who see all of them (the worst case). The load tool is `wrk`
(Debian's `wrk`, with a Lua script printing percentiles) when installed, else a Python
load generator in a separate process; the output says which.

Before the load, each page is requested in-process (Flask test client, same database):
the SQL statements one request runs are counted (a page must not run one per row), each
is run again on its own for its time, and the slowest is shown with its query plan;
`--profile` adds a cProfile of one request of the slowest page (or of the pages named).

    python bench/web.py [--contracts 100000] [--messages 1000000] [--tickets N]
                        [--duration 10] [--connections 4] [--profile ['staff: ticket' ...]]
"""
from __future__ import annotations

import argparse
import array
import datetime as dt
import http.client
import itertools
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import statistics
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
PROBLEMS = ["nie działa", "brak obrazu", "błąd licencji", "restartuje się", "brak połączenia", "alarm sabotażowy",
            "prośba o aktualizację", "wymiana dysku", "hasło administratora", "zgłoszenie serwisowe"]
WORDS = ("drukarka nie działa zgłoszenie umowa serwis urządzenie licencja klucz błąd aktualizacja połączenie "
         "sieć kamera rejestrator alarm czujnik zasilanie proszę o pomoc dziękuję pozdrawiam wczoraj dzisiaj "
         "technik wizyta obraz nagrania dysk hasło").split()
LINES_PER_CONTRACT = 3
CONTRACTS_PER_COMPANY = 50
TICKET_DAYS = 730  # tickets were opened over the last two years
MESSAGES_PER_TICKET = 20  # --tickets defaults to --messages / 20
BIG = 200  # messages on the customer's long ticket
BIG_DAYS = 300  # ... written over the last ten months
DEEP_PAGE = 900  # of the staff queue "all" (50 a page): followed by its cursor, as the "Older" links do
DEEP_CONTRACTS = {"list": 1000, "archive": 600, "lodz": 300}  # staff's contract lists: the deep page measured
ENGINEERS = 10
SLA_DAYS = 120  # tickets opened this recently get their service-level clocks (the reports' 12 weeks)
KINDS, KIND_WEIGHTS = ["customer", "staff", "note", "system"], [45, 40, 12, 3]

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


def build(data_dir: Path, contracts: int, tickets: int, messages: int, seed: int = 11) -> dict:
    """Fill a fresh database with insert_many; returns what the load needs to know."""
    from peewee import chunked

    from helpdesk import config as config_mod, database
    from helpdesk.domain import passwords
    from helpdesk.models import Company, Contract, ContractAccess, DeviceLine, Role, User, db

    config = config_mod.load_config(env_for(data_dir), dotenv=None)
    database_ = database.open_database(config.database_url)
    database.migrate(database_)
    if database.is_sqlite(database_):
        db.execute_sql("PRAGMA cache_size = -262144")  # 256 MB for this connection: the build only
    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
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
        staff = User.create(email=STAFF, first_name="Jan", last_name="Serwis",
                            role=Role.ENGINEER.value, is_active=True, activated_at=now,
                            password_hash=passwords.hash_password(PASSWORD))
        User.insert_many([{"email": f"engineer{i}@bench.example", "first_name": "Inżynier", "last_name": str(i),
                           "role": Role.ENGINEER.value, "is_active": True, "activated_at": now, "created_at": now}
                          for i in range(1, ENGINEERS)]).execute()
        engineers = [u for (u,) in User.select(User.id).where(User.role == Role.ENGINEER.value).tuples()]
        own = [c for (c,) in Contract.select(Contract.id).where(Contract.company == customer_company).tuples()]
        ContractAccess.insert_many([{"user": customer.id, "contract": c, "granted_at": now} for c in own]).execute()
    contracts_s = time.perf_counter() - started
    started = time.perf_counter()
    made = build_tickets(rng, now, tickets=tickets, messages=messages, contracts=contracts,
                         company_of=lambda c: company_ids[(c - 1) % companies], own=own, customer=customer,
                         engineers=engineers)
    tickets_s = time.perf_counter() - started
    started = time.perf_counter()
    clocked = service_levels_for(config, now)
    sla_s = time.perf_counter() - started
    started = time.perf_counter()
    how = index_contracts(contracts)
    indexed = time.perf_counter() - started
    started = time.perf_counter()
    db.execute_sql("ANALYZE")
    analyzed = time.perf_counter() - started
    size = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
    database_.close()
    return {"companies": companies, "customer_contracts": len(own), "contracts_s": contracts_s,
            "tickets_s": tickets_s, "sla_s": sla_s, "clocked": clocked, "index_s": indexed, "analyze_s": analyzed,
            "index_how": how,
            "db_mb": size / 1e6, "staff": staff.email, "customer": customer.email, **made}


PARTNER = "partner@bench.example"
STAFF = "staff@bench.example"
ARTICLES = 300
ADMIN = "admin@bench.example"
DEEP_ADMIN = {"people": 500, "audit": 1000}  # of 1,041 and 2,000 pages
CUSTOMER_USERS = 50_000  # signed up over two years (a stranger can register)
PARTNER_COMPANIES = 2_000  # a quarter waiting for verification
AUDIT_ROWS = 200_000
SECURITY_EVENTS = 200_000  # refused attempts: strangers make them
QUARANTINED = 20_000
WEBHOOK_DELIVERIES = 200_000
SOLD_EVERY = 50  # every 50th contract was sold by the bench partner (2,000 of 100,000)
# Words in some of the messages (issue 18, session 36): every word of WORDS is in 7% or more of
# them. Each of these starts the body of a spread of messages (per mille), by their ids; KLASTER
# starts every message of one ticket in CLUSTER_EVERY.
GRADED_WORDS = {"bravo": 5, "charlie": 10, "delta": 20, "echo": 50}
KLASTER, CLUSTER_EVERY = "klaster", 200


def add_extras(data_dir: Path) -> dict:
    """What issue 17 added to the portal, when the data set does not have it yet (a data set
    built before is topped up): a verified partner company that sold every SOLD_EVERY-th
    contract, with a partner user; and ARTICLES knowledge-base articles (`domain.kb.save`: tags,
    search index), a third for customers, about the bench's device models. Returns ids."""
    from peewee import chunked

    from helpdesk import config as config_mod, database
    from helpdesk.domain import kb, passwords
    from helpdesk.models import Article, Company, CompanyRole, Contract, Role, User, db

    config = config_mod.load_config(env_for(data_dir), dotenv=None)
    database_ = database.open_database(config.database_url)
    try:
        partner = User.get_or_none(User.email == PARTNER)
        if partner is None:
            rng = random.Random(17)
            now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
            with db.atomic():
                company = Company.create(nip="9990000017", name="Instalator Bench Sp. z o.o.",
                                         role=CompanyRole.INSTALLER.value, verified_at=now, partner_level=3,
                                         created_at=now)
                partner = User.create(email=PARTNER, first_name="Piotr", last_name="Partner", company=company,
                                      role=Role.PARTNER.value, is_active=True, activated_at=now,
                                      password_hash=passwords.hash_password(PASSWORD))
            for i in range(ARTICLES):
                model = MODELS[i % len(MODELS)]
                body = "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60)))
                                     for _ in range(rng.randint(3, 8)))
                kb.save(config, kb.Draft(title=f"{model}: {rng.choice(PROBLEMS)} ({i})", body=body,
                                         language="pl" if i % 4 else "en",
                                         audience="customers" if i % 3 == 0 else "public",
                                         models=[model]), now=now - dt.timedelta(hours=ARTICLES - i))
            db.execute_sql("ANALYZE")
        if not Contract.select().where(Contract.partner == partner.company_id).exists():  # (`%` is LIKE in Peewee)
            sold = [c for (c,) in Contract.select(Contract.id).tuples() if c % SOLD_EVERY == 7]
            with db.atomic():
                for ids in chunked(sold, 500):
                    Contract.update(partner=partner.company_id).where(Contract.id.in_(ids)).execute()
            db.execute_sql("ANALYZE")
        if User.get_or_none(User.email == ADMIN) is None:
            add_admin_volumes(now=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0))
            db.execute_sql("ANALYZE")
        if not _has_word(KLASTER):
            add_graded_words()
        article = Article.select(Article.id).order_by(Article.id.desc()).first()
        return {"partner": partner.email, "admin": ADMIN, "article": article.id if article else None,
                **deep_cursors(), **admin_cursors()}
    finally:
        database_.close()


def _has_word(word: str) -> bool:
    from helpdesk import database
    from helpdesk.models import db
    if database.is_sqlite(db.obj):
        return bool(db.execute_sql("SELECT 1 FROM message_search WHERE message_search MATCH ? LIMIT 1",
                                   (f'"{word}"',)).fetchone())
    return bool(db.execute_sql("SELECT 1 FROM message_search WHERE document @@ to_tsquery('simple', %s) LIMIT 1",
                               (word,)).fetchone())


def add_graded_words() -> None:
    """GRADED_WORDS and KLASTER written into the messages (their search indexes kept by the
    triggers), then SQLite's indexes merged and either database analyzed, as the nightly job
    leaves them."""
    from helpdesk import database
    from helpdesk.domain import search_upkeep
    from helpdesk.models import db
    sqlite = database.is_sqlite(db.obj)
    mod = "%" if sqlite else "%%"  # psycopg2 reads a lone % as a placeholder
    with db.atomic():
        for word, per_mille in GRADED_WORDS.items():
            db.execute_sql(f"UPDATE message SET body_text = '{word} ' || body_text "
                           f"WHERE (CAST(id AS BIGINT) * 7919 + {per_mille}) {mod} 1000 < {per_mille}")
        db.execute_sql(f"UPDATE message SET body_text = '{KLASTER} ' || body_text WHERE ticket_id IN "
                       f"(SELECT id FROM ticket WHERE CAST(id AS BIGINT) * 104729 {mod} {CLUSTER_EVERY} = 0)")
    search_upkeep.merge_all()
    db.execute_sql("ANALYZE")


def add_admin_volumes(now: dt.datetime) -> None:
    """The lists admins read, at the size years of use and strangers' attempts give them (issue 18):
    an admin; CUSTOMER_USERS customers on the companies; PARTNER_COMPANIES partner companies, a
    quarter waiting for verification, each with a partner account, applications, role-change and
    level requests; AUDIT_ROWS audit entries, SECURITY_EVENTS security events, QUARANTINED
    quarantined mails and WEBHOOK_DELIVERIES deliveries to one endpoint, over two years."""
    from helpdesk.domain import passwords
    from helpdesk.models import (
        AuditLog,
        Company,
        CompanyRole,
        InboundMail,
        LevelApplication,
        PartnerApplication,
        Quarantine,
        RoleChangeRequest,
        SecurityEvent,
        User,
        WebhookDelivery,
        WebhookEndpoint,
        db,
    )

    rng = random.Random(18)
    span = dt.timedelta(days=TICKET_DAYS).total_seconds()

    def ago(i: int, of: int) -> dt.datetime:  # the i-th of `of` rows, oldest first, over the two years
        return now - dt.timedelta(seconds=span * (of - i) / of)

    with db.atomic():
        User.create(email=ADMIN, first_name="Ada", last_name="Admin", role="admin", is_active=True, activated_at=now,
                    password_hash=passwords.hash_password(PASSWORD))
    companies = [c for (c,) in Company.select(Company.id).where(Company.role == "customer").tuples()]
    insert_chunks(User, None, ({"email": f"klient{i}@firma{companies[i % len(companies)]}.example",
                                "first_name": rng.choice(["Anna", "Jan", "Ewa", "Piotr", "Maria", "Tomasz"]),
                                "last_name": f"{rng.choice(CITIES)}ski {i}", "company": companies[i % len(companies)],
                                "role": "customer", "is_active": i % 5 != 0, "activated_at": now if i % 5 else None,
                                "created_at": ago(i, CUSTOMER_USERS)} for i in range(CUSTOMER_USERS)), 500)
    roles = [r.value for r in CompanyRole if r is not CompanyRole.CUSTOMER]
    insert_chunks(Company, None, ({"nip": f"{2000000000 + i}", "name": f"Partner {i} Sp. z o.o.",
                                   "role": roles[i % len(roles)], "partner_level": i % 6 if i % 4 else None,
                                   "verified_at": ago(i, PARTNER_COMPANIES) if i % 4 else None,
                                   "created_at": ago(i, PARTNER_COMPANIES)} for i in range(PARTNER_COMPANIES)), 500)
    partners = [c for (c,) in Company.select(Company.id).where(Company.nip.startswith("2")).order_by(Company.id)
                .tuples()]
    insert_chunks(User, None, ({"email": f"partner{i}@partner{c}.example", "first_name": "Paweł",
                                "last_name": f"Partner {i}", "company": c, "role": "partner", "is_active": True,
                                "activated_at": ago(i, len(partners)), "created_at": ago(i, len(partners))}
                               for i, c in enumerate(partners)), 500)
    statuses = ["approved", "rejected", "pending", "approved"]
    for model, extra in ((PartnerApplication, lambda i: {"declared_level": "authorised", "open_key": None,
                                                         "submitted_at": ago(i, len(partners))}),
                         (RoleChangeRequest, lambda i: {"from_role": "installer", "requested_role": "integrator"}),
                         (LevelApplication, lambda i: {"level": 1 + i % 5, "basis": "none"})):
        insert_chunks(model, None, ({"company": c, "status": statuses[i % 4], "created_at": ago(i, len(partners)),
                                     "decided_at": ago(i, len(partners)) if i % 4 != 2 else None, **extra(i)}
                                    for i, c in enumerate(partners)), 500)
    actions = ["user.role", "company.verify", "ticket.merge", "article.publish", "webhook.add", "user.invite"]
    insert_chunks(AuditLog, None, ({"action": rng.choice(actions), "object_type": "ticket", "object_id": str(i),
                                    "detail": f"bench {i}", "at": ago(i, AUDIT_ROWS)} for i in range(AUDIT_ROWS)), 500)
    kinds = ["forged_reply_address", "login_throttled", "cc_capped", "unknown_sender", "oversized"]
    insert_chunks(SecurityEvent, None, ({"at": ago(i, SECURITY_EVENTS), "kind": rng.choice(kinds),
                                         "sender": f"obcy{i % 997}@spam.example", "reason": "bench",
                                         "addresses": ""} for i in range(SECURITY_EVENTS)), 500)
    insert_chunks(InboundMail, None, ({"mailbox": "imap://bench", "uidvalidity": 1, "uid": str(i),
                                       "message_id": f"<q{i}@spam.example>", "raw_sha256": f"{i:064x}",
                                       "from_addr": f"obcy{i % 997}@spam.example", "subject": f"Spam {i}",
                                       "outcome": "quarantined", "reason": "bench", "received_at": ago(i, QUARANTINED),
                                       "processed_at": ago(i, QUARANTINED)} for i in range(QUARANTINED)), 500)
    inbound = [m for (m,) in InboundMail.select(InboundMail.id).where(InboundMail.mailbox == "imap://bench")
               .order_by(InboundMail.id).tuples()]
    insert_chunks(Quarantine, None, ({"inbound": m, "error": "ValueError: bench", "created_at": ago(i, QUARANTINED)}
                                     for i, m in enumerate(inbound)), 500)
    with db.atomic():
        endpoint = WebhookEndpoint.create(url="https://hooks.bench.example/helpdesk", secret="bench",
                                          events="ticket.created ticket.updated", created_at=ago(0, 1))
    insert_chunks(WebhookDelivery, None, ({"endpoint": endpoint.id, "event": "ticket.updated", "event_id": f"e{i}",
                                           "payload": "{}", "status": "delivered" if i % 50 else "failed",
                                           "attempts": 1, "next_attempt_at": ago(i, WEBHOOK_DELIVERIES),
                                           "created_at": ago(i, WEBHOOK_DELIVERIES),
                                           "delivered_at": ago(i, WEBHOOK_DELIVERIES) if i % 50 else None}
                                          for i in range(WEBHOOK_DELIVERIES)), 500)


def deep_cursors() -> dict:
    """The cursors of page DEEP_PAGE of the staff queue "all", by last change and by due time (the
    last row of the page before it): what the "Older" links carry that far down; and of page 2
    of the engineers' "due soonest" queue."""
    from helpdesk.domain.queue_order import Cursor
    from helpdesk.models import Ticket

    rows = (DEEP_PAGE - 1) * 50 - 1  # the last row of page DEEP_PAGE - 1
    query = Ticket.select(Ticket.id, Ticket.updated_at, Ticket.sla_next_due).where(Ticket.merged_into.is_null())
    newest = query.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    soonest = query.order_by(Ticket.sla_next_due.asc(nulls="LAST"), Ticket.updated_at.desc(), Ticket.id.desc())
    due_queue = soonest.where(Ticket.status != "closed")  # the engineers' default queue: its page 1's last row
    out = {}
    for name, ordered, by_due, at in (("deep_updated", newest, False, rows), ("deep_due", soonest, True, rows),
                                      ("due_page_2", due_queue, True, 49)):
        row = ordered.offset(at).limit(1).dicts().first()
        out[name] = urllib.parse.quote(Cursor.of(row, by_due).text(by_due) if row else "")
    return {**out, **deep_contract_cursors()}


def admin_cursors() -> dict:
    """The cursors of the admins' lists at the pages of DEEP_ADMIN (the last row of the page
    before), as their "Next" links carry them."""
    from helpdesk.models import AuditLog, User
    from helpdesk.web import admin, paging, staff

    out = {}
    for name, query, order, size in (("people", User.select(), staff.USERS_ORDER, paging.PAGE),
                                      ("audit", AuditLog.select(), admin.AUDIT_ORDER, 100)):
        row = order.page_query(query, None, False, 1).offset((DEEP_ADMIN[name] - 1) * size - 1).first()
        out[f"{name}_deep"] = order.text(row) if row else ""
    return out


def deep_contract_cursors() -> dict:
    """The cursors of staff's contract list, archive and search 'lodz' at the pages of
    DEEP_CONTRACTS (the last row of the page before), as their "Next" links carry them."""
    from helpdesk.domain import contract_order, contracts
    from helpdesk.models import User

    staff, today = User.get(User.email == STAFF), dt.datetime.now(dt.timezone.utc).date()
    out = {}
    for name, archive, text in (("list", False, ""), ("archive", True, ""), ("lodz", False, "lodz")):
        query = contracts.listing(staff, today, archive=archive, text=text).select(*contracts.LISTED)
        row = (query.order_by(*contract_order.ordering(archive, False)).offset((DEEP_CONTRACTS[name] - 1) * 50 - 1)
               .limit(1).tuples().first())
        out[f"contracts_{name}"] = urllib.parse.quote(contract_order.Cursor.of(row, archive).text() if row else "")
    return out


def migrate(data_dir: Path) -> None:
    """Apply the migrations that came after the data set was built (--reuse)."""
    from helpdesk import config as config_mod, database

    database_ = database.open_database(config_mod.load_config(env_for(data_dir), dotenv=None).database_url)
    database.migrate(database_)
    database_.close()


def service_levels_for(config, now: dt.datetime) -> int:
    """Service levels for the contracts' levels (and a default), each ticket's first answer,
    minutes spent on a third of the answers and notes, and the clocks of every open ticket and
    of those opened in the last SLA_DAYS (what the reports look at); returns how many."""
    from peewee import fn

    from helpdesk.domain import service_levels
    from helpdesk.models import Message, Ticket, db

    settings = service_levels.settings_of(config.with_(sla_default="8x5"))
    for name, first, whole, hours in (("NBD", "4h", "1d", "business"), ("4h", "1h", "4h", "24x7"),
                                      ("8x5", "8h", "5d", "business")):
        service_levels.set_policy(settings, name, first, whole, hours, now=now)
    with db.atomic():
        first = (Message.select(fn.MIN(Message.created_at))
                 .where(Message.ticket == Ticket.id, Message.kind == "staff"))
        Ticket.update(first_response_at=first).execute()
        # `%` is LIKE in Peewee: the remainder as integer division, the same on both databases
        Message.update(minutes=5 + Message.id - Message.id / 40 * 40).where(
            Message.kind.in_(["staff", "note"]), Message.id - Message.id / 3 * 3 == 0).execute()
        ids = [t for (t,) in Ticket.select(Ticket.id).where(
            (Ticket.status != "closed") | (Ticket.created_at >= now - dt.timedelta(days=SLA_DAYS))).tuples()]
        service_levels.refresh(settings, ids)
    # the messages and their minutes went in as bulk rows, past the domain's writers: the
    # reports' per-day sums are built from them once, as the migration does for an archive
    from helpdesk.domain import rollups

    rollups.rebuild(config.timezone)
    return len(ids)


def body_pool(rng: random.Random, count: int = 2000) -> tuple[list[str], list[str], list[str]]:
    """Message texts to pick from (200-900 characters), the same quoted ("> ") as a reply
    quotes them, and as a mail's HTML; picking is much cheaper than writing a million."""
    bodies, quoted, html = [], [], []
    for _ in range(count):
        paragraphs = []
        size = rng.randint(200, 900)
        while sum(map(len, paragraphs)) < size:
            paragraphs.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))).capitalize() + ".")
        text = "\n\n".join(paragraphs)
        bodies.append(text)
        quoted.append("\n".join("> " + line for line in text.splitlines()))
        html.append("".join(f"<p>{p}</p>" for p in paragraphs))
    return bodies, quoted, html


def build_tickets(rng: random.Random, now: dt.datetime, *, tickets: int, messages: int, contracts: int, company_of,
                  own: list[int], customer, engineers: list[int]) -> dict:
    """`tickets` tickets over two years with `messages` messages among them, and their
    participants, status changes, attachments (and blobs), all with insert_many. The
    customer asked some tickets itself and is a CC on others; others are on its verified
    contracts. One of its own tickets, open for ten months, has exactly BIG messages."""
    from peewee import chunked

    from helpdesk.models import Attachment, Blob, Message, Participant, StatusChange, Ticket, db

    if messages < tickets - 1 + BIG:
        sys.exit(f"--messages must be at least --tickets + {BIG - 1}")
    span = TICKET_DAYS * 86400
    start = now - dt.timedelta(seconds=span)
    created = sorted(rng.randrange(span - 3600) for _ in range(tickets))  # ticket ids follow time
    big = min(range(tickets), key=lambda t: abs(created[t] - (span - BIG_DAYS * 86400)))
    # How many messages each ticket has: at least one, the rest spread unevenly (capped
    # weights: a few tickets have 50-100, none as many as the long one).
    counts = [1] * tickets
    counts[big] = BIG
    others = [t for t in range(tickets) if t != big]
    weights = list(itertools.accumulate(min(rng.expovariate(1.0), 4.0) for _ in others))
    for t in rng.choices(others, cum_weights=weights, k=messages - BIG - (tickets - 1)):
        counts[t] += 1
    # Whose tickets: the customer's own (asked by it), on its contracts (asked by colleagues),
    # and some where it is only a CC; everything else asked by someone at another company.
    mine = max(3, tickets * 6 // 1000)
    picked = rng.sample(others, mine + mine // 10 - 1) + [big]
    asked = set(picked[-(mine // 3):])  # the big ticket included
    on_contract = set(picked[mine // 10:-(mine // 3)])
    cc_only = set(picked[:mine // 10])
    # When each message was written: seconds from `start`, sorted over all tickets so that
    # message ids follow time and a ticket's messages are spread over the table.
    keys = array.array("q")
    last = [0] * tickets
    for t in range(tickets):
        mean_gap = BIG_DAYS * 86400 / BIG if t == big else rng.choice([1800, 4 * 3600, 86400])
        at = created[t]
        offsets = [at]
        for _ in range(counts[t] - 1):
            at += 1 + int(rng.expovariate(1.0 / mean_gap))
            offsets.append(at)
        if offsets[-1] > span - 60:  # squeeze into the time until now
            scale = (span - 60 - created[t]) / max(1, offsets[-1] - created[t])
            offsets = [created[t] + int((o - created[t]) * scale) for o in offsets]
        last[t] = offsets[-1]
        keys.extend((o << 36) | (t << 12) | n for n, o in enumerate(offsets))
    keys = array.array("q", sorted(keys))

    pool = [f"klient{i}@firma{i % 1500}.example" for i in range(5000)]
    colleagues = [f"kolega{i}@bench.example" for i in range(20)]
    subjects = [f"{rng.choice(MODELS)}: {rng.choice(PROBLEMS)}" for _ in range(500)]
    bodies, quoted, html = body_pool(rng)

    def at(seconds: int) -> dt.datetime:
        return start + dt.timedelta(seconds=seconds)

    # The tickets.
    info = []  # per ticket: (requester e-mail, requester name, assignee, status, subject)
    ticket_rows = []
    for t in range(tickets):
        age_days = (span - last[t]) / 86400
        if t == big:
            status = "open"
        elif age_days < 14:
            status = rng.choices(["new", "open", "waiting_customer", "waiting_us", "closed"], [2, 4, 3, 2, 6])[0]
        else:
            status = "closed" if rng.random() < 0.97 else rng.choice(["open", "waiting_customer", "waiting_us"])
        if t in asked:
            email, name, requester = customer.email, customer.name, customer.id
        elif t in on_contract:
            email, requester = rng.choice(colleagues), None
            name = email.split("@")[0].capitalize()
        else:
            email, requester = rng.choice(pool), None
            name = email.split("@")[0].capitalize()
        if t in asked or t in on_contract:
            contract = own[0] if t == big else rng.choice(own)
        else:
            contract = rng.randint(1, contracts) if rng.random() < 0.85 else None
        if status == "new" or (status != "closed" and rng.random() < 0.35):
            assignee = None
        else:
            assignee = rng.choice(engineers)
        subject = rng.choice(subjects)
        info.append((email, name, assignee, status, subject))
        ticket_rows.append((t + 1, subject, status, requester, email, company_of(contract) if contract else None,
                            contract, (contract - 1) * LINES_PER_CONTRACT + 1 + rng.randrange(LINES_PER_CONTRACT)
                            if contract else None, assignee,
                            "portal" if t in asked and rng.random() < 0.5 else "mail", at(created[t]), at(last[t]),
                            at(last[t]) if status == "closed" else None))
    fields = [Ticket.id, Ticket.subject, Ticket.status, Ticket.requester, Ticket.requester_email, Ticket.company,
              Ticket.contract, Ticket.device_line, Ticket.assignee, Ticket.channel, Ticket.created_at,
              Ticket.updated_at, Ticket.closed_at]
    with db.atomic():
        for rows in chunked(ticket_rows, 500):
            Ticket.insert_many(rows, fields=fields).execute()
    del ticket_rows

    # Participants: the requester and zero to two CCs (the customer on its cc-only tickets).
    def participant_rows():
        for t in range(tickets):
            email, name, *_ = info[t]
            yield (t + 1, email, name, "requester", customer.id if t in asked else None, at(created[t]), "mail")
            ccs = {rng.choice(colleagues if t in on_contract or t in asked else pool)
                   for _ in range(rng.choices([0, 1, 2], [6, 3, 1])[0])} - {email}
            if t in cc_only:
                ccs.add(customer.email)
            for cc in sorted(ccs):
                yield (t + 1, cc, "", "cc", customer.id if cc == customer.email else None, at(created[t]), "mail")

    fields = [Participant.ticket, Participant.email, Participant.name, Participant.role, Participant.user,
              Participant.added_at, Participant.added_by]
    participants = insert_chunks(Participant, fields, participant_rows(), 500)

    # Blobs that attachments point at (files themselves are not needed to render a page).
    blobs = 2000
    with db.atomic():
        for rows in chunked(((f"{i:064x}", rng.randint(2_000, 3_000_000), now) for i in range(blobs)), 500):
            Blob.insert_many(rows, fields=[Blob.sha256, Blob.size, Blob.created_at]).execute()

    # The messages, oldest first, and their attachments; status changes follow the conversation.
    big_kinds: dict[str, int] = {}
    attachments: list[tuple] = []
    changes: list[tuple] = []
    state = ["new"] * tickets

    def change(t: int, new: str, seconds: int, by=None, reason: str = "") -> None:
        if state[t] != new:
            changes.append((t + 1, state[t], new, by, reason, at(seconds)))
            state[t] = new

    def message_rows():
        for i, key in enumerate(keys, 1):
            seconds, t, n = key >> 36, (key >> 12) & 0xFFFFFF, key & 0xFFF
            email, name, assignee, status, subject = info[t]
            kind = "customer" if n == 0 else rng.choices(KINDS, KIND_WEIGHTS)[0]
            body = rng.randrange(len(bodies))
            author_id, message_id, rule, sent, html_ = None, None, "", None, None
            if kind == "customer":
                author_id = customer.id if t in asked else None
                message_id, sent = f"<m{i}.{t + 1}@bench.example>", at(seconds)
                rule = "new" if n == 0 else "in-reply-to"
                html_ = html[body] if rng.random() < 0.25 else None
                if n:
                    change(t, "waiting_us", seconds, reason="mail")
            elif kind in ("staff", "note"):
                author_id = assignee or engineers[0]
                email, name = "serwis@bench.example", "Serwis"
                message_id = f"<s{i}.{t + 1}@bench.example>" if kind == "staff" else None
                if kind == "staff":
                    change(t, "open" if state[t] == "new" else "waiting_customer", seconds, author_id)
            else:
                email, name, rule = "", "", "system"
            reply = n > 0 and kind in ("customer", "staff") and rng.random() < 0.7
            text = bodies[body] + "\n\n" + quoted[rng.randrange(len(quoted))] if reply else bodies[body]
            if t == big:
                big_kinds[kind] = big_kinds.get(kind, 0) + 1
            if kind != "system" and (rng.random() < 0.08 or (t == big and n % 5 == 4)):
                for j in range(rng.choice([1, 1, 2])):
                    over = rng.random() < 0.03
                    attachments.append((i, None if over else rng.randint(1, blobs), f"plik-{i}-{j}.pdf",
                                        "application/pdf", rng.randint(5_000, 2_000_000), False, None,
                                        "over the size limit" if over else ""))
            if n == counts[t] - 1 and status != state[t]:
                change(t, status, seconds, None if status != "closed" else assignee)
            yield (i, t + 1, kind, author_id, email, name, subject if n == 0 else "Re: " + subject, text,
                   bodies[body] if reply else "", html_, message_id, rule, sent, at(seconds))

    fields = [Message.id, Message.ticket, Message.kind, Message.author, Message.author_email, Message.author_name,
              Message.subject, Message.body_text, Message.body_display, Message.body_html, Message.message_id,
              Message.thread_rule, Message.sent_at, Message.created_at]
    made = insert_chunks(Message, fields, message_rows(), 200)
    fields = [Attachment.message, Attachment.blob, Attachment.filename, Attachment.content_type, Attachment.size,
              Attachment.inline, Attachment.content_id, Attachment.skipped_reason]
    insert_chunks(Attachment, fields, attachments, 500)
    changes = [(t + 1, None, "new", None, "", at(created[t])) for t in range(tickets)] + changes
    fields = [StatusChange.ticket, StatusChange.old_status, StatusChange.new_status, StatusChange.changed_by,
              StatusChange.reason, StatusChange.changed_at]
    insert_chunks(StatusChange, fields, sorted(changes, key=lambda c: c[5]), 500)
    return {"tickets": tickets, "messages": made, "participants": participants, "attachments": len(attachments),
            "status_changes": len(changes), "big": big + 1, "big_kinds": big_kinds,
            "big_history": sum(1 for c in changes if c[0] == big + 1),
            "customer_tickets": {"asked": len(asked), "on its contracts": len(on_contract), "cc": len(cc_only)}}


def insert_chunks(model, fields, rows, size: int, per_transaction: int = 20_000) -> int:
    """insert_many, `size` rows a statement, in transactions of `per_transaction` rows."""
    from peewee import chunked

    from helpdesk.models import db

    done = 0
    for batch in chunked(rows, per_transaction):
        with db.atomic():
            for statement in chunked(batch, size):
                model.insert_many(statement, fields=fields).execute()
        done += len(batch)
    return done


def index_contracts(contracts: int) -> str:
    """Fill the FTS5 `contract_search` table: domain.contracts.reindex when it is there."""
    ids = range(1, contracts + 1)
    try:
        from helpdesk.domain.contracts import reindex
    except ImportError:
        reindex = None
    if reindex is not None:
        reindex(ids)
        return "helpdesk.domain.contracts.reindex"
    from helpdesk.models import Contract, DeviceLine, db  # an older tree: one plain document per contract

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
               HELPDESK_LOG_LEVEL="WARNING",
               # the caller's first (a directory whose `helpdesk` is another checkout: that code is measured)
               PYTHONPATH=os.pathsep.join(filter(None, (os.environ.get("PYTHONPATH"), str(REPO)))))
    if os.environ.get("HELPDESK_BENCH_DATABASE_URL"):  # bench/web_pg.py: the same on PostgreSQL
        env["HELPDESK_DATABASE_URL"] = os.environ["HELPDESK_BENCH_DATABASE_URL"]
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, *, cookie: str = "", body: str = "") -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)  # a slow page's queue may be draining
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
    assert status == 302 and not headers["location"].endswith("/login"), (status, headers)  # its landing page
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
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "10s",
               "--latency", "-s", str(script)]
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


# --- in-process: SQL statements, their time and plans, and a profile ----------------------------------


class Statements(logging.Handler):
    """Every SQL statement peewee runs (it logs each to the "peewee" logger at DEBUG),
    kept whole with its parameters so it can be run again and explained."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, tuple]] = []

    def emit(self, record) -> None:
        if not isinstance(record.msg, tuple):  # the connection pool's own lines ("Returning ... to pool")
            return
        sql, params = record.msg
        self.seen.append((sql, tuple(params or ())))

    def __enter__(self):
        self.logger = logging.getLogger("peewee")
        self.level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level)


class Rendering:
    """The CPU time spent rendering templates (Flask's signals around `render_template`,
    nested renders counted once) while it is entered."""

    def __init__(self):
        self.cpu_ms, self._depth, self._started = 0.0, 0, 0.0

    def _before(self, *_args, **_kwargs) -> None:
        if not self._depth:
            self._started = time.process_time()
        self._depth += 1

    def _after(self, *_args, **_kwargs) -> None:
        self._depth -= 1
        if not self._depth:
            self.cpu_ms += (time.process_time() - self._started) * 1000

    def __enter__(self):
        import flask

        flask.before_render_template.connect(self._before)
        flask.template_rendered.connect(self._after)
        return self

    def __exit__(self, *exc):
        import flask

        flask.before_render_template.disconnect(self._before)
        flask.template_rendered.disconnect(self._after)


def in_process(data_dir: Path, users: dict[str, str], pages: list[tuple[str, str, str]], repeat: int = 30) -> dict:
    """For each page, with the Flask test client against the same database: the SQL
    statements one request runs (count; each run again on its own for its time, the
    slowest with its query plan), the median time of `repeat` requests and the median
    CPU time of its templates' rendering."""
    from helpdesk import config as config_mod, database, web
    from helpdesk.models import db

    app = web.create_app(config_mod.load_config(env_for(data_dir), dotenv=None))
    clients = {"": app.test_client()}
    for who, email in users.items():
        client = clients[who] = app.test_client()
        html = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        response = client.post("/login", data={"csrf_token": token, "email": email, "password": PASSWORD, "next": ""})
        assert response.status_code == 302, response.status_code
    out = {}
    for name, path, who in pages:
        client = clients[who]
        assert client.get(path).status_code == 200, (name, path)  # warm: templates compiled, pages cached
        with Statements() as statements:
            response = client.get(path)
        assert response.status_code == 200, (name, path)
        times, cpu, rendering = [], [], []
        for _ in range(repeat):
            with Rendering() as rendered:
                started, started_cpu = time.perf_counter(), time.process_time()
                client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - started_cpu) * 1000)
            rendering.append(rendered.cpu_ms)
        timed = []
        db.connect(reuse_if_open=True)
        for sql, params in statements.seen:
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                timed.append((0.0, sql, params))
                continue
            started = time.perf_counter()
            db.execute_sql(sql, params).fetchall()
            timed.append(((time.perf_counter() - started) * 1000, sql, params))
        slowest = max(timed, key=lambda x: x[0]) if timed else (0.0, "", ())
        sqlite = database.is_sqlite(db.obj)  # its statements run in this process: their time is in CPU ms
        explain, column = ("EXPLAIN QUERY PLAN ", 3) if sqlite else ("EXPLAIN ", 0)  # web_pg.py
        plan = [row[column] for row in db.execute_sql(explain + slowest[1], slowest[2])] if slowest[1] else []
        db.close()
        out[path, who] = {"queries": len(statements.seen), "sql_ms": sum(x[0] for x in timed), "sql_in_cpu": sqlite,
                          "request_ms": statistics.median(times), "cpu_ms": statistics.median(cpu),
                          "render_ms": statistics.median(rendering), "slowest_ms": slowest[0], "slowest_sql": slowest[1],
                          "slowest_params": slowest[2], "plan": plan}
    out["app"], out["clients"] = app, clients
    return out


def profile(client, path: str, top: int = 30) -> str:
    """One request under cProfile: the functions with the most time of their own, and by
    cumulative time."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    client.get(path)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(r"(web|domain|templates)/|jinja2|wtforms|babel|peewee|markupsafe", top)
    stats.sort_stats("tottime").print_stats(top // 2)
    return text.getvalue()


# --- main ------------------------------------------------------------------------------------------------


def pages_of(built: dict, extras: dict) -> list[tuple[str, str, str]]:
    """Every page measured: (name, path, who reads it: "" anonymous, "customer", "staff" or
    "partner", "admin"), the static page first (every page is measured against it)."""
    big = built["big"]
    # The same page signed in: what a session, its user and the navigation cost before any
    # page's own work (the floor of every signed-in page below).
    pages = [("static page (/terms, anonymous)", "/terms", ""),
             ("customer: static page signed in", "/terms", "customer")]
    for who in ("customer", "staff"):
        pages += [(f"{who}: dashboard", "/dashboard", who),
                  (f"{who}: contract list", "/contracts", who),
                  (f"{who}: search 'lodz'", "/contracts?q=lodz", who)]
    pages += [(f"staff: contract list, page {DEEP_CONTRACTS['list']}",
               f"/contracts?after={extras['contracts_list']}", "staff"),
              (f"staff: contract archive, page {DEEP_CONTRACTS['archive']}",
               f"/contracts/archive?after={extras['contracts_archive']}", "staff"),
              (f"staff: search 'lodz', page {DEEP_CONTRACTS['lodz']}",
               f"/contracts?q=lodz&after={extras['contracts_lodz']}", "staff")]
    pages += [("customer: ticket list", "/tickets", "customer"),
              ("customer: tickets, active", "/tickets?status=active", "customer"),
              (f"customer: ticket, {BIG} messages", f"/tickets/{big}", "customer"),
              ("staff: queue unassigned", "/staff?queue=unassigned", "staff"),
              ("staff: queue all", "/staff?queue=all", "staff"),
              ("staff: queue due soonest", "/staff", "staff"),
              ("staff: all by due time", "/staff?queue=all&sort=due", "staff"),
              ("staff: due soonest, page 2", f"/staff?queue=due&after={extras['due_page_2']}", "staff"),
              (f"staff: queue all, page {DEEP_PAGE}", f"/staff?queue=all&after={extras['deep_updated']}", "staff"),
              (f"staff: by due time, page {DEEP_PAGE}", f"/staff?queue=all&sort=due&after={extras['deep_due']}",
               "staff"),
              # Ticket search: a word in 95% of the messages (every bench word is in 7% or more of
              # them), a word in none, and within the long ticket (domain/search.py's two plans).
              ("staff: ticket search 'drukarka'", "/staff?queue=all&q=drukarka", "staff"),
              ("staff: ticket search 'zzzqx' (no match)", "/staff?queue=all&q=zzzqx", "staff"),
              ("customer: ticket search 'drukarka'", "/tickets?q=drukarka", "customer"),
              # words in 0.5% and 2% of the messages, spread, and one in every message of 0.5% of the
              # tickets (GRADED_WORDS, KLASTER; session 36)
              ("staff: ticket search 'bravo' (0.5%)", "/staff?queue=all&q=bravo", "staff"),
              ("staff: ticket search 'delta' (2%)", "/staff?queue=all&q=delta", "staff"),
              ("customer: ticket search 'delta' (2%)", "/tickets?q=delta", "customer"),
              (f"staff: ticket search '{KLASTER}' (0.5% of tickets)", f"/staff?queue=all&q={KLASTER}", "staff"),
              (f"staff: ticket, {BIG} messages, search 'drukarka'", f"/staff/tickets/{big}?q=drukarka", "staff"),
              ("staff: reports, 12 weeks", "/staff/reports", "staff"),
              ("staff: chart response times", "/staff/reports/response_times.svg", "staff"),
              (f"staff: ticket, {BIG} messages", f"/staff/tickets/{big}", "staff"),
              ("anonymous: knowledge base", "/kb", ""),
              ("customer: knowledge base", "/kb", "customer"),
              ("customer: kb search 'kamera'", "/kb?q=kamera", "customer"),
              ("customer: kb article", f"/kb/{extras['article']}", "customer"),
              ("partner: customers", "/partner/customers", "partner"),
              ("partner: customers' tickets", "/partner/customers/tickets", "partner"),
              # The admins' lists (issue 18, session 35): 52,000 people, 2,000 partner companies,
              # 200,000 audit entries, 20,000 quarantined mails, 200,000 webhook deliveries.
              ("admin: people", "/staff/users", "admin"),
              (f"admin: people, page {DEEP_ADMIN['people']}", f"/staff/users?after={extras['people_deep']}", "admin"),
              # a part of a name in 111 people, in every customer (50,000), in none
              ("admin: people, search 'partner 19'", "/staff/users?q=partner+19", "admin"),
              ("admin: people, search 'ski'", "/staff/users?q=ski", "admin"),
              ("admin: people, search 'zzz' (none)", "/staff/users?q=zzz", "admin"),
              ("admin: partner companies", "/admin/companies", "admin"),
              ("admin: programme applications", "/admin/applications", "admin"),
              ("admin: audit trail", "/admin/audit", "admin"),
              (f"admin: audit trail, page {DEEP_ADMIN['audit']}", f"/admin/audit?after={extras['audit_deep']}",
               "admin"),
              ("staff: quarantine", "/staff/quarantine", "admin"),
              ("admin: security events", "/staff/security", "admin"),
              ("admin: webhook log, failed", "/admin/webhooks?status=failed", "admin")]
    return pages


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, help=f"default: --messages / {MESSAGES_PER_TICKET}")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per page")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load per page before measuring")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even with wrk")
    parser.add_argument("--no-load", action="store_true", help="build and measure in-process only (no server)")
    parser.add_argument("--only", nargs="+", metavar="TEXT",
                        help="measure only the pages whose names contain one of these (and the static page)")
    parser.add_argument("--profile", nargs="*", metavar="PAGE",
                        help="cProfile one request of each PAGE (a path, or part of a name: 'staff: ticket'), "
                             "or of the slowest page")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument("--reuse", metavar="DIR", type=Path,
                        help="build the data set into DIR once and reuse it on later runs (with the same "
                             "--contracts/--messages; new migrations are applied to it); DIR is kept")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        port, path, cookie, seconds, connections = args.child
        print(json.dumps(child_load(int(port), path, "" if cookie == "-" else cookie, float(seconds),
                                    int(connections))))
        return
    tickets = args.tickets or max(BIG, args.messages // MESSAGES_PER_TICKET)

    work = args.reuse or Path(tempfile.mkdtemp(prefix="bench-web-"))
    server = None
    try:
        saved = work / "built.json"
        if args.reuse and saved.exists():
            built = json.loads(saved.read_text())
            if (built.get("contracts_asked"), built.get("messages_asked")) != (args.contracts, args.messages):
                sys.exit(f"{work} holds {built.get('contracts_asked'):,} contracts and {built.get('messages_asked'):,} "
                         "messages: pass the same --contracts and --messages, or another --reuse DIR")
            print(f"load average {load_average()} on {os.cpu_count()} cores; reusing the data set in {work} "
                  f"(built in {built['build_s']:.0f} s; migrations applied now)", flush=True)
            migrate(work / "var")
        else:
            print(f"load average {load_average()} on {os.cpu_count()} cores; building {args.contracts:,} contracts, "
                  f"{args.contracts * LINES_PER_CONTRACT:,} device lines, {tickets:,} tickets with "
                  f"{args.messages:,} messages in {work} ...", flush=True)
            started = time.perf_counter()
            built = build(work / "var", args.contracts, tickets, args.messages)
            built.update(build_s=time.perf_counter() - started, contracts_asked=args.contracts,
                         messages_asked=args.messages)
            if args.reuse:
                saved.write_text(json.dumps(built))
        mine = built["customer_tickets"]
        print(f"  built in {built['build_s']:.0f} s (insert_many): contracts and lines "
              f"{built['contracts_s']:.1f} s, tickets {built['tickets_s']:.1f} s, "
              f"service-level clocks of {built['clocked']:,} tickets {built['sla_s']:.1f} s, search index "
              f"{built['index_s']:.1f} s ({built['index_how']}), ANALYZE {built['analyze_s']:.1f} s; "
              f"database {built['db_mb']:,.0f} MB\n"
              f"  {built['tickets']:,} tickets, {built['messages']:,} messages, {built['participants']:,} "
              f"participants, {built['status_changes']:,} status changes, {built['attachments']:,} attachments\n"
              f"  the customer sees {built['customer_contracts']} contracts of its company and its tickets "
              f"({', '.join(f'{k}: {v}' for k, v in mine.items())}); staff all\n"
              f"  the long ticket HD-{built['big']}: {BIG} messages "
              f"({', '.join(f'{k} {v}' for k, v in sorted(built['big_kinds'].items()))}; the customer does not "
              f"see the notes), {built['big_history']} status changes", flush=True)
        started = time.perf_counter()
        extras = add_extras(work / "var")
        print(f"  knowledge base and partner: {time.perf_counter() - started:.1f} s ({ARTICLES} articles, "
              f"every {SOLD_EVERY}th contract sold by {extras['partner']})", flush=True)
        pages = pages_of(built, extras)

        if args.only:  # the static page always: every page is measured against it
            pages = pages[:1] + [p for p in pages[1:] if any(text in p[0] for text in args.only)]
        measured = in_process(work / "var", {"customer": built["customer"], "staff": built["staff"],
                                              "partner": extras["partner"], "admin": extras["admin"]}, pages)
        print(f"\nin-process (Flask test client, one request at a time; load average {load_average()}):")
        print(f"{'page':<34}{'queries':>8}{'SQL ms':>8}{'request ms':>12}{'CPU ms':>8}{'render':>8}{'rest':>7}"
              f"{'x static':>9}{'slowest statement':>20}")
        static_cpu = measured[pages[0][1], pages[0][2]]["cpu_ms"] or 0.01
        for name, path, who in pages:
            m = measured[path, who]
            rest = max(0.0, m["cpu_ms"] - m["render_ms"] - (m["sql_ms"] if m["sql_in_cpu"] else 0.0))
            print(f"{name:<34}{m['queries']:>8}{m['sql_ms']:>8.1f}{m['request_ms']:>12.1f}{m['cpu_ms']:>8.1f}"
                  f"{m['render_ms']:>8.1f}{rest:>7.1f}{static_cpu / (m['cpu_ms'] or 0.01):>9.2f}"
                  f"{m['slowest_ms']:>17.1f} ms")
        print("CPU ms: the process's CPU time for one request (SQLite's included; the median of 30), less moved by "
              "other work on the machine than the wall time; SQL ms: its statements run again one by one (wall); "
              "render: the CPU time in its templates (Jinja, with the rows' formatting they call); rest: CPU ms less "
              "both on SQLite, less the rendering on PostgreSQL, whose statements run in its own processes (Flask, "
              "the session, the form, the rows' Python, the driver; the static page signed in is the floor every "
              "signed-in page pays); x static: the static page's CPU time over the page's.")
        print("\nthe slowest statement of each page taking over 2 ms, with its query plan:")
        for name, path, who in pages:
            m = measured[path, who]
            if m["slowest_ms"] > 2:
                print(f"  {name}: {m['slowest_ms']:.1f} ms\n    {m['slowest_sql']}\n    params {m['slowest_params']}")
                for line in m["plan"]:
                    print(f"      {line}")
        if args.profile is not None:
            chosen = [p for p in pages if any(a == p[1] or a in p[0] for a in args.profile)] or [
                max(pages, key=lambda p: measured[p[1], p[2]]["request_ms"])]
            for name, path, who in chosen:
                print(f"\ncProfile of one request of {name} ({path}):")
                print(profile(measured["clients"][who], path))
        if args.no_load:
            return

        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "helpdesk.cli", "web", "--workers", str(args.workers)],
                                  cwd=work, env=env_for(work / "var", port), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        wait_for_server(port, server)
        cookies = {"": "", "customer": log_in(port, built["customer"]), "staff": log_in(port, built["staff"]),
                   "partner": log_in(port, extras["partner"]), "admin": log_in(port, extras["admin"])}
        use_wrk = shutil.which("wrk") is not None and not args.python_load
        load = load_wrk if use_wrk else load_python
        script = work / "report.lua"
        script.write_text(WRK_SCRIPT)
        tool = (f"wrk (2 threads, {args.connections} connections)" if use_wrk else
                f"Python load generator in a separate process ({args.connections} keep-alive connections; "
                + ("--python-load)" if args.python_load else "wrk is not installed)"))
        print(f"\nserver: gunicorn, {args.workers} sync workers (helpdesk web --workers {args.workers}); "
              f"load: {tool}; {args.duration:g} s per page after {args.warmup:g} s of warm-up; {os.cpu_count()} cores")
        results = []
        for name, path, who in pages:
            cookie = cookies[who]
            status, _, html = request(port, "GET", path, cookie=cookie)
            assert status == 200 and (not cookie or "/logout" in html or path.endswith(".svg")), (name, status)
            if args.warmup:
                load(port, path, cookie, args.warmup, args.connections, script)
            result = load(port, path, cookie, args.duration, args.connections, script)
            result.update(name=name, path=path, kb=len(html.encode()) / 1024, load=os.getloadavg()[0],
                          queries=measured[path, who]["queries"])
            results.append(result)
            print(f"  {name}: {result['requests'] / result['seconds']:.0f} req/s", flush=True)

        static = results[0]
        print(f"\n{'page':<34}{'req/s':>7}{'median ms':>11}{'p95 ms':>9}{'p99 ms':>9}{'x static':>10}{'KB':>7}"
              f"{'queries':>9}{'errors':>8}{'load':>6}")
        for r in results:
            rate = r["requests"] / r["seconds"]
            print(f"{r['name']:<34}{rate:>7.0f}{r['p50_ms']:>11.2f}{r['p95_ms']:>9.2f}{r['p99_ms']:>9.2f}"
                  f"{rate / (static['requests'] / static['seconds']):>10.2f}{r['kb']:>7.1f}{r['queries']:>9}"
                  f"{r['bad_status'] + r['socket_errors']:>8}{r['load']:>6.1f}")
        print("\nx static: requests/s as a fraction of the static page's in this run. queries: SQL statements one "
              "request runs (counted in-process). load: 1-minute load average after the page's run "
              f"(at the end: {load_average()}).")
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        if args.keep or args.reuse:
            print(f"data kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
