"""OAuth2 access tokens for the mail servers (IMAP and SMTP with SASL XOAUTH2 or OAUTHBEARER).

In: the config's provider (HELPDESK_OAUTH_*) and a mail server account (its user name).
Out: `AccessTokens.get(account)`, a current access token: the stored one while it has more
than `EARLY` to live, else a new one from the provider's token endpoint (Authlib's OAuth2
client does the protocol); `force=True` after a server refused a token. The refresh token
(stored by `helpdesk mailbox authorize`, or given as HELPDESK_OAUTH_REFRESH_TOKEN) and the
current access token are kept in `OAuthToken`, encrypted with a key derived from the
secret key, so every process (workers, senders) shares them, and a rotated refresh token is
kept. A refresh token the provider refuses marks its row dead and raises `TokenDead`;
an unreachable provider raises `OAuthUnavailable`: the callers turn both into "mailbox
unavailable" / "SMTP down" and retry later, never crash. The scheduler's mailbox_health
job tells the admins once that a token died and once that it works again.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import threading
from dataclasses import dataclass

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from helpdesk.models import OAuthToken, db, utcnow

from . import local_time

log = logging.getLogger(__name__)

EARLY = dt.timedelta(minutes=5)  # an access token with less than this to live is refreshed first
RETRY_DEAD = dt.timedelta(minutes=15)  # a dead refresh token is tried again this often (it may be back)
TIMEOUT = 30.0  # seconds for one request to the token endpoint
TRANSIENT = ("temporarily_unavailable", "server_error", "slow_down")  # errors that are not the token's fault


class OAuthUnavailable(RuntimeError):
    """No access token now (the token endpoint cannot be reached, or answers 5xx): try later."""


class TokenDead(OAuthUnavailable):
    """The refresh token no longer works (revoked, expired, password changed) or there is none:
    an administrator has to run `helpdesk mailbox authorize` again."""


# --- encryption --------------------------------------------------------------------------------


def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"helpdesk oauth2 tokens").derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str, value: str) -> str:
    return _fernet(secret).encrypt(value.encode()).decode() if value else ""


def unseal(secret: str, value: str) -> str:
    """The clear text; "" when there is none or it was sealed with another secret key."""
    if not value:
        return ""
    try:
        return _fernet(secret).decrypt(value.encode()).decode()
    except InvalidToken:
        return ""


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- SASL ----------------------------------------------------------------------------------------


def xoauth2(user: str, token: str) -> str:
    """The XOAUTH2 initial response (Google's and Microsoft's SASL mechanism)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def oauthbearer(user: str, token: str, host: str = "", port: int = 0) -> str:
    """The OAUTHBEARER initial response (RFC 7628)."""
    authzid = user.replace("=", "=3D").replace(",", "=2C")
    where = (f"host={host}\x01" if host else "") + (f"port={port}\x01" if port else "")
    return f"n,a={authzid},\x01{where}auth=Bearer {token}\x01\x01"


# --- the store -----------------------------------------------------------------------------------


def store_refresh_token(config, account: str, refresh_token: str, *, now: dt.datetime | None = None) -> None:
    """Keep a new refresh token for an account (from `helpdesk mailbox authorize`); the old one,
    its access token and any dead mark go."""
    now = now or utcnow()
    # The HELPDESK_OAUTH_REFRESH_TOKEN in force now is taken as seen: only a new value replaces this one.
    seed = fingerprint(config.oauth.refresh_token) if config.oauth.refresh_token else ""
    fields = dict(refresh_token=seal(config.secret_key, refresh_token), seed_sha256=seed, access_token="",
                  expires_at=None, updated_at=now, dead_since=None, last_error="")
    with db.atomic():
        if not OAuthToken.update(**fields).where(OAuthToken.account == account.lower()).execute():
            OAuthToken.insert(account=account.lower(), **fields).on_conflict_ignore().execute()


@dataclass(frozen=True)
class TokenState:
    account: str
    ok: bool
    detail: str  # one line: what an operator reads


