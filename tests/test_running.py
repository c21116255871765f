"""The long-running worker: woken by IMAP IDLE, stopped cleanly by a signal."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from helpdesk.inbox_worker.pipeline import Worker
from helpdesk.models import Ticket
from tests.conftest import REPO
from tests.mailfactory import make_mail


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_imap_idle_wakes_the_worker_for_new_mail(db, config, dovecot):
    url = dovecot.new_mailbox()
    # A poll interval far longer than the test: only IDLE can bring the mail in this fast.
    worker = Worker(config.with_(mailbox_url=url, poll_seconds=600), parse_workers=0)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        time.sleep(0.5)  # let it settle into IDLE
        dovecot.append(url, make_mail(Message_ID="<idle@example.com>"))
        assert wait_for(lambda: Ticket.select().count() == 1), "IDLE did not wake the worker"
    finally:
        stop.set()
        dovecot.append(url, make_mail(Message_ID="<wake@example.com>"))  # ends the IDLE
        thread.join(30)
        worker.close()
    assert not thread.is_alive()


def test_helpdesk_run_serves_the_maildir_and_stops_on_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_POLL_SECONDS="1", PYTHONPATH=str(REPO),
               HELPDESK_WEB_LISTEN="127.0.0.1:0")  # the portal on any free port
    run = subprocess.Popen([sys.executable, "-m", "helpdesk.cli", "run"], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        mail = tmp_path / "m.eml"
        mail.write_bytes(make_mail())
        assert wait_for(lambda: (tmp_path / "var" / "Maildir").is_dir())
        subprocess.run([sys.executable, "-m", "helpdesk.cli", "mail", "drop", str(mail)], cwd=tmp_path, env=env, check=True,
                       capture_output=True)

        def listed():
            out = subprocess.run([sys.executable, "-m", "helpdesk.cli", "ticket", "list", "--json"], cwd=tmp_path, env=env,
                                 capture_output=True, text=True).stdout
            return out.strip().startswith("[") and len(json.loads(out)) == 1

        assert wait_for(listed, timeout=30)
    finally:
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    assert "drop .eml files" in out
    # What the operator sees at start is what the README promises, not the scheduler library's chatter.
    assert "portal at http://127.0.0.1:" in out and f"mail out: .eml files in {tmp_path / 'var' / 'outbox'}" in out
    assert "Adding job" not in err and "apscheduler" not in err and "Scheduler started" not in err, err
    assert " 0 queued" not in err and "scheduled " not in err, err  # routine runs of the jobs: debug only
