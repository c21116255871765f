"""domain/prepared.py: a query built into SQL once per shape gives the rows the query itself
gives, for every value, on SQLite and PostgreSQL; what it cannot prepare it refuses."""
from __future__ import annotations

import datetime as dt

import pytest
from peewee import JOIN, CharField, Value, fn

from helpdesk.domain.prepared import PreparedError, prepared
from helpdesk.models import BaseModel, Company, Contract, Message, Ticket, User, db as models_db
from tests.postgres import postgres_only


def plain(query) -> list:
    return list(query)


@pytest.fixture
def world(db):
    company = Company.create(nip="5260250274", name="Firma")
    other = Company.create(nip="7740001454", name="Inna")
    today = dt.date(2026, 12, 2)
    contracts = [Contract.create(number=f"A00000{i}", company=company if i % 2 else other,
                                 starts_on=today - dt.timedelta(days=30 * i), ends_on=today + dt.timedelta(days=10 * i))
                 for i in range(1, 7)]
    users = [User.create(email=f"u{i}@example.com", company=company) for i in range(3)]
    base = dt.datetime(2026, 11, 1, 8, 0)
    tickets = []
    for i in range(30):
        tickets.append(Ticket.create(
            subject=f"T{i}", status=("new", "open", "closed")[i % 3], requester=users[i % 3],
            requester_email=users[i % 3].email, contract=contracts[i % 6] if i % 4 else None,
            created_at=base + dt.timedelta(hours=i), updated_at=base + dt.timedelta(hours=(i * 7) % 30)))
    return {"users": users, "tickets": tickets, "contracts": contracts, "company": company, "base": base}


def tickets_of(user_id: int, status: str, limit: int):
    return (Ticket.select(Ticket, Contract.number.alias("contract_number"))
            .join(Contract, JOIN.LEFT_OUTER, on=(Ticket.contract == Contract.id))
            .where(Ticket.requester == user_id, Ticket.status != status)
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit))


prepared_tickets_of = prepared(tickets_of)


def test_same_rows_as_the_query_for_every_value_and_one_statement(world):
    found = 0
    for user in world["users"]:
        for status in ("closed", "new", "nothing"):
            for limit in (1, 4, 50):
                got = prepared_tickets_of(user.id, status, limit)
                want = plain(tickets_of(user.id, status, limit))
                assert [(t.id, t.subject, t.status, t.updated_at, t.contract_id, t.contract and t.contract.contract_number) for t in got] == \
                    [(t.id, t.subject, t.status, t.updated_at, t.contract_id, t.contract and t.contract.contract_number) for t in want]
                found += len(got)
    assert found > 50
    assert len(prepared_tickets_of.statements) == 1


def test_joined_models_dicts_and_tuples(world):
    @prepared
    def joined(number: str):
        return (Ticket.select(Ticket.id, Ticket.subject, Contract.number, Contract.ends_on)
                .join(Contract).where(Contract.number == number).order_by(Ticket.id))

    @prepared
    def as_dicts(since: dt.datetime):
        return Ticket.select(Ticket.id, Ticket.created_at).where(Ticket.created_at >= since).order_by(Ticket.id).dicts()

    @prepared
    def as_tuples(until: dt.date):
        return Contract.select(Contract.number, Contract.ends_on).where(Contract.ends_on <= until).order_by(
            Contract.number).tuples()

    rows = joined("A000003")
    assert [(t.id, t.contract.number, t.contract.ends_on) for t in rows] == [
        (t.id, t.contract.number, t.contract.ends_on)
        for t in Ticket.select().join(Contract).where(Contract.number == "A000003").order_by(Ticket.id)]
    assert rows and all(t.contract.number == "A000003" for t in rows)
    since = world["base"] + dt.timedelta(hours=25)
    assert as_dicts(since) == [{"id": t.id, "created_at": t.created_at} for t in world["tickets"][25:]]
    until = dt.date(2026, 12, 2) + dt.timedelta(days=30)
    assert as_tuples(until) == [(c.number, c.ends_on) for c in world["contracts"][:3]]