def states(config, accounts) -> list[TokenState]:
    """How each OAuth2 account stands, without asking the provider: for `mail status` and `check`."""
    rows = {r.account: r for r in OAuthToken.select().where(OAuthToken.account.in_([a.lower() for a in accounts]))}
    shown = lambda when: local_time.shown(when, config.timezone, named=True)  # noqa: E731  (read by an operator)
    out = []
    for account in dict.fromkeys(a.lower() for a in accounts):
        row = rows.get(account)
        if row is None or not row.refresh_token:
            if config.oauth.refresh_token:
                out.append(TokenState(account, True, "refresh token from HELPDESK_OAUTH_REFRESH_TOKEN, not used yet"))
            else:
                out.append(TokenState(account, False, "no refresh token: run `helpdesk mailbox authorize`"))
        elif row.dead_since is not None:
            out.append(TokenState(account, False, "the refresh token stopped working at "
                                                  f"{shown(row.dead_since)} ({row.last_error}): run `helpdesk mailbox authorize`"))
        elif not unseal(config.secret_key, row.refresh_token):
            out.append(TokenState(account, False, "the stored refresh token cannot be decrypted (was "
                                                  "HELPDESK_SECRET_KEY changed?): run `helpdesk mailbox authorize`"))
        else:
            valid = f", access token valid until {shown(row.expires_at)}" if row.expires_at else ""
            out.append(TokenState(account, True, f"refresh token works (last refreshed {shown(row.updated_at)}"
                                                 f"{valid})"))
    return out


def dead_tokens() -> list[tuple[str, dt.datetime, str]]:
    """(account, dead since, error) of every refresh token that stopped working: for the alerts."""
    return list(OAuthToken.select(OAuthToken.account, OAuthToken.dead_since, OAuthToken.last_error)
                .where(OAuthToken.dead_since.is_null(False)).order_by(OAuthToken.account).tuples())


def episode(account: str, dead_since: dt.datetime) -> str:
    """The key of one death of a refresh token (one alert and one recovery notice each; short
    enough for a digest period): o<account's hash>:<when it died>."""
    return f"o{fingerprint(account)[:16]}:{dead_since:%Y%m%d%H%M%S}"


def recovered(key: str) -> tuple[str, dt.datetime] | None:
    """(account, when it had died) when the episode's account has a working token now, else None."""
    prefix, _, since = key.partition(":")
    for account, dead_since in OAuthToken.select(OAuthToken.account, OAuthToken.dead_since).tuples():
        if f"o{fingerprint(account)[:16]}" == prefix:
            return (account, dt.datetime.strptime(since, "%Y%m%d%H%M%S")) if dead_since is None else None
    return None


# --- access tokens -------------------------------------------------------------------------------


def session_for(provider, **kwargs) -> OAuth2Session:
    """Authlib's OAuth2 client for the provider: a confidential client when there is a secret."""
    return OAuth2Session(provider.client_id, provider.client_secret or None, scope=" ".join(provider.scopes),
                         token_endpoint_auth_method="client_secret_post" if provider.client_secret else "none",
                         default_timeout=TIMEOUT, **kwargs)


