"""Who is told what: the pure rules, then mail in -> outbox -> aiosmtpd -> mail back in."""
from __future__ import annotations

import pytest

from helpdesk.domain import tokens
from helpdesk.domain.notices import Recipient, notices_for
from helpdesk.models import Outbox, Role, Ticket, User
from helpdesk.outgoing.sender import Sender
from tests.mailfactory import make_mail

SUPPORT = "support@helpdesk.localhost"
JAN, ANNA, ENG = Recipient("jan@example.com", "Jan", "p1"), Recipient("anna@example.com", "", "p2"), \
    Recipient("eng@helpdesk.localhost", "Eng", "u9")


def own(address):
    return tokens.is_own_address(address, (SUPPORT,))


def told(notices):
    return [(n.template, n.recipient.email, n.auto_submitted) for n in notices]


def test_a_new_ticket_acknowledges_the_requester_and_tells_ccs_and_engineers():
    notices = notices_for("new_ticket", author=JAN.email, requester=JAN.email, participants=[JAN, ANNA],
                          engineers=[ENG], ack_allowed=True, own=own)
    assert told(notices) == [("ack", JAN.email, "auto-replied"), ("message", ANNA.email, "auto-generated"),
                             ("engineer", ENG.email, "auto-generated")]


@pytest.mark.parametrize("requester", ["noreply@shop.example", "no-reply+x@shop.example", "MAILER-DAEMON@mx.example",
                                       "support+5-0-abc@helpdesk.localhost"])
def test_no_acknowledgement_to_addresses_nobody_reads_or_our_own(requester):
    who = Recipient(requester, "", "p1")
    notices = notices_for("new_ticket", author=requester, requester=requester, participants=[who], engineers=[],
                          ack_allowed=True, own=own)
    assert notices == []


def test_the_rate_limit_stops_the_acknowledgement_only():
    notices = notices_for("new_ticket", author=JAN.email, requester=JAN.email, participants=[JAN, ANNA],
                          engineers=[ENG], ack_allowed=False, own=own)
    assert [n.template for n in notices] == ["message", "engineer"]


def test_replies_go_to_everyone_but_their_author():
    customer = notices_for("reply", author=ANNA.email, requester=JAN.email, participants=[JAN, ANNA],
                           engineers=[ENG], ack_allowed=True, own=own)
    assert told(customer) == [("message", JAN.email, "auto-generated"), ("engineer", ENG.email, "auto-generated")]
    staff = notices_for("staff_reply", author=ENG.email, requester=JAN.email, participants=[JAN, ANNA],
                        engineers=[ENG], ack_allowed=True, own=own)
    assert [n.recipient.email for n in staff] == [JAN.email, ANNA.email]


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture
def engineer(db):
    return User.create(email="eng@helpdesk.localhost", first_name="Ewa", last_name="Nowak",
                       role=Role.ENGINEER.value, is_active=True)


def deliver_all(config, smtp_server):
    Sender(config.with_(smtp_url=smtp_server.url)).send_due()
    got = {r.rcpt_tos[0]: r.message for r in smtp_server.received}
    smtp_server.received.clear()
    return got


