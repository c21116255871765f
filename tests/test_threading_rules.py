"""The pure decision stages: subjects, reply tokens, thread_of with a lookup in memory, route."""
from __future__ import annotations

import pytest

from helpdesk.domain import tokens
from helpdesk.inbox_worker import subjects
from helpdesk.inbox_worker.message import NORMAL, Classification, Inbound, ThreadMatch
from helpdesk.inbox_worker.route import (
    Bounce,
    Facts,
    Ignore,
    NewTicket,
    QuarantineDecision,
    Reply,
    StaffReply,
    route,
)
from helpdesk.inbox_worker.thread import thread_of

SUPPORT = ("support@helpdesk.localhost", "pomoc@firma.pl")
SECRET = "s3cret"


class MemoryLookup:
    def __init__(self, tickets=(), message_ids=None, participants=None, merged=None):
        self.tickets = set(tickets)
        self.message_ids = message_ids or {}
        self.participants = participants or {}
        self.merged = merged or {}

    def ticket_exists(self, ticket_id):
        return ticket_id in self.tickets

    def tickets_by_message_id(self, ids):
        return {i: self.message_ids[i] for i in ids if i in self.message_ids}

    def is_participant(self, ticket_id, email):
        return email in self.participants.get(self.current(ticket_id), ())

    def current(self, ticket_id):
        return self.merged.get(ticket_id, ticket_id)


def inbound(**fields) -> Inbound:
    return Inbound(**{"message_id": "x@example.com", "from_addr": "jan@example.com", **fields})


def thread(mail, lookup):
    return thread_of(mail, lookup, secret=SECRET, support_addresses=SUPPORT, prefix="HD")


@pytest.mark.parametrize("subject, clean", [
    ("Re: Drukarka", "Drukarka"),
    ("RE: AW: Fwd: WG: Odp: PD: SV: VS: Drukarka", "Drukarka"),
    ("Re[2]: Re(3): Drukarka", "Drukarka"),
    ("ODP:Drukarka", "Drukarka"),
    ("Fw: TR: RV: Drukarka", "Drukarka"),
    ("Réponse: Drukarka", "Réponse: Drukarka"),  # not a prefix we know: left alone
    ("Recovery of data", "Recovery of data"),  # "Re" inside a word is not a prefix
])
def test_reply_prefixes_in_many_languages_are_stripped(subject, clean):
    assert subjects.strip_prefixes(subject) == clean


@pytest.mark.parametrize("subject, ids", [
    ("[HD-12] Drukarka", [12]), ("Re: Drukarka [hd-7]", [7]), ("[HD #3] x", [3]), ("[HDX-3] x", []),
    ("HD-12 without brackets", []),
])
def test_ticket_tags_are_found(subject, ids):
    assert subjects.ticket_ids_in(subject, "HD") == ids


def test_a_tagged_subject_has_one_tag_and_no_prefixes():
    assert subjects.tagged("Re: AW: [HD-5] Drukarka", "HD", 5) == "[HD-5] Drukarka"


def test_reply_tokens_verify_and_refuse_tampering():
    address = tokens.reply_address("support@helpdesk.localhost", SECRET, 42, "u7")
    token = address.split("+", 1)[1].split("@")[0]
    assert tokens.verify_token(SECRET, token) == (42, "u7")
    assert tokens.verify_token(SECRET, token.upper()) == (42, "u7")  # servers may change case
    assert tokens.verify_token("other", token) is None
    assert tokens.verify_token(SECRET, token.replace("42-", "43-")) is None
    assert tokens.tokens_in([address, "x+y@elsewhere.com"], SUPPORT) == [token]


def test_threading_rules_apply_in_order():
    lookup = MemoryLookup(tickets={1, 2, 3}, message_ids={"a@x": 2, "b@x": 3},
                          participants={1: {"jan@example.com"}})
    token_to = tokens.reply_address(SUPPORT[0], SECRET, 1, "0")
    everything = inbound(to=(token_to,), in_reply_to=("a@x",), references=("b@x",), subject="[HD-3] x")
    assert thread(everything, lookup) == ThreadMatch(1, "reply_token", detail="0")
    assert thread(inbound(in_reply_to=("a@x",), references=("b@x",)), lookup).rule == "in_reply_to"
    # References: the newest (last) known one wins.
    assert thread(inbound(references=("a@x", "b@x", "zz@x")), lookup) == ThreadMatch(3, "references", "b@x")
    assert thread(inbound(subject="Re: [HD-1] x"), lookup).rule == "subject_tag"


def test_a_subject_tag_needs_a_participant_and_an_existing_ticket():
    lookup = MemoryLookup(tickets={1}, participants={1: {"jan@example.com"}})
    assert thread(inbound(subject="[HD-1] x", from_addr="eve@example.com"), lookup) is None
    assert thread(inbound(subject="[HD-9] x"), lookup) is None


def test_a_token_in_delivered_to_counts_and_one_for_a_missing_ticket_does_not():
    lookup = MemoryLookup(tickets={5})
    ok = tokens.reply_address(SUPPORT[1], SECRET, 5, "p3")
    gone = tokens.reply_address(SUPPORT[1], SECRET, 6, "p3")
    assert thread(inbound(delivered_to=(ok,)), lookup).ticket_id == 5
    assert thread(inbound(to=(gone,)), lookup) is None


def test_a_merged_ticket_answers_for_the_one_it_was_merged_into():
    """Every rule that names ticket 5 after 5 was merged into 8 leads to 8, by the same rule."""
    lookup = MemoryLookup(tickets={5, 8}, message_ids={"old@x": 8}, participants={8: {"jan@example.com"}},
                          merged={5: 8})
    token = tokens.reply_address(SUPPORT[0], SECRET, 5, "p3")
    assert thread(inbound(to=(token,)), lookup) == ThreadMatch(8, "reply_token", detail="p3")
    assert thread(inbound(in_reply_to=("old@x",)), lookup) == ThreadMatch(8, "in_reply_to", detail="old@x")
    assert thread(inbound(subject="Re: [HD-5] x"), lookup) == ThreadMatch(8, "subject_tag", detail="[HD-5]")
    assert thread(inbound(subject="Re: [HD-5] x", from_addr="eve@example.com"), lookup) is None


def decide(mail=None, classification=NORMAL, match=None, **facts):
    return route(mail or inbound(), classification, match, Facts(**facts))


def test_route_table_first_match_wins():
    match = ThreadMatch(4, "in_reply_to")
    assert isinstance(decide(duplicate_of="ledger #1"), Ignore)
    assert decide(classification=Classification("loop", "from ourselves")).outcome == "loop"
    bounced = decide(classification=Classification("bounce", "dsn"), bounce_ticket_id=4)
    assert isinstance(bounced, Bounce) and bounced.ticket_id == 4
    assert decide(classification=Classification("autoreply", "Auto-Submitted"), match=match).outcome == "autoreply"
    assert isinstance(decide(inbound(from_addr="")), QuarantineDecision)
    assert isinstance(decide(match=ThreadMatch(4, "reply_token", "u1"), sender_is_staff=True,
                             token_user_is_sender=True), StaffReply)
    # Staff without its own token is treated as anyone else.
    assert isinstance(decide(match=match, sender_is_staff=True), Reply)
    reopened = decide(match=match, ticket_status="closed")
    assert isinstance(reopened, Reply) and reopened.reopen and "reopened" in reopened.reason
    assert isinstance(decide(), NewTicket)