class AccessTokens:
    """Access tokens for the config's OAuth2 accounts; safe to share between threads."""

    def __init__(self, config):
        self.config = config
        self.provider = config.oauth
        self.secret = config.secret_key
        self._lock = threading.Lock()

    def get(self, account: str, *, force: bool = False, now: dt.datetime | None = None) -> str:
        """A current access token for the account; `force` refreshes even a valid-looking one
        (the server refused it). Raises TokenDead or OAuthUnavailable."""
        account = account.lower()
        with self._lock:
            for _ in range(3):  # another process may rotate the refresh token under us
                now = now or utcnow()
                row = self._row(account, now)
                if not force and row.dead_since is None and row.expires_at and row.expires_at - now > EARLY:
                    token = unseal(self.secret, row.access_token)
                    if token:
                        return token
                if row.dead_since is not None and now - row.updated_at < RETRY_DEAD:
                    raise TokenDead(f"OAuth2 for {account}: the refresh token stopped working ({row.last_error}); "
                                    "run `helpdesk mailbox authorize`")
                fresh = self._refresh(row, now)
                if fresh is not None:
                    return fresh
            raise OAuthUnavailable(f"OAuth2 for {account}: the refresh token keeps changing; try again")

    def _row(self, account: str, now: dt.datetime) -> OAuthToken:
        """The account's row; made from HELPDESK_OAUTH_REFRESH_TOKEN when there is none, or when
        that variable was changed since (an administrator put a new one there)."""
        row = OAuthToken.get_or_none(OAuthToken.account == account)
        seed = self.provider.refresh_token
        if seed and (row is None or not row.refresh_token or row.seed_sha256 != fingerprint(seed)):
            store_refresh_token(self.config, account, seed, now=now)
            row = OAuthToken.get(OAuthToken.account == account)
        if row is None or not row.refresh_token:
            raise TokenDead(f"OAuth2 for {account}: no refresh token; run `helpdesk mailbox authorize` "
                            "(or set HELPDESK_OAUTH_REFRESH_TOKEN)")
        return row

    def _refresh(self, row: OAuthToken, now: dt.datetime) -> str | None:
        """A new access token from the provider, stored; None when another process changed the
        refresh token meanwhile (the caller reads it again)."""
        refresh_token = unseal(self.secret, row.refresh_token)
        if not refresh_token:
            return self._dead(row, "the stored refresh token cannot be decrypted with this secret key", now)
        try:
            token = session_for(self.provider).refresh_token(self.provider.token_url, refresh_token=refresh_token)
        except OAuthError as exc:
            if exc.error in TRANSIENT:
                raise OAuthUnavailable(f"OAuth2 for {row.account}: the token endpoint says {exc.error}") from exc
            return self._dead(row, f"{exc.error}: {exc.description or 'refused'}"[:500], now)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if 400 <= status < 500:
                return self._dead(row, f"the token endpoint answered HTTP {status}", now)
            raise OAuthUnavailable(f"OAuth2 for {row.account}: the token endpoint answered HTTP {status}") from exc
        except (requests.RequestException, ValueError) as exc:
            raise OAuthUnavailable(f"OAuth2 for {row.account}: cannot reach the token endpoint: {exc}") from exc
        access = token.get("access_token") or ""
        if not access:
            raise OAuthUnavailable(f"OAuth2 for {row.account}: the token endpoint answered without an access token")
        expires_at = (dt.datetime.fromtimestamp(int(token["expires_at"]), dt.timezone.utc).replace(tzinfo=None)
                      if token.get("expires_at") else now + dt.timedelta(hours=1))
        fields = dict(access_token=seal(self.secret, access), expires_at=expires_at, updated_at=now,
                      dead_since=None, last_error="")
        if token.get("refresh_token") and token["refresh_token"] != refresh_token:
            fields["refresh_token"] = seal(self.secret, token["refresh_token"])  # rotated: the old one may stop
        updated = OAuthToken.update(**fields).where(OAuthToken.id == row.id,
                                                    OAuthToken.refresh_token == row.refresh_token).execute()
        if not updated and "refresh_token" in fields:
            return None  # someone stored another refresh token meanwhile; ours may be stale
        if row.dead_since is not None:
            log.warning("OAuth2 for %s: the refresh token works again", row.account)
        return access

    def _dead(self, row: OAuthToken, error: str, now: dt.datetime) -> str | None:
        """Mark the refresh token dead and raise TokenDead; None (nothing marked) when another
        process stored a different refresh token meanwhile."""
        fresh = OAuthToken.get_or_none(OAuthToken.id == row.id)
        if fresh is not None and fresh.refresh_token != row.refresh_token:
            return None  # another process rotated it or an admin authorized again: read it anew
        OAuthToken.update(dead_since=row.dead_since or now, last_error=error, updated_at=now, access_token="",
                          expires_at=None).where(OAuthToken.id == row.id,
                                                 OAuthToken.refresh_token == row.refresh_token).execute()
        if row.dead_since is None:
            log.error("OAuth2 for %s: the refresh token stopped working (%s); run `helpdesk mailbox authorize`",
                      row.account, error)
        raise TokenDead(f"OAuth2 for {row.account}: the refresh token stopped working ({error}); "
                        "run `helpdesk mailbox authorize`")


def accounts_of(config) -> list[str]:
    """Every mail server account that logs in with OAuth2: the mailboxes' and the SMTP server's."""
    found = [b.username for b in config.mailboxes if b.scheme != "maildir" and b.oauth]
    if config.smtp.scheme and config.smtp.oauth:
        found.append(config.smtp.username)
    return list(dict.fromkeys(a.lower() for a in found if a))
