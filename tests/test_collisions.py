"""Collisions (issue 15, item 5): the staff ticket page shows the other engineers who had
it open or answered lately, and a reply sent after someone else's message arrived is held
("a new message arrived: send anyway?") with the typed text kept."""
from __future__ import annotations

import datetime as dt

from helpdesk.domain import collisions
from helpdesk.models import Message, Role, Ticket, TicketView
from tests.portal import QueryCounter
from tests.test_portal_tickets import _user, open_ticket, signed_in, world  # noqa: F401 (a fixture)


def test_the_page_shows_who_else_is_on_the_ticket(app, world):  # noqa: F811
    open_ticket(signed_in(app, world.alice), world.contract_a)
    ticket = Ticket.get()
    page = f"/staff/tickets/{ticket.id}"
    first = signed_in(app, world.engineer, ip="192.0.2.32")
    assert 'id="others"' not in first.text(page)  # nobody else yet
    second = signed_in(app, world.admin, ip="192.0.2.33")
    html = second.text(page)
    assert 'id="others"' in html and "Eng Test ma otwarte to zgłoszenie od" in html
    # The first one answers; the second sees that.
    first.post(f"{page}/reply", {"text": "Odpowiedź pierwsza"}, page=page)
    assert "Eng Test odpowiedział(a) na to zgłoszenie o" in second.text(page)
    # Long ago does not count.
    TicketView.update(seen_at=dt.datetime(2020, 1, 1)).execute()
    Message.update(created_at=dt.datetime(2020, 1, 1)).execute()
    assert 'id="others"' not in first.text(page)


def test_a_reply_after_someone_elses_is_held_until_sent_anyway(app, world):  # noqa: F811
    open_ticket(signed_in(app, world.alice), world.contract_a)
    ticket = Ticket.get()
    page = f"/staff/tickets/{ticket.id}"
    first = signed_in(app, world.engineer, ip="192.0.2.32")
    second = signed_in(app, world.admin, ip="192.0.2.33")
    seen = str(collisions.newest_id(ticket.id))  # both opened the page now
    first.text(page)
    second.text(page)
    response = second.post(f"{page}/reply", {"text": "Admin odpowiada", "seen": seen}, page=page)
    assert response.status_code == 302

    # The engineer's form was shown before that answer: held, the text kept.
    response = first.post(f"{page}/reply", {"text": "Moja odpowiedź", "seen": seen}, page=page)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Nadeszła nowa wiadomość: wysłać mimo to?" in html
    assert "Moja odpowiedź</textarea>" in html and "Admin odpowiada" in html
    assert 'name="anyway" type="hidden" value="1"' in html
    assert Message.select().where(Message.body_text == "Moja odpowiedź").count() == 0
    # Sent anyway: saved once.
    newest = str(collisions.newest_id(ticket.id))
    response = first.post(f"{page}/reply", {"text": "Moja odpowiedź", "seen": newest, "anyway": "1"}, page=page)
    assert response.status_code == 302
    assert Message.select().where(Message.body_text == "Moja odpowiedź").count() == 1

    # One's own earlier messages never hold a reply; a customer's new one does.
    seen = str(collisions.newest_id(ticket.id))
    assert first.post(f"{page}/reply", {"text": "Jeszcze ja", "seen": seen}, page=page).status_code == 302
    signed_in(app, world.alice, ip="192.0.2.34").post(f"/tickets/{ticket.id}/reply", {"text": "Klient pisze"},
                                                       page=f"/tickets/{ticket.id}")
    response = first.post(f"{page}/reply", {"text": "Za późno", "seen": seen, "internal": "y"}, page=page)
    assert response.status_code == 409 and "Klient pisze" in response.get_data(as_text=True)


def test_arrived_since_names_other_peoples_messages_only(db):
    engineer = _user("eng@helpdesk.example", role=Role.ENGINEER)
    ticket = Ticket.create(subject="x", requester_email="jan@example.com")
    mine = Message.create(ticket=ticket, kind="staff", author_email=engineer.email, body_text="a")
    theirs = Message.create(ticket=ticket, kind="customer", author_email="jan@example.com", body_text="b")
    assert [m.id for m in collisions.arrived_since(ticket.id, 0, engineer)] == [theirs.id]
    assert collisions.arrived_since(ticket.id, theirs.id, engineer) == []
    assert collisions.newest_id(ticket.id) == theirs.id and mine.id < theirs.id


def test_opening_the_page_records_the_view_only_when_the_recorded_one_is_stale(app, world):  # noqa: F811
    """The view is read with the others' (one statement) and written again only when older
    than `refresh_after` (a minute for the default 10-minute window): a page reloaded every
    few seconds does not write on every GET, and the others still see it."""
    open_ticket(signed_in(app, world.alice), world.contract_a)
    ticket = Ticket.get()
    page = f"/staff/tickets/{ticket.id}"
    first = signed_in(app, world.engineer, ip="192.0.2.32")
    first.text(page)
    [view] = TicketView.select()
    recorded = view.seen_at
    with QueryCounter() as queries:
        first.text(page)
    assert not [s for s in queries.statements if "ticket_view" in s and "INSERT" in s.upper()]
    assert TicketView.get().seen_at == recorded  # fresh: not written again

    second = signed_in(app, world.admin, ip="192.0.2.33")
    assert "Eng Test ma otwarte to zgłoszenie od" in second.text(page)

    # Older than a minute (still in the window): written again on the next opening.
    TicketView.update(seen_at=recorded - dt.timedelta(minutes=2)).where(TicketView.user == world.engineer.id).execute()
    first.text(page)
    assert TicketView.get(TicketView.user == world.engineer.id).seen_at > recorded - dt.timedelta(seconds=1)
    # Outside the window (not read at all): written too.
    TicketView.update(seen_at=dt.datetime(2020, 1, 1)).where(TicketView.user == world.engineer.id).execute()
    first.text(page)
    assert TicketView.get(TicketView.user == world.engineer.id).seen_at > recorded - dt.timedelta(seconds=1)


def test_the_refresh_is_a_tenth_of_the_window_at_most_a_minute():
    assert collisions.refresh_after(10) == dt.timedelta(minutes=1)
    assert collisions.refresh_after(60) == dt.timedelta(minutes=1)
    assert collisions.refresh_after(5) == dt.timedelta(seconds=30)


def test_at_most_twenty_others_are_listed_whether_or_not_the_reader_viewed_it(db):
    reader = _user("reader@helpdesk.example", role=Role.ENGINEER)
    ticket = Ticket.create(subject="x", requester_email="jan@example.com")
    now = dt.datetime(2026, 12, 2, 12, 0)
    for i in range(25):
        collisions.seen(ticket.id, _user(f"e{i}@helpdesk.example", role=Role.ENGINEER), now - dt.timedelta(seconds=i))
    others = collisions.recent_others(ticket.id, reader, minutes=10, now=now)
    assert len(others) == collisions.VIEWS_SHOWN == 20
    assert [o.email for o in others] == [f"e{i}@helpdesk.example" for i in range(20)]  # the newest
    collisions.seen(ticket.id, reader, now - dt.timedelta(seconds=30))  # the reader's own, oldest of all
    assert len(collisions.recent_others(ticket.id, reader, minutes=10, now=now)) == 20
    collisions.seen(ticket.id, reader, now)  # ... and newest
    assert [o.email for o in collisions.recent_others(ticket.id, reader, minutes=10, now=now)] == \
        [f"e{i}@helpdesk.example" for i in range(20)]