def test_a_conversation_by_mail(desk, config, smtp_server, engineer):
    first = make_mail(Message_ID="<first@example.com>", Cc="Anna <anna@example.com>", Subject="Drukarka nie drukuje")
    desk.receive(first)
    got = deliver_all(config, smtp_server)
    assert set(got) == {"jan@example.com", "anna@example.com", "eng@helpdesk.localhost"}
    ack = got["jan@example.com"]
    assert ack["Subject"].startswith("[HD-1]") and ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<first@example.com>" and "HD-1" in ack.get_body(("plain",)).get_content()
    # Each recipient has a reply address of its own, naming the ticket and them.
    addresses = {to: m["Reply-To"].addresses[0].addr_spec for to, m in got.items()}
    assert len(set(addresses.values())) == 3
    assert tokens.verify_token(config.secret_key, addresses["eng@helpdesk.localhost"].split("+")[1].split("@")[0]) \
        == (1, f"u{engineer.id}")

    # Anna answers her notification; her mail client keeps only the reply address.
    anna = got["anna@example.com"]
    row = desk.receive(make_mail("Też mam ten problem.\n", From="anna@example.com", To=addresses["anna@example.com"],
                                 Subject=f"Re: {anna['Subject']}", In_Reply_To=anna["Message-ID"]))
    assert row.outcome == "reply"
    got = deliver_all(config, smtp_server)
    assert set(got) == {"jan@example.com", "eng@helpdesk.localhost"}
    body = got["jan@example.com"].get_body(("plain",)).get_content()
    assert body.index("Też mam ten problem") < body.index("the printer is broken")  # newest first (E12)

    # The engineer answers from her mail client: a staff reply, told to the customers.
    eng = got["eng@helpdesk.localhost"]
    row = desk.receive(make_mail("Proszę zrestartować drukarkę.\n\n> Też mam ten problem.\n",
                                 From="eng@helpdesk.localhost", To=eng["Reply-To"].addresses[0].addr_spec,
                                 Subject=f"Re: {eng['Subject']}", In_Reply_To=eng["Message-ID"]))
    assert row.outcome == "staff_reply"
    got = deliver_all(config, smtp_server)
    assert set(got) == {"jan@example.com", "anna@example.com"}
    assert "Proszę zrestartować" in got["jan@example.com"].get_body(("plain",)).get_content()

    # Our own notice coming back to the inbox (a forward rule, a misconfigured alias) is a loop.
    looped = desk.receive(got["anna@example.com"].as_bytes())
    assert looped.outcome == "loop" and Outbox.select().where(Outbox.status == "pending").count() == 0
    assert Ticket.select().count() == 1


def test_acknowledgements_to_one_address_are_rate_limited(desk, config):
    for i in range(5):
        desk.receive(make_mail(Message_ID=f"<n{i}@example.com>", Subject=f"Problem {i}"))
    assert Ticket.select().count() == 5
    assert Outbox.select().where(Outbox.kind == "ack").count() == 3


@pytest.mark.parametrize("text, expected", [
    ("#close\nDone, closing.", ({"close": True}, "Done, closing.")),
    ("\n#note\n#assign me\nCustomer is rude.\n", ({"note": True, "assign_me": True}, "Customer is rude.")),
    ("#wait\nWaiting for the logs.", ({"status": "waiting_customer"}, "Waiting for the logs.")),
    ("Hello\n#close", ({}, "Hello\n#close")),  # only at the top
    ("#123 is the other ticket", ({}, "#123 is the other ticket")),
])
def test_engineer_commands_at_the_top_of_a_reply(text, expected):
    from helpdesk.inbox_worker.commands import Commands, commands_of

    commands, rest = commands_of(text)
    assert (commands, rest) == (Commands(**expected[0]), expected[1])


def test_engineer_commands_by_mail_note_assign_close_and_reopen(desk, config, smtp_server, engineer):
    from helpdesk.models import Message, MessageKind, Status

    desk.receive(make_mail(Message_ID="<first@example.com>"))
    address = tokens.reply_address(SUPPORT, config.secret_key, 1, f"u{engineer.id}")
    deliver_all(config, smtp_server)

    note = desk.receive(make_mail("#note\n#assign me\nTo chyba zasilacz.\n", From=engineer.email, To=address))
    assert note.outcome == "staff_reply" and "internal note" in note.reason
    assert deliver_all(config, smtp_server) == {}  # customers never see a note
    ticket = Ticket.get_by_id(1)
    assert ticket.assignee_id == engineer.id and ticket.status == Status.NEW.value
    stored = Message.select().order_by(Message.id.desc()).get()
    assert stored.kind == MessageKind.NOTE.value and stored.display == "To chyba zasilacz."

    desk.receive(make_mail("#close\nWymieniony zasilacz, zamykam.\n", From=engineer.email, To=address))
    assert Ticket.get_by_id(1).status == Status.CLOSED.value
    got = deliver_all(config, smtp_server)
    assert set(got) == {"jan@example.com"}
    assert "#close" not in got["jan@example.com"].get_body(("plain",)).get_content()

    # The customer answers: the ticket opens again (E8), and the assignee is told.
    reply = desk.receive(make_mail("Nadal nie działa.\n", In_Reply_To=got["jan@example.com"]["Message-ID"]))
    assert reply.outcome == "reply" and "reopened" in reply.reason
    assert Ticket.get_by_id(1).status == Status.WAITING_US.value
    assert set(deliver_all(config, smtp_server)) == {"eng@helpdesk.localhost"}