def test_shape_arguments_get_a_statement_each(world):
    @prepared
    def by_contract(contract_id, open_only: bool):
        query = Ticket.select(Ticket.id).where(Ticket.contract == contract_id)
        if open_only:
            query = query.where(Ticket.status != "closed")
        return query.order_by(Ticket.id).tuples()

    contract = world["contracts"][1].id
    everything = [(t.id,) for t in world["tickets"] if t.contract_id == contract]
    assert by_contract(contract, False) == everything
    assert by_contract(contract, True) == [(t.id,) for t in world["tickets"]
                                           if t.contract_id == contract and t.status != "closed"]
    assert by_contract(None, False) == [(t.id,) for t in world["tickets"] if t.contract_id is None]
    assert len(by_contract.statements) == 3


def test_first_scalar_exists(world):
    @prepared
    def newest(user_id: int):
        return Ticket.select().where(Ticket.requester == user_id).order_by(Ticket.id.desc()).limit(1)

    @prepared
    def count(email: str):
        return Ticket.select(fn.COUNT(Ticket.id)).where(Ticket.requester_email == email)

    @prepared
    def has(email: str):
        return Ticket.select(Ticket.id).where(Ticket.requester_email == email).limit(1)

    user = world["users"][2]
    assert newest.first(user.id).id == max(t.id for t in world["tickets"] if t.requester_id == user.id)
    assert newest.first(-5) is None
    assert count.scalar(user.email) == 10
    assert count.scalar("nobody@example.com") == 0
    assert has.exists(user.email) and not has.exists("nobody@example.com")


def test_each_value_goes_through_its_fields_conversion(db):
    class Lower(CharField):
        def db_value(self, value):
            return None if value is None else value.lower()

    class Note(BaseModel):
        key = Lower()

    models_db.create_tables([Note])
    try:
        Note.create(key="Abc")

        @prepared
        def by_key(key: str):
            return Note.select(Note.key).where(Note.key == key).tuples()

        assert by_key("ABC") == [("abc",)] == plain(Note.select(Note.key).where(Note.key == "ABC").tuples())
        assert by_key("aBc") == [("abc",)]
    finally:
        models_db.drop_tables([Note])


def test_refuses_what_it_cannot_prepare(world):
    @prepared
    def shifted(ticket_id: int):
        return Ticket.select().where(Ticket.id == ticket_id + 1)

    @prepared
    def containing(word: str):
        return Ticket.select().where(Ticket.subject.contains(word))

    @prepared
    def unused(ticket_id: int, word: str):
        return Ticket.select().where(Ticket.id == ticket_id)

    for call in (lambda: shifted(3), lambda: containing("T1"), lambda: unused(3, "x")):
        with pytest.raises(PreparedError):
            call()


def test_subqueries_and_unions_keep_their_values_apart(world):
    """The customer's visible tickets: a UNION of indexed lookups with nested INs."""
    @prepared
    def visible(user_id: int, email: str, company_id: int):
        ids = (Ticket.select(Ticket.id).where(Ticket.requester == user_id)
               | Ticket.select(Ticket.id).where(Ticket.requester_email == email)
               | Ticket.select(Ticket.id).where(Ticket.contract.in_(
                   Contract.select(Contract.id).where(Contract.company == company_id))))
        return Ticket.select(Ticket.id).where(Ticket.id.in_(ids)).order_by(Ticket.id).tuples()

    company = world["company"].id
    for user in world["users"]:
        want = sorted({t.id for t in world["tickets"]
                       if t.requester_id == user.id or (t.contract and t.contract.company_id == company)})
        assert visible(user.id, "nobody@example.com", company) == [(i,) for i in want]
    assert visible(-1, world["users"][0].email, -1) == [
        (t.id,) for t in world["tickets"] if t.requester_email == world["users"][0].email]
    assert len(visible.statements) == 1


def test_message_counts_with_dates(world):
    ticket = world["tickets"][0]
    for i in range(5):
        Message.create(ticket=ticket, kind="customer", created_at=world["base"] + dt.timedelta(days=i))

    @prepared
    def since(ticket_id: int, when: dt.datetime):
        return Message.select(fn.COUNT(Message.id)).where(Message.ticket == ticket_id, Message.created_at >= when)

    assert [since.scalar(ticket.id, world["base"] + dt.timedelta(days=d)) for d in range(6)] == [5, 4, 3, 2, 1, 0]


