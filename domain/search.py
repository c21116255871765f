"""Full-text search over tickets (subjects and messages) and contracts, on either database.

One entry point per use: `tickets_found` (the portal's ticket list, the staff queue and the
API: how a list's first page of matches is read), `message_hits` (a ticket's page),
`contracts_matching` (contract pages), and `write_contracts` (the contract
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

import dataclasses
import functools
import operator
import re
import threading
import unicodedata
from collections.abc import Callable

import snowballstemmer
from peewee import SQL, Database, Field, NodeList, Table, fn

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

    def words(self, index: str, tokens: list[str]) -> Words | None:
        """The tokens as `index` (message_search, ticket_search) is asked for them: each prefix
        as the indexed words it stands for (migration 038), so that FTS5 can look up one row and
        read only as far as asked; a prefix of more than EXPAND_UP_TO words stays a prefix (and
        the query is not `seekable`). None: a token no indexed word starts with (nothing matches)."""
        parts, seekable = [], True
        version = None
        for token in tokens:
            if len(token) < MIN_PREFIX:
                parts.append(_quoted(token))
                continue
            if version is None:
                version = _index_version(index)
            found = _indexed_words(index, token, EXPAND_UP_TO + 1, version)
            if not found:
                return None
            if len(found) > EXPAND_UP_TO:
                parts.append(_quoted(token) + "*")
                seekable = False
            else:
                parts.append("(" + " OR ".join(_quoted(word) for word in found) + ")")
        return Words(" AND ".join(parts), seekable)

    def how_many(self, words: Words, most: int) -> int:
        """The messages that match, counted up to `most` (FTS5 stops there)."""
        sql = "SELECT count(*) FROM (SELECT 1 FROM message_search WHERE message_search MATCH ? LIMIT ?)"
        return db.execute_sql(sql, [words.match, most]).fetchone()[0]

    def ticket_ids(self, words: Words):
        return SQL("(SELECT rowid FROM ticket_search WHERE ticket_search MATCH ?)", [words.match])

    def message_ids(self, words: Words):
        return SQL("(SELECT rowid FROM message_search WHERE message_search MATCH ?)", [words.match])

    def messages_by_id(self):
        """The message table read for the tickets of a list of messages: through the index of each
        message's ticket and kind (migration 044), not the rows, which hold the bodies (random
        reads: 53 ms against 16 for 20,000 matches among 1,000,000 messages)."""
        return NodeList((Message, SQL("INDEXED BY message_id_ticket_kind")))

    def tickets_listed(self, subjects: Words | None, having) -> list:
        """Conditions, any of which a ticket that matches meets: its id among the subjects that
        have the words, or among the tickets of `having` (a query of the matching messages'
        ticket ids); each a list SQLite makes once. Reached when a search's matches are few,
        or sparse in the list (`Found.probe` found too few in its window): then the matching
        tickets alone are read and sorted, fewer rows than a walk of the list would read to
        find them (a word in every message of 250 of 50,000 tickets: 7.2 ms against 7.9)."""
        return ([Ticket.id.in_(self.ticket_ids(subjects))] if subjects is not None else []) + \
            ([Ticket.id.in_(having)] if having is not None else [])

    @staticmethod
    def probed_below() -> int:
        return PROBED_BELOW

    @staticmethod
    def walked(key):
        """The key, kept from driving the query: SQLite reads the ORDER BY's index instead (a
        long ticket's messages, each looked up in the list of the matches' ids)."""
        return database.unindexed(key)

    def subject_has(self, words: Words):
        """A condition on one ticket: its subject has the words. The subjects that do, listed
        (a ticket's id looked up in FTS5 took 0.3 ms where its subject did not match)."""
        return Ticket.id.in_(self.ticket_ids(words))

    def messages_have(self, words: Words, notes: bool):
        """A condition on one ticket: one of its messages (its notes only when `notes`) has the
        words, each message looked up in the index by its id (CROSS JOIN: the ticket's
        messages first, never the index's whole list of matches for each ticket)."""
        kind = "" if notes else " AND m.kind != ?"
        return NodeList((SQL("EXISTS (SELECT 1 FROM message AS m CROSS JOIN message_search AS s ON s.rowid = m.id "
                             "WHERE m.ticket_id ="), Ticket.id,
                         SQL(f"AND s.message_search MATCH ?{kind})",
                             [words.match, *([] if notes else [MessageKind.NOTE.value])])))

    def messages_probed(self, words: Words, notes: bool, count: int):
        """A condition on one ticket: one of its messages (its notes only when `notes`) is in the
        list of the messages that have the words, made once a statement (FTS5 reads the ids
        alone: 1 ms for 20,000), each of the ticket's messages looked up in it (the unary +: the
        ticket's messages first, from the index on ticket_id; the kind read only for those)."""
        kind = "" if notes else " AND m.kind != ?"
        return NodeList((SQL("EXISTS (SELECT 1 FROM message AS m WHERE m.ticket_id ="), Ticket.id,
                         SQL(f"AND +m.id IN (SELECT rowid FROM message_search WHERE message_search MATCH ?){kind})",
                             [words.match, *([] if notes else [MessageKind.NOTE.value])])))

    def message_has(self, words: Words):
        """A condition on one message: it has the words (looked up by its id)."""
        return NodeList((SQL("EXISTS (SELECT 1 FROM message_search WHERE message_search MATCH ? AND rowid =",
                             [words.match]), Message.id, SQL(")")))

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

    def words(self, index: str, tokens: list[str]) -> Words:
        """A tsquery: a message's stored tsvector answers it row by row, prefixes and all."""
        return Words(self.query(tokens), True)

    def how_many(self, words: Words, most: int) -> int:
        """The messages that match, as the planner's statistics put it (a GIN index has no
        count that stops early: the list of a common word costs 100 ms to build)."""
        return _estimated_messages(words.match.split(" & "), most)

    def ticket_ids(self, words: Words):
        return SQL("(SELECT id FROM ticket WHERE to_tsvector('simple', helpdesk_fold(subject)) "
                   "@@ to_tsquery('simple', %s))", [words.match])

    def message_ids(self, words: Words):
        return SQL("(SELECT message_id FROM message_search WHERE document @@ to_tsquery('simple', %s))",
                   [words.match])

    def messages_by_id(self):
        return Message  # the planner weighs the index of each message's ticket and kind itself

    @staticmethod
    def walked(key):
        return key  # the planner chooses from its statistics

    @staticmethod
    def probed_below() -> int:
        return LIST_BELOW

    def messages_probed(self, words: Words, notes: bool, count: int):
        """As SQLite's, for fewer matches than `probed_below`: PostgreSQL's list of them costs
        2-3 µs a match to make, from message_search's rows (50,000: 150 ms, where asking a window
        message by message took 21), and it hashes the list once a statement. OFFSET 0 keeps the
        list a subplan of its own: joined instead, each message's stored tsvector was read and
        asked (100 ms for a window of 1,000 tickets, against 35)."""
        if count >= self.probed_below():
            return None
        if _estimated_messages(words.match.split(" & "), WALK_FROM, known_only=True) < WALK_FROM:
            return None  # a word the statistics do not know: their guess, not a count (the list is likely short)
        kind = " AND m.kind <> %s" if not notes else ""
        return NodeList((SQL("EXISTS (SELECT 1 FROM message AS m WHERE m.ticket_id ="), Ticket.id,
                         SQL(f"AND m.id IN (SELECT message_id FROM message_search WHERE document @@ "
                             f"to_tsquery('simple', %s) OFFSET 0){kind})",
                             [words.match, *([] if notes else [MessageKind.NOTE.value])])))

    def tickets_listed(self, subjects: Words | None, having) -> list:
        """One condition: the ticket's id in the UNION of the subjects' and `having`'s lists. An OR
        of two IN (subquery) has PostgreSQL walk every ticket testing both (60-290 ms for a word
        nobody wrote); one IN is a join it can start from the few matches."""
        lists = ([Ticket.select(Ticket.id).where(self.subject_has(subjects))] if subjects is not None else []) + \
            ([having] if having is not None else [])
        return [Ticket.id.in_(functools.reduce(operator.or_, lists))] if lists else []

    def subject_has(self, words: Words):
        return NodeList((SQL("to_tsvector('simple', helpdesk_fold("), Ticket.subject,
                         SQL(")) @@ to_tsquery('simple', %s)", [words.match])))

    def messages_have(self, words: Words, notes: bool):
        kind = "" if notes else " AND m.kind <> %s"
        return NodeList((SQL("EXISTS (SELECT 1 FROM message AS m JOIN message_search AS s ON s.message_id = m.id "
                             "WHERE m.ticket_id ="), Ticket.id,
                         SQL(f"AND s.document @@ to_tsquery('simple', %s){kind})",
                             [words.match, *([] if notes else [MessageKind.NOTE.value])])))

    def message_has(self, words: Words):
        return NodeList((SQL("EXISTS (SELECT 1 FROM message_search AS s WHERE s.message_id ="), Message.id,
                         SQL("AND s.document @@ to_tsquery('simple', %s))", [words.match])))

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


# --- ticket search: its matches read in a list's order (issue 18) ---------------------------------
#
# A word in few messages: their tickets are listed first, then put in the list's order (as many
# as match: cheap). A word in many messages (a product's name in a product's helpdesk): listing
# them all first cost 2 s for a word in most of a million messages. Then the list is read in its
# own order, ticket by ticket, each asked whether its subject or one of its messages has the
# words, until the page is full: the first tickets mostly match. When few of the first WINDOW do
# after all (a word in many messages of a few tickets), the list of matches is read as for a rare
# word. Either way every match is found, in the list's order.

LIST_BELOW = 20_000  # matching messages below which their tickets are listed first
WALK_FROM = 1_000  # matching messages from which a list's first rows are looked up in the list of them
# SQLite: matching messages below which a ticket search does not ask a window of the list's
# tickets message by message first, but probes one in the list of the matches' ids
# (`Found.probe`): that list costs 0.05 µs a match to make, and asking a message 10 µs (a word
# in 20,000-50,000 messages: 10 ms on a window that found too few). PostgreSQL: LIST_BELOW.
PROBED_BELOW = 50_000
TICKET_WINDOW = 100  # tickets of a list asked one by one before the list of matches is read instead
MESSAGE_WINDOW = 400  # the same for the messages of a ticket
EXPAND_UP_TO = 8  # SQLite: indexed words a prefix may stand for in a query that looks up one row


@dataclasses.dataclass(frozen=True)
class Words:
    """Search tokens as one full-text index is asked for them: the FTS5 query or tsquery text,
    and whether one row can be looked up in it without the index listing every match first."""

    match: str
    seekable: bool


@dataclasses.dataclass(frozen=True)
class Found:
    """A search, planned: the rows that match as a list of ids (`listed`), and when the words
    are in many messages, as a condition on one row (`by_row`), asked of the first `window`
    rows of a list in its order, CHECKED_AT_ONCE at a time, until the page is full; then the
    page's rows are read by their ids. `probe` (a word in WALK_FROM messages or more): a
    condition on one row that looks its messages up in a list of the matches' ids, made once a
    statement, asked next of the first PROBE_WINDOW rows in one statement."""

    listed: object
    by_row: object | None
    key: Field  # Ticket.id or Message.id
    window: int
    probe: object | None = None

    def first(self, query, limit: int, ordering: list | None = None) -> list:
        """The first `limit` rows of `query` that match, in `ordering` (default: the query's own)."""
        def ordered(q):
            return q.order_by(*ordering) if ordering is not None else q

        ids_query = ordered(query.select(self.key))
        found = self._asked(ids_query, max(self.window, limit), limit) if self.by_row is not None else None
        if found is None and self.probe is not None:
            found = self._probed(ids_query, max(PROBE_WINDOW, limit), limit)
        if found is None:  # few of the first rows match after all: the matches' list, as for a rare word
            return self._listed(ordered(query.where(self.listed)).limit(limit))
        return list(ordered(query.where(self.key.in_(found[:limit])))) if found else []

    def _asked(self, ids_query, window: int, limit: int) -> list | None:
        """The ids among the first `window` of `ids_query` (the list's own plan: its index read in
        order) that match `by_row`, asked CHECKED_AT_ONCE at a time until `limit` are found; None
        when the window ends with fewer and the list goes on."""
        ids = [row[0] for row in ids_query.limit(window).tuples()]
        found: list = []
        for start in range(0, len(ids), CHECKED_AT_ONCE):
            chunk = ids[start:start + CHECKED_AT_ONCE]
            matching = {i for (i,) in self.key.model.select(self.key).where(self.key.in_(chunk) & self.by_row).tuples()}
            found += [i for i in chunk if i in matching]
            if len(found) >= limit:
                return found
        return None if len(ids) == window else found

    def _probed(self, ids_query, window: int, limit: int) -> list | None:
        """The first `limit` ids of `ids_query` among its first `window` that match `probe`, in one
        statement (the window a subquery: a thousand ids sent as values cost more to write than
        the statement to run); None when the window ends with fewer and the list goes on."""
        found = [row[0] for row in ids_query.where(self.key.in_(ids_query.limit(window)) & self.probe)
                 .limit(limit).tuples()]
        if len(found) >= limit or not list(ids_query.limit(1).offset(window).tuples()):
            return found
        return None

    @staticmethod
    def _listed(query) -> list:
        """The rows of a query of the matches' list. PostgreSQL, its parallel workers kept out: its
        guess for a prefix (20,000 messages) has it start them even for a word nobody wrote, and
        starting them took longer than the query (7 ms against 1)."""
        if database.is_sqlite(db.obj):
            return list(query)
        with db.atomic():
            db.execute_sql("SET LOCAL max_parallel_workers_per_gather = 0")
            return list(query)


CHECKED_AT_ONCE = 25  # rows of a window asked about in one statement
PROBE_WINDOW = 1_000  # rows asked about at once by `Found.probe` (4-13 ms for 5,000-50,000 matches)


NOTHING = SQL("1 = 0")


def tickets_found(tokens: list[str], *, staff: bool, number: int | None = None) -> Found:
    """Tickets whose subject, or one of whose messages, has every token (as a word prefix), or
    whose id is `number`; customers' searches skip internal notes."""
    is_number = (Ticket.id == number) if number is not None else None
    backend = _backend()
    subjects = backend.words("ticket_search", tokens) if tokens else None
    messages = backend.words("message_search", tokens) if tokens else None
    having, count = None, 0
    if messages is not None:
        having = (Message.select(Message.ticket).from_(backend.messages_by_id())
                  .where(Message.id.in_(backend.message_ids(messages))))
        having = having if staff else having.where(Message.kind != MessageKind.NOTE.value)
        count = backend.how_many(messages, backend.probed_below())
    number_is = [is_number] if is_number is not None else []
    listed = _any(backend.tickets_listed(subjects, having) + number_is)
    # Either condition on one ticket asks its messages first: one of them usually has the words,
    # and then the subject is not asked.
    or_else = ([backend.subject_has(subjects)] if subjects is not None else []) + number_is
    by_row = probe = None
    if messages is not None and messages.seekable and _many(count, backend.probed_below()):
        by_row = _any([backend.messages_have(messages, notes=staff)] + or_else)
    if messages is not None and count >= WALK_FROM:
        probed = backend.messages_probed(messages, notes=staff, count=count)
        probe = _any([probed] + or_else) if probed is not None else None
    return Found(listed, by_row, Ticket.id, TICKET_WINDOW, probe)


def message_hits(messages, tokens: list[str], limit: int) -> list[Message]:
    """The newest `limit` of `messages` (a query of one ticket's messages, newest first) that
    have every token, as the ticket search finds them (id and date only)."""
    backend = _backend()
    words = backend.words("message_search", tokens)
    if words is None:
        return []
    count = backend.how_many(words, LIST_BELOW)
    by_row = backend.message_has(words) if words.seekable and _many(count) else None
    key = backend.walked(Message.id) if count >= WALK_FROM else Message.id
    found = Found(key.in_(backend.message_ids(words)), by_row, Message.id, MESSAGE_WINDOW)
    return found.first(messages.select(Message.id, Message.created_at, Message.author_name, Message.author_email),
                       limit)


def _any(conditions: list):
    return functools.reduce(operator.or_, conditions) if conditions else NOTHING


def _many(count: int, below: int | None = None) -> bool:
    """Whether the words are in so many messages that a list is better read in its own order,
    each row asked (only of words one row can be looked up in): `below` of them (LIST_BELOW),
    or a quarter of all messages (a small archive, where a common word is in most tickets)."""
    if count >= (LIST_BELOW if below is None else below):
        return True
    return count >= WALK_FROM and count * 4 >= (Message.select(fn.MAX(Message.id)).scalar() or 0)


def _quoted(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _index_version(index: str) -> bytes:
    """SQLite: the FTS5 index's structure record, which every write to it changes (its segments,
    and a count of writes that only grows): what its words were read at."""
    row = db.execute_sql(f"SELECT block FROM {index}_data WHERE id = 10").fetchone()
    return bytes(row[0]) if row else b""


# (database file, index, prefix, most) -> (the index's version, its words): a search paged through
# asks for the same words on every page. Exact: a word added changes the version, which is read
# for each search, and the words are read again.
_words_of: dict[tuple, tuple[bytes, list[str]]] = {}
WORDS_KEPT = 2048


def _indexed_words(index: str, prefix: str, most: int, version: bytes) -> list[str]:
    """Up to `most` of the words `index` holds that start with `prefix`, in order: each found
    by where the range after the last begins (migration 038's table reads no further; after a
    word in most of the rows that seek itself took 3-4 ms, so the words are kept per version)."""
    key = (getattr(db.obj, "database", None), index, prefix, most)
    kept = _words_of.get(key)
    if kept is not None and kept[0] == version:
        return kept[1]
    sql = f"SELECT term FROM {index}_terms WHERE term >= ? LIMIT 1"
    found: list[str] = []
    low = prefix
    while len(found) < most:
        row = db.execute_sql(sql, [low]).fetchone()
        if row is None or not row[0].startswith(prefix):
            break
        found.append(row[0])
        low = row[0] + "\x01"  # the next word: no indexed word has a control character
    if len(_words_of) >= WORDS_KEPT:
        _words_of.clear()
    _words_of[key] = (version, found)
    return found


def _estimated_messages(lexemes: list[str], most: int, *, known_only: bool = False) -> int:
    """PostgreSQL: how many messages have every one of the tsquery's terms ("word" or
    "prefix:*"), from the statistics ANALYZE keeps of the index's most common words: the
    least common term's share (a prefix's words summed), times the messages, up to `most`.
    A term not among them is rarer than all of them: half the least common's share, at most
    0.5% (PostgreSQL's own rule for a tsquery's selectivity), or none (`known_only`); no
    statistics yet: few."""
    row = db.execute_sql(
        "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples FROM pg_stats AS s "
        "JOIN pg_class AS c ON c.relname = s.tablename JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "AND n.nspname = s.schemaname WHERE s.schemaname = current_schema() AND s.tablename = 'message_search' "
        "AND s.attname = 'document'").fetchone()
    if row is None or not row[0] or not row[1]:
        return 0
    elements, shares, messages = row[0], row[1], max(float(row[2] or 0), 0.0)
    least = shares[len(elements)]  # after the elements' shares: the least and the greatest of them
    rare = 0.0 if known_only else min(0.005, least / 2)
    share = 1.0
    for lexeme in lexemes:
        prefix = lexeme.endswith(":*")
        word = lexeme[:-2] if prefix else lexeme
        of_word = sum(f for e, f in zip(elements, shares) if (e.startswith(word) if prefix else e == word))
        share = min(share, of_word or rare)
    return min(most, int(share * messages))
