"""An OAuth2 provider for tests on 127.0.0.1 (a pytest plugin), and Dovecot and aiosmtpd that
accept its tokens.

`oauth_key` (session): the HS256 key the provider signs access tokens (JWTs) with; the
  Dovecot of `oauth_dovecot` validates them locally with it (its oauth2 passdb with
  `local_validation_key_dict`), and `XOAuth2Handler` (aiosmtpd) checks them too.
`token_server` (function): the provider's token endpoint (refresh, device code,
  authorization code) and device authorization endpoint. `grant(user)` makes a refresh
  token, `revoke(...)` kills one, `approve(user_code, user)` finishes a device flow;
  `access_seconds` is how long the tokens it issues live, `claimed_seconds` what it tells
  the client (lying makes a token expire before the client expects it); `refreshes`
  counts the refresh grants answered.
`oauth_dovecot` (session): a Dovecot that takes XOAUTH2 and OAUTHBEARER besides passwords.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import IN_CI
from tests.dovecot import Dovecot, dovecot_binary

KID = "helpdesk-test"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(key: bytes, user: str, lifetime: float) -> str:
    """An HS256 access token as Dovecot's local validation wants it (typ JWT, sub, exp)."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    body = _b64(json.dumps({"sub": user, "iat": now, "nbf": now, "exp": now + max(1, int(lifetime)),
                            "jti": secrets.token_hex(8)}).encode())
    signature = _b64(hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest())
    return f"{header}.{body}.{signature}"


def check_jwt(key: bytes, token: str) -> str | None:
    """The user an intact, unexpired token of ours names; None for anything else."""
    try:
        header, body, signature = token.split(".")
        expected = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        claims = json.loads(_unb64(body))
    except (ValueError, json.JSONDecodeError):
        return None
    return claims["sub"] if claims.get("exp", 0) >= time.time() else None


