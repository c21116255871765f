"""Canned answers (issue 15, item 2): the sandbox (a body reaches only what is offered),
filling one in for a ticket, inserting it on the staff reply form without JavaScript,
`#canned NAME` in an engineer's reply by mail, the staff page and the CLI."""
from __future__ import annotations

import json

import pytest

from helpdesk.domain import canned
from helpdesk.domain.validation import Invalid
from helpdesk.inbox_worker.commands import commands_of
from helpdesk.models import CannedAnswer, Message, Role, Ticket, User
from helpdesk.outgoing.sender import Sender
from tests.mailfactory import make_mail
from tests.test_cli import helpdesk  # noqa: F401 (a fixture)
from tests.test_portal_tickets import open_ticket, signed_in, world  # noqa: F401 (a fixture)

VALUES = {"ticket": {"ref": "HD-7", "subject": "Drukarka"}, "customer": {"first_name": "Anna"},
          "contract": {"number": "A000001"}, "engineer": {"name": "Ewa Nowak"}}


# --- the sandbox ------------------------------------------------------------------------------------


def test_placeholders_are_filled_in():
    body = ("Dzień dobry {{ customer.first_name }},\n{{ ticket.ref }} ({{ ticket.subject|upper }})"
            "{% if contract.number %} w ramach umowy {{ contract.number }}{% endif %}.\n"
            "{{ customer.last_name|default('Klient', true) }} · {{ engineer.name }}")
    assert canned.render(body, VALUES) == ("Dzień dobry Anna,\nHD-7 (DRUKARKA) w ramach umowy A000001.\n"
                                           "Klient · Ewa Nowak")
    assert canned.render("{% if contract.number %}umowa{% else %}bez umowy{% endif %}", {}) == "bez umowy"


@pytest.mark.parametrize("body", [
    "{{ ticket.__class__ }}",
    "{{ ticket.ref.__class__.__mro__[1].__subclasses__() }}",
    "{{ config }}",
    "{{ config.SECRET_KEY }}",
    "{{ self }}",
    "{{ self.__init__.__globals__ }}",
    "{{ request }}",
    "{{ ticket.items() }}",
    "{{ ticket['ref'] }}",
    "{{ ticket.ref|attr('__class__') }}",
    "{{ ticket.ref.upper }}",
    "{{ ticket.secret }}",
    "{{ customer.password_hash }}",
    "{{ engineer.session_version }}",
    "{{ cycler(1, 2).__init__.__globals__ }}",
    "{{ joiner() }}",
    "{% set ns = namespace(x=1) %}{{ ns.x }}",
    "{{ namespace }}",
    "{{ lipsum(1000000) }}",
    "{{ range(10) }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{% for c in ticket.subject %}{{ c }}{% endfor %}",
    "{{ 'x' * 1000000000 }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ ticket.ref|format(1) }}",
    "{{ ticket.ref|default(config) }}",
    "{{ ticket.ref|replace('a', 'b') }}",
    "{% include 'base.html' %}",
    "{% extends 'base.html' %}",
    "{% import 'x' as x %}",
    "{% macro m() %}{% endmacro %}",
    "{{ {'a': 1} }}",
    "{{ [ticket] }}",
    "{% with x = ticket %}{{ x }}{% endwith %}",
    "{{ ticket.ref if ticket.__class__ else '' }}",
    "{% if ticket.__class__ %}x{% endif %}",
    "{% raw %}{% endraw %}{{ ticket.ref ~ config }}",
])
def test_a_body_cannot_reach_anything_but_what_is_offered(body):
    with pytest.raises(Invalid) as refused:
        canned.render(body, VALUES)
    assert "Not allowed" in str(refused.value) or "cannot be read" in str(refused.value)


def test_what_is_offered_is_plain_strings_even_when_given_objects():
    """Whatever the caller passes, the template sees only strings of the offered fields."""
    class Leaky:
        secret = "s3cret"

        def __str__(self):
            return "leaky"

    assert canned.render("{{ ticket.ref }}", {"ticket": {"ref": Leaky(), "secret": "s3cret"}}) == "leaky"


