"""Parser benchmark: our parser (`inbox_worker.parse`) against mail-parser, on the same bytes.

Two sets: bench/ingest.py's helpdesk-like mix (about 37 KB a message) and the real mails
of the corpus (the shared one beside the clone, else tests/mail/corpus). For each parser:
messages a second on one core (best of `--rounds`), mails it raised on, and on the
corpus how often the From and Subject agree with the manifest's labels. mail-parser's
numbers are for parsing alone: it gives no thread, bounce or auto-reply facts, which
our parse() computes in the same pass.

    pip install mail-parser; python bench/parsers.py [--messages 1000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import csv
import time
from email.utils import parseaddr
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def corpus() -> list[tuple[dict, bytes]]:
    shared = REPO.parent / "shared" / "corpus"
    root = shared if (shared / "MANIFEST.csv").is_file() else REPO / "tests" / "mail" / "corpus"
    with open(root / "MANIFEST.csv", encoding="utf-8") as f:
        return [(row, (root / row["path"]).read_bytes()) for row in csv.DictReader(f)]


def ours(raw: bytes) -> tuple[str, str]:
    from helpdesk.inbox_worker.parse import parse

    inbound = parse(raw)
    return inbound.from_addr, inbound.subject


def theirs(raw: bytes) -> tuple[str, str]:
    import mailparser

    mail = mailparser.parse_from_bytes(raw)
    sender = mail.from_[0][1] if mail.from_ else ""
    subject = mail.subject or ""
    return str(sender or "").lower(), subject if isinstance(subject, str) else " ".join(map(str, subject))


def measure(parse, mails: list[bytes], rounds: int) -> tuple[float, int]:
    """(messages a second, best round; how many raised)."""
    best, failed = 0.0, 0
    for _ in range(rounds):
        failed = 0
        start = time.perf_counter()
        for raw in mails:
            try:
                parse(raw)
            except Exception:  # noqa: BLE001 - counted: a parser that raises loses the mail
                failed += 1
        best = max(best, len(mails) / (time.perf_counter() - start))
    return best, failed


def agreement(parse, rows: list[tuple[dict, bytes]]) -> tuple[str, str]:
    senders = subjects = sender_total = subject_total = 0
    for row, raw in rows:
        try:
            sender, subject = parse(raw)
        except Exception:  # noqa: BLE001
            sender, subject = "", ""
        if row["expected_from"]:
            sender_total += 1
            senders += sender == parseaddr(row["expected_from"])[1].lower()
        if row["expected_subject"]:
            subject_total += 1
            subjects += " ".join(subject.split()) == " ".join(row["expected_subject"].split())
    return f"{senders}/{sender_total}", f"{subjects}/{subject_total}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from ingest import make_mix  # bench/ is the script's folder

    mix = make_mix(args.messages)
    rows = corpus()
    real = [raw for _, raw in rows]
    print(f"mix: {len(mix)} messages, {sum(map(len, mix)) / len(mix) / 1024:.0f} KB on average; "
          f"corpus: {len(real)} messages")
    print(f"{'parser':12} {'mix msg/s':>10} {'raised':>7} {'corpus msg/s':>13} {'raised':>7} "
          f"{'From agrees':>12} {'Subject agrees':>15}")
    try:
        import mailparser  # noqa: F401 - not a dependency: `pip install mail-parser` to compare
        parsers = (("ours", ours), ("mail-parser", theirs))
    except ImportError:
        print("(mail-parser is not installed: `pip install mail-parser` to compare with it)")
        parsers = (("ours", ours),)
    for name, parse in parsers:
        parse(mix[0])  # imports outside the clock
        mix_rate, mix_failed = measure(parse, mix, args.rounds)
        real_rate, real_failed = measure(parse, real, args.rounds)
        senders, subjects = agreement(parse, rows)
        print(f"{name:12} {mix_rate:10.0f} {mix_failed:7d} {real_rate:13.0f} {real_failed:7d} {senders:>12} {subjects:>15}")


if __name__ == "__main__":
    main()