def test_lists_for_in_share_a_statement_per_power_of_two_and_give_the_querys_rows(world):
    """A list argument (an IN): the same rows as the query for lists of every length from
    empty to past a bucket's edge, with repeated and missing ids, next to other values;
    one statement per power of two of the length."""
    def by_ids(ids: list, status: str):
        return Ticket.select(Ticket.id).where(Ticket.id.in_(ids), Ticket.status != status).order_by(Ticket.id)

    prepared_by_ids = prepared(by_ids)
    ids = [t.id for t in world["tickets"]]
    lengths = list(range(0, 18)) + [30, 31, 33]
    for n in lengths:
        for chosen in (ids[:n], ids[::-1][:n], [ids[3]] * n, ids[:n] + [10**9]):
            for status in ("closed", "new"):
                got = [t.id for t in prepared_by_ids(chosen, status)]
                assert got == [t.id for t in by_ids(chosen, status)], (n, chosen, status)
    # lengths 0..34: empty, 1, 2, 4, 8, 16, 32, 64 (34 = 33 + the missing id)
    assert sorted(key[1][1] for key in prepared_by_ids.statements) == [0, 1, 2, 4, 8, 16, 32, 64]
    words = prepared(lambda subjects: Ticket.select(Ticket.id).where(Ticket.subject.in_(subjects)).order_by(Ticket.id))
    assert [t.id for t in words(("T1", "T2", "T3"))] == [world["tickets"][i].id for i in (1, 2, 3)]
    assert [t.id for t in words(["T4"])] == [world["tickets"][4].id]


def test_refuses_lists_it_cannot_prepare(world):
    @prepared
    def shifted(ids: list):
        return Ticket.select().where(Ticket.id.in_([i + 1 for i in ids]))

    @prepared
    def first_only(ids: list):
        return Ticket.select().where(Ticket.id == ids[0])

    @prepared
    def listed(ids: list):
        return Ticket.select().where(Ticket.id.in_(ids))

    for call in (lambda: shifted([1, 2]), lambda: first_only([1, 2]), lambda: listed([1, "2"]),
                 lambda: listed([True, False]), lambda: listed(list(range(1025)))):
        with pytest.raises(PreparedError):
            call()
    assert listed([1, 2]) is not None


# --- PostgreSQL: prepared by the server ----------------------------------------------------------


def server_prepared() -> dict[str, str]:
    """This connection's statements the server holds prepared: name -> their text."""
    return dict(models_db.execute_sql("SELECT name, statement FROM pg_prepared_statements").fetchall())


def open_tickets_after(user_id: int, since: dt.datetime):
    return (Ticket.select(Ticket.id, Ticket.subject)
            .where(Ticket.requester == user_id, Ticket.status != "closed", Ticket.created_at >= since)
            .order_by(Ticket.id).tuples())


@postgres_only
def test_postgresql_prepares_each_statement_once_per_connection_with_its_constants_written_in(world):
    query = prepared(open_tickets_after)
    user, base = world["users"][1], world["base"]
    for hours in (0, 5, 29, 40):
        assert query(user.id, base + dt.timedelta(hours=hours)) == \
            list(open_tickets_after(user.id, base + dt.timedelta(hours=hours)))
    assert any(query(user.id, base))
    (statement,) = query.statements.values()
    held = server_prepared()
    assert statement.name in held
    text = held[statement.name]
    assert "'closed'" in text and "$1" in text and "$2" in text and "$3" not in text
    # a new connection: prepared again on its first run there
    models_db.close()
    models_db.connect()
    assert statement.name not in server_prepared()
    assert query(user.id, base) == list(open_tickets_after(user.id, base))
    assert statement.name in server_prepared()


@postgres_only
def test_postgresql_statement_log_shows_the_sql_with_its_values(world):
    from tests.portal import QueryCounter

    user, base = world["users"][0], world["base"]
    query = prepared(open_tickets_after)
    with QueryCounter() as counted:
        query(user.id, base)
        query(user.id, base)
    assert len(counted.statements) == 2
    assert all(sql.startswith("('SELECT") and "EXECUTE" not in sql for sql in counted.statements)


