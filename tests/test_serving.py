"""Serving the portal: `helpdesk web` (werkzeug, or gunicorn with --workers), `helpdesk run`
with the portal beside the worker, and `gunicorn 'web:create_app()'` as the README gives it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for_page(url: str, process: subprocess.Popen, timeout: float = 30.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the server exited with {process.returncode}:\n{out}\n{err}")
        try:
            return fetch(url)
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"nothing answered at {url} within {timeout} s")


def environment(tmp_path, port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_WEB_LISTEN=f"127.0.0.1:{port}",
               HELPDESK_POLL_SECONDS="1", PYTHONPATH=str(REPO))
    return env


def start(tmp_path, command: list[str], port: int) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=tmp_path, env=environment(tmp_path, port), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["werkzeug", "gunicorn"])
def test_helpdesk_web_serves_the_login_page(tmp_path, workers):
    port = free_port()
    web = start(tmp_path, [sys.executable, "-m", "helpdesk.cli", "web", *workers], port)
    try:
        status, html = wait_for_page(f"http://127.0.0.1:{port}/login", web)
        assert status == 200 and 'name="csrf_token"' in html
        assert fetch(f"http://127.0.0.1:{port}/dashboard")[0] == 200  # redirected to the login page
    finally:
        out, err = stop(web)
    assert web.returncode == 0, err
    assert f"portal at http://127.0.0.1:{port}/" in out


def test_gunicorn_serves_create_app_from_the_environment(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "helpdesk.web:create_app()"]
    web = start(tmp_path, command, port)
    try:
        # A fresh data dir: the schema is not there until `helpdesk init-db`, but /login reads nothing.
        status, html = wait_for_page(f"http://127.0.0.1:{port}/login", web)
        assert status == 200 and "csrf_token" in html
    finally:
        stop(web)
    assert web.returncode == 0


def test_helpdesk_run_serves_the_portal_beside_the_worker(tmp_path):
    port = free_port()
    run = start(tmp_path, [sys.executable, "-m", "helpdesk.cli", "run"], port)
    try:
        status, _ = wait_for_page(f"http://127.0.0.1:{port}/register", run)
        assert status == 200
    finally:
        out, err = stop(run)
    assert run.returncode == 0, err
    assert f"portal at http://127.0.0.1:{port}/" in out and "drop .eml files" in out


def test_a_taken_port_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "helpdesk.cli", "web"], cwd=tmp_path, env=environment(tmp_path, port),
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"HELPDESK_WEB_LISTEN: cannot listen on 127.0.0.1:{port}" in done.stderr


FROZEN = ("import gc, sys\nfrom helpdesk.web import create_app, server\n"
          "app = {build}\nprint(gc.get_freeze_count(), len(gc.get_objects()))\n")


@pytest.mark.parametrize("build", ["create_app()", "server.settled(create_app)"])
def test_a_server_process_keeps_its_app_out_of_the_collectors_way(tmp_path, build):
    """A server's app (`gunicorn 'helpdesk.web:create_app()'`, each worker of `helpdesk web
    --workers N`) is frozen once built: full collections no longer walk its ~114,000 objects."""
    done = subprocess.run([sys.executable, "-c", FROZEN.format(build=build)], cwd=tmp_path,
                          env=environment(tmp_path, free_port()), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    frozen, tracked = map(int, done.stdout.split())
    assert frozen > 50_000 and tracked < frozen / 10


def test_an_app_built_with_a_config_is_not_frozen(config):
    import gc

    from helpdesk.web import create_app

    before = gc.get_freeze_count()
    create_app(config)  # tests, the embedded server of `helpdesk run`: nothing moved
    assert gc.get_freeze_count() == before



def test_the_embedded_server_closes_a_response_it_stops_sending():
    """A response the server gives up on (its reader went away mid-send) is closed, files
    included. werkzeug closes it in a `finally` that first drains the socket, and a reset
    there skips the close: the file stayed open until the garbage collector found it (a
    ResourceWarning in the browser tests, on the favicon)."""
    import threading

    from werkzeug.test import EnvironBuilder

    from helpdesk.web.server import werkzeug_server

    closed = threading.Event()

    class Body:
        def __iter__(self):
            yield b"first"
            yield b"second"

        def close(self):
            closed.set()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    server = werkzeug_server(app, "127.0.0.1", 0)
    try:
        started = []
        response = server.app(EnvironBuilder(path="/").get_environ(), lambda *args: started.append(args))
        assert next(iter(response)) == b"first" and started
        del response  # abandoned after the first chunk, never closed by its caller
        assert closed.is_set()
    finally:
        server.server_close()