def test_bodies_and_names_are_checked_and_capped():
    with pytest.raises(Invalid):
        canned.check_body("x" * (canned.MAX_BODY + 1))
    with pytest.raises(Invalid):
        canned.check_body("{{ ticket.ref ")  # unreadable
    for bad in ("", "Zła nazwa", "a" * 65, "-x", "x\ny"):
        with pytest.raises(Invalid):
            canned.check_name(bad)
    assert canned.check_name(" Reset-Drukarki.1 ") == "reset-drukarki.1"


def test_commands_find_canned_at_the_top_only():
    commands, rest = commands_of("#canned reset\n#close\nPozdrawiam\n#canned other")
    assert commands.canned == "reset" and commands.close and rest == "Pozdrawiam\n#canned other"
    assert commands_of("Dzień dobry\n#canned reset")[0].canned is None
    assert commands_of("#canned\nx")[0].canned is None  # no name: not a command


# --- kept and filled in for a ticket ------------------------------------------------------------------


@pytest.fixture
def answers(db):
    engineer = User.create(email="eng@helpdesk.localhost", first_name="Ewa", last_name="Nowak",
                           role=Role.ENGINEER.value, is_active=True)
    canned.save("restart", title="Restart rejestratora", by=engineer,
                body_pl="Dzień dobry {{ customer.first_name }},\nproszę zrestartować rejestrator ({{ ticket.ref }}"
                        "{% if contract.number %}, umowa {{ contract.number }}{% endif %}).\n{{ engineer.name }}",
                body_en="Hello {{ customer.first_name }},\nplease restart the recorder ({{ ticket.ref }}).")
    return engineer


def test_saving_refuses_bad_bodies_and_duplicate_names(answers):
    with pytest.raises(Invalid):
        canned.save("other", title="", body_pl="{{ config }}", body_en="", by=None)
    with pytest.raises(Invalid):
        canned.save("restart", title="", body_pl="x", body_en="", by=None)
    with pytest.raises(Invalid):
        canned.save("empty", title="", body_pl=" ", body_en="", by=None)
    answer, created = canned.set_body("restart", "Hi {{ ticket.ref }}", language="en")
    assert not created and answer.body_en == "Hi {{ ticket.ref }}" and answer.body_pl.startswith("Dzień")


def test_an_answer_is_filled_in_for_a_ticket_in_its_requesters_language(app, world, answers):  # noqa: F811
    open_ticket(signed_in(app, world.alice), world.contract_a)
    ticket = Ticket.get()
    text = canned.fill("restart", ticket.id, answers)
    assert text == (f"Dzień dobry Alice,\nproszę zrestartować rejestrator (HD-{ticket.id}, umowa A000001).\n"
                    "Ewa Nowak")
    User.update(language="en").where(User.id == world.alice.id).execute()
    assert canned.fill("restart", ticket.id, answers).startswith("Hello Alice,")
    assert canned.fill("restart", ticket.id, answers, language="pl").startswith("Dzień dobry")


def test_the_reply_form_inserts_an_answer_keeping_what_was_typed(app, world, answers):  # noqa: F811
    open_ticket(signed_in(app, world.alice), world.contract_a)
    ticket = Ticket.get()
    staff = signed_in(app, world.engineer, ip="192.0.2.32")
    page = f"/staff/tickets/{ticket.id}"
    assert "Restart rejestratora (restart)" in staff.text(page)
    response = staff.post(f"{page}/reply", {"text": "Witam,", "canned": "restart", "insert": "1"}, page=page)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Witam,\n\nDzień dobry Alice," in html and "umowa A000001" in html
    assert Message.select().where(Message.ticket == ticket.id).count() == 1  # nothing was sent
    response = staff.post(f"{page}/reply", {"text": "", "canned": "nope", "insert": "1"}, page=page)
    assert response.status_code == 422 and "Nie ma takiej gotowej odpowiedzi" in response.get_data(as_text=True)


