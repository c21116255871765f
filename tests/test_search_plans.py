"""How a search's matches are read (domain/search.py, issue 18): a word in few messages by listing
their tickets first; a word in many by asking a list's tickets, in the list's order, one by one
until the page is full, and by the list after all when few of its first tickets match. Whichever
way, a search finds the same tickets in the same order, page after page, on either database."""
from __future__ import annotations

import datetime as dt

import pytest

from helpdesk import database
from helpdesk.domain import access, search, tickets
from helpdesk.models import Message, MessageKind, Role, Ticket
from helpdesk.web import staff as staff_pages, tickets as ticket_pages
from tests.portal import QueryCounter
from tests.test_portal_tickets import _user, signed_in
from tests.test_queue_pages import PAGE, by_due, by_updated, ids, walk

NOW = dt.datetime(2026, 3, 1, 8, 0)


@pytest.fixture
def paged(monkeypatch):
    monkeypatch.setattr(staff_pages, "PAGE", PAGE)
    monkeypatch.setattr(ticket_pages, "PAGE", PAGE)


def _plan(monkeypatch, *, by_row: bool, window: int = 5, at_once: int = 2, probed: bool = False,
          probe_window: int = 7) -> None:
    """Every search of seekable words read row by row (`by_row`), then with `probed` the first
    `probe_window` tickets of the list looked up among the matches' ids (SQLite), then the
    matches' tickets read and sorted; a ticket's messages read in its order and each looked up
    in the matches' ids (`probed`) or the matches read and sorted."""
    monkeypatch.setattr(search, "_many", lambda count, below=0: by_row)
    monkeypatch.setattr(search, "WALK_FROM", 0 if probed else 10**9)
    monkeypatch.setattr(search, "PROBE_WINDOW", probe_window)
    monkeypatch.setattr(search, "TICKET_WINDOW", window)
    monkeypatch.setattr(search, "MESSAGE_WINDOW", window)
    monkeypatch.setattr(search, "CHECKED_AT_ONCE", at_once)