def untyped(email: str):
    # a string the server cannot type on its own in a PREPARE ($1 IS NULL)
    return User.select(User.id).where(Value(email).is_null(False)).order_by(User.id).tuples()


@postgres_only
def test_postgresql_a_statement_the_server_refuses_runs_as_plain_sql_inside_a_transaction_too(world):
    query = prepared(untyped)
    with models_db.atomic():
        Company.create(nip="1234563218", name="Nowa")
        assert query("x@example.com") == list(untyped("x@example.com"))
        assert Company.select().where(Company.name == "Nowa").count() == 1  # the transaction goes on
    assert Company.select().where(Company.name == "Nowa").count() == 1
    (statement,) = query.statements.values()
    assert statement.server.prepare is None and statement.name not in server_prepared()
    assert query("y@example.com") == list(untyped("y@example.com"))  # and again, not tried twice


@postgres_only
def test_postgresql_prepared_statements_off(config, world):
    from helpdesk import database

    off = database.open_database(config.database_url, server_prepared=False)
    try:
        query = prepared(open_tickets_after)
        assert query(world["users"][1].id, world["base"]) == list(open_tickets_after(world["users"][1].id, world["base"]))
        assert server_prepared() == {}
    finally:
        off.close()


def test_server_types_are_those_of_psycopg2s_literals():
    from helpdesk.domain.prepared import server_type

    assert [server_type(v) for v in (True, 7, 1.5, dt.date(2026, 1, 1), dt.datetime(2026, 1, 1),
                                     dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), b"x", "text", None)] == \
        ["boolean", "bigint", "double precision", "date", "timestamp", "timestamptz", "bytea", "unknown", "unknown"]


@postgres_only
def test_postgresql_a_statement_that_meets_a_lock_is_prepared_on_a_later_run(config, world):
    import psycopg2
    from peewee import OperationalError

    query = prepared(open_tickets_after)
    user, base = world["users"][1], world["base"]
    models_db.execute_sql("SET lock_timeout = 200")
    holder = psycopg2.connect(config.database_url)
    try:
        holder.cursor().execute("LOCK TABLE ticket IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(OperationalError, match="lock timeout"):
            query(user.id, base)
    finally:
        holder.rollback()
        holder.close()
    (statement,) = query.statements.values()
    assert statement.server.prepare is not None  # not given up for a lock
    assert query(user.id, base) == list(open_tickets_after(user.id, base))
    assert statement.name in server_prepared()


@postgres_only
def test_postgresql_statements_the_session_lost_are_prepared_again(world):
    query = prepared(open_tickets_after)
    user, base = world["users"][1], world["base"]
    want = list(open_tickets_after(user.id, base))
    assert query(user.id, base) == want
    models_db.execute_sql("DEALLOCATE ALL")
    assert query(user.id, base) == want  # outside a transaction: prepared again and run at once
    (statement,) = query.statements.values()
    assert statement.name in server_prepared()
    models_db.execute_sql("DEALLOCATE ALL")
    with pytest.raises(Exception, match="does not exist"):
        with models_db.atomic():  # inside one: the transaction fails with the error ...
            query(user.id, base)
    assert query(user.id, base) == want  # ... and the next run prepares it again


@postgres_only
def test_postgresql_one_statement_lost_leaves_the_others_prepared(world):
    first, second = prepared(open_tickets_after), prepared(tickets_of)
    user, base = world["users"][1], world["base"]
    first(user.id, base)
    second(user.id, "closed", 5)
    (lost,) = first.statements.values()
    (kept,) = second.statements.values()
    models_db.execute_sql(f"DEALLOCATE {lost.name}")
    assert first(user.id, base) == list(open_tickets_after(user.id, base))
    assert [t.id for t in second(user.id, "closed", 5)] == [t.id for t in tickets_of(user.id, "closed", 5)]
    assert kept.server.prepare is not None  # found held, not taken for a refusal
    assert {lost.name, kept.name} <= set(server_prepared())
