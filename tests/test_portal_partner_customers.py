"""A partner's customers (issue 17, item 5), through the Flask test client and in the
domain: a verified partner sees the contracts it sold and their tickets, read-only, and
nothing of another partner's; it takes part only once its customer adds it as a CC; its
notices (after it opts in) carry what came after, never an internal note; its digest."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import json

import pytest

from helpdesk import scheduler
from helpdesk.domain import partner_view
from helpdesk.domain.partner_view import TicketFacts, ticket_rights
from helpdesk.models import Company, CompanyRole, Contract, Message, Outbox, Participant, Role, Ticket, User
from helpdesk.outgoing.compose import compose
from tests import test_portal_tickets
from tests.portal import QueryCounter
from tests.test_portal_tickets import _contract, _user, open_ticket, outbox_to, signed_in

world = test_portal_tickets.world  # the fixture: two companies, their people, a partner, staff

NOW = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# --- the rule (pure) -------------------------------------------------------------------------------


@pytest.mark.parametrize("facts, read, take_part", [
    (TicketFacts(staff=True), True, True),
    (TicketFacts(requester=True, participant=True), True, True),
    (TicketFacts(participant=True), True, True),
    (TicketFacts(verified_contract=True), True, True),
    (TicketFacts(sold_contract=True), True, False),  # the partner that sold it: reads only
    (TicketFacts(sold_contract=True, participant=True), True, True),  # ... until its customer adds it
    (TicketFacts(), False, False),
])
def test_who_takes_part_in_a_ticket(facts, read, take_part):
    assert ticket_rights(facts) == partner_view.Rights(read=read, take_part=take_part)


# --- pages -----------------------------------------------------------------------------------------


@pytest.fixture
def rival(world):
    """Another verified partner, which sold contract B."""
    company = Company.create(nip="9542583988", name="Konkurent", role=CompanyRole.INTEGRATOR.value,
                             verified_at=dt.datetime(2026, 1, 3))
    Contract.update(partner=company).where(Contract.id == world.contract_b.id).execute()
    return _user("rival@konkurent.example", company, Role.PARTNER)


def test_a_partner_sees_its_customers_contract_and_ticket_but_not_another_partners(app, world, rival):
    open_ticket(signed_in(app, world.alice), world.contract_a, title="Rejestrator nie nagrywa")
    open_ticket(signed_in(app, world.bob, ip="192.0.2.31"), world.contract_b, title="Centrala alarmowa")
    a, b = Ticket.select().order_by(Ticket.id)
    partner = signed_in(app, world.partner, ip="192.0.2.40")
    page = partner.text("/partner/customers")
    assert "A000001" in page and "B000001" not in page
    assert partner.text("/partner").count("/partner/customers") >= 1  # linked from the partner portal
    tickets = partner.text("/partner/customers/tickets")
    assert "Rejestrator nie nagrywa" in tickets and "Centrala alarmowa" not in tickets
    contract = partner.text(f"/partner/customers/contracts/{world.contract_a.id}")
    assert "SN-A000001" in contract and "Rejestrator nie nagrywa" in contract
    assert partner.get(f"/partner/customers/contracts/{world.contract_b.id}").status_code == 404
    assert partner.get(f"/tickets/{b.id}").status_code == 404
    assert partner.get("/partner/customers/contracts/99999999").status_code == 404
    # the rival sees B and not A
    other = signed_in(app, rival, ip="192.0.2.41")
    assert "B000001" in other.text("/partner/customers") and "A000001" not in other.text("/partner/customers")
    assert other.get(f"/tickets/{a.id}").status_code == 404
    # customers and staff have no partner pages
    assert signed_in(app, world.alice, ip="192.0.2.42").get("/partner/customers").status_code == 404


def test_an_unverified_partner_sees_nothing_of_its_customers(app, world):
    open_ticket(signed_in(app, world.alice), world.contract_a)
    Company.update(verified_at=None).where(Company.id == world.partner.company_id).execute()
    partner = signed_in(app, world.partner, ip="192.0.2.43")
    assert partner.get("/partner/customers").status_code == 403  # the waiting page
    assert "A000001" not in partner.text("/partner/customers")
    assert partner.get(f"/tickets/{Ticket.get().id}").status_code == 404


def test_a_partner_reads_its_customers_ticket_and_cannot_reply_until_added_as_a_cc(app, world):
    alice = signed_in(app, world.alice)
    open_ticket(alice, world.contract_a)
    ticket = Ticket.get()
    Ticket.update(status="closed").where(Ticket.id == ticket.id).execute()
    partner = signed_in(app, world.partner, ip="192.0.2.44")
    page = partner.text(f"/tickets/{ticket.id}")
    assert 'id="read-only"' in page
    assert f"/tickets/{ticket.id}/reply" not in page and f"/tickets/{ticket.id}/cc" not in page
    assert f"/tickets/{ticket.id}/reopen" not in page
    token_page = "/partner/customers"  # any page of the partner's carries a CSRF token
    before = Message.select().count()
    for path, data in ((f"/tickets/{ticket.id}/reply", {"text": "Partner tu był"}),
                       (f"/tickets/{ticket.id}/cc", {"cc-addresses": "x@partner.example"}),
                       (f"/tickets/{ticket.id}/reopen", {})):
        assert partner.post(path, data, page=token_page).status_code == 403, path
    assert Message.select().count() == before and Ticket.get_by_id(ticket.id).status == "closed"
    assert not Participant.select().where(Participant.email == "x@partner.example").exists()
    # the customer adds the partner as a CC: now it takes part
    Ticket.update(status="open").where(Ticket.id == ticket.id).execute()
    alice.post(f"/tickets/{ticket.id}/cc", {"cc-addresses": world.partner.email}, page=f"/tickets/{ticket.id}")
    page = partner.text(f"/tickets/{ticket.id}")
    assert 'id="read-only"' not in page and f"/tickets/{ticket.id}/reply" in page
    assert partner.post(f"/tickets/{ticket.id}/reply", {"text": "Partner tu był"}).status_code == 302
    assert Message.select().where(Message.body_text == "Partner tu był").exists()


def test_the_api_refuses_a_read_only_partners_writes(app, world):
    from helpdesk.domain import api_tokens

    open_ticket(signed_in(app, world.alice), world.contract_a)
    ticket = Ticket.get()
    _, secret = api_tokens.create(world.partner, ["tickets:read", "tickets:write"])
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"/api/v1/tickets/{ticket.id}", headers=headers).status_code == 200
    answer = client.post(f"/api/v1/tickets/{ticket.id}/messages", json={"text": "x"}, headers=headers)
    assert answer.status_code == 403 and answer.get_json()["type"].endswith("forbidden")
    assert client.post(f"/api/v1/tickets/{ticket.id}/ccs", json={"addresses": ["y@p.example"]},
                       headers=headers).status_code == 403


# --- notices and digest ----------------------------------------------------------------------------


def _notices_to(address):
    return [r for r in Outbox.select().where(Outbox.recipient == address).order_by(Outbox.id)
            if json.loads(r.spec or "{}").get("template") == "customer_notice"]


def test_a_partner_gets_notices_only_after_opting_in_and_never_internal_notes(app, world, config):
    alice = signed_in(app, world.alice)
    open_ticket(alice, world.contract_a, text="Pierwszy wpis, przed zgodą partnera.")
    ticket = Ticket.get()
    assert _notices_to(world.partner.email) == []  # not opted in: nothing
    partner = signed_in(app, world.partner, ip="192.0.2.45")
    response = partner.post("/partner/customers/notices", {"notices": "y", "digest": "y"})
    assert response.status_code == 302
    user = User.get_by_id(world.partner.id)
    assert user.customer_notices_since is not None and user.digest_opt_in
    engineer = signed_in(app, world.engineer, ip="192.0.2.46")
    engineer.post(f"/staff/tickets/{ticket.id}/reply", {"text": "Notatka wewnętrzna XYZ", "internal": "y"},
                  page=f"/staff/tickets/{ticket.id}")
    assert _notices_to(world.partner.email) == []  # an internal note: never
    alice.post(f"/tickets/{ticket.id}/reply", {"text": "Drugi wpis, po zgodzie."})
    engineer.post(f"/staff/tickets/{ticket.id}/reply", {"text": "Odpowiedź serwisu."}, page=f"/staff/tickets/{ticket.id}")
    rows = _notices_to(world.partner.email)
    assert len(rows) == 2
    for row in rows:
        mail = email.message_from_bytes(compose(config, row), policy=email.policy.default)
        text = mail.get_body(("plain",)).get_content()
        assert "Pierwszy wpis" not in text  # before it opted in
        assert "Notatka wewnętrzna" not in text
        assert "+" not in mail["Reply-To"].addresses[0].username  # a plain address: its reply adds nobody
        assert "partner" in text.lower()
    texts = [email.message_from_bytes(compose(config, r), policy=email.policy.default).get_body(
        ("plain",)).get_content() for r in rows]
    assert "Drugi wpis" in texts[0] and "Odpowiedź serwisu" in texts[1]
    # off again: nothing more
    partner.post("/partner/customers/notices", {}, page="/partner/customers")
    assert User.get_by_id(world.partner.id).customer_notices_since is None
    alice.post(f"/tickets/{ticket.id}/reply", {"text": "Trzeci wpis."})
    assert len(_notices_to(world.partner.email)) == 2


def test_a_partner_on_the_ticket_as_a_cc_gets_one_mail_not_two(app, world):
    alice = signed_in(app, world.alice)
    open_ticket(alice, world.contract_a, ccs=world.partner.email)
    ticket = Ticket.get()
    partner_view.set_notices(User.get_by_id(world.partner.id), notices=True, digest=False,
                             now=NOW - dt.timedelta(minutes=1))
    alice.post(f"/tickets/{ticket.id}/reply", {"text": "Jeszcze jedno."})
    templates = [s["template"] for s in outbox_to(world.partner.email)]
    assert templates.count("customer_notice") == 0 and templates.count("message") >= 1


def test_the_digest_of_a_partner_lists_its_customers_tickets(app, world, rival):
    open_ticket(signed_in(app, world.alice), world.contract_a, title="Rejestrator nie nagrywa")
    open_ticket(signed_in(app, world.bob, ip="192.0.2.31"), world.contract_b, title="Centrala alarmowa")
    a, b = Ticket.select().order_by(Ticket.id)
    User.update(digest_opt_in=True).where(User.id.in_([world.partner.id, rival.id])).execute()
    found = scheduler.customer_tickets(NOW - dt.timedelta(days=7))
    assert [t.id for t in found[world.partner.id]] == [a.id]
    assert [t.id for t in found[rival.id]] == [b.id]
    Company.update(verified_at=None).where(Company.id == rival.company_id).execute()
    assert rival.id not in scheduler.customer_tickets(NOW - dt.timedelta(days=7))


def test_the_partners_lists_page_with_a_fixed_number_of_queries(app, world):
    partner_company = world.partner.company_id
    alice = signed_in(app, world.alice)

    def statements(path):
        page = signed_in(app, world.partner, ip="192.0.2.47")
        page.get(path)
        with QueryCounter() as counter:
            assert page.get(path).status_code == 200
        return counter.count

    paths = ["/partner/customers", "/partner/customers/tickets", f"/partner/customers/contracts/{world.contract_a.id}"]
    few = [statements(p) for p in paths]
    company = Company.get_by_id(world.alice.company_id)
    for i in range(30):
        contract = _contract(f"C{i:06d}", company, partner=Company.get_by_id(partner_company))
        Ticket.create(subject=f"T{i}", contract=contract, company=company, requester_email=world.alice.email)
    open_ticket(alice, world.contract_a)
    many = [statements(p) for p in paths]
    assert many == few
    page = signed_in(app, world.partner, ip="192.0.2.48")
    first = page.text("/partner/customers")
    assert 'rel="next"' in first  # 31 contracts: a second page
    tickets = page.text("/partner/customers/tickets")
    assert 'rel="next"' in tickets
    import re
    after = re.search(r'href="(/partner/customers/tickets\?before=[^"]+)"', tickets).group(1).replace("&amp;", "&")
    second = page.text(after)
    shown = set(re.findall(r"/tickets/(\d+)\"", tickets)) & set(re.findall(r"/tickets/(\d+)\"", second))
    assert shown == set()  # no ticket on both pages


def test_the_partners_ticket_pages_are_its_open_unmerged_tickets_newest_first_in_keyset_pages(app, world, rival):
    """The page's query (driven from the partial index of open tickets on SQLite, migration
    028) against the same rows picked one by one: open or all, one contract or every one,
    page after page, with ties on the time of change, closed and merged tickets, and another
    partner's tickets that must never show."""
    partner = Company.get_by_id(world.partner.company_id)
    company = Company.get_by_id(world.alice.company_id)
    contracts = [_contract(f"K{i:06d}", company, partner=partner) for i in range(3)]
    foreign = _contract("K999999", company, partner=Company.get_by_id(rival.company_id))
    statuses = ["new", "open", "closed", "waiting_customer", "closed"]
    made = []
    for i in range(23):
        at = NOW - dt.timedelta(minutes=i // 3)  # three tickets share each time of change
        made.append(Ticket.create(subject=f"P{i}", contract=contracts[i % 3], company=company, status=statuses[i % 5],
                                  requester_email=world.alice.email, updated_at=at))
    Ticket.create(subject="foreign", contract=foreign, company=company, requester_email=world.alice.email)
    Ticket.update(merged_into=made[0].id).where(Ticket.id == made[1].id).execute()

    def expected(everything, contract_id):
        rows = [t for t in Ticket.select().join(Contract).where(Contract.partner == partner.id)
                if t.merged_into_id is None and (everything or t.status != "closed")
                and contract_id in (None, t.contract_id)]
        return [t.id for t in sorted(rows, key=lambda t: (t.updated_at, t.id), reverse=True)]

    for everything in (False, True):
        for contract_id in (None, contracts[1].id):
            got, before = [], None
            while True:
                rows, more = partner_view.tickets_page(partner.id, everything=everything, before=before,
                                                       contract_id=contract_id, limit=4)
                got += [r["id"] for r in rows]
                assert all(r["contract_number"].startswith("K") and r["contract_id"] != foreign.id for r in rows)
                if not more:
                    break
                before = (rows[-1]["updated_at"], rows[-1]["id"])
            assert got == expected(everything, contract_id), (everything, contract_id)
    assert len(expected(False, None)) < len(expected(True, None))  # the closed ones make a difference
