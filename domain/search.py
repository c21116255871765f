"""Full-text search over tickets (subjects and messages) and contracts, on either database.

One entry point per use: `ticket_condition` (the portal's ticket list and the staff
queue), `contracts_matching` (contract pages), and `write_contracts` (the contract
documents, which `domain.contracts.reindex` builds). Each backend has its own class and
its own SQL, so neither sees the other's:

- SQLite: FTS5 tables (migrations 003 and 006). `contract_search` holds a folded
  document per contract, written here; `ticket_search` and `message_search` are
  contentless and kept up to date by triggers on `ticket` and `message`, so every writer
  (mail worker, portal, staff pages) indexes without knowing it.
- PostgreSQL (migrations 006 and 008): `to_tsvector('simple', helpdesk_fold(...))`, where `helpdesk_fold` is
  lower case without diacritics (`unaccent`, or a translation table where that extension
  cannot be created): an expression index (GIN) on ticket subjects, a `message_search`
  table kept by a trigger on `message`, and a `contract_search` table of the same
  folded contract documents, each a tsvector column with a GIN index.

A contract's document can also be read with the contract (`contract_document`: the folded
words as the index holds them) and matched in Python (`document_matcher`, the index's rule), where
the contracts to look at are few or come in the list's order: a customer's own contracts, or the
first page of a word most contracts have (`domain.contracts`).

A query is the words of the search box (`search_tokens`: letters and digits only,
folded in Python, at most eight), every one required, each as a prefix (from three
characters; shorter ones as whole words): "lodz" finds "Łódź", "drukar" finds "drukarka". Internal notes are searched only for staff.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable

import snowballstemmer
from peewee import SQL, Database, NodeList, Table, fn

from helpdesk import database
from helpdesk.models import Contract, Message, MessageKind, Ticket, db

TOKEN = re.compile(r"[^\W_]+")  # letters and digits of any script: nothing either engine reads as syntax
MAX_TOKENS = 8
MIN_PREFIX = 3  # shorter tokens match whole words only ("5"* would expand to every number indexed)
# Letters NFKD does not decompose; the same table is in migration 006 for PostgreSQL.
FOLD = str.maketrans({"ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ø": "o", "Ø": "o", "ß": "ss", "æ": "ae", "Æ": "ae"})


def fold(text: str) -> str:
    """Lower case without diacritics: "Łódź" -> "lodz"."""
    text = unicodedata.normalize("NFKD", text.translate(FOLD))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def plain_words(text: str) -> str:
    """The runs of letters and digits of a text, one space between: a contract's document as
    both indexes and `document_matcher` read it."""
    return " ".join(TOKEN.findall(text))


def search_tokens(text: str) -> list[str]:
    """The words of a search box: runs of letters and digits, folded; the rest is ignored."""
    return [token[:64] for token in TOKEN.findall(fold(text or ""))][:MAX_TOKENS]


def fts5_match(tokens: list[str]) -> str:
    """An FTS5 query: every token a quoted prefix term (a whole word when shorter than
    MIN_PREFIX), all required. Tokens are letters and digits only: the quotes hold."""
    return " AND ".join(f'"{token}"*' if len(token) >= MIN_PREFIX else f'"{token}"' for token in tokens)


# --- stems, for the knowledge base's articles (Polish and English) ---------------------------

STEM_LANGUAGES = ("polish", "english")
_stemmers = threading.local()  # a Snowball stemmer keeps state while it works: one per thread


def _stem(word: str) -> list[str]:
    """The word's Polish and English stems (Snowball), each folded."""
    found = getattr(_stemmers, "all", None)
    if found is None:
        found = _stemmers.all = [snowballstemmer.stemmer(name) for name in STEM_LANGUAGES]
    return [fold(stemmer.stemWord(word)) for stemmer in found]


def stemmed_document(text: str) -> str:
    """A text's words folded, each followed by its stems in both languages (those that
    differ): "drukarkę" -> "drukarke drukark", "printers" -> "printers printer"."""
    out: list[str] = []
    for word in TOKEN.findall((text or "").lower()):
        folded = fold(word)
        out.append(folded)
        out += [stem for stem in dict.fromkeys(_stem(word)) if stem and stem != folded]
    return " ".join(out)


def stemmed_terms(text: str) -> list[list[str]]:
    """The words of a search box, each as the alternatives any one of which must match:
    the folded word and its stems ("drukarki" finds "drukarka": both stem to "drukark")."""
    terms = []
    for word in TOKEN.findall((text or "").lower())[:MAX_TOKENS]:
        word = word[:64]
        terms.append(list(dict.fromkeys([fold(word), *(s for s in _stem(word) if s)])))
    return terms


def _fts5_alternatives(terms: list[list[str]]) -> str:
    one = lambda t: f'"{t}"*' if len(t) >= MIN_PREFIX else f'"{t}"'  # noqa: E731
    return " AND ".join("(" + " OR ".join(one(t) for t in alternatives) + ")" for alternatives in terms)


