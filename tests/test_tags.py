"""Tags (issue 15, item 4): normalised and capped, added and removed on the staff page and
by the CLI, suggested from the tags in use, and filtering the queue and `ticket list`."""
from __future__ import annotations

import json

import pytest

from helpdesk.domain import tags
from helpdesk.domain.validation import Invalid
from helpdesk.models import TagUse, Ticket, TicketTag
from tests.mailfactory import make_mail
from tests.test_cli import helpdesk  # noqa: F401 (a fixture)
from tests.test_portal_tickets import open_ticket, signed_in, world  # noqa: F401 (a fixture)


def test_tags_are_normalised_and_capped():
    assert tags.parse("Drukarka,  VIP ,drukarka, sieć   LAN") == ["drukarka", "vip", "sieć lan"]
    assert tags.parse(["a, b", "c"]) == ["a", "b", "c"]
    for bad in ("x" * (tags.MAX_LENGTH + 1), "a\x00b"):
        with pytest.raises(Invalid):
            tags.parse(bad)
    with pytest.raises(Invalid):
        tags.parse(",".join(f"t{i}" for i in range(tags.MAX_PER_CHANGE + 1)))
    assert tags.parse(" , ,") == []


def test_a_ticket_has_at_most_the_cap(db):
    ticket = Ticket.create(subject="x", requester_email="jan@example.com")
    assert tags.add(ticket.id, [f"t{i:02}" for i in range(tags.MAX_PER_TICKET)]) != []
    assert tags.add(ticket.id, ["t00"]) == []  # already there: no change, no error
    with pytest.raises(Invalid):
        tags.add(ticket.id, ["one-too-many"])
    assert len(tags.of(ticket.id)) == tags.MAX_PER_TICKET
    assert tags.remove(ticket.id, ["t00", "absent"]) == 1
    assert tags.add(ticket.id, ["one-more"]) == ["one-more"]


def _counted() -> list[str]:
    """The suggestions as counting every ticket's tags gives them (what tag_use stands for)."""
    from peewee import fn

    count = fn.COUNT(TicketTag.id)
    return [r.tag for r in TicketTag.select(TicketTag.tag, count.alias("n")).group_by(TicketTag.tag)
            .order_by(count.desc(), TicketTag.tag).limit(50)]


def test_the_suggestions_follow_every_change_of_the_tags(db):
    one, two, three = (Ticket.create(subject=s, requester_email="jan@example.com") for s in "abc")
    tags.add(one.id, ["vip", "sieć", "drukarka"])
    tags.add(two.id, ["vip", "drukarka"])
    tags.add(two.id, ["vip"])  # already there: counted once
    tags.add(three.id, ["vip"])
    assert tags.suggestions() == _counted() == ["vip", "drukarka", "sieć"]
    assert tags.remove(one.id, ["drukarka", "drukarka", "absent"]) == 1
    assert tags.suggestions() == _counted() == ["vip", "drukarka", "sieć"]
    tags.remove(two.id, ["drukarka"])
    assert tags.suggestions() == _counted() == ["vip", "sieć"]  # no ticket carries it: not suggested
    tags.copy(one.id, three.id, one.created_at)  # a merge: vip is there already, sieć is new
    assert tags.suggestions() == _counted() == ["vip", "sieć"]
    assert TagUse.get_by_id("sieć").uses == 2 and TagUse.get_or_none(TagUse.tag == "drukarka") is None
    tags.add(three.id, ["a", "b"])
    assert tags.suggestions(limit=3) == _counted()[:3] == ["vip", "sieć", "a"]


