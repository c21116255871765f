"""Hostile sizes and shapes (issue 13, item 4): ingest and view time, and what each grows.

For each case a mail goes through the worker (Maildir, SQLite, parsing in-process) on a
fresh data dir; then the staff ticket page is rendered through the app, the HTML view
(`web.tickets.html_view`) is timed, and the engineer's notice is rendered by the sender
into the outbox folder. Printed per case: ingest wall and CPU seconds, the stored text,
the page, the HTML view's time, the notice's size and its attachments.

    .venv/bin/python bench/trust_size.py [--case nested_html] [--case long_line] ...

Runs on any version of the code with the same CLI-level pieces (so it can measure the
code before a change, from a checkout of it: `python /path/to/bench/trust_size.py` with
the checkout as the working directory).
"""
from __future__ import annotations

import argparse
import datetime as dt
import email
import email.policy
import mailbox
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())

MB = 1024 * 1024
CASES = ("long_line", "nested_html", "flat_html", "attachments")


def make(case: str) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "Jan Kowalski <jan@example.com>"
    msg["To"] = "support@helpdesk.localhost"
    msg["Subject"] = f"bench {case}"
    msg["Message-ID"] = f"<bench-{case}@example.com>"
    if case == "long_line":
        msg.set_content("Ala ma kota. " * (20 * MB // 13))
    elif case == "nested_html":
        msg.set_content("")
        msg.add_alternative("<html><body>" + "<div>x" * 170_000 + "</body></html>", subtype="html")
    elif case == "flat_html":
        msg.set_content("")
        msg.add_alternative("<html><body>" + "<div>wiersz</div>\n" * 55_000 + "</body></html>", subtype="html")
    elif case == "attachments":
        msg.set_content("Pliki.")
        for i in range(1000):
            msg.add_attachment(f"zawartość {i}\n".encode() * 50, maintype="text", subtype="plain",
                               filename=f"plik-{i:04}.txt")
    return msg.as_bytes()


def run(case: str) -> dict:
    from helpdesk import config as config_mod, database
    from helpdesk.inbox_worker.pipeline import Worker
    from helpdesk.models import Message, Outbox, Role, User

    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{case}-"))
    config = config_mod.load_config({"HELPDESK_DATA_DIR": str(tmp), "HELPDESK_SECRET_KEY": "bench",
                                     "HELPDESK_BASE_URL": "http://helpdesk.test"}, dotenv=None)
    tmp.mkdir(exist_ok=True)
    db = database.open_database(config.database_url)
    database.migrate(db)
    from helpdesk.domain import passwords

    engineer = User.create(email="eng@helpdesk.localhost", first_name="Ewa", last_name="Nowak",
                           role=Role.ENGINEER.value, is_active=True, activated_at=dt.datetime(2026, 1, 1),
                           password_hash=passwords.hash_password("correct horse battery"))
    raw = make(case)
    mailbox.Maildir(Path(config.mailbox.path), create=True).add(raw)
    wall, cpu = time.perf_counter(), time.process_time()
    with Worker(config, parse_workers=0) as worker:
        worker.run_once()
    out = {"case": case, "mail MB": round(len(raw) / MB, 1),
           "ingest s": round(time.perf_counter() - wall, 2), "ingest cpu s": round(time.process_time() - cpu, 2)}
    message = Message.select().where(Message.kind == "customer").get()
    out["stored text KB"] = round(len((message.body_text or "").encode()) / 1024)
    out["stored html KB"] = round(len((message.body_html or "").encode()) / 1024)

    from helpdesk.web import create_app
    from helpdesk.web.tickets import html_view

    if message.body_html:
        start = time.perf_counter()
        html_view(message, [], False, lambda a: "")
        out["html view s"] = round(time.perf_counter() - start, 3)
    app = create_app(config, db=db)
    client = app.test_client()
    page = client.get("/login")
    import re

    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.get_data(as_text=True))[1]
    client.post("/login", data={"email": engineer.email, "password": "correct horse battery", "csrf_token": token})
    start = time.perf_counter()
    page = client.get(f"/staff/tickets/{message.ticket_id}")
    out["staff page s"] = round(time.perf_counter() - start, 2)
    out["staff page KB"] = round(len(page.data) / 1024)

    from helpdesk.outgoing.sender import Sender

    start = time.perf_counter()
    Sender(config).send_due()
    out["send s"] = round(time.perf_counter() - start, 2)
    row = Outbox.get(Outbox.recipient == engineer.email)
    notice = email.message_from_bytes(bytes(row.raw or b""), policy=email.policy.default)
    out["engineer notice KB"] = round(len(bytes(row.raw or b"")) / 1024)
    out["notice files"] = sum(1 for _ in notice.iter_attachments())
    out["notice status"] = row.status
    db.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", choices=CASES)
    args = parser.parse_args()
    for case in args.case or CASES:
        print(run(case), flush=True)


if __name__ == "__main__":
    main()