def _ts_alternatives(terms: list[list[str]]) -> str:
    one = lambda t: f"{t}:*" if len(t) >= MIN_PREFIX else t  # noqa: E731
    return " & ".join("(" + " | ".join(one(t) for t in alternatives) + ")" for alternatives in terms)


class _Sqlite:
    match = staticmethod(fts5_match)
    row_by_row = True  # a cursor steps the statement as it is read

    match_articles = staticmethod(_fts5_alternatives)

    def article_ids(self, match: str):
        return SQL("(SELECT rowid FROM article_search WHERE article_search MATCH ?)", [match])

    def write_articles(self, bodies: list[tuple[int, str]]) -> None:
        ids = [i for i, _ in bodies]
        db.execute_sql(f"DELETE FROM article_search WHERE rowid IN ({', '.join('?' * len(ids))})", ids)
        db.connection().executemany("INSERT INTO article_search (rowid, body) VALUES (?, ?)", bodies)

    def contract_ids(self, tokens):
        return SQL("(SELECT rowid FROM contract_search WHERE contract_search MATCH ?)", [self.match(tokens)])

    def contracts_matching(self, query, tokens, plan: str):
        if plan == INDEX_ORDER:  # the index's matches one by one, each contract by its id
            index = Table("contract_search")
            return (query.join(index, on=(index.c.rowid == Contract.id))
                    .where(NodeList((index.c.contract_search, SQL("MATCH ?", [self.match(tokens)])))))
        if plan == QUERY_ORDER:  # the unary + keeps SQLite off the id: it walks the ORDER BY's index instead
            return query.where(database.unindexed(Contract.id).in_(self.contract_ids(tokens)))
        return query.where(Contract.id.in_(self.contract_ids(tokens)))

    def contract_document(self):
        index = Table("contract_search")
        return index.select(index.c.body).where(index.c.rowid == Contract.id)

    def ticket_ids(self, tokens):
        return SQL("(SELECT rowid FROM ticket_search WHERE ticket_search MATCH ?)", [self.match(tokens)])

    def message_ids(self, tokens):
        return SQL("(SELECT rowid FROM message_search WHERE message_search MATCH ?)", [self.match(tokens)])

    def write_contracts(self, ids: list[int], bodies: list[tuple[int, str]]) -> None:
        # Only the words, one space between (as PostgreSQL keeps them): FTS5's tokenizer knows
        # Unicode 6.1, so a later sign or a bidi mark would join two words for it and not for
        # `document_matcher`, which reads these documents too (migration 029).
        bodies = [(i, plain_words(body)) for i, body in bodies]
        db.execute_sql(f"DELETE FROM contract_search WHERE rowid IN ({', '.join('?' * len(ids))})", ids)
        db.connection().executemany("INSERT INTO contract_search (rowid, body) VALUES (?, ?)", bodies)


class _Postgres:
    row_by_row = False  # psycopg2 fetches the whole result at once
    match_articles = staticmethod(_ts_alternatives)

    def article_ids(self, match: str):
        return SQL("(SELECT article_id FROM article_search WHERE document @@ to_tsquery('simple', %s))", [match])

    def write_articles(self, bodies: list[tuple[int, str]]) -> None:
        ids = [i for i, _ in bodies]
        db.execute_sql(f"DELETE FROM article_search WHERE article_id IN ({', '.join(['%s'] * len(ids))})", ids)
        for article_id, body in bodies:
            db.execute_sql("INSERT INTO article_search (article_id, document) VALUES (%s, to_tsvector('simple', %s))",
                           [article_id, body])

    @staticmethod
    def query(tokens: list[str]) -> str:
        """A tsquery: every token a prefix, all required (tokens are letters and digits only)."""
        return " & ".join(f"{token}:*" if len(token) >= MIN_PREFIX else token for token in tokens)

    def contract_ids(self, tokens):
        return SQL("(SELECT contract_id FROM contract_search WHERE document @@ to_tsquery('simple', %s))",
                   [self.query(tokens)])

    def contracts_matching(self, query, tokens, plan: str):
        return query.where(Contract.id.in_(self.contract_ids(tokens)))  # the planner chooses from its statistics

    def contract_document(self):  # the tsvector's lexemes, one space between: the words as indexed
        index = Table("contract_search")
        return (index.select(fn.array_to_string(fn.tsvector_to_array(index.c.document), " "))
                .where(index.c.contract_id == Contract.id))

    def ticket_ids(self, tokens):
        return SQL("(SELECT id FROM ticket WHERE to_tsvector('simple', helpdesk_fold(subject)) "
                   "@@ to_tsquery('simple', %s))", [self.query(tokens)])

    def message_ids(self, tokens):
        return SQL("(SELECT message_id FROM message_search WHERE document @@ to_tsquery('simple', %s))",
                   [self.query(tokens)])

    def write_contracts(self, ids: list[int], bodies: list[tuple[int, str]]) -> None:
        bodies = [(i, plain_words(body)) for i, body in bodies]  # words as FTS5 sees them
        db.execute_sql(f"DELETE FROM contract_search WHERE contract_id IN ({', '.join(['%s'] * len(ids))})", ids)
        if bodies:
            values = ", ".join(["(%s, to_tsvector('simple', %s))"] * len(bodies))
            db.execute_sql(f"INSERT INTO contract_search (contract_id, document) VALUES {values}",
                           [v for pair in bodies for v in pair])


