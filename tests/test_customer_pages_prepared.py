"""The customer's and partner's pages read through queries built once (domain.prepared): the
same tickets and contracts as the plain Peewee composition (`visible_tickets`,
`visible_contracts`), for every kind of user, and still the same right after access changes
(a contract verified, a CC added, a partner's company verified, a role changed, a ticket moved
to another contract): nothing but the SQL text is kept between requests."""
from __future__ import annotations

import datetime as dt

import pytest

from helpdesk.domain import access, contract_order, contracts, kb, partner_view
from helpdesk.domain.queue_order import Cursor
from helpdesk.models import (
    Company,
    Contract,
    ContractAccess,
    DeviceLine,
    Participant,
    Role,
    Status,
    Ticket,
    User,
)

TODAY = dt.date(2026, 12, 2)
BASE = dt.datetime(2026, 11, 1, 8, 0)


@pytest.fixture
def world(db):
    firm = Company.create(nip="5260250274", name="Firma")
    seller = Company.create(nip="7740001454", name="Partner", role="reseller")
    contracts_ = [Contract.create(number=f"K00000{i}", company=firm, partner=seller if i % 2 else None,
                                  customer_name=f"Klient {i}", starts_on=TODAY - dt.timedelta(days=40 * i),
                                  ends_on=TODAY + dt.timedelta(days=30 - 20 * i)) for i in range(1, 6)]
    for i, contract in enumerate(contracts_):
        for model in ["Router LTE", "router lte", "", "Kamera IP", "NVR", "Switch"][: i + 2]:
            DeviceLine.create(contract=contract, model=model, serial=f"S{contract.id}-{model}")
    customer = User.create(email="klient@firma.example", company=firm, role=Role.CUSTOMER.value)
    colleague = User.create(email="kolega@firma.example", company=firm, role=Role.CUSTOMER.value)
    loner = User.create(email="sam@example.com", role=Role.CUSTOMER.value)
    partner = User.create(email="partner@partner.example", company=seller, role=Role.PARTNER.value)
    staff = User.create(email="staff@helpdesk.example", role=Role.ENGINEER.value)
    ContractAccess.create(user=customer, contract=contracts_[0])
    ContractAccess.create(user=customer, contract=contracts_[2])
    tickets = []
    statuses = [s.value for s in Status]
    for i in range(40):
        requester = (customer, colleague, loner)[i % 3]
        tickets.append(Ticket.create(
            subject=f"T{i}", status=statuses[i % len(statuses)], requester=requester if i % 5 else None,
            requester_email=requester.email, contract=contracts_[i % 5] if i % 4 else None,
            created_at=BASE + dt.timedelta(hours=i), updated_at=BASE + dt.timedelta(hours=(i * 7) % 40)))
    Participant.create(ticket=tickets[4], email=customer.email, added_at=BASE)
    Participant.create(ticket=tickets[7], email=loner.email, added_at=BASE)
    users = {"customer": customer, "colleague": colleague, "loner": loner, "partner": partner, "staff": staff}
    return {"users": users, "tickets": tickets, "contracts": contracts_, "seller": seller}


def _fresh(user: User) -> User:
    return User.get_by_id(user.id)


def _plain_list(user, active, status):
    return list(access.listed(access.visible_tickets(user), active=active, status=status).limit(100))


def _same_everywhere(world):
    """Every user's pages give what the plain composition gives; and something at all."""
    seen = 0
    for user in map(_fresh, world["users"].values()):
        plain = {t.id for t in access.visible_tickets(user)}
        for active, status in ((False, None), (True, None), (False, "closed"), (False, "new")):
            got = access.ticket_page(user, active=active, status=status, limit=100)
            assert got == _plain_list(user, active, status), (user.email, active, status)
            assert {row["id"] for row in got} <= plain
            for at in range(1, len(got)):  # pages of a few: a ticket found by two lookups on one page only
                cursor = Cursor.of(got[at - 1], False)
                assert access.ticket_page(user, active=active, status=status, cursor=cursor, limit=3) == \
                    got[at:at + 3], (user.email, active, status, at)
                cursor = Cursor.of(got[at], False)  # and the rows before it, nearest first
                assert access.ticket_page(user, active=active, status=status, cursor=cursor, backward=True,
                                          limit=3) == got[max(0, at - 3):at][::-1], (user.email, active, status, at)
        assert [t.id for t in access.active_tickets(user)] == [
            t.id for t in Ticket.open_ones(access.visible_tickets(user)).where(Ticket.merged_into.is_null())
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(50)]
        for ticket in world["tickets"]:
            found = access.ticket_for(user, ticket.id)
            assert (found is not None) == (ticket.id in plain), (user.email, ticket.id)
        shown = contracts.unsearched_rows(user, TODAY, soonest=True, limit=3)
        want = contracts.current(contracts.visible_contracts(user), TODAY)
        assert shown == list(want.select(*contracts.LISTED).order_by(Contract.ends_on, Contract.number).limit(3)
                             .tuples())
        assert contracts.unsearched_count(user, TODAY, upto=1000) == want.count()
        for archive in (False, True):
            query = contracts.listing(user, TODAY, archive=archive)
            order = (Contract.ends_on.desc(), Contract.number) if archive else (Contract.number,)
            every = list(query.select(*contracts.LISTED).order_by(*order).tuples())
            assert contracts.unsearched_rows(user, TODAY, archive=archive, limit=2) == every[:2]
            for at in range(1, len(every)):  # from each row's cursor, both ways
                after = contract_order.Cursor.of(every[at - 1], archive)
                assert contracts.unsearched_rows(user, TODAY, archive=archive, cursor=after, limit=2) == \
                    every[at:at + 2], (archive, at)
                before = contract_order.Cursor.of(every[at], archive)
                assert contracts.unsearched_rows(user, TODAY, archive=archive, cursor=before, backward=True,
                                                 limit=2) == every[max(0, at - 2):at][::-1], (archive, at)
            assert contracts.unsearched_count(user, TODAY, archive=archive, upto=1000) == query.count()
        assert contracts.unsearched_count(user, TODAY, archive=True, upto=0) == \
            min(1, contracts.listing(user, TODAY, archive=True).count())
        seen += len(plain)
    return seen


