"""Real `helpdesk scheduler` processes on one database, a real sender, a real SMTP server:
each digest arrives once (SPEC D5), however the two schedulers' runs interleave."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from helpdesk import config as config_mod, database
from helpdesk.domain import tickets
from helpdesk.models import (
    Company,
    Contract,
    ContractAccess,
    DigestSent,
    MailboxState,
    MessageKind,
    Outbox,
    PartnerApplication,
    User,
    utcnow,
)
from helpdesk.outgoing.digest_mail import DIGEST_HEADER
from helpdesk.scheduler import JOBS
from tests.conftest import REPO

EVERY_TWO_SECONDS = "*/2 * * * * *"
RUNS_EACH = 4  # scheduled runs (or skips, the other holding the lease) of every job, in each process


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def seed(now: dt.datetime) -> set[tuple[str, str]]:
    """People and things to tell them about; returns the (recipient, digest) pairs expected."""
    def person(email, role="customer", **kw):
        return User.create(email=email, first_name=email.split("@")[0], role=role, is_active=True, **kw)

    for name in ("anna", "bob"):
        person(f"{name}@firma.pl", "engineer")
    person("adam@firma.pl", "admin", language="en")
    for name in ("jan", "ewa"):
        person(f"{name}@example.com", digest_opt_in=True)
        t = tickets.open_ticket(subject=f"Kamera {name}", requester_email=f"{name}@example.com", now=now)
        tickets.add_message(t, kind=MessageKind.CUSTOMER, author_email=f"{name}@example.com", body_text="?", now=now)
    customer = Company.create(nip="5260250274", name="Klient")
    partner = Company.create(nip="7740001454", name="Instalator", role="installer")
    contract = Contract.create(number="A123456", company=customer, partner=partner, starts_on=dt.date(2025, 1, 1),
                               ends_on=now.date() + dt.timedelta(days=5))
    ContractAccess.create(user=User.get(User.email == "jan@example.com"), contract=contract)
    person("piotr@instalator.pl", "partner", company=partner)
    PartnerApplication.create(company=partner, declared_level="authorised")
    MailboxState.create(mailbox="imaps://support@mail:993/INBOX", last_fetch_at=now - dt.timedelta(hours=2))
    return ({(e, "engineer_digest") for e in ("anna@firma.pl", "bob@firma.pl", "adam@firma.pl")}
            | {(c, "customer_digest") for c in ("jan@example.com", "ewa@example.com")}
            | {(r, "contract_reminders") for r in ("jan@example.com", "piotr@instalator.pl")}
            | {("adam@firma.pl", "admin_digest"), ("adam@firma.pl", "mailbox_stalled")})


@pytest.mark.slow
def test_two_scheduler_processes_on_one_database_deliver_each_digest_once(tmp_path, smtp_server, database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_SECRET_KEY="test-secret", PYTHONPATH=str(REPO),
               HELPDESK_DATABASE_URL=database_url,
               HELPDESK_SMTP_URL=f"{smtp_server.url}?starttls=no",
               HELPDESK_LOG_LEVEL="DEBUG",  # each job's run is logged, a routine one at debug level
               **{f"HELPDESK_SCHEDULE_{job.upper()}": EVERY_TWO_SECONDS for job in JOBS})
    config = config_mod.load_config(env, dotenv=None)
    db = database.open_database(config.database_url)
    database.migrate(db)
    expected = seed(utcnow())

    logs = [tmp_path / f"scheduler{i}.log" for i in (1, 2)]
    started = []
    for command, log in ((["scheduler"], logs[0]), (["scheduler"], logs[1]), (["send"], tmp_path / "send.log")):
        with open(log, "w") as stderr:
            started.append(subprocess.Popen([sys.executable, "-m", "helpdesk.cli", *command], cwd=tmp_path, env=env,
                                            stdout=subprocess.DEVNULL, stderr=stderr))
    try:
        def each_ran_every_job_a_few_times():
            texts = [log.read_text() for log in logs]
            return all(text.count(f" {job}: ") >= RUNS_EACH for text in texts for job in JOBS)

        assert wait_for(each_ran_every_job_a_few_times), [log.read_text()[-2000:] for log in logs]
        assert wait_for(lambda: Outbox.select().where(Outbox.status != "sent").count() == 0
                        and len(smtp_server.received) >= len(expected)), (tmp_path / "send.log").read_text()[-2000:]
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            process.wait(timeout=30)
    assert [p.returncode for p in started] == [0, 0, 0], [log.read_text()[-2000:] for log in logs]

    delivered = Counter((r.rcpt_tos[0], r.message[DIGEST_HEADER]) for r in smtp_server.received)
    assert set(delivered) == expected
    assert set(delivered.values()) == {1}, delivered
    assert DigestSent.select().count() == len(expected)
    # Both processes did some of the work, or found it done: neither stood aside for good.
    assert all(" skipped, another scheduler" in log.read_text() or " 0 queued" in log.read_text() for log in logs)


def test_helpdesk_digest_run_runs_one_job_by_hand(tmp_path, database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_DATABASE_URL=database_url, PYTHONPATH=str(REPO))
    config = config_mod.load_config(env, dotenv=None)
    database.migrate(database.open_database(config.database_url))
    User.create(email="anna@firma.pl", role="engineer", is_active=True)
    tickets.open_ticket(subject="Drukarka", requester_email="jan@example.com")

    def helpdesk(*args):
        return subprocess.run([sys.executable, "-m", "helpdesk.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)

    first = helpdesk("digest", "run", "engineer_digest", "--now", "2026-03-29T00:30+01:00", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"job": "engineer_digest", "recipients": 1, "queued": 1, "already": 0,
                                        "nothing": 0}
    again = helpdesk("digest", "run", "engineer_digest", "--now", "2026-03-29T21:59:00")
    assert again.returncode == 0 and "0 queued, 1 already sent" in again.stdout
    assert [d.period for d in DigestSent.select()] == ["2026-03-29"]
    assert helpdesk("digest", "run", "engineer_digest", "--now", "yesterday").returncode == 1
    assert helpdesk("digest", "run", "no_such_job").returncode == 2