def test_the_staff_page_keeps_canned_answers(app, world):  # noqa: F811
    staff = signed_in(app, world.engineer, ip="192.0.2.32")
    response = staff.post("/staff/canned", {"new-name": "Witaj", "new-title": "Powitanie",
                                            "new-body_pl": "Dzień dobry {{ customer.first_name }}"})
    assert response.status_code == 302
    answer = CannedAnswer.get()
    assert (answer.name, answer.title) == ("witaj", "Powitanie")
    response = staff.post("/staff/canned", {"new-name": "zly", "new-body_pl": "{{ config.SECRET_KEY }}"})
    assert response.status_code == 422 and CannedAnswer.select().count() == 1
    response = staff.post(f"/staff/canned/{answer.id}", {"edit-name": "witaj", "edit-title": "Powitanie",
                                                         "edit-body_pl": "Cześć", "edit-body_en": "Hi"})
    assert response.status_code == 302 and CannedAnswer.get().body_en == "Hi"
    assert staff.post(f"/staff/canned/{answer.id}/delete", {}, page="/staff/canned").status_code == 302
    assert CannedAnswer.select().count() == 0
    customer = signed_in(app, world.alice, ip="192.0.2.33")
    assert customer.get("/staff/canned").status_code == 404


# --- by mail -------------------------------------------------------------------------------------------


def test_canned_by_mail_is_filled_in_and_sent(desk, config, smtp_server, answers):
    desk.receive(make_mail("Rejestrator nie nagrywa.\n", From="Jan <jan@example.com>", Message_ID="<j1@example.com>"))
    Sender(config.with_(smtp_url=smtp_server.url)).send_due()
    to_engineer = next(r.message for r in smtp_server.received if "eng@helpdesk.localhost" in r.rcpt_tos)
    smtp_server.received.clear()
    [ticket] = Ticket.select()

    row = desk.receive(make_mail("#canned Restart\nW razie pytań proszę dzwonić.\n",
                                 From="eng@helpdesk.localhost", To=to_engineer["Reply-To"].addresses[0].addr_spec,
                                 Subject="Re: " + to_engineer["Subject"], Message_ID="<e1@helpdesk.localhost>"))
    assert row.outcome == "staff_reply"
    message = Message.get(Message.message_id == "e1@helpdesk.localhost")
    assert message.kind == "staff"
    assert message.display == (f"Dzień dobry Jan,\nproszę zrestartować rejestrator (HD-{ticket.id})."
                               "\nEwa Nowak\n\nW razie pytań proszę dzwonić.")
    Sender(config.with_(smtp_url=smtp_server.url)).send_due()
    [sent] = [r.message for r in smtp_server.received if "jan@example.com" in r.rcpt_tos]
    text = sent.get_body(("plain",)).get_content()
    assert "proszę zrestartować rejestrator" in text and "Ewa Nowak" in text and "#canned" not in text
    smtp_server.received.clear()

    # An unknown name: kept as an internal note saying why, and mailed to no customer.
    row = desk.receive(make_mail("#canned nie-ma-takiej\nTekst.\n", From="eng@helpdesk.localhost",
                                 To=to_engineer["Reply-To"].addresses[0].addr_spec, Subject="Re: x",
                                 Message_ID="<e2@helpdesk.localhost>"))
    note = Message.get(Message.message_id == "e2@helpdesk.localhost")
    assert row.outcome == "staff_reply" and note.kind == "note"
    assert "no canned answer named nie-ma-takiej" in note.display
    Sender(config.with_(smtp_url=smtp_server.url)).send_due()
    assert not [r for r in smtp_server.received if "jan@example.com" in r.rcpt_tos]


# --- the command line ------------------------------------------------------------------------------------


def test_canned_answers_from_the_command_line(helpdesk, tmp_path):  # noqa: F811
    helpdesk("init-db")
    body = tmp_path / "restart.txt"
    body.write_text("Dzień dobry {{ customer.first_name }}, {{ ticket.ref }}.\n", encoding="utf-8")
    assert "added (pl)" in helpdesk("canned", "add", "restart", "--body-file", str(body)).stdout
    body.write_text("Hello {{ customer.first_name }}.\n", encoding="utf-8")
    assert "changed (en)" in helpdesk("canned", "add", "restart", "--body-file", str(body), "--language",
                                      "en").stdout
    [row] = json.loads(helpdesk("canned", "list", "--json").stdout)
    assert row["name"] == "restart" and row["languages"] == ["pl", "en"] and row["body_en"].startswith("Hello")
    assert "restart" in helpdesk("canned", "list").stdout
    body.write_text("{{ ticket.__class__ }}", encoding="utf-8")
    refused = helpdesk("canned", "add", "evil", "--body-file", str(body), ok=False)
    assert refused.returncode == 1 and "Not allowed" in refused.stderr
    missing = helpdesk("canned", "add", "x", "--body-file", str(tmp_path / "none.txt"), ok=False)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