def test_staff_tag_tickets_and_the_queue_filters_by_them(app, world):  # noqa: F811
    open_ticket(signed_in(app, world.alice), world.contract_a, title="Rejestrator A")
    open_ticket(signed_in(app, world.bob, ip="192.0.2.31"), world.contract_b, title="Centrala B")
    a, b = Ticket.select().order_by(Ticket.id)
    staff = signed_in(app, world.engineer, ip="192.0.2.32")
    page = f"/staff/tickets/{a.id}"
    response = staff.post(f"{page}/tags", {"tag-tags": "VIP, drukarka"}, page=page)
    assert response.status_code == 302 and tags.of(a.id) == ["drukarka", "vip"]
    staff.post(f"/staff/tickets/{b.id}/tags", {"tag-tags": "vip"}, page=f"/staff/tickets/{b.id}")
    # Suggestions: the tags in use, most used first, offered in a datalist.
    html = staff.text(f"/staff/tickets/{b.id}")
    assert '<datalist id="tag-suggestions"><option value="vip"><option value="drukarka">' in html

    def listed(query):
        body = staff.text("/staff?queue=all&" + query).split("<tbody>")
        return {t for t in ("Rejestrator A", "Centrala B") if len(body) > 1 and t in body[1]}

    assert listed("tag=vip") == {"Rejestrator A", "Centrala B"}
    assert listed("tag=Drukarka") == {"Rejestrator A"}
    assert listed("tag=none-such") == set()
    assert listed("tag=" + "x" * 200) == set()
    response = staff.post(f"{page}/tags", {"remove": "drukarka"}, page=page)
    assert response.status_code == 302 and tags.of(a.id) == ["vip"]
    response = staff.post(f"{page}/tags", {"tag-tags": "x" * 41}, page=page)
    assert response.status_code == 302 and tags.of(a.id) == ["vip"]  # refused, with the reason flashed
    assert "Etykieta może mieć najwyżej 40 znaków" in staff.text(page)
    customer = signed_in(app, world.alice, ip="192.0.2.33")
    assert customer.post(f"{page}/tags", {"tag-tags": "mine"}, page=f"/tickets/{a.id}").status_code == 404
    assert TicketTag.select().count() == 2


def test_tags_from_the_command_line(helpdesk, tmp_path):  # noqa: F811
    helpdesk("init-db")
    for i, sender in enumerate(("jan@example.com", "anna@example.com")):
        mail = tmp_path / f"{i}.eml"
        mail.write_bytes(make_mail(From=sender, Subject=f"Ticket {i}"))
        helpdesk("mail", "drop", str(mail))
    helpdesk("worker", "--once")
    assert "HD-1 tags: drukarka, vip" in helpdesk("ticket", "tag", "HD-1", "VIP", "drukarka").stdout
    helpdesk("ticket", "tag", "2", "vip")
    assert [r["ref"] for r in json.loads(helpdesk("ticket", "list", "--tag", "vip", "--json").stdout)] == \
        ["HD-2", "HD-1"]
    assert [r["ref"] for r in json.loads(helpdesk("ticket", "list", "--tag", "drukarka", "--json").stdout)] == \
        ["HD-1"]
    assert "HD-1 tags: vip" in helpdesk("ticket", "tag", "HD-1", "drukarka", "--remove").stdout
    assert "no tickets" in helpdesk("ticket", "list", "--tag", "drukarka").stdout
    assert "tags: vip" in helpdesk("ticket", "show", "HD-1").stdout
    refused = helpdesk("ticket", "tag", "HD-9", "x", ok=False)
    assert refused.returncode == 1 and "no ticket" in refused.stderr
    refused = helpdesk("ticket", "tag", "HD-1", "x" * 41, ok=False)
    assert refused.returncode == 1 and "at most 40" in refused.stderr

    # Merging from the command line (the tags go along).
    assert "HD-1 merged into HD-2" in helpdesk("ticket", "merge", "HD-1", "HD-2").stdout
    shown = json.loads(helpdesk("ticket", "show", "HD-1", "--json").stdout)
    assert shown["merged_into"] == "HD-2" and shown["messages"] == []
    target = json.loads(helpdesk("ticket", "show", "HD-2", "--json").stdout)
    assert len(target["messages"]) == 2 and target["tags"] == ["vip"]
    again = helpdesk("ticket", "merge", "HD-1", "HD-2", ok=False)
    assert again.returncode == 1 and "already merged" in again.stderr
