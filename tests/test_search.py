"""Full-text search over tickets and their messages (domain/search.py), on either database."""
from __future__ import annotations

from helpdesk.domain import search, tickets
from helpdesk.models import Message, MessageKind, Ticket


def found(text: str, *, staff: bool = True) -> set[str]:
    tokens = search.search_tokens(text)
    return {t.subject for t in Ticket.select().where(search.tickets_found(tokens, staff=staff).listed)}


def test_tickets_are_found_by_subject_and_by_any_message_diacritics_aside(db):
    printer = tickets.open_ticket(subject="Drukarka nie drukuje", requester_email="jan@example.com")
    tickets.add_message(printer, kind=MessageKind.CUSTOMER, author_email="jan@example.com",
                        body_text="Biuro w Łodzi, ul. Piotrkowska 12; seria FGVM-1234-ABCD.")
    camera = tickets.open_ticket(subject="Kamera", requester_email="ewa@example.com")
    tickets.add_message(camera, kind=MessageKind.NOTE, author_email="anna@firma.pl",
                        body_text="Tajne: klient zalega z płatnością.")
    assert found("drukark") == {"Drukarka nie drukuje"}  # a prefix of a subject word
    assert found("lodzi piotrkowska") == {"Drukarka nie drukuje"}  # message text, folded
    assert found("ŁODZI") == found("łodzi") == {"Drukarka nie drukuje"}
    assert found("1234-abcd") == {"Drukarka nie drukuje"}  # punctuation separates words
    assert found("drukarka kamera") == set()  # every word must match
    assert found("platnoscia") == {"Kamera"}  # staff search internal notes
    assert found("platnoscia", staff=False) == set()  # customers never do
    assert found("' OR 1=1 --") == set()  # words, never syntax


def test_a_message_changed_or_deleted_is_searched_as_it_is_now(db):
    ticket = tickets.open_ticket(subject="Router", requester_email="jan@example.com")
    message = tickets.add_message(ticket, kind=MessageKind.CUSTOMER, author_email="jan@example.com",
                                  body_text="zasilacz spalony")
    assert found("zasilacz") == {"Router"}
    Message.update(body_text="antena urwana").where(Message.id == message.id).execute()
    assert found("zasilacz") == set() and found("antena") == {"Router"}
    Message.delete().where(Message.id == message.id).execute()
    assert found("antena") == set()
