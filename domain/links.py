"""Signed links in mail (activation, set password, change email): expiring and single use.

A link carries the user's id and a fingerprint of the state it may change: the
activation time, the password hash or the email address. Using the link changes that
state, so the same link cannot be used twice, and a password reset link dies when the
password is changed some other way. Each purpose has its own salt, so a link for one
purpose is worthless for another. The fingerprint is an HMAC: the payload is readable.
"""
from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from helpdesk.models import User

MAX_AGE_SECONDS = 48 * 3600
PURPOSES = {  # purpose: the path in the portal that takes the link
    "activate": "/activate/{token}",
    "set_password": "/password/set/{token}",
    "change_email": "/account/email/{token}",
}


class BadLink(Exception):
    """Expired, used, forged or for another purpose; the page says one thing for all."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why  # for the log only: expired | used | forged | unknown user


def _state(purpose: str, user: User) -> str:
    if purpose == "activate":
        return f"{user.email}|{user.activated_at}"
    if purpose == "set_password":
        return f"{user.email}|{user.password_hash}|{user.is_active}"
    if purpose == "change_email":
        return f"{user.email}|{user.session_version}"
    raise ValueError(purpose)


def _fingerprint(secret: str, purpose: str, user: User) -> str:
    state = _state(purpose, user).encode()
    return hmac.new(secret.encode(), state, hashlib.sha256).hexdigest()[:24]


def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"helpdesk.link.{purpose}")


def make(secret: str, purpose: str, user: User, extra: str = "") -> str:
    return _serializer(secret, purpose).dumps([user.id, _fingerprint(secret, purpose, user), extra])


def url(base_url: str, purpose: str, token: str) -> str:
    return base_url + PURPOSES[purpose].format(token=token)


def open_link(secret: str, purpose: str, token: str, *, max_age: int = MAX_AGE_SECONDS) -> tuple[User, str]:
    """(user, extra) for a link still good for this purpose; else `BadLink`."""
    try:
        user_id, fingerprint, extra = _serializer(secret, purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise BadLink("expired") from None
    except (BadSignature, ValueError, TypeError):
        raise BadLink("forged") from None
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise BadLink("unknown user")
    if not hmac.compare_digest(str(fingerprint), _fingerprint(secret, purpose, user)):
        raise BadLink("used")
    return user, str(extra)
