"""Getting a refresh token for a mail server account: what `helpdesk mailbox authorize` runs.

In: the config's OAuth2 provider and the account; `say` (prints for a person), `ask`
(reads a line from them) and `sleep` (for polling). Out: the refresh token, stored
encrypted (`oauth.store_refresh_token`); raises `AuthorizeError` with a sentence when
the person declined, the code ran out, or the provider refused.

Two flows, both fine on a headless server:
- the device flow (RFC 8628: Microsoft, and any provider with a device URL): the person
  opens a URL anywhere, types the code shown, and signs in as the mailbox's user; we poll
  the token endpoint until it answers;
- the browser flow (Google, whose device flow does not allow the mail scope): the person
  opens the printed URL, signs in, and pastes back the address their browser was sent to
  (http://localhost/?code=..., a page that does not load; PKCE protects the code).
The OAuth2 protocol itself is Authlib's.
"""
from __future__ import annotations

import time
from typing import Callable

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError

from . import oauth

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
BROWSER_REDIRECT = "http://localhost"
MAX_WAIT_SECONDS = 15 * 60  # the device code lives about this long at Microsoft too


class AuthorizeError(RuntimeError):
    """The authorization did not give a refresh token; the message says why."""


def authorize(config, account: str, *, say: Callable[[str], None], ask: Callable[[str], str],
              sleep: Callable[[float], None] = time.sleep, flow: str = "") -> None:
    provider = config.oauth
    if not provider.name:
        raise AuthorizeError("no OAuth2 provider is set: HELPDESK_OAUTH_PROVIDER (microsoft, google or custom)")
    flow = flow or ("device" if provider.device_url else "browser")
    if flow == "device" and not provider.device_url:
        raise AuthorizeError(f"the {provider.name} provider has no device flow for mail; use --browser")
    if flow == "browser" and not provider.authorize_url:
        raise AuthorizeError("the browser flow needs HELPDESK_OAUTH_AUTHORIZE_URL for a custom provider")
    token = _device(provider, account, say, sleep) if flow == "device" else _browser(provider, account, say, ask)
    refresh_token = token.get("refresh_token") or ""
    if not refresh_token:
        raise AuthorizeError("the provider gave no refresh token: the scopes need offline access "
                             "(Microsoft: offline_access; Google: access_type=offline)")
    oauth.store_refresh_token(config, account, refresh_token)


def _device(provider, account: str, say, sleep) -> dict:
    session = oauth.session_for(provider)
    try:
        response = session.post(provider.device_url, data={"client_id": provider.client_id,
                                                           "scope": " ".join(provider.scopes)},
                                headers={"Accept": "application/json"}, withhold_token=True)
        grant = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise AuthorizeError(f"cannot reach the device authorization URL {provider.device_url}: {exc}") from exc
    if response.status_code != 200 or "device_code" not in grant:
        raise AuthorizeError(f"the provider refused to start the device flow: {grant.get('error', response.status_code)}"
                             f" {grant.get('error_description', '')}".strip())
    url = grant.get("verification_uri") or grant.get("verification_url") or ""
    say(f"To let the helpdesk read and send mail as {account}:")
    say(f"  1. open {url} in any browser (a phone will do)")
    say(f"  2. enter the code {grant['user_code']}")
    say(f"  3. sign in as {account} (or a user with full access to that mailbox) and accept")
    say("Waiting for you to finish (Ctrl+C to stop)...")
    interval = max(1, int(grant.get("interval") or 5))
    deadline = time.monotonic() + min(MAX_WAIT_SECONDS, int(grant.get("expires_in") or MAX_WAIT_SECONDS))
    while time.monotonic() < deadline:
        sleep(interval)
        try:
            return session.fetch_token(provider.token_url, grant_type=DEVICE_GRANT, device_code=grant["device_code"])
        except OAuthError as exc:
            if exc.error == "authorization_pending":
                continue
            if exc.error == "slow_down":
                interval += 5
                continue
            raise AuthorizeError(_refusal(exc)) from exc
        except requests.RequestException as exc:
            say(f"(the token endpoint did not answer: {exc}; trying again)")
    raise AuthorizeError("the code ran out before the sign-in was finished; run the command again")


def _browser(provider, account: str, say, ask) -> dict:
    session = oauth.session_for(provider, redirect_uri=BROWSER_REDIRECT, code_challenge_method="S256")
    verifier = generate_token(64)
    url, state = session.create_authorization_url(provider.authorize_url, code_verifier=verifier,
                                                  access_type="offline", prompt="consent", login_hint=account)
    say(f"To let the helpdesk read and send mail as {account}:")
    say(f"  1. open this address in any browser and sign in as {account}:\n\n{url}\n")
    say("  2. after you accept, the browser goes to http://localhost/... and shows an error page:")
    say("     copy the whole address from its address bar and paste it here.")
    pasted = ask("address: ").strip()
    if "code=" not in pasted:
        raise AuthorizeError("that address has no code= in it; run the command again and paste the whole address")
    try:
        return session.fetch_token(provider.token_url, authorization_response=pasted, state=state,
                                   code_verifier=verifier)
    except OAuthError as exc:
        raise AuthorizeError(_refusal(exc)) from exc
    except requests.RequestException as exc:
        raise AuthorizeError(f"cannot reach the token endpoint {provider.token_url}: {exc}") from exc


def _refusal(exc: OAuthError) -> str:
    reasons = {"access_denied": "the sign-in was declined", "expired_token": "the code ran out"}
    reason = reasons.get(exc.error, f"the provider refused: {exc.error}")
    return f"{reason}{': ' + exc.description if exc.description else ''}; run the command again"
