"""parse() and classify() over every message of the shared corpus (../shared/corpus)."""
from __future__ import annotations

import functools

import pytest

from helpdesk.inbox_worker.classify import classify
from helpdesk.inbox_worker.message import Inbound
from helpdesk.inbox_worker.parse import ParseError, parse

from .conftest import CORPUS, corpus_rows, need_corpus

ROWS = corpus_rows()
SUPPORT = ("support@helpdesk.localhost",)

# Labels we knowingly disagree with, and why. A row that starts to agree fails (strict xfail),
# so the list shrinks as the parser improves and cannot hide a regression elsewhere.
KNOWN_SUBJECT_MISSES = {
    "ruby-mail/error_emails/invalid_subject_characters.eml":
        "the mail gem drops the 8-bit characters; we decode them (Formação, Verão)",
}
KNOWN_FROM_MISSES: dict[str, str] = {}
KNOWN_BOUNCE_MISSES = {
    "bounceparser/spam-lots-of-bogus-addresses.msg": "plain spam that BounceParser labels a bounce",
}
KNOWN_FALSE_BOUNCES = {
    "bounceparser/boxbe-cr2.msg": "a challenge/response DSN (Action: delayed, 'Sender not pre-approved')",
    "bounceparser/whitelist.msg": "a challenge/response server's 550 bounce ('requires confirmation')",
}
NORMAL_AGREEMENT = 0.9


@functools.lru_cache(maxsize=None)
def parsed(path: str) -> Inbound:
    return parse((CORPUS / path).read_bytes())


def rows_where(predicate, known: dict[str, str] | None = None) -> list:
    known = known or {}
    params = []
    for row in ROWS:
        if not predicate(row):
            continue
        marks = [pytest.mark.xfail(strict=True, reason=known[row["path"]])] if row["path"] in known else []
        params.append(pytest.param(row, id=row["path"], marks=marks))
    return params or [pytest.param(None, id="no-corpus")]


def kind_of(row) -> str:
    return classify(parsed(row["path"]), support_addresses=SUPPORT).kind


@pytest.mark.slow
@pytest.mark.parametrize("row", rows_where(lambda r: True))
def test_parse_never_crashes(row):
    need_corpus()
    try:
        inbound = parsed(row["path"])
    except ParseError as exc:  # allowed by the contract, but none is expected in this corpus
        pytest.fail(f"ParseError: {exc}")
    assert inbound.message_id and inbound.raw_sha256 and inbound.size > 0
    assert all("/" not in p.filename and "\\" not in p.filename and ".." not in p.filename
               for p in inbound.attachments)
    assert inbound.html is None or "<script" not in inbound.html.lower()
    classify(inbound, support_addresses=SUPPORT)


@pytest.mark.parametrize("row", rows_where(lambda r: r["expected_from"], KNOWN_FROM_MISSES))
def test_expected_from(row):
    need_corpus()
    assert parsed(row["path"]).from_addr == row["expected_from"].lower()


@pytest.mark.parametrize("row", rows_where(lambda r: r["expected_subject"], KNOWN_SUBJECT_MISSES))
def test_expected_subject(row):
    need_corpus()
    assert " ".join(parsed(row["path"]).subject.split()) == " ".join(row["expected_subject"].split())


@pytest.mark.parametrize("row", rows_where(lambda r: r["is_bounce"] == "1", KNOWN_BOUNCE_MISSES))
def test_labelled_bounces_are_bounces(row):
    need_corpus()
    assert kind_of(row) == "bounce"


@pytest.mark.parametrize("row", rows_where(lambda r: r["is_bounce"] == "0", KNOWN_FALSE_BOUNCES))
def test_labelled_non_bounces_are_not_bounces(row):
    need_corpus()
    assert kind_of(row) != "bounce"


@pytest.mark.parametrize("row", rows_where(lambda r: r["is_autoreply"] == "1"))
def test_labelled_autoreplies_are_autoreplies(row):
    need_corpus()
    assert kind_of(row) == "autoreply"


def test_people_are_mostly_normal():
    need_corpus()
    rows = [r for r in ROWS if r["is_bounce"] == "0" and r["is_autoreply"] == "0"]
    misses = [(r["path"], classify(parsed(r["path"]), support_addresses=SUPPORT)) for r in rows
              if kind_of(r) != "normal"]
    for path, found in misses:
        print(f"not normal: {path}: {found.kind} ({found.reason})")
    assert rows and 1 - len(misses) / len(rows) >= NORMAL_AGREEMENT


def test_bounces_name_their_failed_recipients_mostly():
    need_corpus()
    bounces = [parsed(r["path"]) for r in ROWS if r["is_bounce"] == "1" and kind_of(r) == "bounce"]
    with_failed = [b for b in bounces if b.report and b.report.failed]
    print(f"{len(with_failed)} of {len(bounces)} bounces name a failed recipient")
    assert len(with_failed) / len(bounces) >= 0.8


def test_the_bundled_corpus_is_complete_and_permissively_licensed():
    """tests/mail/corpus: what a clone without ../shared parses; every file listed, every
    folder's licence given in full, none copyleft."""
    import csv

    from .conftest import BUNDLED_CORPUS

    with open(BUNDLED_CORPUS / "MANIFEST.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    files = {str(p.relative_to(BUNDLED_CORPUS)) for p in BUNDLED_CORPUS.rglob("*")
             if p.is_file() and p.name not in ("MANIFEST.csv", "LICENSES.md")}
    assert len(rows) >= 50 and {r["path"] for r in rows} == files
    licences = (BUNDLED_CORPUS / "LICENSES.md").read_text(encoding="utf-8")
    table = [line for line in licences.splitlines() if line.startswith("| `")]
    assert {line.split("`")[1].rstrip("/") for line in table} == {r["path"].split("/")[0] for r in rows}
    assert not [line for line in table if "GPL" in line or "Perl" in line]
    for folder in {r["path"].split("/")[0] for r in rows}:
        assert f"### `{folder}/`" in licences
