"""Outbound benchmark: mails/second rendered, queued and delivered to a local aiosmtpd.

Measures, in the same run and against the same server:

  ceiling  the same messages, already built, sent with bare smtplib over one connection
  outbox   render (Jinja2 templates), build (EmailMessage), queue (outbox rows, 100 per
           transaction), then the sender delivers them (claims, SMTP, one commit per mail)

    python bench/outbound.py [--mails 2000]
"""
from __future__ import annotations

import argparse
import smtplib
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=2000)
    args = parser.parse_args()
    n = args.mails

    from helpdesk import config as config_mod, database
    from helpdesk.domain import outbox, tickets, tokens
    from helpdesk.models import db
    from helpdesk.outgoing.sender import Sender
    from tests.smtp import SmtpServer

    server = SmtpServer()
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = config_mod.load_config({"HELPDESK_DATA_DIR": tmp, "HELPDESK_SECRET_KEY": "bench",
                                             "HELPDESK_SMTP_URL": server.url}, dotenv=None)
            database.migrate(database.open_database(config.database_url))
            ticket = tickets.open_ticket(subject="Kamera nie nagrywa", requester_email="jan@example.com")
            history = [{"author": f"Klient {i}", "when": "2026-11-25 10:00 UTC", "text": "Treść wiadomości. " * 40}
                       for i in range(5)]

            def built(i: int):
                subject, text, html = outbox.render("message", "pl", {
                    "ref": "HD-1", "subject": ticket.subject, "status": "open", "message": history[0],
                    "history": history[1:], "link": "http://127.0.0.1:5000/tickets/1", "team": "Pomoc"},
                    contact=outbox.Contact.of(config))
                return outbox.build(
                    mail_from=config.support_address, from_name="Pomoc", to=f"user{i}@example.com", subject=subject,
                    text=text, html=html, message_id=outbox.new_message_id("helpdesk.localhost", ticket.id),
                    reply_to=tokens.reply_address(config.support_address, config.secret_key, ticket.id, f"p{i + 1}"),
                    in_reply_to="start@example.com", loop_marker=config.support_address)

            # The ceiling: the same kind of message, built beforehand, bare smtplib.
            ready = [built(i).as_bytes(policy=outbox.SMTP_POLICY) for i in range(n)]
            start = time.perf_counter()
            with smtplib.SMTP(server.host, server.port) as smtp:
                for i, raw in enumerate(ready):
                    smtp.sendmail(config.support_address, [f"user{i}@example.com"], raw)
            ceiling = n / (time.perf_counter() - start)
            server.received.clear()

            start = time.perf_counter()
            for first in range(0, n, 100):
                with db.atomic():
                    for i in range(first, min(n, first + 100)):
                        outbox.queue(built(i), kind="message", recipient=f"user{i}@example.com", ticket=ticket)
            queued = time.perf_counter()
            sender = Sender(config)
            while sender.send_due(limit=500):
                pass
            end = time.perf_counter()
            assert len(server.received) == n, f"{len(server.received)} of {n} delivered"
    finally:
        server.stop()

    size = sum(map(len, ready)) / n / 1024
    print(f"{n} mails, {size:.1f} KB on average")
    print(f"{'':<34}{'mails/s':>9}{'x ceiling':>11}")
    print(f"{'ceiling: bare smtplib, prebuilt':<34}{ceiling:>9.0f}{1:>11.2f}")
    rate = n / (end - start)
    print(f"{'outbox: render+queue+deliver':<34}{rate:>9.0f}{rate / ceiling:>11.2f}")
    print(f"{'  of which render+queue':<34}{n / (queued - start):>9.0f}")
    print(f"{'  of which deliver':<34}{n / (end - queued):>9.0f}{n / (end - queued) / ceiling:>11.2f}")


if __name__ == "__main__":
    main()
