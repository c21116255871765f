"""The OpenAPI document (issue 19) is a valid OpenAPI 3.1 document and says exactly what
the registered /api/v1 routes are: each path and method, the scope each one checks, and
which POSTs take an Idempotency-Key."""
from __future__ import annotations

import re

from openapi_spec_validator import validate

PREFIX = "/api/v1"


def routes(app) -> dict[tuple[str, str], object]:
    """(path in OpenAPI's spelling, method) -> the view, for every registered API route."""
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule[len(PREFIX):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found[(path, method.lower())] = app.view_functions[rule.endpoint]
    return found


def test_the_document_is_valid_openapi_3_1(app):
    document = app.test_client().get(f"{PREFIX}/openapi.json").get_json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "http://helpdesk.test/api/v1"}]


def test_every_route_is_documented_and_every_documented_operation_exists(app):
    document = app.test_client().get(f"{PREFIX}/openapi.json").get_json()
    documented = {(path, method) for path, item in document["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")}
    registered = routes(app)
    assert documented == set(registered)
    for (path, method), view in registered.items():
        operation = document["paths"][path][method]
        assert operation.get("x-required-scope") == getattr(view, "api_scope", None), (path, method)
        takes_key = any(p.get("$ref", "").endswith("/IdempotencyKey") for p in operation.get("parameters", []))
        assert takes_key == getattr(view, "idempotent", False), (path, method)
        for name in re.findall(r"{([a-z_]+)}", path):
            assert any(p.get("name") == name and p.get("in") == "path" for p in operation["parameters"]), (path, name)
        if path != "/openapi.json":
            assert operation.get("security") != [], (path, method)  # only the document itself is public


def test_webhook_events_are_documented(app):
    from helpdesk.domain import webhooks

    document = app.test_client().get(f"{PREFIX}/openapi.json").get_json()
    assert set(document["webhooks"]) == set(webhooks.EVENTS)
