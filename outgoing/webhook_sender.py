"""Webhook delivery, run by the sender process beside the outbox (`helpdesk send`).

In: `WebhookDelivery` rows that are due, of endpoints neither removed nor paused. Out:
each row POSTed once, signed (`X-Helpdesk-Signature: t=...,v1=HMAC-SHA256("<t>." + body)`),
and marked `delivered` on a 2xx answer; otherwise retried with exponential backoff, or
`failed` after too many attempts. An endpoint that fails `webhook_pause_after` times in a
row is paused and the admins are mailed once. Rows are claimed with a lease (the outbox's
method: `FOR UPDATE SKIP LOCKED` on PostgreSQL, a conditional update everywhere), so with
several senders each event reaches each endpoint once. The host is resolved at each
delivery and every address checked again (DNS rebinding); the connection goes to the
address that was checked. Redirects are not followed.
"""
from __future__ import annotations

import datetime as dt
import http.client
import logging
import socket
import ssl
import time
from collections import Counter
from urllib.parse import urlsplit

from helpdesk import database
from helpdesk.config import Config
from helpdesk.domain import webhooks
from helpdesk.domain.owners import dead_owners, owner_name
from helpdesk.domain.validation import Invalid
from helpdesk.models import Role, User, WebhookDelivery, WebhookEndpoint, db, utcnow

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)  # longer than a claimed batch can take (10 x the timeout)
MAX_ATTEMPTS = 15  # with the backoff below: about two days
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 4 * 3600
TIMEOUT_SECONDS = 10
MAX_ANSWER_BYTES = 2000  # of the receiver's answer, kept in the log


class DeliveryError(Exception):
    """The receiver could not be reached, or may not be: the message says which."""


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1)))