def test_the_whole_conversation_through_dovecot_and_aiosmtpd(db, config, dovecot, smtp_server, engineer):
    """Customer mail, acknowledgement, engineer reply by mail, customer reply-all with a new
    CC, engineer #close, customer reply reopens: who received what, and the ticket's state."""
    from helpdesk.inbox_worker.pipeline import Worker
    from helpdesk.models import Participant, Status

    url = dovecot.new_mailbox()
    imap = config.with_(mailbox_url=url)

    def receive(raw):
        dovecot.append(url, raw)
        with Worker(imap, parse_workers=0) as worker:
            return worker.run_once()

    receive(make_mail(Message_ID="<start@example.com>", Subject="Kamera nie nagrywa"))
    got = deliver_all(config, smtp_server)
    assert set(got) == {"jan@example.com", "eng@helpdesk.localhost"}
    assert got["jan@example.com"]["Auto-Submitted"] == "auto-replied"

    eng = got["eng@helpdesk.localhost"]
    receive(make_mail("Proszę przysłać logi.\n", From=engineer.email, To=eng["Reply-To"].addresses[0].addr_spec,
                      Subject=f"Re: {eng['Subject']}", In_Reply_To=eng["Message-ID"]))
    got = deliver_all(config, smtp_server)
    assert set(got) == {"jan@example.com"} and Ticket.get_by_id(1).status == Status.WAITING_CUSTOMER.value
    to_jan = got["jan@example.com"]
    assert to_jan["In-Reply-To"] and to_jan["References"] and to_jan["Subject"].startswith("[HD-1]")

    # Jan answers all and brings in a colleague.
    receive(make_mail("Logi w załączniku.\n", To=to_jan["Reply-To"].addresses[0].addr_spec,
                      Cc="Piotr <piotr@example.com>", Subject=f"Re: {to_jan['Subject']}",
                      In_Reply_To=to_jan["Message-ID"], References=f"<start@example.com> {to_jan['Message-ID']}"))
    assert "piotr@example.com" in {p.email for p in Participant.select()}
    got = deliver_all(config, smtp_server)
    assert set(got) == {"piotr@example.com", "eng@helpdesk.localhost"}

    eng = got["eng@helpdesk.localhost"]
    receive(make_mail("#close\nNaprawione po aktualizacji.\n", From=engineer.email,
                      To=eng["Reply-To"].addresses[0].addr_spec, Subject=f"Re: {eng['Subject']}"))
    assert Ticket.get_by_id(1).status == Status.CLOSED.value
    got = deliver_all(config, smtp_server)
    assert set(got) == {"jan@example.com", "piotr@example.com"}

    to_piotr = got["piotr@example.com"]
    receive(make_mail("Jednak znowu nie nagrywa.\n", From="piotr@example.com",
                      To=to_piotr["Reply-To"].addresses[0].addr_spec, Subject=f"Re: {to_piotr['Subject']}",
                      In_Reply_To=to_piotr["Message-ID"]))
    assert Ticket.get_by_id(1).status == Status.WAITING_US.value
    assert set(deliver_all(config, smtp_server)) == {"jan@example.com", "eng@helpdesk.localhost"}
    assert Ticket.select().count() == 1


def test_two_auto_responders_answering_each_other_through_a_ticket_stop(desk, config, smtp_server):
    """Auto-responders that ignore Auto-Submitted and copy nothing but the reply address."""
    from helpdesk.domain.notify import NOTICES_PER_TICKET_HOUR

    robots = ("robot-a@example.com", "robot-b@example.com")
    desk.receive(make_mail(From=robots[0], Cc=robots[1], Subject="Zgłoszenie"))
    for _round in range(60):
        got = deliver_all(config, smtp_server)
        answers = [make_mail("I am away.\n", From=to, To=m["Reply-To"].addresses[0].addr_spec,
                             Subject=f"Re: {m['Subject']}", In_Reply_To=m["Message-ID"])
                   for to, m in got.items() if to in robots]
        if not answers:
            break
        for raw in answers:
            desk.deliver(raw)
        desk.run()
    else:
        pytest.fail("the auto-responders never stopped")
    to_robots = Outbox.select().where(Outbox.recipient.in_(robots)).count()
    assert to_robots <= 2 * NOTICES_PER_TICKET_HOUR + 1
    assert Ticket.select().count() == 1
