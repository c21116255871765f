"""Finding people by a part of their address or name, case aside: the admins' list of people
(`/staff/users`, issue 18). A scan of every person took 13 ms on SQLite and 50 on PostgreSQL
for 52,000 people when nothing matched, and it grows with every sign-up.

A part of three characters or more is looked up in a trigram index of each person's text
(migration 041): SQLite's FTS5 table `user_search`, where a phrase is a substring; PostgreSQL's
pg_trgm index over the same expression, which its statistics let it weigh against reading the
list in order. SQLite has no such statistics for the index, so the matches are counted, up to
LIST_BELOW (1-2 ms): fewer are read by their ids and sorted; more make the list be read in its
own order until the page is full, each row's text checked with LIKE when the part is ASCII (whose
case SQLite's LIKE ignores), else looked up in the matches' set. A shorter part has no trigram:
it is matched row by row, in the list's order (a part that short is in many people), and on SQLite
once for each way of writing its non-ASCII letters (SQLite's LIKE folds the case of ASCII only).
"""
from __future__ import annotations

import functools
import itertools
import operator
import re

from peewee import SQL, Expression, Node, NodeList, fn

from helpdesk import database
from helpdesk.models import User, db

MIN_INDEXED = 3  # characters: a trigram
LIST_BELOW = 2_000  # SQLite: matches below which they are read by id and sorted


def text_of(user=User) -> Expression:
    """What is searched: the address and the name, lower case (the trigram indexes' expression)."""
    return fn.lower(_joined(user))


def _joined(user=User) -> NodeList:
    space = SQL("|| ' ' ||")  # literally, as the indexes have it (a server-side parameter would not match)
    return NodeList((user.email, space, user.first_name, space, user.last_name))


def matching(text: str) -> Expression:
    """A condition on `User`: its address or name holds `text`, case aside."""
    needle = " ".join("".join(c for c in text if c.isprintable()).split()).lower()  # FTS5 refuses a NUL
    if not database.is_sqlite(db.obj):
        return _like(text_of(), needle)  # its trigram index, when PostgreSQL weighs it the better way
    # SQLite's LIKE ignores the case of ASCII letters only; FTS5's trigrams, of every letter.
    as_is = _joined()
    if len(needle) < MIN_INDEXED:
        return _any(_like(as_is, spelling) for spelling in _spellings(needle))
    phrase = '"' + needle.replace('"', '""') + '"'
    matches = SQL("(SELECT rowid FROM user_search WHERE user_search MATCH ?)", [phrase])
    counted = db.execute_sql("SELECT count(*) FROM (SELECT rowid FROM user_search WHERE user_search MATCH ? "
                             "LIMIT ?)", (phrase, LIST_BELOW)).fetchone()[0]
    if counted < LIST_BELOW:
        return User.id.in_(matches)  # by their ids, then sorted
    if needle.isascii():  # the list in its order, each row's own text checked (the index holds it)
        return _like(as_is, needle)
    return database.unindexed(User.id).in_(matches)  # the list in its order, each row looked up in the set


def _spellings(needle: str) -> list[str]:
    """Each way of writing a short part's letters in either case, where SQLite's LIKE would not
    fold it (non-ASCII): "łó" is "łó", "Łó", "łÓ" and "ŁÓ". At most four for two letters."""
    ways = [sorted({c, c.upper()}) if not c.isascii() and len(c.upper()) == 1 else [c] for c in needle]
    return ["".join(letters) for letters in itertools.product(*ways)]


def _any(conditions) -> Expression:
    return functools.reduce(operator.or_, conditions)


def _like(text: Node, needle: str) -> Expression:
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", needle) + "%"
    return NodeList((text, SQL("LIKE"), pattern, SQL("ESCAPE '\\'")))
