"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json (no token needed).

Written by hand, next to the views; `tests/test_api_openapi.py` checks it is a valid
OpenAPI 3.1 document and that its paths, methods, scopes and idempotency keys are exactly
the registered routes'.
"""
from __future__ import annotations

from flask import current_app

from helpdesk.domain import api_tokens, webhooks

from .core import bp


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


READ = (400, 401, 403, 404, 429)
WRITE = (400, 401, 403, 404, 409, 413, 415, 422, 429)


def _op(summary: str, scope: str | None, responses: dict, *, params=(), body: dict | None = None,
        idempotent: bool = False, tag: str = "tickets", public: bool = False) -> dict:
    op = {"summary": summary, "tags": [tag], "responses": responses}
    if scope:
        op["security"] = [{"bearer": [scope]}]
        op["x-required-scope"] = scope
    elif public:
        op["security"] = []  # no token needed
    parameters = list(params)
    if idempotent:
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _path_id(name: str, what: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": what,
            "schema": {"type": "integer", "minimum": 0}}


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


PAGING = [_query("limit", "Items per page (1-100, default 50).", {"type": "integer", "minimum": 1, "maximum": 100}),
          _query("cursor", "`next_cursor` of the previous page.")]
TICKET_ID = _path_id("ticket_id", "The ticket's number (HD-12 is 12).")
STATUS = {"type": "string", "enum": ["new", "open", "waiting_customer", "waiting_us", "closed"]}
NULLABLE_STRING = {"type": ["string", "null"]}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _page(item: str) -> dict:
    return {"type": "object", "required": ["items", "next_cursor"],
            "properties": {"items": {"type": "array", "items": _ref(item)}, "next_cursor": NULLABLE_STRING}}


SCHEMAS = {
    "Problem": {"type": "object", "description": "RFC 9457 problem details.", "required": ["type", "title", "status"],
                "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                               "detail": {"type": "string"}, "instance": {"type": "string"},
                               "errors": {"type": "array", "items": {
                                   "type": "object", "properties": {"field": {"type": "string"},
                                                                    "detail": {"type": "string"}}}}}},
    "Ticket": {"type": "object", "required": ["id", "ref", "subject", "status", "created_at", "updated_at"],
               "properties": {
                   "id": {"type": "integer"}, "ref": {"type": "string", "examples": ["HD-12"]},
                   "subject": {"type": "string"}, "status": STATUS, "channel": {"type": "string",
                                                                               "enum": ["mail", "portal"]},
                   "requester_email": {"type": "string"},
                   "contract": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {
                       "id": {"type": "integer"}, "number": {"type": "string"}}}]},
                   "device_line_id": {"type": ["integer", "null"]},
                   "assignee_id": {"type": ["integer", "null"], "description": "For engineers' tokens only."},
                   "tags": {"type": "array", "items": {"type": "string"}, "description": "For engineers' tokens only."},
                   "created_at": TIME, "updated_at": TIME, "closed_at": NULLABLE_TIME,
                   "url": {"type": "string", "description": "The ticket in the portal."}}},
    "TicketDetail": {"allOf": [_ref("Ticket"), {"type": "object", "properties": {
        "participants": {"type": "array", "items": {"type": "object", "properties": {
            "email": {"type": "string"}, "name": {"type": "string"},
            "role": {"type": "string", "enum": ["requester", "cc"]}}}},
        "messages": {"type": "array", "description": "Newest first; the 50 newest.", "items": _ref("Message")},
        "messages_next_cursor": {**NULLABLE_STRING, "description": "For GET /tickets/{ticket_id}/messages."}}}]},
    "Message": {"type": "object", "required": ["id", "kind", "text", "created_at", "attachments"], "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string", "enum": ["customer", "staff", "note", "system"]},
        "author_email": {"type": "string"}, "author_name": {"type": "string"}, "subject": {"type": "string"},
        "text": {"type": "string", "description": "Quoted history folded away."}, "has_html": {"type": "boolean"},
        "created_at": TIME, "attachments": {"type": "array", "items": _ref("Attachment")}}},
    "Attachment": {"type": "object", "properties": {
        "id": {"type": "integer"}, "filename": {"type": "string"}, "content_type": {"type": "string"},
        "size": {"type": "integer"}, "url": {**NULLABLE_STRING, "description": "null when the file was not kept."},
        "skipped_reason": NULLABLE_STRING}},
    "Upload": {"type": "object", "required": ["filename", "content_base64"], "properties": {
        "filename": {"type": "string"}, "content_type": {"type": "string"},
        "content_base64": {"type": "string", "contentEncoding": "base64"}}},
    "NewTicket": {"type": "object", "required": ["contract_id", "title", "description"], "properties": {
        "contract_id": {"type": "integer", "description": "A contract in force that the user sees."},
        "device_line_id": {"type": "integer", "description": "Required unless the contract has one line."},
        "title": {"type": "string", "maxLength": 200}, "description": {"type": "string", "maxLength": 100000},
        "ccs": {"type": "array", "maxItems": 20, "items": {"type": "string", "format": "email"}},
        "attachments": {"type": "array", "maxItems": 10, "items": _ref("Upload")}}},
    "NewMessage": {"type": "object", "required": ["text"], "properties": {
        "text": {"type": "string", "maxLength": 100000},
        "internal": {"type": "boolean", "description": "An internal note (engineers only)."},
        "close": {"type": "boolean", "description": "Answer and close (engineers only)."},
        "attachments": {"type": "array", "maxItems": 10, "items": _ref("Upload")}}},
    "Article": {"type": "object", "required": ["id", "title"], "properties": {
        "id": {"type": "integer"}, "title": {"type": "string"}, "language": {"type": "string", "enum": ["pl", "en"]},
        "audience": {"type": "string", "enum": ["public", "customers", "partners"]},
        "min_level": {"type": "integer"}, "published": {"type": "boolean"},
        "published_at": {"type": ["string", "null"], "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "models": {"type": "array", "items": {"type": "string"}},
        "manufacturers": {"type": "array", "items": {"type": "string"}}, "url": {"type": "string"},
        "body_markdown": {"type": "string"}, "body_html": {"type": "string"},
        "files": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer"}, "filename": {"type": "string"}, "content_type": {"type": "string"},
            "size": {"type": "integer"}, "url": {"type": "string"}}}}}},
    "Contract": {"type": "object", "required": ["id", "number"], "properties": {
        "id": {"type": "integer"}, "number": {"type": "string", "pattern": "^[A-Z][0-9]{6}$"},
        "customer_name": {"type": "string"}, "service_level": {"type": "string"},
        "starts_on": {"type": "string", "format": "date"}, "ends_on": {"type": "string", "format": "date"},
        "active": {"type": "boolean"}, "url": {"type": "string"},
        "company": {"type": "object", "properties": {"name": {"type": "string"}, "nip": {"type": "string"}}},
        "device_lines": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer"}, "model": {"type": "string"}, "serial": {"type": "string"},
            "address": {"type": "string"}}}}}},
    "Me": {"type": "object", "required": ["id", "email", "role", "token"], "properties": {
        "id": {"type": "integer"}, "email": {"type": "string"}, "name": {"type": "string"},
        "role": {"type": "string", "enum": ["customer", "partner", "engineer", "admin"]},
        "company": {"oneOf": [{"type": "null"}, {"type": "object"}]},
        "token": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "prefix": {"type": "string"},
            "scopes": {"type": "array", "items": {"type": "string", "enum": list(api_tokens.SCOPES)}},
            "created_at": TIME, "expires_at": NULLABLE_TIME}}}},
    "Webhook": {"type": "object", "required": ["id", "url", "events"], "properties": {
        "id": {"type": "integer"}, "url": {"type": "string"},
        "events": {"type": "array", "items": {"type": "string", "enum": list(webhooks.EVENTS)}},
        "allow_host": NULLABLE_STRING, "created_at": TIME, "paused_at": NULLABLE_TIME,
        "pause_reason": NULLABLE_STRING, "consecutive_failures": {"type": "integer"}}},
    "NewWebhook": {"type": "object", "required": ["url", "secret", "events"], "properties": {
        "url": {"type": "string", "description": "https:// to a public address, unless allow_host is its host."},
        "secret": {"type": "string", "minLength": 16, "maxLength": 200},
        "events": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(webhooks.EVENTS)}},
        "allow_host": {"type": "string"}}},
    "Delivery": {"type": "object", "properties": {
        "id": {"type": "integer"}, "endpoint_id": {"type": "integer"}, "event": {"type": "string"},
        "event_id": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
        "attempts": {"type": "integer"}, "last_status_code": {"type": ["integer", "null"]},
        "last_error": NULLABLE_STRING, "created_at": TIME, "next_attempt_at": NULLABLE_TIME,
        "delivered_at": NULLABLE_TIME}},
    "Event": {"type": "object", "description": "The body of every webhook POST.",
              "required": ["id", "type", "created_at", "data"], "properties": {
                  "id": {"type": "string", "description": "The event's id (also in X-Helpdesk-Event-Id)."},
                  "type": {"type": "string", "enum": list(webhooks.EVENTS)}, "created_at": TIME,
                  "data": {"type": "object"}}},
}


def _responses() -> dict:
    out = {"Problem": {"description": "An error (RFC 9457)",
                       "content": {"application/problem+json": {"schema": _ref("Problem")}}}}
    for code, what in {400: "Bad request", 401: "Unauthenticated", 403: "Forbidden", 404: "Not found",
                       409: "Conflict", 413: "Too large", 415: "Not JSON", 422: "Refused", 429: "Rate limited"}.items():
        out[f"Problem{code}"] = {"description": what,
                                 "content": {"application/problem+json": {"schema": _ref("Problem")}}}
    return out


def _errors(codes) -> dict:
    return {str(c): {"$ref": f"#/components/responses/Problem{c}"} for c in codes}


def _paths() -> dict:
    ticket = _json(_ref("Ticket"))
    created = {"description": "Created", "headers": {"Location": {"schema": {"type": "string"}}},
               "content": {"application/json": {"schema": _ref("Ticket")}}}
    return {
        "/tickets": {
            "get": _op("Tickets the user sees, most recently changed first", "tickets:read",
                       {"200": _json(_page("Ticket")), **_errors(READ)}, params=[
                           _query("status", "A status, or `active` (all but closed).",
                                  {"type": "string", "enum": ["active", *STATUS["enum"]]}),
                           _query("queue", "Engineers: `unassigned` or `mine`.",
                                  {"type": "string", "enum": ["unassigned", "mine"]}),
                           _query("contract", "A contract id.", {"type": "integer"}),
                           _query("tag", "Engineers: tickets with this tag."),
                           _query("q", "Search: a ticket number, or words of the subject and messages."),
                           *PAGING]),
            "post": _op("Open a ticket on a contract in force (device line, CCs, attachments)", "tickets:write",
                        {"201": created, **_errors(WRITE)}, body=_ref("NewTicket"), idempotent=True)},
        "/tickets/{ticket_id}": {
            "get": _op("One ticket: participants and the newest messages, newest first", "tickets:read",
                       {"200": _json(_ref("TicketDetail")), **_errors(READ)}, params=[TICKET_ID])},
        "/tickets/{ticket_id}/messages": {
            "get": _op("The ticket's messages, newest first", "tickets:read",
                       {"200": _json(_page("Message")), **_errors(READ)}, params=[TICKET_ID, *PAGING]),
            "post": _op("Reply (engineers: or an internal note, or answer and close)", "tickets:write",
                        {"201": _json(_ref("Message"), "Created"), **_errors(WRITE)}, params=[TICKET_ID],
                        body=_ref("NewMessage"), idempotent=True)},
        "/tickets/{ticket_id}/status": {
            "post": _op("Change the status (customers: reopen only)", "tickets:write",
                        {"200": ticket, **_errors(WRITE)}, params=[TICKET_ID], idempotent=True,
                        body={"type": "object", "required": ["status"], "properties": {"status": STATUS}})},
        "/tickets/{ticket_id}/assign": {
            "post": _op("Assign to an engineer, to yourself (\"me\"), or to nobody (null); engineers only",
                        "tickets:write", {"200": ticket, **_errors(WRITE)}, params=[TICKET_ID], idempotent=True,
                        body={"type": "object", "required": ["assignee_id"], "properties": {
                            "assignee_id": {"oneOf": [{"type": "integer"}, {"type": "null"}, {"const": "me"}]}}})},
        "/tickets/{ticket_id}/ccs": {
            "post": _op("Add CCs (they get every public message from now on)", "tickets:write",
                        {"200": _json({"type": "object", "properties": {"added": {
                            "type": "array", "items": {"type": "string"}}}}), **_errors(WRITE)},
                        params=[TICKET_ID], idempotent=True,
                        body={"type": "object", "required": ["addresses"], "properties": {"addresses": {
                            "type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "string"}}}})},
        "/tickets/{ticket_id}/tags": {
            "post": _op("Add and remove tags (engineers; at most 20 a ticket, 40 characters a tag)", "tickets:write",
                        {"200": _json({"type": "object", "properties": {"tags": {
                            "type": "array", "items": {"type": "string"}}}}), **_errors(WRITE)},
                        params=[TICKET_ID], idempotent=True,
                        body={"type": "object", "properties": {
                            "add": {"type": "array", "maxItems": 20, "items": {"type": "string"}},
                            "remove": {"type": "array", "maxItems": 20, "items": {"type": "string"}}}})},
        "/attachments/{attachment_id}": {
            "get": _op("Download an attachment (always as a download)", "tickets:read",
                       {"200": {"description": "The file", "content": {"application/octet-stream": {
                           "schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
                        **_errors(READ)}, params=[_path_id("attachment_id", "The attachment's id.")])},
        "/contracts": {
            "get": _op("Contracts the user sees (current, or the archive of expired ones), searched",
                       "contracts:read", {"200": _json(_page("Contract")), **_errors(READ)}, tag="contracts",
                       params=[_query("archive", "`true`: the expired ones.", {"type": "string",
                                                                              "enum": ["true", "false"]}),
                               _query("q", "Words of the number, customer, models, serials, addresses."), *PAGING])},
        "/contracts/{contract_id}": {
            "get": _op("One contract with its device lines", "contracts:read",
                       {"200": _json(_ref("Contract")), **_errors(READ)}, tag="contracts",
                       params=[_path_id("contract_id", "The contract's id.")])},
        "/contracts/verify": {
            "post": _op("Verify a contract (its number and the serial of one of its devices) to see it",
                        "contracts:read", {"200": _json(_ref("Contract")), **_errors(WRITE)}, tag="contracts",
                        idempotent=True, body={"type": "object", "required": ["number", "serial"], "properties": {
                            "number": {"type": "string"}, "serial": {"type": "string"}}})},
        "/articles": {
            "get": _op("Knowledge-base articles the user may read, newest first, searched (Polish and English)",
                       "tickets:read", {"200": _json(_page("Article")), **_errors(READ)}, tag="articles",
                       params=[_query("q", "Words of the title, text and tags (stems and diacritics aside)."),
                               _query("language", "pl or en.", {"type": "string", "enum": ["pl", "en"]}),
                               *PAGING])},
        "/articles/{article_id}": {
            "get": _op("One article: its Markdown, its sanitised HTML and its files", "tickets:read",
                       {"200": _json(_ref("Article")), **_errors(READ)}, tag="articles",
                       params=[_path_id("article_id", "The article's id.")])},
        "/articles/{article_id}/files/{file_id}": {
            "get": _op("Download an article's file (always as a download)", "tickets:read",
                       {"200": {"description": "The file", "content": {"application/octet-stream": {
                           "schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
                        **_errors(READ)}, tag="articles",
                       params=[_path_id("article_id", "The article's id."), _path_id("file_id", "The file's id.")])},
        "/me": {"get": _op("Who the token acts as, and its scopes", None, {"200": _json(_ref("Me")),
                                                                           **_errors((401, 429))}, tag="account")},
        "/webhooks": {
            "get": _op("Webhook endpoints (admins)", "admin", {"200": _json({"type": "object", "properties": {
                "items": {"type": "array", "items": _ref("Webhook")}}}), **_errors(READ)}, tag="webhooks"),
            "post": _op("Register a webhook endpoint (admins)", "admin",
                        {"201": _json(_ref("Webhook"), "Created"), **_errors(WRITE)}, tag="webhooks",
                        body=_ref("NewWebhook"), idempotent=True)},
        "/webhooks/{endpoint_id}": {
            "delete": _op("Remove a webhook endpoint (its log stays)", "admin",
                          {"204": {"description": "Removed"}, **_errors(READ)}, tag="webhooks",
                          params=[_path_id("endpoint_id", "The endpoint's id.")])},
        "/webhooks/{endpoint_id}/resume": {
            "post": _op("Resume a paused endpoint", "admin", {"200": _json(_ref("Webhook")), **_errors(READ)},
                        tag="webhooks", params=[_path_id("endpoint_id", "The endpoint's id.")])},
        "/webhooks/deliveries": {
            "get": _op("The delivery log, newest first", "admin", {"200": _json(_page("Delivery")),
                                                                     **_errors(READ)}, tag="webhooks", params=[
                _query("endpoint", "An endpoint's id.", {"type": "integer"}),
                _query("status", "pending, delivered or failed.",
                       {"type": "string", "enum": ["pending", "delivered", "failed"]}), *PAGING])},
        "/openapi.json": {"get": _op("This document", None, {"200": _json({"type": "object"})}, tag="meta",
                                     public=True)},
    }


def _webhooks() -> dict:
    return {event: {"post": {
        "summary": f"{event}, posted to each endpoint registered for it",
        "description": "Signed: X-Helpdesk-Signature is `t=<unix time>,v1=<hex HMAC-SHA256 with the endpoint's "
                       "secret over \"<t>.\" followed by the body>`. Any 2xx answer is success; anything else is "
                       "retried with backoff. X-Helpdesk-Delivery is unique per delivery: receivers drop repeats.",
        "parameters": [{"name": n, "in": "header", "required": True, "schema": {"type": "string"}}
                       for n in ("X-Helpdesk-Event", "X-Helpdesk-Event-Id", "X-Helpdesk-Delivery",
                                 webhooks.SIGNATURE_HEADER)],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Event")}}},
        "responses": {"200": {"description": "Received"}}}} for event in webhooks.EVENTS}


def document(base_url: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Helpdesk API", "version": "1.0.0",
                 "description": "Tickets, contracts, knowledge-base articles and webhooks. Authenticate with a personal token "
                                "(Authorization: Bearer ...), made on the account page or with "
                                "`helpdesk token create`. Limits: RateLimit-Policy and RateLimit headers on "
                                "every answer; errors are RFC 9457 problems."},
        "servers": [{"url": f"{base_url}/api/v1"}],
        "security": [{"bearer": []}],
        "tags": [{"name": n} for n in ("tickets", "contracts", "articles", "account", "webhooks", "meta")],
        "paths": _paths(),
        "webhooks": _webhooks(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Scopes: " + ", ".join(api_tokens.SCOPES) +
                                                          " (admin carries the others)."}},
            "parameters": {"IdempotencyKey": {
                "name": "Idempotency-Key", "in": "header", "required": False,
                "description": "A retry with the same key and body gets the first answer again "
                               "(Idempotent-Replayed: true) instead of doing it twice; kept 24 hours.",
                "schema": {"type": "string", "maxLength": 255}}},
            "schemas": SCHEMAS,
            "responses": _responses(),
        },
    }


@bp.get("/openapi.json")
def openapi():
    return document(current_app.config["HELPDESK"].base_url)
