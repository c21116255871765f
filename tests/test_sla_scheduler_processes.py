"""Escalations with two real `helpdesk scheduler` processes on one database, a real sender and
a real SMTP server: each warning (80%) and each breach arrives exactly once."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from helpdesk import config as config_mod, database
from helpdesk.domain import service_levels, tickets
from helpdesk.models import DigestSent, Outbox, Status, Ticket, User, utcnow
from helpdesk.outgoing.digest_mail import DIGEST_HEADER
from helpdesk.scheduler import JOBS
from tests.conftest import REPO
from tests.test_scheduler_processes import EVERY_TWO_SECONDS, RUNS_EACH, wait_for

NEVER = "0 0 1 1 *"  # the other jobs: once a year (they would mail digests too)


def seed(config) -> Counter:
    """Tickets whose clocks are at every stage; returns the mails expected, (to, ticket, stage)."""
    settings = service_levels.settings_of(config)  # HELPDESK_SLA_DEFAULT=Fast: tickets without a contract
    service_levels.set_policy(settings, "Fast", "1h", "100h", "24x7")
    anna = User.create(email="anna@firma.pl", first_name="Anna", role="engineer", is_active=True)
    User.create(email="bob@firma.pl", first_name="Bob", role="engineer", is_active=True)
    now = utcnow()

    def ticket(subject, minutes_ago, assignee=None):
        t = tickets.open_ticket(subject=subject, requester_email="jan@example.com",
                                now=now - dt.timedelta(minutes=minutes_ago), sla=settings)
        if assignee:
            Ticket.update(assignee=assignee).where(Ticket.id == t.id).execute()
        return t

    breached = ticket("Breached, Anna's", 90, anna)  # past the first-response deadline
    warned = ticket("At 80%, nobody's", 50)  # past 48 minutes: the warning, to both engineers
    ticket("Fresh", 5)  # nothing yet
    waiting = ticket("Waiting", 90)
    tickets.set_status(waiting, Status.WAITING_CUSTOMER, now=now - dt.timedelta(minutes=80))  # its clock stopped
    return Counter({("anna@firma.pl", breached.id, "100"): 1, ("anna@firma.pl", warned.id, "80"): 1,
                    ("bob@firma.pl", warned.id, "80"): 1})


@pytest.mark.slow
def test_two_schedulers_send_each_escalation_once(tmp_path, smtp_server, database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_SECRET_KEY="test-secret", PYTHONPATH=str(REPO),
               HELPDESK_DATABASE_URL=database_url, HELPDESK_SLA_DEFAULT="Fast", HELPDESK_SMTP_URL=f"{smtp_server.url}?starttls=no",
               **{f"HELPDESK_SCHEDULE_{job.upper()}": EVERY_TWO_SECONDS if job == "sla_escalations" else NEVER
                  for job in JOBS})
    config = config_mod.load_config(env, dotenv=None)
    database.migrate(database.open_database(config.database_url))
    expected = seed(config)

    logs = [tmp_path / f"scheduler{i}.log" for i in (1, 2)]
    started = []
    for command, log in ((["scheduler"], logs[0]), (["scheduler"], logs[1]), (["send"], tmp_path / "send.log")):
        with open(log, "w") as stderr:
            started.append(subprocess.Popen([sys.executable, "-m", "helpdesk.cli", *command], cwd=tmp_path, env=env,
                                            stdout=subprocess.DEVNULL, stderr=stderr))
    try:
        assert wait_for(lambda: all(log.read_text().count(" sla_escalations: ") >= RUNS_EACH for log in logs)), [
            log.read_text()[-2000:] for log in logs]
        assert wait_for(lambda: Outbox.select().where(Outbox.status != "sent").count() == 0
                        and len(smtp_server.received) >= sum(expected.values())), (
            (tmp_path / "send.log").read_text()[-2000:])
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            process.wait(timeout=30)
    assert [p.returncode for p in started] == [0, 0, 0], [log.read_text()[-2000:] for log in logs]

    assert {r.message[DIGEST_HEADER] for r in smtp_server.received} == {"sla_escalations"}
    by_message_id = {o.message_id: o for o in Outbox.select()}
    delivered = Counter()
    for r in smtp_server.received:
        context = json.loads(by_message_id[r.message["Message-ID"].strip("<>")].spec)["context"]
        delivered[(r.rcpt_tos[0], context["id"], context["stage"])] += 1
    assert delivered == expected
    subjects = sorted(str(r.message["Subject"]) for r in smtp_server.received)
    assert subjects[0].startswith("Termin minął") and "Breached" in subjects[0]
    # the claims, one per ticket, clock and stage (the breached ticket's warning claimed silently)
    assert DigestSent.select().where(DigestSent.job == "sla_escalations").count() == 3

    again = subprocess.run([sys.executable, "-m", "helpdesk.cli", "digest", "run", "sla_escalations", "--now",
                            utcnow().isoformat(), "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["queued"] == 0
