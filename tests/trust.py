"""Helpers shared by the trust tests (tests/test_trust_*.py, issue 13): people, a signed-in
portal client, and the outbox delivered through the real aiosmtpd server."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from helpdesk.domain import passwords
from helpdesk.models import Role, User
from helpdesk.outgoing.sender import Sender
from tests.portal import Portal

PASSWORD = "correct horse battery"
SUPPORT = "support@helpdesk.localhost"
_HASH = passwords.hash_password(PASSWORD)


def person(email: str, role: Role = Role.CUSTOMER, **extra) -> User:
    return User.create(email=email, first_name=email.split("@")[0].title(), last_name="Test", role=role.value,
                       password_hash=_HASH, is_active=True, activated_at=dt.datetime(2026, 1, 1), **extra)


def signed_in(app, user: User, ip: str = "192.0.2.30") -> Portal:
    portal = Portal(app, ip=ip)
    response = portal.post("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return portal


def deliver_all(config, smtp_server) -> dict[str, list]:
    """Send what the outbox holds through aiosmtpd; the mails each address received."""
    Sender(config.with_(smtp_url=smtp_server.url)).send_due()
    got: dict[str, list] = defaultdict(list)
    for received in smtp_server.received:
        for rcpt in received.rcpt_tos:
            got[rcpt.lower()].append(received.message)
    smtp_server.received.clear()
    return dict(got)


def reply_address(message) -> str:
    return message["Reply-To"].addresses[0].addr_spec


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()