# --- one POST, to the address that was checked ------------------------------------------------


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, allow_host: str, body: bytes, headers: dict, *, timeout: float = TIMEOUT_SECONDS,
         resolve=socket.getaddrinfo) -> tuple[int, bytes]:
    """(status, the start of the answer); `DeliveryError` when the URL may not be reached
    now or the connection fails."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    try:
        addresses = webhooks.resolved(host, port, resolve=resolve)
    except Invalid as error:
        raise DeliveryError(error.message % error.params) from None
    if not webhooks.host_allowed(host, allow_host):
        if not https:
            raise DeliveryError("only https:// is allowed for this host")
        bad = [a for a in addresses if not webhooks.address_allowed(a)]
        if bad:
            raise DeliveryError(f"{host} resolves to {bad[0]}, a loopback or private address")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = (_PinnedHTTPS if https else _PinnedHTTP)(host, port, addresses[0], timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(MAX_ANSWER_BYTES)
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()


# --- the sender's side ----------------------------------------------------------------------------


class WebhookSender:
    def __init__(self, config: Config, *, owner: str | None = None, resolve=socket.getaddrinfo):
        self.config = config
        self.owner = owner or owner_name(f"webhooks-{id(self):x}")
        self.resolve = resolve

    def deliver_due(self, *, now: dt.datetime | None = None, limit: int = 10) -> Counter:
        """Deliver what is due now (at most `limit`); returns what happened, counted."""
        now = now or utcnow()
        done: Counter = Counter()
        claimed = self._claim(now, limit)
        if not claimed:
            return done
        endpoints = {e.id: e for e in WebhookEndpoint.select().where(
            WebhookEndpoint.id.in_({r.endpoint_id for r in claimed}))}
        for row in claimed:
            endpoint = endpoints[row.endpoint_id]
            if endpoint.paused_at is not None or not endpoint.active:  # paused a moment ago
                self._release(row)
                done["waiting"] += 1
                continue
            done[self._deliver(row, endpoint, now)] += 1
        return done

    def release_dead(self, now: dt.datetime) -> int:
        """Let go of deliveries claimed by senders on this machine whose process is gone."""
        host = socket.gethostname()
        owners = {r.lease_owner for r in WebhookDelivery.select(WebhookDelivery.lease_owner).distinct().where(
            WebhookDelivery.status == "pending", WebhookDelivery.lease_until > now,
            WebhookDelivery.lease_owner.startswith(f"{host}:"))}
        return sum(WebhookDelivery.update(lease_owner=None, lease_until=None).where(
            WebhookDelivery.lease_owner == owner, WebhookDelivery.status == "pending").execute()
            for owner in dead_owners(owners))

    def _claim(self, now: dt.datetime, limit: int) -> list[WebhookDelivery]:
        self.release_dead(now)
        free = (WebhookDelivery.lease_until.is_null()) | (WebhookDelivery.lease_until < now)
        open_endpoints = WebhookEndpoint.select(WebhookEndpoint.id).where(WebhookEndpoint.active,
                                                                          WebhookEndpoint.paused_at.is_null())
        until = now + LEASE
        with db.atomic():
            select = (WebhookDelivery.select(WebhookDelivery.id)
                      .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now, free,
                             WebhookDelivery.endpoint.in_(open_endpoints))
                      .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
            if not database.is_sqlite(db.obj):
                select = select.for_update("FOR UPDATE SKIP LOCKED")
            due = [r.id for r in select]
            if not due:
                return []
            WebhookDelivery.update(lease_owner=self.owner, lease_until=until).where(
                WebhookDelivery.id.in_(due), WebhookDelivery.status == "pending", free).execute()
        return list(WebhookDelivery.select().where(
            WebhookDelivery.id.in_(due), WebhookDelivery.lease_owner == self.owner,
            WebhookDelivery.lease_until == until).order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id))

    def _deliver(self, row: WebhookDelivery, endpoint: WebhookEndpoint, now: dt.datetime) -> str:
        body = row.payload.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "helpdesk-webhooks/1",
            "X-Helpdesk-Event": row.event,
            "X-Helpdesk-Event-Id": row.event_id,
            "X-Helpdesk-Delivery": str(row.id),
            webhooks.SIGNATURE_HEADER: webhooks.signature(endpoint.secret, int(time.time()), body),
        }
        try:
            status, answer = post(endpoint.url, endpoint.allow_host, body, headers, resolve=self.resolve)
        except DeliveryError as exc:
            return self._failed(row, endpoint, None, str(exc), now)
        if 200 <= status < 300:
            with db.atomic():
                WebhookDelivery.update(status="delivered", attempts=WebhookDelivery.attempts + 1,
                                       last_status_code=status, last_error="", delivered_at=utcnow(),
                                       lease_owner=None, lease_until=None).where(
                    WebhookDelivery.id == row.id).execute()
                WebhookEndpoint.update(consecutive_failures=0).where(WebhookEndpoint.id == endpoint.id).execute()
            log.info("webhook %s delivered to %s (%s)", row.event, endpoint.url, status)
            return "delivered"
        return self._failed(row, endpoint, status, answer.decode("utf-8", "replace"), now)

    def _failed(self, row: WebhookDelivery, endpoint: WebhookEndpoint, status: int | None, error: str,
                now: dt.datetime) -> str:
        attempts = row.attempts + 1
        error = (f"HTTP {status}: " if status else "") + error
        outcome = "failed" if attempts >= MAX_ATTEMPTS else "retry"
        with db.atomic():
            WebhookDelivery.update(
                status="failed" if outcome == "failed" else "pending", attempts=attempts, last_status_code=status,
                last_error=error[:2000], next_attempt_at=now + backoff(attempts), lease_owner=None,
                lease_until=None).where(WebhookDelivery.id == row.id).execute()
            WebhookEndpoint.update(consecutive_failures=WebhookEndpoint.consecutive_failures + 1).where(
                WebhookEndpoint.id == endpoint.id).execute()
            failures = WebhookEndpoint.select(WebhookEndpoint.consecutive_failures).where(
                WebhookEndpoint.id == endpoint.id).scalar()
            if failures >= self.config.webhook_pause_after:
                self._pause(endpoint, f"{failures} failed deliveries in a row; the last: {error}"[:2000], now)
        log.warning("webhook %s to %s failed (attempt %d): %s", row.event, endpoint.url, attempts, error[:300])
        return outcome

    def _pause(self, endpoint: WebhookEndpoint, reason: str, now: dt.datetime) -> None:
        """Pause it; of all the senders, the one whose update paused it tells the admins."""
        paused = WebhookEndpoint.update(paused_at=now, pause_reason=reason).where(
            WebhookEndpoint.id == endpoint.id, WebhookEndpoint.paused_at.is_null()).execute()
        if not paused:
            return
        endpoint.paused_at = now
        from helpdesk.domain.accounts import send_mail

        for admin in User.select().where(User.role == Role.ADMIN.value, User.is_active):
            send_mail(self.config, "webhook_paused", admin.email, admin.language,
                  {"endpoint": endpoint, "reason": reason, "link": f"{self.config.base_url}/admin/webhooks"}, now)
        log.warning("webhook %s paused: %s", endpoint.url, reason)

    @staticmethod
    def _release(row: WebhookDelivery) -> None:
        WebhookDelivery.update(lease_owner=None, lease_until=None).where(WebhookDelivery.id == row.id).execute()
