"""Webhooks: endpoints admins register, and the events queued for them in the transaction
of the change that caused them (as the outbox queues mail).

In: an event name and what happened (a ticket, a message, an application). Out: one
`WebhookDelivery` row per active endpoint subscribed to the event, holding the exact JSON
body that will be signed and posted; the sender delivers it (`webhook_sender`). Also the
rules for where a webhook may point: `https://` to public addresses only, unless the admin
allowed the host by name (checked here when it is registered, and again on the resolved
addresses at each delivery, against DNS rebinding). Never makes an HTTP request.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
import uuid
from typing import Iterable
from urllib.parse import urlsplit

from helpdesk.models import (
    AuditLog,
    Message,
    PartnerApplication,
    Ticket,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    db,
    utcnow,
)

from . import keyset
from .rows import Immediate
from .validation import N_, Invalid

EVENTS = ("ticket.created", "message.created", "ticket.status_changed", "ticket.assigned",
          "partner.application_changed", "sla.breached")
MAX_ENDPOINTS = 50
MIN_SECRET, MAX_SECRET = 16, 200
MAX_URL = 2000
SIGNATURE_HEADER = "X-Helpdesk-Signature"


# --- where a webhook may point --------------------------------------------------------------


def address_allowed(address: str) -> bool:
    """A public unicast address: not loopback, private, link-local, reserved, multicast, or
    an IPv4 one of those behind an IPv6 mapping."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def host_allowed(host: str, allow_host: str) -> bool:
    return bool(allow_host) and host.lower().rstrip(".") == allow_host.lower().rstrip(".")