def _backend(database_: Database | None = None):
    return _Sqlite() if database.is_sqlite(database_ or db.obj) else _Postgres()


# How a search of contracts is read (SQLite; PostgreSQL plans each the same way from its statistics).
INDEX_ORDER = "index"  # from the full-text index, match by match: a count that stops early, or few matches sorted
QUERY_ORDER = "query"  # along the index of the query's ORDER BY, keeping the matches: the first page of many
LIST = "list"  # the matches' ids as a list the planner uses as it likes (the customer's few verified contracts)


def contracts_matching(query, tokens: list[str], plan: str = LIST):
    """`query` (of contracts) narrowed to those whose document has every token, read as
    `plan` says: with 25,000 matches, sorting them all by number costs 40 ms where walking
    the number index to the first 50 costs the list of ids alone, and a count up to 1,000
    stops after 1,000 matches instead of listing all 25,000 first."""
    return _backend().contracts_matching(query, tokens, plan)


def contract_document():
    """A subquery for a contract query's select list: the contract's indexed document, its
    words folded with one space or more between them (NULL when it has none)."""
    return _backend().contract_document()


def reads_row_by_row() -> bool:
    """Whether a query's rows are worked out as they are read (SQLite), so that stopping early
    saves the rest; PostgreSQL's driver has every row of the LIMIT sent first."""
    return _backend().row_by_row


def _has_word(document: str, token: str, whole: bool) -> bool:
    """Whether a word of `document` starts with `token` (is `token`, when `whole`). A word is
    a run of letters and digits (`TOKEN`), as the index's tokenizer splits the folded text."""
    at = document.find(token)
    while at >= 0:
        end = at + len(token)
        if (at == 0 or not document[at - 1].isalnum()) and (
                not whole or end == len(document) or not document[end].isalnum()):
            return True
        at = document.find(token, at + 1)
    return False


def document_matcher(tokens: list[str]) -> Callable[[str | None], bool]:
    """Whether a `contract_document` has every token, by the index's rule (`fts5_match`): a
    word starting with each (the whole word when shorter than MIN_PREFIX). str.find first:
    0.4 µs a document where a regular expression with a look-behind took 6."""
    needed = [(token, len(token) < MIN_PREFIX) for token in tokens]
    return lambda document: document is not None and all(_has_word(document, t, whole) for t, whole in needed)


def ticket_condition(tokens: list[str], *, staff: bool):
    """Tickets whose subject, or one of whose messages, has every token (as a word
    prefix); customers' searches skip internal notes."""
    backend = _backend()
    messages = Message.select(Message.ticket).where(Message.id.in_(backend.message_ids(tokens)))
    if not staff:
        messages = messages.where(Message.kind != MessageKind.NOTE.value)
    return Ticket.id.in_(backend.ticket_ids(tokens)) | Ticket.id.in_(messages)


def article_condition(field, terms: list[list[str]]):
    """Articles (`field`: Article.id) whose document matches every term (`stemmed_terms`)."""
    return articles_matching(field, article_match(terms))


def article_match(terms: list[list[str]]) -> str:
    """The backend's query text for `article_condition(terms)`: the value a query built once
    (`domain.prepared`) passes to `articles_matching`."""
    return _backend().match_articles(terms)


def articles_matching(field, match: str):
    return field.in_(_backend().article_ids(match))


def write_articles(bodies: list[tuple[int, str]]) -> None:
    """Replace the search documents of these articles (inside the caller's transaction)."""
    if bodies:
        _backend().write_articles(bodies)


def message_hits(messages, tokens: list[str], limit: int) -> list[Message]:
    """The newest `limit` of `messages` (a query of one ticket's messages, newest first) that
    have every token, as the ticket search finds them (id and date only)."""
    return list(messages.select(Message.id, Message.created_at, Message.author_name, Message.author_email)
                .where(Message.id.in_(_backend().message_ids(tokens))).limit(limit))


def write_contracts(ids: list[int], bodies: list[tuple[int, str]]) -> None:
    """Replace the search documents of these contracts (inside the caller's transaction)."""
    _backend().write_contracts(ids, bodies)


def like_any(fields, token: str):
    """A condition: the token anywhere in any of the fields, case aside (ILIKE on
    PostgreSQL, whose LIKE is case-sensitive; SQLite's LIKE already ignores ASCII case)."""
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", token) + "%"
    op = "LIKE" if database.is_sqlite(db.obj) else "ILIKE"
    condition = None
    for field in fields:
        term = NodeList((field, SQL(op), pattern, SQL("ESCAPE '\\'")))
        condition = term if condition is None else (condition | term)
    return condition
