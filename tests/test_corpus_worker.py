"""Every message of the shared corpus through the worker: none stops it, each ends with
exactly one recorded outcome, and bounces and auto-replies open no ticket."""
from __future__ import annotations

from collections import Counter

import pytest

from models import InboundMail, Ticket
from tests.conftest import CORPUS, corpus_rows, need_corpus

pytestmark = pytest.mark.slow


def test_the_whole_corpus_goes_through_the_worker(desk):
    need_corpus()
    rows = corpus_rows()
    keys = {}
    for row in rows:
        keys[desk.deliver((CORPUS / row["path"]).read_bytes())] = row
    summary = desk.run(parse_workers=1)

    ledger = {r.uid: r for r in InboundMail.select()}
    assert set(ledger) == set(keys), "every message has exactly one ledger row"
    assert summary.processed == len(rows)
    assert desk.waiting() == 0

    opened = {}
    for key, row in keys.items():
        entry = ledger[key]
        if entry.outcome == "new_ticket":
            opened[row["path"]] = entry
    wrongly_opened = sorted(p for p, r in ((r["path"], r) for r in rows)
                            if (r["is_bounce"] == "1" or r["is_autoreply"] == "1") and p in opened)
    assert wrongly_opened == []

    outcomes = Counter(r.outcome for r in ledger.values())
    print(f"\ncorpus: {len(rows)} messages -> {dict(outcomes)}; {Ticket.select().count()} tickets")
    assert outcomes["quarantined"] <= 3, [
        (r.uid, r.reason) for r in ledger.values() if r.outcome == "quarantined"]


def test_expected_senders_and_subjects_reach_the_ledger(desk):
    need_corpus()
    labelled = [r for r in corpus_rows() if r["expected_from"] or r["expected_subject"]]
    keys = {desk.deliver((CORPUS / r["path"]).read_bytes()): r for r in labelled}
    desk.run()
    wrong = []
    for entry in InboundMail.select():
        row = keys[entry.uid]
        if row["expected_from"] and entry.from_addr != row["expected_from"].lower():
            wrong.append((row["path"], "from", entry.from_addr, row["expected_from"]))
        if row["expected_subject"] and " ".join(entry.subject.split()) != " ".join(row["expected_subject"].split()):
            wrong.append((row["path"], "subject", entry.subject, row["expected_subject"]))
    # A few labels are beyond any reasonable parser (see tests/test_corpus.py for the known misses).
    assert len(wrong) <= max(3, len(labelled) // 50), wrong
