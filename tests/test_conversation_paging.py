"""A long ticket's page shows the newest messages first and the rest on demand (issue 18):
"Show earlier messages" pages by (created_at, id), newest first throughout, never a
message twice or lost (also where messages share a time), notes never to the customer;
a search from the ticket list still reaches and marks a hit in an older message."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from helpdesk.models import Attachment, Company, ContractAccess, Message, Participant, Role, Status, Ticket
from helpdesk.web.tickets import CONVERSATION_PAGE
from tests.portal import QueryCounter
from tests.test_portal_tickets import _contract, _user, signed_in

BASE = dt.datetime(2026, 3, 1, 8, 0)


def long_ticket(requester, contract, count: int, *, same_time_from: int | None = None) -> tuple[Ticket, list[int]]:
    """A ticket with `count` messages, one a minute (from `same_time_from` on, all at the
    same minute); every seventh an internal note. Returns the ticket and the ids of the
    messages the customer may read, newest first."""
    ticket = Ticket.create(subject="Długi wątek", status=Status.OPEN.value, requester=requester,
                           requester_email=requester.email, company=contract.company, contract=contract,
                           created_at=BASE, updated_at=BASE)
    visible = []
    for i in range(count):
        kind = "note" if i % 7 == 6 else ("customer" if i % 2 == 0 else "staff")
        minute = i if same_time_from is None or i < same_time_from else same_time_from
        m = Message.create(ticket=ticket, kind=kind, author_email="alice@a.example", author_name="Alice",
                           subject="Długi wątek", body_text=f"Wiadomość numer {i}. " + (
                               "Zepsuty zasilacz rejestratora." if i == 3 else "Bez zmian."),
                           created_at=BASE + dt.timedelta(minutes=minute))
        if kind != "note":
            visible.append(m.id)
    return ticket, visible[::-1]


def shown(html: str) -> list[int]:
    """The ids of the messages on a page, in the page's order."""
    return [int(i) for i in re.findall(r'<li class="message [^"]*" id="m(\d+)"', html)]


def earlier_link(html: str) -> str | None:
    match = re.search(r'<a href="([^"]+)" id="earlier"', html)
    return match.group(1).replace("&amp;", "&").split("#")[0] if match else None


def read_all(portal, path: str) -> tuple[list[int], int]:
    """Every message id by following "Show earlier messages" from `path`; and the pages."""
    ids, pages, link = [], 0, path
    while link:
        html = portal.text(link)
        page = shown(html)
        assert 0 < len(page) <= CONVERSATION_PAGE
        ids += page
        pages += 1
        link = earlier_link(html)
        assert pages < 50
    return ids, pages


@pytest.fixture
def world(db):
    company = Company.create(nip="5260001246", name="Firma A")
    contract = _contract("A000001", company)
    alice = _user("alice@a.example", company)
    ContractAccess.create(user=alice, contract=contract)
    engineer = _user("eng@helpdesk.example", role=Role.ENGINEER)
    return alice, engineer, contract


