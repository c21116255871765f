"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 (a pytest plugin).

`smtp_server` (function scope): a running server whose `received` list holds what it
accepted (envelope and parsed message), `refuse` maps recipients to the answer they get
(e.g. "550 5.1.1 no such user"), and `stop()` / `start()` take it down and back up on
the same port.

`SmtpServer(check_token=...)` makes a server that requires AUTH XOAUTH2 or OAUTHBEARER and
accepts a bearer token when `check_token(token)` names the user logging in (tests/oauth.py
checks its JWTs); a refused token gets the 334 error challenge and then 535, as Microsoft's
and Google's servers answer. `auth_results` lists (mechanism, user, accepted) per attempt.
"""
from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
from dataclasses import dataclass, field
from typing import Callable

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self):
        return email.message_from_bytes(self.raw, policy=email.policy.default)


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"


@dataclass
class _OAuthHandler(_Handler):
    """Also AUTH XOAUTH2 and OAUTHBEARER, with tokens `check_token` vouches for."""

    check_token: Callable[[str], str | None] = lambda token: None
    attempts: list[tuple[str, str, bool]] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def auth_XOAUTH2(self, server, args):  # noqa: N802 (aiosmtpd finds AUTH mechanisms by name)
        return await self._bearer(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server, args):  # noqa: N802
        return await self._bearer(server, args, "OAUTHBEARER")

    async def _bearer(self, server, args, mechanism: str):
        raw = base64.b64decode(args[1]) if len(args) > 1 else await server.challenge_auth("")
        fields = dict(p.split("=", 1) for p in raw.decode(errors="replace").split("\x01") if "=" in p)
        user = fields.get("user", "")
        if mechanism == "OAUTHBEARER":
            gs2 = raw.decode(errors="replace").split("\x01", 1)[0]  # n,a=user,
            user = gs2.split("a=", 1)[1].rstrip(",").replace("=2C", ",").replace("=3D", "=") if "a=" in gs2 else ""
        token = fields.get("auth", "").removeprefix("Bearer ")
        accepted = bool(user) and self.check_token(token) == user
        self.attempts.append((mechanism, user, accepted))
        if accepted:
            return AuthResult(success=True, auth_data=user)
        error = json.dumps({"status": "401", "schemes": "bearer", "scope": "mail"})
        await server.challenge_auth(error)  # the client answers with an empty line
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535


class SmtpServer:
    host = "127.0.0.1"

    def __init__(self, check_token: Callable[[str], str | None] | None = None):
        with socket.socket() as s:
            s.bind((self.host, 0))
            self.port = s.getsockname()[1]
        self.oauth = check_token is not None
        self.handler = _OAuthHandler(check_token=check_token) if self.oauth else _Handler()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def oauth_url(self, user: str, auth: str = "oauth2") -> str:
        return f"smtp://{user}@{self.host}:{self.port}?auth={auth}"

    @property
    def auth_results(self) -> list[tuple[str, str, bool]]:
        return self.handler.attempts

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def refuse(self) -> dict[str, str]:
        return self.handler.refuse

    def start(self) -> None:
        # (Not auth_required=True: aiosmtpd warns about it without TLS; _OAuthHandler refuses instead.)
        options = dict(auth_require_tls=False, auth_exclude_mechanism=["LOGIN", "PLAIN"]) if self.oauth else {}
        self._controller = Controller(self.handler, hostname=self.host, port=self.port, **options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
