"""Serving the portal: a threaded werkzeug server (the embedded default, and what tests
start in a thread), or gunicorn with N worker processes (production).

`helpdesk run` serves the portal with `serve_in_thread` next to the mail worker and the
sender; `helpdesk web` serves only the portal (`--workers N`: gunicorn). Gunicorn can also
be started directly: `gunicorn 'helpdesk.web:create_app()'` (the config comes from the environment).
"""
from __future__ import annotations

import logging
import threading

from werkzeug.serving import BaseWSGIServer, make_server

from helpdesk.config import Config, ConfigError

from .freezing import freeze_for_life

log = logging.getLogger(__name__)


def url_of(server: BaseWSGIServer) -> str:
    host = server.server_address[0]
    host = f"[{host}]" if ":" in host else host  # type: ignore[str-bytes-safe]
    return f"http://{host}:{server.server_port}/"  # type: ignore[str-bytes-safe]


def closed_when_dropped(app):
    """The WSGI app, with each response closed however its sending ends. werkzeug closes a
    response in a `finally` that first drains the socket; when the reader reset the
    connection, that drain raises and the close is skipped, leaving a file being sent open
    until the garbage collector finds it. A generator's own `finally` runs when it is dropped."""
    def serve(environ, start_response):
        response = app(environ, start_response)
        try:
            yield from response
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()
    return serve


def werkzeug_server(app, host: str, port: int) -> BaseWSGIServer:
    """A threaded werkzeug server bound to host:port (port 0: any free port); not yet serving."""
    try:
        return make_server(host, port, closed_when_dropped(app), threaded=True)
    except (OSError, SystemExit) as exc:  # werkzeug exits when the port is taken
        raise ConfigError(f"HELPDESK_WEB_LISTEN: cannot listen on {host}:{port}: {exc}") from None


def serve_in_thread(app, host: str, port: int, *, name: str = "web") -> tuple[BaseWSGIServer, threading.Thread]:
    """Start serving in a daemon thread; stop with `server.shutdown()`."""
    server = werkzeug_server(app, host, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=name, daemon=True)
    thread.start()
    return server, thread


def settled(app_factory):
    """The app, built, with what it holds frozen (`freezing.freeze_for_life`)."""
    app = app_factory()
    freeze_for_life()
    return app


def run_gunicorn(config: Config, workers: int, *, app_factory=None) -> None:
    """Serve with gunicorn's sync workers on config.web_listen until a signal ends it.

    The same as `gunicorn -w N -b HOST:PORT 'helpdesk.web:create_app()'`: each worker builds its
    own app (its own database connections) after the fork.
    """
    from gunicorn.app.base import BaseApplication

    if app_factory is None:
        from helpdesk.web import create_app

        def app_factory():
            return create_app(config)

    host, port = config.web_address
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    class Portal(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", [bind])
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "sync")
            self.cfg.set("proc_name", "helpdesk-web")

        def load(self):  # in each worker, after the fork
            return settled(app_factory)

    Portal().run()
