"""Shared fixtures: a config on a temp data dir, a migrated database (SQLite, or PostgreSQL
under HELPDESK_TEST_DATABASE=postgresql), the corpus."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from helpdesk import config as config_mod, database

pytest_plugins = ["tests.dovecot", "tests.smtp", "tests.browser", "tests.postgres", "tests.oauth"]

REPO = Path(__file__).resolve().parent.parent
# Real mails: the shared corpus beside the clone when it is there, else the small set of
# permissively licensed ones kept in tests/mail/corpus (LICENSES.md there), so that the
# parser's corpus tests run in every clone.
SHARED_CORPUS = REPO.parent / "shared" / "corpus"
BUNDLED_CORPUS = REPO / "tests" / "mail" / "corpus"
CORPUS = Path(os.environ.get("HELPDESK_CORPUS") or
              (SHARED_CORPUS if (SHARED_CORPUS / "MANIFEST.csv").is_file() else BUNDLED_CORPUS))
IN_CI = os.environ.get("CI", "").lower() == "true"


def corpus_rows() -> list[dict]:
    """The corpus manifest's rows; empty (and the tests skip) when the corpus is absent."""
    manifest = CORPUS / "MANIFEST.csv"
    if not manifest.is_file():
        return []
    with open(manifest, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def need_corpus():
    if not (CORPUS / "MANIFEST.csv").is_file():
        if IN_CI:
            pytest.fail(f"the shared corpus is missing at {CORPUS} (CI=true)")
        pytest.skip(f"the shared corpus is not at {CORPUS} in this clone")


@pytest.fixture
def config(tmp_path, database_url) -> config_mod.Config:
    env = {
        "HELPDESK_DATABASE_URL": database_url,
        "HELPDESK_DATA_DIR": str(tmp_path / "var"),
        "HELPDESK_SUPPORT_ADDRESS": "support@helpdesk.localhost",
        "HELPDESK_SECRET_KEY": "test-secret",
        "HELPDESK_BASE_URL": "http://helpdesk.test",
    }
    loaded = config_mod.load_config(env, dotenv=None)
    loaded.data_dir.mkdir(parents=True, exist_ok=True)  # (SQLite's file used to make it)
    return loaded


@pytest.fixture
def db(config):
    """A migrated database bound to models.db: SQLite in the temp data dir, or a fresh
    PostgreSQL database under HELPDESK_TEST_DATABASE=postgresql (tests/postgres.py)."""
    database_ = database.open_database(config.database_url)
    database.migrate(database_)
    yield database_
    database_.close()


@pytest.fixture
def desk(config, db):
    """The system on the temp data dir, with its embedded Maildir inbox."""
    from tests.harness import Desk

    return Desk(config)


@pytest.fixture
def app(config, db):
    from helpdesk.web import create_app

    return create_app(config, db=db)


@pytest.fixture
def portal(app):
    from tests.portal import Portal

    return Portal(app)


# --- the suite leaves nothing running ----------------------------------------------------------
# Every process the tests start inherits RUN_MARK (tests pass on the environment without the
# HELPDESK_ variables, so the mark has another name). After the last test (session fixtures
# already stopped), any process still carrying this run's mark is left behind: an orphaned
# parser, a server a fixture did not stop. They are listed, ended, and the run fails.

RUN_MARK = "PYTEST_HELPDESK_RUN"


def pytest_configure(config):
    import uuid

    os.environ.setdefault(RUN_MARK, uuid.uuid4().hex)


def left_running(mark: str) -> dict[int, str]:
    """pid -> command line of the live processes (not this one) that carry the mark."""
    found = {}
    needle = f"{RUN_MARK}={mark}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat", "rb") as f:
                state, ppid = f.read().rsplit(b")", 1)[1].split()[:2]
            if state == b"Z":
                continue  # a zombie its parent has yet to reap: nothing runs
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")[:200]
            if int(ppid) == os.getpid() and "multiprocessing.resource_tracker" in command:
                continue  # this process's own tracker (in-process parsing pools): it ends with pytest
            found[int(entry)] = command
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def pytest_sessionfinish(session, exitstatus):
    import signal
    import time

    mark = os.environ.get(RUN_MARK)
    if not mark or not os.path.isdir("/proc"):
        return
    deadline = time.monotonic() + 15  # processes told to stop may take a moment
    leftovers = left_running(mark)
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.2)
        leftovers = left_running(mark)
    if not leftovers:
        return
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"the test suite left {len(leftovers)} process(es) running (now killed):"] + \
            [f"  {pid}: {cmd}" for pid, cmd in sorted(leftovers.items())]
    if reporter is not None:
        reporter.write_line("\n".join(lines), red=True)
    session.exitstatus = 1
