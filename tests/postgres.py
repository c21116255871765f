"""A private PostgreSQL 15 for the tests, when HELPDESK_TEST_DATABASE=postgresql.

Once per session: a cluster made with initdb in a temp dir (as the `postgres` user when
we are root: initdb refuses root), served by pg_ctl on 127.0.0.1 and a free port, with
durability off (fsync, synchronous_commit, full_page_writes) since nothing here needs to
survive a crash of the machine. A template database is migrated once; every test that
asks for a database gets a fresh copy of it (CREATE DATABASE ... TEMPLATE, a file copy),
dropped after the test. Without the server binaries the tests skip, or fail under
CI=true. With any other value of HELPDESK_TEST_DATABASE this plugin does nothing.
"""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(os.environ.get("HELPDESK_PG_BIN", "/usr/lib/postgresql/15/bin"))
TEMPLATE = "helpdesk_template"


def backend() -> str:
    """The database the suite runs on: sqlite (the default) or postgresql."""
    return os.environ.get("HELPDESK_TEST_DATABASE", "sqlite").lower()


def on_postgres() -> bool:
    return backend() in ("postgresql", "postgres", "pg")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    """A running PostgreSQL server that the tests own."""

    directory: Path
    port: int
    user: str
    _names = itertools.count(1)

    def url(self, name: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def sql(self, statement: str, dbname: str = "postgres") -> None:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=dbname)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def new_database(self, *, migrated: bool = True) -> str:
        """A fresh database, migrated (a copy of the template) or empty; returns its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE if migrated else "template0"}')
        return self.url(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as_owner(owner: str | None, command: list) -> list:
    return ["runuser", "-u", owner, "--", *command] if owner else command


def start_cluster(*, durable: bool = False, directory: Path | None = None) -> Cluster:
    """Start a private server; `durable` keeps PostgreSQL's crash safety on (benchmarks);
    `directory`: the cluster's home, made there on first use and started again from there
    after (bench/web_pg.py --reuse), instead of a new temp dir."""
    if not (BIN / "initdb").is_file():
        raise FileNotFoundError(f"PostgreSQL server binaries not found in {BIN} (Debian's postgresql package)")
    owner = None
    if os.geteuid() == 0:
        owner = "postgres" if _user_exists("postgres") else "nobody"
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="helpdesk-pg-"))
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    data = directory / "data"
    if owner:
        shutil.chown(directory, owner)
    user = "helpdesk"
    if not (data / "PG_VERSION").is_file():
        subprocess.run(_as_owner(owner, [str(BIN / "initdb"), "-D", str(data), "-U", user, "-A", "trust",
                                         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
                       check=True, capture_output=True)
    port = _free_port()
    options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={directory} "
               "-c max_connections=200 -c shared_buffers=128MB")
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(_as_owner(owner, [str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                                     str(directory / "server.log"), "-w", "-t", "60", "start"]),
                   check=True, capture_output=True)
    cluster = Cluster(directory, port, user)
    cluster._owner = owner
    return cluster


def stop_cluster(cluster: Cluster, *, keep: bool = False) -> None:
    """Stop the server and remove its directory; `keep`: a clean shutdown, the directory kept."""
    subprocess.run(_as_owner(cluster._owner, [str(BIN / "pg_ctl"), "-D", str(cluster.directory / "data"),
                                              "-m", "fast" if keep else "immediate", "-w", "stop"]),
                   capture_output=True)
    if not keep:
        shutil.rmtree(cluster.directory, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="session")
def pg_cluster():
    """The session's PostgreSQL server, with the migrated template database."""
    if not on_postgres():
        pytest.skip("the suite runs on SQLite (HELPDESK_TEST_DATABASE=postgresql runs it on PostgreSQL)")
    try:
        cluster = start_cluster()
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        message = f"cannot start PostgreSQL: {exc} {detail.decode(errors='replace')}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true)")
        pytest.skip(message)
    try:
        cluster.sql(f"CREATE DATABASE {TEMPLATE}")
        from helpdesk import database

        template = database.open_database(cluster.url(TEMPLATE))
        database.migrate(template)
        template.close()
        yield cluster
    finally:
        stop_cluster(cluster)


def _database_url(request, tmp_path, migrated: bool):
    if not on_postgres():
        yield f"sqlite:///{tmp_path / 'var' / 'helpdesk.sqlite3'}"
        return
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.new_database(migrated=migrated)
    yield url
    from helpdesk import models

    if models.db.obj is not None and not models.db.obj.is_closed():
        models.db.obj.close()
    cluster.drop(url)


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """Where a test's database lives: SQLite in its data dir (made by the `db` fixture's
    migration), or a fresh, migrated PostgreSQL database."""
    yield from _database_url(request, tmp_path, migrated=True)


@pytest.fixture
def empty_database_url(request, tmp_path) -> str:
    """The same, before any migration: for tests of `helpdesk init-db` itself."""
    yield from _database_url(request, tmp_path, migrated=False)


# For tests about SQLite itself (WAL, FTS5 internals, the file's locks).
sqlite_only = pytest.mark.skipif(on_postgres(), reason="about SQLite itself; the suite runs on PostgreSQL")
# For tests about PostgreSQL's planner (its plans of the queries SQLite plans otherwise).
postgres_only = pytest.mark.skipif(not on_postgres(), reason="about PostgreSQL's planner; the suite runs on SQLite")
