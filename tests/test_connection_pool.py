"""The portal keeps its database connections between requests (database.open_database
pooled=True, as create_app() does when it opens the database itself): a request reuses
the connection the last one returned, sees what other connections committed since, gets
no transaction left open by a failed request, and a forked child starts with none of its
parent's connections."""
from __future__ import annotations

import os

import pytest

from helpdesk import models
from helpdesk.models import User
from helpdesk.web import create_app


@pytest.fixture
def pooled_app(config, db):
    app = create_app(config)  # opens the database itself: pooled
    pool = models.db.obj
    assert pool is not db and hasattr(pool, "_connections")
    yield app, pool
    pool.close_all()
    models.db.initialize(db)


def connection_of(pool):
    (_, _, connection), = pool._connections  # exactly one idle connection
    return connection


def test_requests_reuse_one_connection(pooled_app):
    app, pool = pooled_app
    client = app.test_client()
    assert client.get("/terms").status_code == 200
    first = connection_of(pool)
    for _ in range(3):
        assert client.get("/login").status_code == 200
        assert connection_of(pool) is first
    assert pool._in_use == {}


def test_a_reused_connection_sees_what_others_committed(pooled_app, db):
    app, pool = pooled_app
    client = app.test_client()
    client.get("/terms")
    user = User.create(email="late@example.com", first_name="Before", is_active=True)
    db.execute_sql(f"UPDATE \"{User._meta.table_name}\" SET first_name = 'After' WHERE id = {int(user.id)}")
    db.close()  # the test's own (unpooled) database object: another connection
    pool.connect(reuse_if_open=True)
    try:
        assert User.get_by_id(user.id).first_name == "After"
    finally:
        pool.close()


def test_a_transaction_left_open_is_rolled_back_not_handed_on(pooled_app):
    app, pool = pooled_app
    pool.connect()
    connection = pool.connection()
    pool.execute_sql("BEGIN")  # behind Peewee's back, as a failed request might leave it
    User.insert(email="ghost@example.com").execute()
    pool.close()  # back to the pool
    pool.connect()
    assert pool.connection() is connection
    try:
        assert not User.select().where(User.email == "ghost@example.com").exists()
    finally:
        pool.close()


def test_a_forked_child_starts_without_the_parents_connections(pooled_app):
    app, pool = pooled_app
    app.test_client().get("/terms")
    parent = connection_of(pool)
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        ok = pool._connections == [] and pool._in_use == {} and pool.is_closed()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert connection_of(pool) is parent  # the parent's own is untouched
    assert app.test_client().get("/terms").status_code == 200


def test_the_pool_is_the_same_kind_of_database(pooled_app, db):
    """Code that asks which database it runs on (full-text SQL, locking) gets the same answer."""
    from helpdesk import database

    _, pool = pooled_app
    assert database.is_sqlite(pool) == database.is_sqlite(db)
    assert pool.param == db.param and pool.returning_clause == db.returning_clause