def _desk() -> tuple[list[Ticket], dict[str, list[Ticket]]]:
    """40 tickets (ties on the last change, deadlines, a quarter closed), and which of them a
    search for "drukarka" finds for staff and for the customer: the words in a customer's message
    (the newest ten tickets have none: the first window finds few), in an engineer's note only
    (staff find it, customers do not), or in the subject alone (a subject changed since)."""
    made, staff_finds, customer_finds = [], [], []
    for i in range(40):
        closed, still = i % 4 == 1, i % 4 == 2
        ticket = Ticket.create(
            subject=f"t{i}", status="closed" if closed else "open", requester_email="c@example.com",
            created_at=NOW, updated_at=NOW + dt.timedelta(minutes=i // 4),
            sla_next_due=None if closed or still else NOW + dt.timedelta(hours=(i * 7) % 10 // 2))
        made.append(ticket)
        where = "nowhere" if i >= 30 else ("message", "note", "subject", "nowhere", "message")[i % 5]
        text = {"message": f"Drukarką nr {i} nie drukuje", "note": "drukarka: tajne"}.get(where, "kamera")
        kind = MessageKind.NOTE if where == "note" else MessageKind.CUSTOMER
        tickets.add_message(ticket, kind=kind, author_email="c@example.com", body_text=text, now=NOW, touch=False)
        tickets.add_message(ticket, kind=MessageKind.CUSTOMER, author_email="c@example.com", body_text="dziękuję",
                            now=NOW, touch=False)
        if where == "subject":
            Ticket.update(subject=f"Drukarka {i}").where(Ticket.id == ticket.id).execute()
        if where in ("message", "subject", "note"):
            staff_finds.append(ticket)
        if where in ("message", "subject"):
            customer_finds.append(ticket)
    return made, {"staff": staff_finds, "customer": customer_finds}


@pytest.mark.parametrize("by_row, probed, probe_window", [
    (False, False, 7), (False, True, 7), (False, True, 1000), (True, False, 7), (True, True, 7), (True, True, 1000)],
    ids=["listed", "probed, then listed", "probed", "row by row", "row by row, probed, listed", "row by row, probed"])
def test_either_plan_pages_the_same_matches_in_either_order(app, db, paged, monkeypatch, by_row, probed,
                                                              probe_window):
    _plan(monkeypatch, by_row=by_row, probed=probed, probe_window=probe_window)
    made, finds = _desk()
    staff = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.81")
    for start, expected in {"/staff?queue=all&q=drukark": by_updated(finds["staff"]),
                            "/staff?queue=all&sort=due&q=DRUKARKA": by_due(finds["staff"]),
                            "/staff?queue=open&q=drukarka": by_updated([t for t in finds["staff"]
                                                                         if t.status == "open"])}.items():
        forward, backward, pages = walk(staff, start)
        assert forward == expected, start
        assert backward == expected[:PAGE * (pages - 1)], start
    # The same search by ticket number finds that ticket too, in its place.
    forward, _, _ = walk(staff, f"/staff?queue=all&q={made[35].id}")
    assert forward == [made[35].id]


@pytest.mark.parametrize("by_row, probed, probe_window", [
    (False, False, 7), (False, True, 7), (False, True, 1000), (True, True, 7)],
    ids=["listed", "probed, then listed", "probed", "row by row, probed, listed"])
def test_a_customer_never_finds_a_ticket_by_an_internal_note(app, db, paged, monkeypatch, by_row, probed,
                                                             probe_window):
    _plan(monkeypatch, by_row=by_row, probed=probed, probe_window=probe_window)
    customer = _user("c@example.com")
    made, finds = _desk()
    Ticket.update(requester=customer.id).execute()
    portal = signed_in(app, customer, ip="192.0.2.82")
    forward, backward, pages = walk(portal, "/tickets?q=drukarka")
    expected = by_updated([t for t in finds["customer"]])
    assert forward == expected and backward == expected[:PAGE * (pages - 1)]
    api_rows = search.tickets_found(["drukarka"], staff=False).first(
        access.visible_tickets(customer).dicts(), 100, [Ticket.updated_at.desc(), Ticket.id.desc()])
    assert [r["id"] for r in api_rows] == expected


@pytest.mark.parametrize("by_row, probed", [(False, False), (False, True), (True, True)],
                         ids=["listed", "walked", "row by row, then walked"])
def test_a_tickets_newest_hits_whichever_plan(db, monkeypatch, by_row, probed):
    _plan(monkeypatch, by_row=by_row, window=4, at_once=3, probed=probed)
    customer = _user("c@example.com")
    ticket = tickets.open_ticket(subject="Rejestrator", requester_email=customer.email, now=NOW)
    written = []
    for i in range(30):
        kind = MessageKind.NOTE if i % 7 == 0 else MessageKind.CUSTOMER
        text = f"zasilacz {i}" if i % 3 == 0 else f"obraz {i}"
        written.append((tickets.add_message(ticket, kind=kind, author_email=customer.email, body_text=text,
                                            now=NOW + dt.timedelta(minutes=i)), kind, text))
    newest_first = written[::-1]
    for user, shown in ((_user("eng@helpdesk.example", role=Role.ENGINEER), None), (customer, MessageKind.CUSTOMER)):
        hits = search.message_hits(access.visible_messages(user, ticket), ["zasil"], 6)
        expected = [m.id for m, kind, text in newest_first if "zasilacz" in text and shown in (None, kind)][:6]
        assert [m.id for m in hits] == expected
    assert search.message_hits(access.visible_messages(customer, ticket), ["nikt", "nie", "pisal"], 6) == []


def test_a_prefix_is_asked_as_the_words_it_stands_for(db, monkeypatch):
    made = {}
    for word in ("drukarka", "drukarki", "drukarkami", "drukuje", "kamera"):
        made[word] = tickets.open_ticket(subject="x", requester_email="c@example.com")
        tickets.add_message(made[word], kind=MessageKind.CUSTOMER, author_email="c@example.com", body_text=word)

    def found(text):
        return {t.id for t in Ticket.select().where(search.tickets_found(search.search_tokens(text), staff=True).listed)}

    drukark = {made[w].id for w in ("drukarka", "drukarki", "drukarkami")}
    assert found("drukark") == drukark and found("druk") == drukark | {made["drukuje"].id}
    assert found("zzzqx") == set() and found("drukark zzzqx") == set()
    if database.is_sqlite(db):
        backend = search._backend()
        assert backend.words("message_search", ["drukark"]) == search.Words(
            '("drukarka" OR "drukarkami" OR "drukarki")', True)
        assert backend.words("message_search", ["zzzqx"]) is None
        # The words are kept for the index as it is; a new one written is found at once.
        later = tickets.open_ticket(subject="x", requester_email="c@example.com")
        tickets.add_message(later, kind=MessageKind.CUSTOMER, author_email="c@example.com", body_text="drukarkom")
        assert backend.words("message_search", ["drukark"]) == search.Words(
            '("drukarka" OR "drukarkami" OR "drukarki" OR "drukarkom")', True)
        assert found("drukark") == drukark | {later.id}
        drukark.add(later.id)
        monkeypatch.setattr(search, "EXPAND_UP_TO", 2)  # more words than that: a prefix, asked as one
        assert backend.words("message_search", ["drukark"]) == search.Words('"drukark"*', False)
        assert found("drukark") == drukark
        monkeypatch.setattr(search, "_many", lambda count, below=0: True)  # a prefix is never asked row by row
        assert search.tickets_found(["drukark"], staff=True).by_row is None


def test_how_many_messages_match_is_counted_or_estimated_without_listing_them(db):
    ticket = tickets.open_ticket(subject="x", requester_email="c@example.com")
    for i in range(120):
        tickets.add_message(ticket, kind=MessageKind.CUSTOMER, author_email="c@example.com",
                            body_text="drukarka" + (" kamera" if i % 10 == 0 else ""))
    backend = search._backend()
    if database.is_sqlite(db):
        # FTS5 counts the matches and stops at the number asked
        assert backend.how_many(backend.words("message_search", ["drukarka"]), 50) == 50
        assert backend.how_many(backend.words("message_search", ["kamera"]), 50) == 12
    else:
        db.execute_sql("ANALYZE message_search")  # PostgreSQL estimates from the statistics
        assert backend.how_many(backend.words("message_search", ["drukarka"]), 50) == 50
        assert 6 <= backend.how_many(backend.words("message_search", ["kamera"]), 500) <= 24
        assert backend.how_many(backend.words("message_search", ["zzzqx"]), 500) <= 1


def test_a_page_of_a_common_word_costs_the_same_whatever_the_tickets(app, db, paged, monkeypatch):
    _plan(monkeypatch, by_row=True, window=10, at_once=4)
    staff = signed_in(app, _user("eng@helpdesk.example", role=Role.ENGINEER), ip="192.0.2.83")

    def statements(more: int) -> int:
        for _ in range(more):
            ticket = tickets.open_ticket(subject="Awaria", requester_email="c@example.com", now=NOW)
            tickets.add_message(ticket, kind=MessageKind.CUSTOMER, author_email="c@example.com",
                                body_text="drukarka stoi", now=NOW)
        staff.text("/staff?queue=all&q=drukarka")
        with QueryCounter() as counter:
            html = staff.text("/staff?queue=all&q=drukarka")
        assert len(ids(html)) == PAGE
        return counter.count

    assert statements(20) == statements(60)
    assert Message.select().count() == 80 and db is not None


def test_the_matches_tickets_come_from_the_messages_index_and_a_window_is_probed(db, monkeypatch):
    """SQLite: the matches' tickets come from the index of each message's ticket (migration 044),
    not from the rows; from WALK_FROM matches, a window of the list is first looked up in the list
    of the matches' ids (made once a statement), each ticket's messages from the index on
    ticket_id; a long ticket's messages are read in its order and each looked up the same way."""
    made, finds = _desk()
    monkeypatch.setattr(search, "WALK_FROM", 0)

    def plan(query) -> str:
        sql, params = query.sql()
        return " / ".join(str(row[-1]) for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))

    found = search.tickets_found(["drukarka"], staff=True)
    listed = Ticket.select(Ticket.id).where(found.listed).order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    assert [row.id for row in listed] == by_updated(finds["staff"])
    for staff, who in ((True, "staff"), (False, "customer")):
        window = Ticket.select(Ticket.id).where(Ticket.id.in_([t.id for t in made[:10]]))
        probe = search.tickets_found(["drukarka"], staff=staff).probe
        assert {t.id for t in window.where(probe)} == {t.id for t in made[:10] if t in finds[who]}
    if not database.is_sqlite(db):
        return
    assert "COVERING INDEX message_id_ticket_kind" in plan(listed), plan(listed)
    for staff in (True, False):
        probe = search.tickets_found(["drukarka"], staff=staff).probe
        probed = plan(Ticket.select(Ticket.id).where(Ticket.id.in_([t.id for t in made[:5]]) & probe))
        assert "USING COVERING INDEX message_ticket_id (ticket_id=?)" in probed or not staff, probed
        assert "SEARCH m USING" in probed and "(ticket_id=?)" in probed and "AND rowid=?" not in probed, probed
    words = search._backend().words("message_search", ["drukarka"])
    hits = (Message.select(Message.id).where(Message.ticket == made[0].id,
                                             search._backend().walked(Message.id).in_(
                                                 search._backend().message_ids(words)))
            .order_by(Message.created_at.desc(), Message.id.desc()))
    assert "(ticket_id=?)" in plan(hits) and "INTEGER PRIMARY KEY" not in plan(hits), plan(hits)


def test_a_word_in_a_quarter_of_all_messages_is_asked_row_by_row(db, monkeypatch):
    """A small archive: a common word is in most tickets, so the list in its order finds them
    soonest, as with LIST_BELOW matches in a large one."""
    monkeypatch.setattr(search, "WALK_FROM", 5)
    ticket = tickets.open_ticket(subject="x", requester_email="c@example.com")
    for _ in range(40):
        tickets.add_message(ticket, kind=MessageKind.CUSTOMER, author_email="c@example.com", body_text="x")
    last = Message.select(Message.id).order_by(Message.id.desc()).scalar()
    assert search._many(-(-last // 4)) and not search._many(last // 4 - 1)
    assert not search._many(4)  # below WALK_FROM: listed, however small the archive
    assert search._many(search.LIST_BELOW)



def test_a_window_is_probed_before_messages_are_asked_one_by_one_below_probed_below(db, monkeypatch):
    """A word in fewer than PROBED_BELOW messages (PostgreSQL: LIST_BELOW) has no window asked
    message by message first: the list of the matches' ids is made and a window probed in it."""
    ticket = tickets.open_ticket(subject="x", requester_email="c@example.com")
    for i in range(230):
        tickets.add_message(ticket, kind=MessageKind.CUSTOMER, author_email="c@example.com",
                            body_text="drukarka" if i % 8 == 0 else "kamera")  # 29: an eighth, under a quarter
    if not database.is_sqlite(db):
        db.execute_sql("ANALYZE message_search")  # PostgreSQL estimates from the statistics
    monkeypatch.setattr(search, "WALK_FROM", 5)
    for below in ("PROBED_BELOW", "LIST_BELOW"):  # SQLite's, and PostgreSQL's
        monkeypatch.setattr(search, below, 60)
    found = search.tickets_found(["drukarka"], staff=True)
    assert found.by_row is None and found.probe is not None
    # A word the statistics do not know: PostgreSQL's estimate is a guess (0.5% at most), not
    # worth a window's probe; SQLite knows it is in no message.
    monkeypatch.setattr(search, "WALK_FROM", 1)
    assert search.tickets_found(["nieznane"], staff=True).probe is None
    monkeypatch.setattr(search, "WALK_FROM", 5)
    for below in ("PROBED_BELOW", "LIST_BELOW"):
        monkeypatch.setattr(search, below, 20)
    found = search.tickets_found(["drukarka"], staff=True)
    assert found.by_row is not None
    # SQLite probes after a window asked message by message finds too few; PostgreSQL, whose list
    # of that many matches costs more to make than such a window, lists them.
    assert (found.probe is not None) == database.is_sqlite(db)
