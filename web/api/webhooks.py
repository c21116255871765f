"""Webhook endpoints and their delivery log through the API (admin tokens only); the same
functions as `/admin/webhooks` and `helpdesk webhook` (`domain.webhooks`)."""
from __future__ import annotations

from flask import g, request, url_for

from helpdesk.domain import webhooks
from helpdesk.domain.validation import Invalid
from helpdesk.models import WebhookDelivery, WebhookEndpoint

from .core import Problem, body, bp, idempotent, invalid, needs
from .tickets import decode_cursor, encode_cursor, iso, page_size


def endpoint_json(e: WebhookEndpoint) -> dict:
    """Never the secret."""
    return {"id": e.id, "url": e.url, "events": e.events.split(), "allow_host": e.allow_host or None,
            "created_at": iso(e.created_at), "paused_at": iso(e.paused_at), "pause_reason": e.pause_reason or None,
            "consecutive_failures": e.consecutive_failures}


def delivery_json(d: WebhookDelivery) -> dict:
    return {"id": d.id, "endpoint_id": d.endpoint_id, "event": d.event, "event_id": d.event_id,
            "status": d.status, "attempts": d.attempts, "last_status_code": d.last_status_code,
            "last_error": d.last_error or None, "created_at": iso(d.created_at),
            "next_attempt_at": iso(d.next_attempt_at) if d.status == "pending" else None,
            "delivered_at": iso(d.delivered_at)}


@bp.get("/webhooks")
@needs("admin", admin=True)
def list_webhooks():
    return {"items": [endpoint_json(e) for e in webhooks.endpoints()]}


@bp.post("/webhooks")
@needs("admin", admin=True)
@idempotent
def add_webhook():
    data = body()
    fields = {"url": data.get("url", ""), "secret": data.get("secret", ""), "allow_host": data.get("allow_host", "")}
    for name, value in fields.items():
        if not isinstance(value, str):
            raise invalid(Invalid("This must be a string."), name)
    events = data.get("events", [])
    if not isinstance(events, list) or len(events) > 20 or not all(isinstance(e, str) for e in events):
        raise invalid(Invalid("An array of event names."), "events")
    try:
        endpoint = webhooks.add_endpoint(fields["url"], fields["secret"], events, allow_host=fields["allow_host"] or "",
                                         by=g.api_user, now=g.now)
    except Invalid as error:
        raise invalid(error) from None
    return endpoint_json(endpoint), 201, {"Location": url_for("api.list_webhooks")}


@bp.delete("/webhooks/<int:endpoint_id>")
@needs("admin", admin=True)
def remove_webhook(endpoint_id: int):
    if not webhooks.remove(endpoint_id, by=g.api_user, now=g.now):
        raise Problem(404, "Not Found")
    return "", 204


@bp.post("/webhooks/<int:endpoint_id>/resume")
@needs("admin", admin=True)
def resume_webhook(endpoint_id: int):
    endpoint = WebhookEndpoint.get_or_none(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.active)
    if endpoint is None:
        raise Problem(404, "Not Found")
    webhooks.resume(endpoint_id, by=g.api_user, now=g.now)
    return endpoint_json(WebhookEndpoint.get_by_id(endpoint_id))


@bp.get("/webhooks/deliveries")
@needs("admin", admin=True)
def webhook_log():
    status = request.args.get("status", "")
    if status not in ("", "pending", "delivered", "failed"):
        raise Problem(400, "Bad Request", "status: pending, delivered or failed.", kind="bad-parameter")
    endpoint = request.args.get("endpoint", type=int)
    size, cursor = page_size(), request.args.get("cursor")
    before = decode_cursor(cursor, (int,))[0] if cursor else None
    rows = list(webhooks.log(endpoint_id=endpoint, status=status, limit=size + 1, before_id=before))
    more = len(rows) > size
    return {"items": [delivery_json(d) for d in rows[:size]],
            "next_cursor": encode_cursor(rows[size - 1].id) if more else None}