def test_the_customer_reads_a_long_ticket_page_by_page_newest_first(app, world):
    alice, _, contract = world
    ticket, visible = long_ticket(alice, contract, 60)
    portal = signed_in(app, alice)
    first = portal.text(f"/tickets/{ticket.id}")
    assert shown(first) == visible[:CONVERSATION_PAGE]  # the newest, newest first
    assert 'id="newest"' not in first
    ids, pages = read_all(portal, f"/tickets/{ticket.id}")
    assert ids == visible and pages == -(-len(visible) // CONVERSATION_PAGE)  # each once, none lost, no notes
    later = portal.text(earlier_link(first))
    assert 'id="newest"' in later and shown(later)[0] == visible[CONVERSATION_PAGE]


def test_staff_page_through_the_whole_conversation_with_notes(app, world):
    alice, engineer, contract = world
    ticket, _ = long_ticket(alice, contract, 45)
    everything = [m.id for m in Message.newest_first(ticket)]
    portal = signed_in(app, engineer, ip="192.0.2.50")
    first = portal.text(f"/staff/tickets/{ticket.id}")
    assert shown(first) == everything[:CONVERSATION_PAGE]
    assert read_all(portal, f"/staff/tickets/{ticket.id}") == (everything, 3)


def test_messages_written_at_the_same_time_are_neither_repeated_nor_lost_across_pages(app, world):
    alice, engineer, contract = world
    ticket, _ = long_ticket(alice, contract, 50, same_time_from=10)  # 40 messages share one minute
    everything = [m.id for m in Message.newest_first(ticket)]
    portal = signed_in(app, engineer, ip="192.0.2.51")
    assert read_all(portal, f"/staff/tickets/{ticket.id}")[0] == everything


def test_a_page_costs_the_same_statements_whatever_the_length_of_the_ticket(app, world):
    alice, _, contract = world
    short, _ = long_ticket(alice, contract, 25)
    long_, visible = long_ticket(alice, contract, 200)
    portal = signed_in(app, alice)
    counts = []
    for path in (f"/tickets/{short.id}", f"/tickets/{long_.id}", f"/tickets/{long_.id}?start={visible[100]}"):
        portal.get(path)
        with QueryCounter() as queries:
            assert portal.get(path).status_code == 200
        counts.append(queries.count)
    assert counts[0] == counts[1] and counts[2] == counts[1] + 1  # + the start message's date


@pytest.mark.parametrize("start", ["abc", "-5", "0", "99999999999999999999999", "{other}"])
def test_a_start_that_is_not_a_message_of_the_ticket_shows_the_newest(app, world, start):
    alice, _, contract = world
    ticket, visible = long_ticket(alice, contract, 30)
    other, _ = long_ticket(alice, contract, 3)
    start = start.format(other=Message.select().where(Message.ticket == other).first().id)
    response = signed_in(app, alice).get(f"/tickets/{ticket.id}?start={start}")
    assert response.status_code == 200 and shown(response.get_data(as_text=True)) == visible[:CONVERSATION_PAGE]


def test_a_search_hit_in_an_older_message_is_linked_and_marked(app, world):
    alice, _, contract = world
    ticket, visible = long_ticket(alice, contract, 60)
    portal = signed_in(app, alice)
    listing = portal.text("/tickets?q=zasilacz")
    assert f'href="/tickets/{ticket.id}?q=zasilacz"' in listing  # the list hands the search on
    page = portal.text(f"/tickets/{ticket.id}?q=zasilacz")
    hit = Message.get(Message.body_text.contains("Zepsuty")).id
    assert hit not in shown(page) and "<mark>" not in page  # older than the first page
    link = re.search(rf'<a href="([^"]+)#m{hit}">', page).group(1).replace("&amp;", "&")
    older = portal.text(link)
    assert shown(older)[0] == hit and shown(older) == visible[visible.index(hit):][:CONVERSATION_PAGE]
    assert re.search(rf'class="message kind-\w+ hit" id="m{hit}"', older)
    assert "Zepsuty <mark>zasilacz</mark> rejestratora." in older
    assert 'id="no-hits"' in portal.text(f"/tickets/{ticket.id}?q=nieistniejace")


def test_a_search_does_not_reach_internal_notes_for_the_customer_but_does_for_staff(app, world):
    alice, engineer, contract = world
    ticket, _ = long_ticket(alice, contract, 30)
    note = Message.create(ticket=ticket, kind="note", body_text="Sekretna notatka o <b>kablu</b>",
                          created_at=BASE - dt.timedelta(days=1))
    page = signed_in(app, alice).text(f"/tickets/{ticket.id}?q=kablu")
    assert 'id="no-hits"' in page and "Sekretna" not in page
    staff = signed_in(app, engineer, ip="192.0.2.52")
    page = staff.text(f"/staff/tickets/{ticket.id}?q=kablu")
    assert f"#m{note.id}" in page
    older = staff.text(f"/staff/tickets/{ticket.id}?start={note.id}&q=kablu")
    assert "Sekretna notatka o &lt;b&gt;<mark>kablu</mark>&lt;/b&gt;" in older  # marked, and still escaped



def test_a_cc_added_later_pages_from_then_on_with_each_shown_messages_files_and_links(app, world):
    """The page's messages are read as tuples by a prepared statement per shape (staff or not,
    joined later or not, a start or not) and their files by a padded id list: every shape
    gives the messages the reader may see, each with its own files, once."""
    alice, engineer, contract = world
    ticket, visible = long_ticket(alice, contract, 70)
    bob = _user("bob@elsewhere.example")
    Participant.create(ticket=ticket, email=bob.email, added_at=BASE + dt.timedelta(minutes=30))
    everything = [m.id for m in Message.newest_first(ticket)]
    for i, message_id in enumerate(everything):
        if i % 3 == 0:
            Attachment.create(message=message_id, filename=f"plik-{message_id}.txt", size=1)
    Message.update(body_html="<p>HTML</p>").where(Message.id == everything[-1]).execute()

    since = [m.id for m in Message.newest_first(ticket).where(Message.created_at >= BASE + dt.timedelta(minutes=30))
             if m.kind != "note"]
    portal = signed_in(app, bob, ip="192.0.2.52")
    assert read_all(portal, f"/tickets/{ticket.id}")[0] == since
    assert len(since) < len(visible)

    staff = signed_in(app, engineer, ip="192.0.2.53")
    files_seen, html_links = [], 0
    link = f"/staff/tickets/{ticket.id}"
    while link:
        html = staff.text(link)
        for message_id in shown(html):  # each message's own files under it, nobody else's
            block = html.split(f'id="m{message_id}"', 1)[1].split('<li class="message', 1)[0]
            named = [int(f) for f in re.findall(r"plik-(\d+)\.txt", block)]
            assert set(named) <= {message_id}
            files_seen += named
        html_links += html.count("/html\">")
        link = earlier_link(html)
    assert sorted(set(files_seen)) == sorted(everything[::3])
    assert html_links == 1
