"""Test helpers for the portal: a client that fills in forms the way a browser does
(with the page's CSRF token), and the mail the portal queued, read back from the outbox."""
from __future__ import annotations

import email
import email.policy
import logging
import re

from helpdesk.models import Outbox

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


class Portal:
    def __init__(self, app, ip: str = "192.0.2.10"):
        self.app = app
        self.client = app.test_client()
        self.ip = ip

    def get(self, path: str, **kwargs):
        return self.client.get(path, environ_base={"REMOTE_ADDR": self.ip}, **kwargs)

    def token(self, page: str) -> str:
        html = self.get(page).get_data(as_text=True)
        match = CSRF.search(html)
        assert match, f"no CSRF token on {page}"
        return match.group(1) or match.group(2)

    def post(self, path: str, data: dict | None = None, *, page: str | None = None, csrf: bool = True, **kwargs):
        """POST as the form on `page` (default: the same path) would, CSRF token included."""
        data = dict(data or {})
        if csrf and "csrf_token" not in data:
            data["csrf_token"] = self.token(page or path)
        return self.client.post(path, data=data, environ_base={"REMOTE_ADDR": self.ip}, **kwargs)

    def text(self, path: str) -> str:
        return self.get(path).get_data(as_text=True)


def mails_to(address: str) -> list[email.message.EmailMessage]:
    rows = Outbox.select().where(Outbox.recipient == address.lower()).order_by(Outbox.id)
    return [email.message_from_bytes(bytes(r.raw), policy=email.policy.default) for r in rows if r.raw]


def body(message) -> str:
    return message.get_body(("plain",)).get_content()


def link_in(message, path: str) -> str:
    """The path and token of the link to `path...` in a mail (base URL stripped)."""
    match = re.search(r"https?://[^/\s]+(" + re.escape(path) + r"[^\s\"<]*)", body(message))
    assert match, f"no {path} link in:\n{body(message)}"
    return match.group(1)


class QueryCounter:
    """Counts the SQL statements peewee runs (it logs each one to the "peewee" logger)."""

    def __init__(self):
        self.count = 0
        self.statements: list[str] = []
        self._logger = logging.getLogger("peewee")
        self._handler = logging.Handler(logging.DEBUG)
        self._handler.emit = self._seen

    def _seen(self, record) -> None:
        self.count += 1
        self.statements.append(str(record.msg)[:200])

    def __enter__(self):
        self._level = self._logger.level
        self._logger.setLevel(logging.DEBUG)
        self._logger.addHandler(self._handler)
        return self

    def __exit__(self, *exc):
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._level)