class TokenServer:
    """The provider's endpoints: POST /token and POST /device, on 127.0.0.1."""

    client_id = "helpdesk-test-client"
    client_secret = "helpdesk-test-secret"

    def __init__(self, key: bytes):
        self.key = key
        self.access_seconds = 3600.0
        self.claimed_seconds: float | None = None  # None: tell the truth
        self.rotate = False  # a new refresh token on every refresh (Microsoft does)
        self.refresh_tokens: dict[str, str] = {}  # live refresh token -> user
        self.revoked: set[str] = set()
        self.devices: dict[str, dict] = {}  # device code -> {user_code, user or None}
        self.codes: dict[str, str] = {}  # authorization code -> user
        self.refreshes = 0
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-server", daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The HELPDESK_OAUTH_* settings of a custom provider pointing here."""
        return {"HELPDESK_OAUTH_PROVIDER": "custom", "HELPDESK_OAUTH_CLIENT_ID": self.client_id,
                "HELPDESK_OAUTH_CLIENT_SECRET": self.client_secret, "HELPDESK_OAUTH_TOKEN_URL": f"{self.base}/token",
                "HELPDESK_OAUTH_DEVICE_URL": f"{self.base}/device",
                "HELPDESK_OAUTH_AUTHORIZE_URL": f"{self.base}/authorize", "HELPDESK_OAUTH_SCOPES": "mail offline_access"}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- what a test does --------------------------------------------------------------

    def grant(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.refresh_tokens[token] = user
        return token

    def revoke(self, user: str) -> None:
        """Every refresh token of the user stops working (a password change, an admin's revocation)."""
        with self.lock:
            for token, owner in list(self.refresh_tokens.items()):
                if owner == user:
                    self.revoked.add(token)
                    del self.refresh_tokens[token]

    def approve(self, user_code: str, user: str) -> None:
        with self.lock:
            for device in self.devices.values():
                if device["user_code"] == user_code:
                    device["user"] = user
                    return
        raise KeyError(user_code)

    def access_token(self, user: str) -> str:
        return make_jwt(self.key, user, self.access_seconds)

    # -- the endpoints -------------------------------------------------------------------

    def _issue(self, user: str, refresh_token: str | None) -> dict:
        answer = {"access_token": self.access_token(user), "token_type": "Bearer",
                  "expires_in": int(self.claimed_seconds if self.claimed_seconds is not None else self.access_seconds)}
        if refresh_token:
            answer["refresh_token"] = refresh_token
        return answer

    def token(self, form: dict[str, str]) -> tuple[int, dict]:
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client"}
        grant = form.get("grant_type")
        with self.lock:
            if grant == "refresh_token":
                user = self.refresh_tokens.get(form.get("refresh_token", ""))
                if user is None:
                    return 400, {"error": "invalid_grant", "error_description": "the refresh token was revoked"}
                self.refreshes += 1
                new = None
                if self.rotate:
                    del self.refresh_tokens[form["refresh_token"]]
                    new = secrets.token_urlsafe(24)
                    self.refresh_tokens[new] = user
                return 200, self._issue(user, new)
            if grant == "urn:ietf:params:oauth:grant-type:device_code":
                device = self.devices.get(form.get("device_code", ""))
                if device is None:
                    return 400, {"error": "expired_token"}
                if device["user"] is None:
                    return 400, {"error": "authorization_pending"}
                del self.devices[form["device_code"]]
            elif grant == "authorization_code":
                user = self.codes.pop(form.get("code", ""), None)
                if user is None or not form.get("code_verifier"):
                    return 400, {"error": "invalid_grant"}
                device = {"user": user}
            else:
                return 400, {"error": "unsupported_grant_type"}
            refresh = secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = device["user"]
        return 200, self._issue(device["user"], refresh)

    def device(self, form: dict[str, str]) -> tuple[int, dict]:
        if form.get("client_id") != self.client_id:
            return 400, {"error": "invalid_client"}
        code, user_code = secrets.token_urlsafe(16), f"{secrets.randbelow(10 ** 8):08d}"
        with self.lock:
            self.devices[code] = {"user_code": user_code, "user": None}
        return 200, {"device_code": code, "user_code": user_code, "verification_uri": f"{self.base}/verify",
                     "expires_in": 600, "interval": 1}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server name)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                path = urlsplit(self.path).path
                if path == "/token":
                    status, body = server.token(form)
                elif path == "/device":
                    status, body = server.device(form)
                else:
                    status, body = 404, {"error": "not_found"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler


class OAuthDovecot(Dovecot):
    """Dovecot with an oauth2 passdb that validates our JWTs locally, beside the passwords."""

    def __init__(self, binary: str, base_dir: Path, key: bytes):
        super().__init__(binary, base_dir)
        self.key = key

    def start(self) -> None:
        keys = self.base_dir / "keys"
        encoded = base64.b64encode(self.key).decode()
        for prefix in (keys / "shared", keys):  # the dict key is shared/<azp>/<alg>/<kid>
            (prefix / "default" / "HS256").mkdir(parents=True, exist_ok=True)
            (prefix / "default" / "HS256" / KID).write_text(encoded)
        for path in [keys, *keys.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (self.base_dir / "oauth2.conf.ext").write_text(
            "introspection_mode = local\n"
            f"local_validation_key_dict = fs:posix:prefix={keys}/\n"
            "username_attribute = sub\n")
        (self.base_dir / "oauth2.conf.ext").chmod(0o644)
        self.extra_conf = (
            "auth_mechanisms = plain login xoauth2 oauthbearer\n"
            "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {self.base_dir}/oauth2.conf.ext\n}}\n")
        self.password_mechanisms = "plain login"
        super().start()

    def user_of(self, url: str) -> str:
        return urlsplit(url).username

    def oauth_url(self, url: str, auth: str = "oauth2", **query: str) -> str:
        """The mailbox URL without its password, logging in with OAuth2 instead."""
        parts = urlsplit(url)
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return f"imap://{parts.username}@{parts.hostname}:{parts.port}{parts.path}?auth={auth}{extra}"


@pytest.fixture(scope="session")
def oauth_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture(scope="session")
def oauth_dovecot(oauth_key) -> Iterator[OAuthDovecot]:
    binary = dovecot_binary()
    if binary is None:
        message = "Dovecot is not installed; install it with `apt-get install dovecot-imapd`"
        if IN_CI:
            pytest.fail(f"{message} (CI=true, so this is an error)")
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="dovecot-oauth-") as tmp:
        server = OAuthDovecot(binary, Path(tmp), oauth_key)
        try:
            server.start()
            yield server
        finally:
            server.stop()


@pytest.fixture
def token_server(oauth_key) -> Iterator[TokenServer]:
    server = TokenServer(oauth_key)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