def test_prepared_pages_give_what_the_plain_queries_give(world):
    assert _same_everywhere(world) > 40


def test_still_the_same_right_after_access_changes(world):
    users, tickets, contracts_ = world["users"], world["tickets"], world["contracts"]
    _same_everywhere(world)
    before = {t["id"] for t in access.ticket_page(users["colleague"], active=False, status=None, limit=100)}
    ContractAccess.create(user=users["colleague"], contract=contracts_[1])  # the colleague verifies a contract
    after = {t["id"] for t in access.ticket_page(_fresh(users["colleague"]), active=False, status=None,
                                                 limit=100)}
    assert after > before and {t.id for t in tickets if t.contract_id == contracts_[1].id} <= after
    Participant.create(ticket=tickets[8], email=users["loner"].email, added_at=BASE)  # a CC added
    assert access.ticket_for(_fresh(users["loner"]), tickets[8].id) is not None
    assert access.ticket_for(_fresh(users["partner"]), tickets[5].id) is None  # sold, but not verified yet
    Company.update(verified_at=BASE).where(Company.id == world["seller"].id).execute()
    assert access.ticket_for(_fresh(users["partner"]), tickets[5].id) is not None
    assert partner_view.verified_company_id(_fresh(users["partner"])) == world["seller"].id
    User.update(role=Role.CUSTOMER.value).where(User.id == users["partner"].id).execute()  # no longer a partner
    assert access.ticket_for(_fresh(users["partner"]), tickets[5].id) is None
    Ticket.update(contract=contracts_[3]).where(Ticket.id == tickets[6].id).execute()  # moved to another contract
    User.update(company=None).where(User.id == users["customer"].id).execute()  # left its company
    _same_everywhere(world)


def test_partner_lists_page_through_every_row_once(world):
    Company.update(verified_at=BASE).where(Company.id == world["seller"].id).execute()
    seller = world["seller"].id
    for everything in (False, True):
        shown, before = [], None
        while True:
            rows, more = partner_view.tickets_page(seller, everything=everything, before=before, limit=3)
            shown += [r["id"] for r in rows]
            if not more:
                break
            before = (rows[-1]["updated_at"], rows[-1]["id"])
        sold = {c.id for c in world["contracts"] if c.partner_id == seller}
        want = (Ticket.select().where(Ticket.contract.in_(sold), Ticket.merged_into.is_null())
                .order_by(Ticket.updated_at.desc(), Ticket.id.desc()))
        if not everything:
            want = want.where(Ticket.status != Status.CLOSED.value)
        assert shown == [t.id for t in want] and shown
    for archive in (False, True):
        rows, _ = partner_view.contracts_page(seller, TODAY, archive=archive, limit=10)
        assert [c.id for c in rows] == [c.id for c in world["contracts"][::-1] if c.partner_id == seller
                                        and (c.ends_on < TODAY) == archive]


def test_articles_for_the_readers_devices_without_a_user_query(world, config):
    reader = kb.reader_for(_fresh(world["users"]["customer"]), TODAY)
    assert reader.company_id == world["users"]["customer"].company_id
    by_hand = kb.Reader(active_contract=True, user_id=world["users"]["customer"].id)  # no company: looked up
    models = kb.device_models(reader, TODAY)
    assert models == kb.device_models(by_hand, TODAY) and sorted(models) == ["Router LTE", "router lte"]


def test_a_ticket_found_several_ways_is_listed_once_and_a_merged_one_not_at_all(world):
    users, tickets = world["users"], world["tickets"]
    customer = users["customer"]
    # asked by the customer, by its address, on a contract it verified and copied to it
    both = tickets[3]
    Ticket.update(requester=customer, requester_email=customer.email, contract=world["contracts"][0],
                  updated_at=BASE + dt.timedelta(days=30)).where(Ticket.id == both.id).execute()
    Participant.create(ticket=both, email=customer.email, added_at=BASE)
    got = access.ticket_page(_fresh(customer), active=False, status=None, limit=100)
    assert [row["id"] for row in got].count(both.id) == 1 and got[0]["id"] == both.id
    Ticket.update(merged_into=tickets[6]).where(Ticket.id == both.id).execute()
    got = access.ticket_page(_fresh(customer), active=False, status=None, limit=100)
    assert both.id not in {row["id"] for row in got}
    assert both.id not in {t.id for t in access.active_tickets(_fresh(customer))}
    _same_everywhere(world)


def test_each_contracts_models_come_in_line_order_as_plain_strings(world):
    contracts_ = world["contracts"]
    bare = Contract.create(number="K000099", company=world["seller"], customer_name="Bez linii", starts_on=TODAY,
                           ends_on=TODAY)
    ids = [c.id for c in contracts_] + [bare.id]
    got = contracts.models_by_contract(ids)
    assert got == {i: [line.model for line in DeviceLine.select().where(DeviceLine.contract == i)
                       .order_by(DeviceLine.id)] for i in ids}
    assert got[bare.id] == [] and got[contracts_[0].id] == ["Router LTE", "router lte"]
    assert all(type(model) is str for models in got.values() for model in models)
