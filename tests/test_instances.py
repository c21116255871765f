"""Several instances on one database (issue 8): two workers on one Dovecot mailbox and two
senders on one outbox, a few hundred messages; on SQLite and on PostgreSQL alike.

Each message becomes exactly one ticket or one reply, the ledger has each server message
once, and every outgoing mail reaches the SMTP server once.
"""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from peewee import fn

from helpdesk.inbox_worker import claims
from helpdesk.inbox_worker.pipeline import Summary, Worker
from helpdesk.models import InboundClaim, InboundMail, Message, Outbox, Ticket, db, utcnow
from helpdesk.outgoing.sender import Sender
from tests.mailfactory import make_mail

pytestmark = pytest.mark.slow

NEW = 200  # new tickets, from as many senders
REPLIES = 100  # then a reply to the first hundred of them


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def in_threads(count: int, work) -> list:
    """Run work(i) in `count` threads at once; their results, or the first error raised."""
    results: list = [None] * count
    errors: list = []
    start = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = work(i)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            if not db.is_closed():
                db.close()  # this thread's connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not any(t.is_alive() for t in threads), "a worker or sender did not finish"
    if errors:
        raise errors[0]
    return results


def run_workers(config) -> list[Summary]:
    def work(_):
        with Worker(config, parse_workers=0) as worker:
            return worker.run_once()

    return in_threads(2, work)


def append_all(dovecot, url: str, raws: list[bytes]) -> None:
    with dovecot.client(url) as c:
        for raw in raws:
            c.append("INBOX", crlf(raw))


def test_two_workers_and_two_senders_share_one_mailbox_and_one_outbox(config, db, dovecot, imap_url,
                                                                      smtp_server):
    config = config.with_(mailbox_url=imap_url, fetch_batch=10, smtp_url=smtp_server.url)
    firsts = [make_mail(f"Dzień dobry,\n\nusterka numer {i}.\n", From=f"Klient {i} <klient{i}@example.com>",
                        Subject=f"Usterka {i}", Message_ID=f"<first-{i}@example.com>") for i in range(NEW)]
    append_all(dovecot, imap_url, firsts)
    first_pass = run_workers(config)
    replies = [make_mail(f"Nadal nie działa ({i}).\n", From=f"klient{i}@example.com", Subject=f"Re: Usterka {i}",
                         In_Reply_To=f"<first-{i}@example.com>", Message_ID=f"<reply-{i}@example.com>")
               for i in range(REPLIES)]
    append_all(dovecot, imap_url, replies)
    second_pass = run_workers(config)

    # Both workers did part of the work, and no message was processed twice.
    outcomes = Counter()
    for summary in first_pass + second_pass:
        outcomes.update(summary.outcomes)
    assert outcomes == {"new_ticket": NEW, "reply": REPLIES}
    assert all(s.processed for s in first_pass), "one worker did nothing: claims did not share the work"
    ledger = list(InboundMail.select(InboundMail.uid, InboundMail.outcome))
    assert len(ledger) == NEW + REPLIES == len({row.uid for row in ledger})
    assert Ticket.select().count() == NEW
    per_message_id = (Message.select(Message.message_id, fn.COUNT(Message.id).alias("n"))
                      .where(Message.inbound.is_null(False)).group_by(Message.message_id))
    assert sorted(row.n for row in per_message_id) == [1] * (NEW + REPLIES)
    for i in range(REPLIES):  # each reply joined its own ticket
        first = Message.get(Message.message_id == f"first-{i}@example.com")
        reply = Message.get(Message.message_id == f"reply-{i}@example.com")
        assert reply.ticket_id == first.ticket_id
    assert InboundClaim.select().count() == 0  # every claim released after its commit
    # Every message is marked done on the server.
    assert set(dovecot.uids(imap_url, criteria=["UNKEYWORD", "$HelpdeskDone"])) == set()

    # Two senders on one outbox: each mail reaches the server once.
    queued = Outbox.select().count()
    assert queued >= NEW  # an acknowledgement per new ticket at least

    def send(_):
        sender = Sender(config)
        sent = Counter()
        while batch := sender.send_due(limit=10):
            sent.update(batch)
        return sent

    results = in_threads(2, send)
    assert sum(r["sent"] for r in results) == queued
    received = Counter(got.message["Message-ID"] for got in smtp_server.received)
    assert len(received) == queued and set(received.values()) == {1}
    assert Outbox.select().where(Outbox.status != "sent").count() == 0


def test_a_claim_keeps_a_message_from_a_second_worker_until_it_runs_out(db):
    now = utcnow()
    assert claims.claim("a", "box", 7, ["1", "2", "3"], now) == (["1", "2", "3"], [])
    assert claims.claim("b", "box", 7, ["2", "3", "4"], now) == (["4"], [])
    assert claims.claim("a", "box", 7, ["1"], now) == (["1"], [])  # a worker keeps its own
    later = now + claims.LEASE * 2  # "a" died: its claims run out
    assert claims.claim("b", "box", 7, ["1", "2"], later) == (["1", "2"], [])
    claims.release("b", "box", 7, ["1", "2", "4"])
    assert [c.uid for c in InboundClaim.select()] == ["3"]