def checked_url(url: str, allow_host: str = "", *, resolve=socket.getaddrinfo) -> str:
    """The URL as it will be used; `Invalid` unless it is https:// to a host whose every
    address is public, or its host is the one the admin allowed explicitly (then http://
    and private addresses are accepted for that host)."""
    url = (url or "").strip()
    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        raise Invalid(N_("This is not a URL we can post to."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid(N_("This is not a URL we can post to.")) from None
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password or parts.fragment:
        raise Invalid(N_("This is not a URL we can post to."))
    if host_allowed(host, allow_host):
        return url
    if parts.scheme != "https":
        raise Invalid(N_("Webhooks go to https:// addresses only."))
    for address in resolved(host, port or 443, resolve=resolve):
        if not address_allowed(address):
            raise Invalid(N_("%(host)s is a loopback or private address: webhooks go to public addresses "
                             "unless an admin allows the host."), {"host": host[:100]})
    return url


def resolved(host: str, port: int, *, resolve=socket.getaddrinfo) -> list[str]:
    """Every address the host has now (an IP literal is its own); `Invalid` when it has none."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return [host.strip("[]")]
    except ValueError:
        pass
    if host.lower() == "localhost" or host.lower().endswith((".localhost", ".local", ".internal")):
        raise Invalid(N_("%(host)s is a loopback or private address: webhooks go to public addresses "
                         "unless an admin allows the host."), {"host": host[:100]})
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Invalid(N_("%(host)s cannot be resolved."), {"host": host[:100]}) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise Invalid(N_("%(host)s cannot be resolved."), {"host": host[:100]})
    return addresses


# --- signing -----------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (and the tests): recompute and compare in constant time."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if not fields.get("t", "").isdigit():
        return False
    return hmac.compare_digest(signature(secret, int(fields["t"]), body), header)


# --- endpoints (admins) -----------------------------------------------------------------------


def checked_events(events: Iterable[str]) -> list[str]:
    wanted = {e.strip() for e in events if e and e.strip()}
    unknown = sorted(wanted - set(EVENTS))
    if unknown:
        raise Invalid(N_("Unknown event: %(event)s"), {"event": ", ".join(e[:40] for e in unknown[:5])})
    if not wanted:
        raise Invalid(N_("Choose at least one event."))
    return [e for e in EVENTS if e in wanted]


def add_endpoint(url: str, secret: str, events: Iterable[str], *, allow_host: str = "", by: User | None = None,
                 now: dt.datetime | None = None, resolve=socket.getaddrinfo) -> WebhookEndpoint:
    now = now or utcnow()
    allow_host = (allow_host or "").strip().lower()[:255]
    url = checked_url(url, allow_host, resolve=resolve)
    if not MIN_SECRET <= len(secret or "") <= MAX_SECRET or not secret.isprintable():
        raise Invalid(N_("The secret needs %(low)s to %(high)s printable characters."),
                      {"low": MIN_SECRET, "high": MAX_SECRET})
    events = checked_events(events)
    with db.atomic():
        if WebhookEndpoint.select().where(WebhookEndpoint.active).count() >= MAX_ENDPOINTS:
            raise Invalid(N_("There are %(count)s webhooks already: remove one first."), {"count": MAX_ENDPOINTS})
        endpoint = WebhookEndpoint.create(url=url, secret=secret, events=" ".join(events), allow_host=allow_host,
                                          created_by=by, created_at=now)
        _audit(by, "webhook_added", endpoint, f"{url} {' '.join(events)}", now)
    return endpoint


def endpoints():
    return WebhookEndpoint.select().where(WebhookEndpoint.active).order_by(WebhookEndpoint.id)


def resume(endpoint_id: int, *, by: User | None = None, now: dt.datetime | None = None) -> bool:
    """Deliveries start again (those waiting included); False when it was not paused."""
    now = now or utcnow()
    with db.atomic():
        done = WebhookEndpoint.update(paused_at=None, pause_reason="", consecutive_failures=0).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.active, WebhookEndpoint.paused_at.is_null(False)
        ).execute() > 0
        if done:
            WebhookDelivery.update(next_attempt_at=now).where(WebhookDelivery.endpoint == endpoint_id,
                                                              WebhookDelivery.status == "pending").execute()
            _audit(by, "webhook_resumed", WebhookEndpoint(id=endpoint_id), "", now)
    return done


def remove(endpoint_id: int, *, by: User | None = None, now: dt.datetime | None = None) -> bool:
    """No more events for it; what waits is dropped (marked failed); its log stays."""
    now = now or utcnow()
    with db.atomic():
        done = WebhookEndpoint.update(active=False).where(WebhookEndpoint.id == endpoint_id,
                                                          WebhookEndpoint.active).execute() > 0
        if done:
            WebhookDelivery.update(status="failed", last_error="the webhook was removed").where(
                WebhookDelivery.endpoint == endpoint_id, WebhookDelivery.status == "pending").execute()
            _audit(by, "webhook_removed", WebhookEndpoint(id=endpoint_id), "", now)
    return done


LISTED = (WebhookDelivery.id, WebhookDelivery.endpoint, WebhookDelivery.event, WebhookDelivery.event_id,
          WebhookDelivery.status, WebhookDelivery.attempts, WebhookDelivery.last_status_code,
          WebhookDelivery.last_error, WebhookDelivery.created_at, WebhookDelivery.next_attempt_at,
          WebhookDelivery.delivered_at, WebhookEndpoint.id, WebhookEndpoint.url)
LOG_ORDER = keyset.Order((WebhookDelivery.id,), descending=True)  # newest first


def log(*, endpoint_id: int | None = None, status: str = "", limit: int | None = 200, before_id: int | None = None):
    """Deliveries, newest first, each with its endpoint's URL, without their payloads; from
    `before_id` on (older ones) when given; all of them with `limit` None, unordered, for a
    reader that pages them itself (`LOG_ORDER`)."""
    query = WebhookDelivery.select(*LISTED).join(WebhookEndpoint)
    if limit is not None:
        query = query.order_by(WebhookDelivery.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint == endpoint_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    return query


def _audit(actor: User | None, action: str, endpoint: WebhookEndpoint, detail: str, now: dt.datetime) -> None:
    AuditLog.create(actor=actor, action=action, object_type="webhook", object_id=str(endpoint.id),
                    detail=detail[:2000], at=now)


# --- events -------------------------------------------------------------------------------------


def active_endpoints() -> list[tuple[int, frozenset[str]]]:
    """(id, events wanted) of every active endpoint: what `emit` looks up, for a caller that
    reads it once for many events (the mail worker, once per batch)."""
    return [(e.id, e.event_set) for e in
            WebhookEndpoint.select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.active)]


def _subscribers(event: str, sink) -> list[int]:
    """The active endpoints that want the event. A batch sink (the mail worker's) keeps the
    list for its batch, one query instead of one per message."""
    cached = getattr(sink, "webhook_endpoints", None)
    if cached is None:
        cached = active_endpoints()
        if sink is not None and not isinstance(sink, Immediate):
            sink.webhook_endpoints = cached
    return [endpoint_id for endpoint_id, events in cached if event in events]


def emit(event: str, data: dict, *, now: dt.datetime | None = None, sink=None) -> int:
    """Queue the event for every endpoint that wants it, in the caller's transaction;
    returns how many deliveries were queued."""
    assert event in EVENTS, event
    targets = _subscribers(event, sink)
    if not targets:
        return 0
    now = now or utcnow()
    event_id = uuid.uuid4().hex
    body = json.dumps({"id": event_id, "type": event, "created_at": _iso(now), "data": data},
                      ensure_ascii=False, separators=(",", ":"), default=str)
    sink = sink or Immediate()
    for endpoint_id in targets:
        sink.add(WebhookDelivery, {"endpoint": endpoint_id, "event": event, "event_id": event_id, "payload": body,
                                   "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now,
                                   "last_error": ""})
    return len(targets)


def _iso(value: dt.datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() + "Z" if value else None


def ticket_data(ticket: Ticket, **extra) -> dict:
    """What an event says about a ticket (what is at hand: no query)."""
    return {"ticket": {"id": ticket.id, "subject": ticket.subject, "status": ticket.status,
                       "requester_email": ticket.requester_email, "channel": ticket.channel,
                       "contract_id": ticket.contract_id, "assignee_id": ticket.assignee_id,
                       "created_at": _iso(ticket.created_at), "updated_at": _iso(ticket.updated_at)}, **extra}


def message_data(ticket: Ticket, message: Message) -> dict:
    return {"ticket": {"id": ticket.id, "status": ticket.status},
            "message": {"id": message.id, "kind": message.kind, "author_email": message.author_email,
                        "author_name": message.author_name, "subject": message.subject,
                        "text": message.display[:100_000], "created_at": _iso(message.created_at)}}


def application_data(application: PartnerApplication) -> dict:
    return {"application": {"id": application.id, "company_id": application.company_id,
                            "status": application.status, "declared_level": application.declared_level,
                            "reason": application.reason, "submitted_at": _iso(application.submitted_at),
                            "decided_at": _iso(application.decided_at)}}
