"""The core of the REST API under /api/v1 (the blueprint, authentication, limits, problems,
idempotency; the routes are in the sibling modules): JSON over the same domain functions and access rules as the
portal (`domain.access`, `domain.contracts`, `domain.conversation`), for scripts and tools.

Every request but the OpenAPI document carries `Authorization: Bearer <token>` (a personal
token, `domain.api_tokens`): the token acts as its user, narrowed to its scopes. Requests
are counted per token (`RateLimit-Policy` and `RateLimit` headers, 429 over the limit),
bodies are capped (`HELPDESK_API_MAX_BODY_BYTES`), a POST may carry an `Idempotency-Key`,
and every error is an RFC 9457 problem (`application/problem+json`). The document at
/api/v1/openapi.json describes every route (a test holds it to that).
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json

from flask import Blueprint, Response, current_app, g, request
from peewee import IntegrityError
from werkzeug.exceptions import HTTPException

from helpdesk.domain import api_tokens
from helpdesk.domain.validation import Invalid
from helpdesk.models import IdempotencyKey, db

bp = Blueprint("api", __name__, url_prefix="/api/v1")
WINDOW_SECONDS = 60
PUBLIC = {"api.openapi"}  # endpoints that need no token
MAX_IDEMPOTENCY_KEY = 255
IDEMPOTENCY_HOURS = 24
ABANDONED = dt.timedelta(minutes=10)  # a key without an answer this long: its request died
PROBLEM = "urn:helpdesk:problem:"


class Problem(Exception):
    """An error answer: raised anywhere in a view, rendered by `problem_response`."""

    def __init__(self, status: int, title: str, detail: str = "", *, kind: str = "", headers=None, **extra):
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.kind = status, title, detail, kind
        self.headers = headers or {}
        self.extra = extra


def problem_response(problem: Problem) -> Response:
    body = {"type": PROBLEM + problem.kind if problem.kind else "about:blank", "title": problem.title,
            "status": problem.status}
    if problem.detail:
        body["detail"] = problem.detail
    body["instance"] = request.path
    body.update(problem.extra)
    response = current_app.response_class(json.dumps(body, ensure_ascii=False), status=problem.status,
                                          mimetype="application/problem+json")
    response.headers.update(problem.headers)
    return response


def http_problem(error: HTTPException) -> Response:
    """Werkzeug's errors (404, 405, 413, ...) as problems, on /api/ paths."""
    headers = {"Allow": error.response.headers["Allow"]} if error.code == 405 and error.response else {}
    if error.code == 405 and not headers:
        allowed = getattr(error, "valid_methods", None)
        if allowed:
            headers["Allow"] = ", ".join(sorted(allowed))
    return problem_response(Problem(error.code or 500, error.name, (error.description or "") if error.code != 404 else "",
                                    headers=headers))


def invalid(error: Invalid, field: str = "") -> Problem:
    """A domain refusal as a 422 problem, naming the field."""
    detail = error.message % error.params if error.params else error.message
    return Problem(422, "Unprocessable Content", detail, kind="validation",
                   errors=[{"field": field, "detail": detail}] if field else [])


def config():
    return current_app.config["HELPDESK"]


# --- who is asking -------------------------------------------------------------------------------


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@bp.before_request
def _authenticate():
    request.max_content_length = config().api_max_body_bytes
    if request.content_length is not None and request.content_length > config().api_max_body_bytes:
        raise Problem(413, "Content Too Large", f"Request bodies are limited to {config().api_max_body_bytes} "
                                                "bytes.", kind="too-large")
    if request.endpoint in PUBLIC:
        return None
    secret = _bearer()
    if secret is None:
        raise Problem(401, "Unauthorized", "Send a personal token: Authorization: Bearer <token>.",
                      kind="unauthenticated", headers={"WWW-Authenticate": 'Bearer realm="helpdesk"'})
    try:
        token, user = api_tokens.authenticate(secret, g.now)
    except api_tokens.TokenRefused as refused:
        raise Problem(401, "Unauthorized", f"The token is {refused.reason}.", kind="invalid-token",
                      headers={"WWW-Authenticate": 'Bearer realm="helpdesk", error="invalid_token"'}) from None
    usage = api_tokens.record_use(token, ip=request.remote_addr or "", now=g.now, limit=config().api_rate_limit,
                                  window_seconds=WINDOW_SECONDS)
    g.api_token, g.api_user, g.api_usage = token, user, usage
    if usage.exceeded:
        raise Problem(429, "Too Many Requests", f"At most {usage.limit} requests a minute per token.",
                      kind="rate-limited", headers={"Retry-After": str(usage.reset_seconds)})
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    usage = g.get("api_usage")
    if usage is not None:
        response.headers["RateLimit-Policy"] = f'"default";q={usage.limit};w={WINDOW_SECONDS}'
        response.headers["RateLimit"] = f'"default";r={max(0, usage.remaining)};t={usage.reset_seconds}'
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.errorhandler(Problem)
def _problem(problem: Problem):
    return problem_response(problem)


