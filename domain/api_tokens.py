"""Personal API tokens: created (the secret shown once), kept as a SHA-256 only, checked on
every API request, revoked; each request counted against the token's rate limit.

In: a user, scopes, a lifetime; a presented secret. Out: `ApiToken` rows, or `TokenRefused`
saying why (unknown, expired, revoked, the account gone inactive). A token acts as its user
and never beyond the user's own rights: scopes only narrow them (`allows`), and the
`admin` scope is for admin accounts only. Never reads the request: `web/api` does.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from peewee import Case

from helpdesk.models import ApiToken, Role, User, db, utcnow

from .validation import N_, Invalid

SCOPES = ("tickets:read", "tickets:write", "contracts:read", "admin")
PREFIX = "hdp_"  # tells a helpdesk token apart in logs and secret scanners
DEFAULT_DAYS = 365
MAX_DAYS = 3650
MAX_TOKENS = 20  # live tokens per user
MAX_NAME = 100


class TokenRefused(Exception):
    """The presented token does not let anyone in; `reason` is one of unknown, expired,
    revoked, inactive."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def checked_scopes(user: User, scopes) -> list[str]:
    """The scopes in the order of SCOPES; `Invalid` for an unknown one, none at all, or
    `admin` on an account that is not an admin's."""
    wanted = {s.strip() for s in scopes if s and s.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise Invalid(N_("Unknown scope: %(scope)s"), {"scope": ", ".join(s[:40] for s in unknown[:5])})
    if not wanted:
        raise Invalid(N_("Choose at least one scope."))
    if "admin" in wanted and user.role != Role.ADMIN.value:
        raise Invalid(N_("Only administrators can give a token the admin scope."))
    return [s for s in SCOPES if s in wanted]


def create(user: User, scopes, *, days: int | None = DEFAULT_DAYS, name: str = "",
           now: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for an active user; returns the row and the secret (shown once, never stored)."""
    now = now or utcnow()
    if not user.is_active:
        raise Invalid(N_("This account is not active."))
    scopes = checked_scopes(user, scopes)
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise Invalid(N_("A token lasts from 1 to %(days)s days."), {"days": MAX_DAYS})
    name = " ".join((name or "").split())[:MAX_NAME]
    secret = PREFIX + secrets.token_urlsafe(32)
    with db.atomic():
        if live(user, now).count() >= MAX_TOKENS:
            raise Invalid(N_("You have %(count)s tokens already: revoke one first."), {"count": MAX_TOKENS})
        token = ApiToken.create(user=user, name=name, prefix=secret[:12], token_hash=digest(secret),
                                scopes=" ".join(scopes), created_at=now,
                                expires_at=now + dt.timedelta(days=days) if days else None)
    return token, secret


def live(user: User, now: dt.datetime):
    """The user's tokens that still work, newest first."""
    return (ApiToken.select().where(ApiToken.user == user.id, ApiToken.revoked_at.is_null(),
                                    ApiToken.expires_at.is_null() | (ApiToken.expires_at > now))
            .order_by(ApiToken.id.desc()))


def of_user(user: User, limit: int = 100):
    """All the user's tokens, revoked and expired ones too, newest first."""
    return ApiToken.select().where(ApiToken.user == user.id).order_by(ApiToken.id.desc()).limit(limit)


def revoke(token_id: int, *, user: User | None = None, now: dt.datetime | None = None) -> bool:
    """Revoke a token (of `user`, when given); False when there is no such live token."""
    now = now or utcnow()
    query = ApiToken.update(revoked_at=now).where(ApiToken.id == token_id, ApiToken.revoked_at.is_null())
    if user is not None:
        query = query.where(ApiToken.user == user.id)
    return query.execute() > 0


def authenticate(secret: str, now: dt.datetime) -> tuple[ApiToken, User]:
    """The token and its user, or `TokenRefused`."""
    if not secret or len(secret) > 200 or not secret.isascii():
        raise TokenRefused("unknown")
    token = ApiToken.get_or_none(ApiToken.token_hash == digest(secret))
    if token is None:
        raise TokenRefused("unknown")
    if token.revoked_at is not None:
        raise TokenRefused("revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRefused("expired")
    user = User.get_or_none(User.id == token.user_id)
    if user is None or not user.is_active:
        raise TokenRefused("inactive")
    return token, user


@dataclass(frozen=True)
class Usage:
    limit: int
    remaining: int
    reset_seconds: int  # until the window starts again

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0


def record_use(token: ApiToken, *, ip: str, now: dt.datetime, limit: int, window_seconds: int) -> Usage:
    """Count one request in the token's current window (a fixed window, shared by every
    process through the row) and note when and from where it was last used."""
    epoch = int(now.replace(tzinfo=dt.timezone.utc).timestamp())
    start_epoch = epoch - epoch % window_seconds
    start = dt.datetime.fromtimestamp(start_epoch, dt.timezone.utc).replace(tzinfo=None)
    with db.atomic():
        ApiToken.update(
            window_count=Case(None, [(ApiToken.window_start == start, ApiToken.window_count + 1)], 1),
            window_start=start, last_used_at=now, last_used_ip=ip[:64],
        ).where(ApiToken.id == token.id).execute()
        count = ApiToken.select(ApiToken.window_count).where(ApiToken.id == token.id).scalar()
    return Usage(limit=limit, remaining=limit - count, reset_seconds=start_epoch + window_seconds - epoch)


def allows(token: ApiToken, scope: str) -> bool:
    """Whether the token carries the scope (`admin` carries every other one)."""
    scopes = token.scope_set
    return scope in scopes or "admin" in scopes