def needs(scope: str, *, staff: bool = False, admin: bool = False):
    """The view needs the scope on the token; `staff`/`admin`: and the user's role."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not api_tokens.allows(g.api_token, scope):
                raise Problem(403, "Forbidden", f"The token lacks the scope {scope}.", kind="insufficient-scope",
                              headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'})
            if (admin and g.api_user.role != "admin") or (staff and not g.api_user.is_staff):
                raise Problem(403, "Forbidden", "This needs an engineer's or admin's account." if staff else
                              "This needs an admin's account.", kind="forbidden")
            return view(*args, **kwargs)

        wrapped.api_scope = scope
        return wrapped

    return decorate


# --- request bodies ----------------------------------------------------------------------------------


def body() -> dict:
    """The request's JSON object, or a problem saying what is wrong with it."""
    if not request.is_json:
        raise Problem(415, "Unsupported Media Type", "Send JSON (Content-Type: application/json).",
                      kind="unsupported-media-type")
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes
        data = None
    if not isinstance(data, dict):
        raise Problem(400, "Bad Request", "The body is not a JSON object.", kind="bad-json")
    return data


def idempotent(view):
    """A POST with `Idempotency-Key` runs once per token and key: a retry gets the first
    answer again (`Idempotent-Replayed: true`); the same key with another body is refused
    (422), and one still running answers 409. The answer is stored in the transaction of
    the change, so a crash leaves neither a change without its answer nor the reverse."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
            raise Problem(400, "Bad Request", f"Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII "
                                              "characters.", kind="bad-idempotency-key")
        fingerprint = hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" +
                                     request.get_data(cache=True)).hexdigest()
        token = g.api_token
        stale = g.now - dt.timedelta(hours=IDEMPOTENCY_HOURS)
        try:
            with db.atomic():
                IdempotencyKey.delete().where(IdempotencyKey.token == token.id,
                                              IdempotencyKey.created_at < stale).execute()
                row = IdempotencyKey.create(token=token, key=key, fingerprint=fingerprint, created_at=g.now)
        except IntegrityError:
            row = IdempotencyKey.get(IdempotencyKey.token == token.id, IdempotencyKey.key == key)
            if row.fingerprint != fingerprint:
                raise Problem(422, "Unprocessable Content", "This Idempotency-Key was used with another request.",
                              kind="idempotency-key-reused") from None
            if row.status is None and row.created_at < g.now - ABANDONED:  # its process died mid-way
                IdempotencyKey.delete().where(IdempotencyKey.id == row.id, IdempotencyKey.status.is_null()).execute()
                return wrapped(*args, **kwargs)
            if row.status is None:
                raise Problem(409, "Conflict", "A request with this Idempotency-Key is still running.",
                              kind="idempotency-key-in-use") from None
            response = current_app.response_class(row.response, status=row.status,
                                                  mimetype="application/problem+json" if row.status >= 400
                                                  else "application/json")
            if row.location:
                response.headers["Location"] = row.location
            response.headers["Idempotent-Replayed"] = "true"
            return response
        try:
            with db.atomic():
                response = current_app.make_response(view(*args, **kwargs))
                IdempotencyKey.update(status=response.status_code, response=response.get_data(as_text=True),
                                      location=response.headers.get("Location", "")[:500]).where(
                    IdempotencyKey.id == row.id).execute()
        except Problem as problem:
            response = problem_response(problem)
            if problem.status < 500 and problem.status != 429:
                IdempotencyKey.update(status=problem.status, response=response.get_data(as_text=True)).where(
                    IdempotencyKey.id == row.id).execute()
            else:
                IdempotencyKey.delete().where(IdempotencyKey.id == row.id).execute()
            return response
        except BaseException:
            IdempotencyKey.delete().where(IdempotencyKey.id == row.id).execute()
            raise
        return response

    wrapped.idempotent = True
    return wrapped
