"""The REST API (issue 19) through the Flask test client on a real database: every route
with every role and every kind of bad token, the same access rules as the portal, the
writes and their rows, idempotency keys, rate limits, size and count caps, cursors, and
tokens made on the account page and with `helpdesk token create`."""
from __future__ import annotations

import base64
import datetime as dt
from types import SimpleNamespace

import pytest

from helpdesk.domain import api_tokens
from helpdesk.models import (
    ApiToken,
    Attachment,
    Blob,
    Company,
    CompanyRole,
    ContractAccess,
    IdempotencyKey,
    Message,
    Participant,
    Role,
    Ticket,
    User,
    WebhookEndpoint,
    utcnow,
)
from tests.test_portal_tickets import _contract, _user, open_ticket, signed_in

SECRET = "a-webhook-secret-of-some-length"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def world(app, db, config):
    partner = Company.create(nip="7740001454", name="Instalator Sp. z o.o.", role=CompanyRole.INSTALLER.value,
                             verified_at=utcnow())  # a verified partner sees the tickets of what it sold
    a = Company.create(nip="5260001246", name="Firma A")
    b = Company.create(nip="1234563218", name="Firma B")
    w = SimpleNamespace(
        contract_a=_contract("A000001", a, partner=partner), contract_b=_contract("B000001", b),
        alice=_user("alice@a.example", a), bob=_user("bob@b.example", b),
        partner=_user("pat@installer.example", partner, Role.PARTNER),
        engineer=_user("eng@helpdesk.example", role=Role.ENGINEER),
        admin=_user("admin@helpdesk.example", role=Role.ADMIN),
    )
    ContractAccess.create(user=w.alice, contract=w.contract_a)
    ContractAccess.create(user=w.bob, contract=w.contract_b)
    # Alice's ticket on contract A, with a file, and an engineer's internal note with a file.
    open_ticket(signed_in(app, w.alice), w.contract_a, files=[("log.txt", b"error 42\n")])
    w.ticket = Ticket.get()
    w.attachment = Attachment.get()
    note = Message.create(ticket=w.ticket, kind="note", author_email=w.engineer.email, body_text="internal")
    blob = Blob.get()
    w.note_attachment = Attachment.create(message=note, blob=blob, filename="secret.txt", size=9)
    w.endpoint = WebhookEndpoint.create(url="http://127.0.0.1:9/hook", secret=SECRET, events="ticket.created",
                                        allow_host="127.0.0.1")
    all_scopes = ["tickets:read", "tickets:write", "contracts:read"]
    w.tokens = {name: api_tokens.create(getattr(w, name), all_scopes + (["admin"] if name == "admin" else []))[1]
                for name in ("alice", "bob", "partner", "engineer", "admin")}
    expired, w.tokens["expired"] = api_tokens.create(w.admin, all_scopes + ["admin"], days=1)
    ApiToken.update(expires_at=utcnow() - dt.timedelta(minutes=1)).where(ApiToken.id == expired.id).execute()
    revoked, w.tokens["revoked"] = api_tokens.create(w.admin, all_scopes + ["admin"])
    api_tokens.revoke(revoked.id)
    return w


class Api:
    def __init__(self, app, token: str | None):
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, json=None, **headers):
        return self.client.open(f"/api/v1{path}", method=method, json=json, headers={**self.headers, **headers})

    def get(self, path, **headers):
        return self.call("GET", path, **headers)

    def post(self, path, json=None, **headers):
        return self.call("POST", path, json, **headers)


def api(app, world, who: str) -> Api:
    return Api(app, world.tokens[who])


# --- every route, every role ------------------------------------------------------------------------

ROLES = ("none", "expired", "revoked", "wrong_scope", "alice", "bob", "partner", "engineer", "admin")
ALL = {"alice": 200, "bob": 200, "partner": 200, "engineer": 200, "admin": 200}
TICKET_OWNERS = {"alice": 200, "bob": 404, "partner": 200, "engineer": 200, "admin": 200}
ADMIN_ONLY = {"alice": 403, "bob": 403, "partner": 403, "engineer": 403, "admin": 200}
ROUTES = [  # method, path (w: the world), body, scope, statuses by role
    ("GET", lambda w: "/tickets", None, "tickets:read", ALL),
    ("POST", lambda w: "/tickets", lambda w: {"contract_id": w.contract_a.id, "title": "Kamera", "description": "Nie działa",
                                              "device_line_id": w.contract_a.lines[0].id},
     "tickets:write", {"alice": 201, "bob": 422, "partner": 422, "engineer": 201, "admin": 201}),
    ("GET", lambda w: f"/tickets/{w.ticket.id}", None, "tickets:read", TICKET_OWNERS),
    ("GET", lambda w: f"/tickets/{w.ticket.id}/messages", None, "tickets:read", TICKET_OWNERS),
    ("POST", lambda w: f"/tickets/{w.ticket.id}/messages", lambda w: {"text": "Dzień dobry"}, "tickets:write",
     {**TICKET_OWNERS, "alice": 201, "partner": 403, "engineer": 201, "admin": 201}),  # the seller reads only
    ("POST", lambda w: f"/tickets/{w.ticket.id}/status", lambda w: {"status": "open"}, "tickets:write",
     {**TICKET_OWNERS, "partner": 403}),
    ("POST", lambda w: f"/tickets/{w.ticket.id}/assign", lambda w: {"assignee_id": "me"}, "tickets:write",
     {"alice": 403, "bob": 403, "partner": 403, "engineer": 200, "admin": 200}),
    ("POST", lambda w: f"/tickets/{w.ticket.id}/ccs", lambda w: {"addresses": ["it@a.example"]}, "tickets:write",
     {**TICKET_OWNERS, "partner": 403}),
    ("POST", lambda w: f"/tickets/{w.ticket.id}/tags", lambda w: {"add": ["vip"]}, "tickets:write",
     {"alice": 403, "bob": 403, "partner": 403, "engineer": 200, "admin": 200}),
    ("GET", lambda w: f"/attachments/{w.attachment.id}", None, "tickets:read", TICKET_OWNERS),
    ("GET", lambda w: f"/attachments/{w.note_attachment.id}", None, "tickets:read",
     {"alice": 404, "bob": 404, "partner": 404, "engineer": 200, "admin": 200}),
    ("GET", lambda w: "/contracts", None, "contracts:read", ALL),
    ("GET", lambda w: f"/contracts/{w.contract_a.id}", None, "contracts:read",
     {"alice": 200, "bob": 404, "partner": 404, "engineer": 200, "admin": 200}),
    ("POST", lambda w: "/contracts/verify", lambda w: {"number": "A000001", "serial": "SN-A000001"}, "contracts:read",
     {"alice": 200, "bob": 422, "partner": 422, "engineer": 422, "admin": 422}),
    ("GET", lambda w: "/me", None, None, ALL),
    ("GET", lambda w: "/webhooks", None, "admin", ADMIN_ONLY),
    ("POST", lambda w: "/webhooks", lambda w: {"url": "http://127.0.0.1:9/other", "secret": SECRET,
                                               "events": ["message.created"], "allow_host": "127.0.0.1"},
     "admin", {**ADMIN_ONLY, "admin": 201}),
    ("POST", lambda w: f"/webhooks/{w.endpoint.id}/resume", None, "admin", ADMIN_ONLY),
    ("GET", lambda w: "/webhooks/deliveries", None, "admin", ADMIN_ONLY),
    ("DELETE", lambda w: f"/webhooks/{w.endpoint.id}", None, "admin", {**ADMIN_ONLY, "admin": 204}),
    ("GET", lambda w: "/openapi.json", None, "public", {}),
]


def _wrong_scope_token(world, scope: str | None) -> str:
    """The admin's own token without the route's scope (admin carries every scope)."""
    scopes = [s for s in ("tickets:read", "tickets:write", "contracts:read") if s != scope] or ["tickets:read"]
    return api_tokens.create(world.admin, scopes)[1]


@pytest.mark.parametrize("method, path, body, scope, expected", ROUTES, ids=[f"{r[0]} {r[3]} {i}"
                                                                                for i, r in enumerate(ROUTES)])
def test_every_route_with_every_role(app, world, method, path, body, scope, expected):
    path, body = path(world), body(world) if body else None
    seen = {}
    for role in ROLES:
        token = _wrong_scope_token(world, scope) if role == "wrong_scope" else world.tokens.get(role)
        if method == "POST" and body is None:
            response = Api(app, token).call(method, path, {})
        else:
            response = Api(app, token).call(method, path, body)
        seen[role] = response.status_code
        response.close()
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json", (role, response.get_data(as_text=True))
            problem = response.get_json()
            assert problem["status"] == response.status_code and problem["title"]
    if scope == "public":
        want = {role: 200 for role in ROLES}
    else:
        want = {"none": 401, "expired": 401, "revoked": 401, "wrong_scope": 200 if scope is None else 403, **expected}
    assert seen == want


# --- what each one sees -----------------------------------------------------------------------------


def test_lists_show_what_the_portal_shows(app, world):
    def refs(who):
        return [t["id"] for t in api(app, world, who).get("/tickets").get_json()["items"]]

    assert refs("alice") == refs("partner") == refs("engineer") == [world.ticket.id]
    assert refs("bob") == []
    shown = api(app, world, "alice").get(f"/tickets/{world.ticket.id}").get_json()
    assert [m["kind"] for m in shown["messages"]] == ["customer"]  # no internal note
    assert "assignee_id" not in shown
    staff = api(app, world, "engineer").get(f"/tickets/{world.ticket.id}").get_json()
    assert [m["kind"] for m in staff["messages"]] == ["note", "customer"]  # newest first
    assert staff["messages"][1]["attachments"][0]["filename"] == "log.txt"
    download = api(app, world, "alice").get(f"/attachments/{world.attachment.id}")
    assert download.data == b"error 42\n" and download.mimetype == "application/octet-stream"
    assert "attachment" in download.headers["Content-Disposition"]
    download.close()
    contracts = api(app, world, "bob").get("/contracts").get_json()["items"]
    assert [c["number"] for c in contracts] == ["B000001"]
    me = api(app, world, "partner").get("/me").get_json()
    assert me["email"] == "pat@installer.example" and me["role"] == "partner" and "admin" not in me["token"]["scopes"]


def test_a_ticket_created_through_the_api_is_the_portals_ticket(app, world, config):
    response = api(app, world, "alice").post("/tickets", {
        "contract_id": world.contract_a.id, "device_line_id": world.contract_a.lines[1].id, "title": "Centrala",
        "description": "Alarm co noc", "ccs": ["it@a.example", "Boss@A.example"],
        "attachments": [{"filename": "../../etc/passwd", "content_type": "text/plain", "content_base64": b64(b"x")}]})
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    ticket = Ticket.get_by_id(created["id"])
    assert response.headers["Location"].endswith(f"/api/v1/tickets/{ticket.id}")
    assert (ticket.channel, ticket.requester_id, ticket.device_line_id) == \
           ("portal", world.alice.id, world.contract_a.lines[1].id)
    assert {p.email for p in ticket.participants} == {"alice@a.example", "it@a.example", "boss@a.example"}
    [attachment] = Attachment.select().join(Message).where(Message.ticket == ticket)
    assert attachment.filename == "passwd"
    assert created["ref"] == f"HD-{ticket.id}" and created["status"] == "new"


@pytest.mark.parametrize("change, field", [
    ({"contract_id": 999}, "contract_id"),
    ({"contract_id": "1"}, "contract_id"),
    ({"contract_id": True}, "contract_id"),
    ({"device_line_id": True}, "device_line_id"),
    ({"device_line_id": 999}, "device_line_id"),
    ({"title": ""}, "title"),
    ({"description": "   "}, "description"),
    ({"description": "x" * 100_001}, "description"),
    ({"ccs": [f"u{i}@a.example" for i in range(21)]}, "ccs"),
    ({"ccs": [", ".join(f"u{i}@a.example" for i in range(30))]}, "ccs"),  # one string, many addresses
    ({"ccs": ["evil\r\nBcc: x@y.example"]}, "ccs"),
    ({"ccs": "it@a.example"}, "ccs"),
    ({"attachments": [{"filename": "a", "content_base64": b64(b"x")}] * 11}, "attachments"),
    ({"attachments": [{"filename": "big", "content_base64": b64(b"x" * 5000)}]}, "attachments"),
    ({"attachments": [{"filename": "empty", "content_base64": ""}]}, "attachments"),
    ({"attachments": [{"filename": "bad", "content_base64": "not base64!"}]}, "attachments[0].content_base64"),
    ({"attachments": ["x"]}, "attachments[0]"),
])
def test_bad_tickets_are_refused_field_by_field_and_store_nothing(app, world, config, change, field):
    app.config["HELPDESK"] = config.with_(max_attachment_bytes=4096)
    before = Ticket.select().count()
    body = {"contract_id": world.contract_a.id, "device_line_id": world.contract_a.lines[0].id, "title": "T",
            "description": "D", **change}
    response = api(app, world, "alice").post("/tickets", body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"][0]["field"] == field
    assert Ticket.select().count() == before


def test_bodies_that_are_not_json_objects_or_too_large(app, world, config):
    alice = api(app, world, "alice")
    assert alice.client.post("/api/v1/tickets", data="x", headers=alice.headers).status_code == 415
    assert alice.post("/tickets", [1, 2]).status_code == 400
    for hostile in ("[" * 200_000, '{"title": ' + "9" * 5000 + "}", "{\"a\": \"\\ud800\"", "\xff\xfe"):
        response = alice.client.post("/api/v1/tickets", data=hostile, headers=alice.headers,
                                     content_type="application/json")
        assert response.status_code == 400 and response.mimetype == "application/problem+json"
    app.config["HELPDESK"] = config.with_(api_max_body_bytes=1000)
    response = alice.post("/tickets", {"description": "x" * 2000})
    assert response.status_code == 413 and response.get_json()["status"] == 413


def test_replies_status_assign_and_ccs_write_what_the_portal_writes(app, world):
    alice, engineer = api(app, world, "alice"), api(app, world, "engineer")
    assert alice.post(f"/tickets/{world.ticket.id}/messages", {"text": "note", "internal": True}).status_code == 403
    assert alice.post(f"/tickets/{world.ticket.id}/status", {"status": "closed"}).status_code == 403
    done = engineer.post(f"/tickets/{world.ticket.id}/assign", {"assignee_id": "me"})
    assert done.get_json()["assignee_id"] == world.engineer.id and done.get_json()["status"] == "open"
    assert engineer.post(f"/tickets/{world.ticket.id}/assign", {"assignee_id": world.alice.id}).status_code == 422
    answer = engineer.post(f"/tickets/{world.ticket.id}/messages", {
        "text": "Proszę zrestartować", "close": True, "attachments": [{"filename": "howto.txt",
                                                                      "content_base64": b64(b"restart")}]})
    assert answer.status_code == 201 and answer.get_json()["kind"] == "staff"
    assert Ticket.get_by_id(world.ticket.id).status == "closed"
    assert alice.post(f"/tickets/{world.ticket.id}/status", {"status": "open"}).get_json()["status"] == "open"
    added = alice.post(f"/tickets/{world.ticket.id}/ccs", {"addresses": ["new@a.example"]}).get_json()
    assert added == {"added": ["new@a.example"]}
    assert Participant.select().where(Participant.email == "new@a.example").count() == 1
    page = alice.get(f"/tickets/{world.ticket.id}/messages?limit=1").get_json()
    assert page["items"][0]["kind"] == "staff" and page["next_cursor"]
    rest = alice.get(f"/tickets/{world.ticket.id}/messages?limit=1&cursor={page['next_cursor']}").get_json()
    assert rest["items"][0]["kind"] == "customer" and rest["next_cursor"] is None


def test_cursor_pagination_and_filters(app, world):
    alice = api(app, world, "alice")
    for i in range(4):
        assert alice.post("/tickets", {"contract_id": world.contract_a.id, "title": f"Usterka {i}",
                                       "device_line_id": world.contract_a.lines[0].id,
                                       "description": f"opis {i}"}).status_code == 201
    seen, cursor = [], None
    while True:
        page = alice.get("/tickets?limit=2" + (f"&cursor={cursor}" if cursor else "")).get_json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 5
    found = alice.get("/tickets?q=Usterka").get_json()["items"]
    assert len(found) == 4
    assert alice.get("/tickets?status=closed").get_json()["items"] == []
    for bad in ("/tickets?cursor=garbage", "/tickets?limit=0", "/tickets?limit=101", "/tickets?status=x",
                "/tickets?queue=mine"):
        response = alice.get(bad)
        assert response.status_code == 400 and response.mimetype == "application/problem+json", bad
    engineer = api(app, world, "engineer")
    assert len(engineer.get("/tickets?queue=unassigned").get_json()["items"]) == 5


def test_contract_verification_is_limited_as_in_the_portal(app, world):
    bob = api(app, world, "bob")
    for _ in range(5):
        assert bob.post("/contracts/verify", {"number": "A000001", "serial": "SN-A000001"}).status_code == 422
    response = bob.post("/contracts/verify", {"number": "B000001", "serial": "SN-B000001"})
    assert response.status_code == 429
    assert bob.post("/contracts/verify", {"number": "nope", "serial": "x"}).get_json()["errors"][0]["field"] == \
        "number"


# --- idempotency, rate limits, tokens ----------------------------------------------------------------


def test_a_retried_create_with_an_idempotency_key_makes_one_ticket(app, world):
    alice = api(app, world, "alice")
    body = {"contract_id": world.contract_a.id, "device_line_id": world.contract_a.lines[0].id, "title": "Raz",
            "description": "tylko raz"}
    first = alice.post("/tickets", body, **{"Idempotency-Key": "create-1"})
    again = alice.post("/tickets", body, **{"Idempotency-Key": "create-1"})
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert Ticket.select().where(Ticket.subject == "Raz").count() == 1
    other = alice.post("/tickets", {**body, "title": "Dwa"}, **{"Idempotency-Key": "create-1"})
    assert other.status_code == 422 and other.get_json()["type"].endswith("idempotency-key-reused")
    # The same key of another token is another request.
    assert api(app, world, "engineer").post("/tickets", body, **{"Idempotency-Key": "create-1"}).status_code == 201
    # A refused request is answered the same way again, and made nothing.
    bad = alice.post("/tickets", {**body, "title": ""}, **{"Idempotency-Key": "create-2"})
    assert bad.status_code == 422 == alice.post("/tickets", {**body, "title": ""},
                                                **{"Idempotency-Key": "create-2"}).status_code
    assert Ticket.select().where(Ticket.subject == "Raz").count() == 2
    assert IdempotencyKey.select().count() == 3
    assert alice.post("/tickets", body, **{"Idempotency-Key": "x" * 256}).status_code == 400


def test_rate_limit_per_token_with_ratelimit_headers(app, world, config):
    app.config["HELPDESK"] = config.with_(api_rate_limit=3)
    alice, bob = api(app, world, "alice"), api(app, world, "bob")
    answers = [alice.get("/me") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["RateLimit-Policy"] == '"default";q=3;w=60'
    assert answers[0].headers["RateLimit"].startswith('"default";r=2;t=')
    assert answers[3].headers["RateLimit"].startswith('"default";r=0;')
    assert int(answers[3].headers["Retry-After"]) <= 60
    assert bob.get("/me").status_code == 200  # another token, its own window
    token = ApiToken.get(ApiToken.user == world.alice.id)
    assert token.last_used_at is not None and token.window_count == 4


def test_tokens_are_stored_hashed_and_checked(app, world):
    secret = world.tokens["alice"]
    assert ApiToken.select().where(ApiToken.token_hash == secret).count() == 0
    assert ApiToken.select().where(ApiToken.token_hash == api_tokens.digest(secret)).count() == 1
    for header in ("Bearer", "Bearer hdp_nothing", f"Basic {secret}", "Bearer " + "x" * 500):
        response = api(app, world, "alice").client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401 and "Bearer" in response.headers["WWW-Authenticate"], header
    User.update(is_active=False).where(User.id == world.alice.id).execute()
    assert api(app, world, "alice").get("/me").get_json()["detail"] == "The token is inactive."
    with pytest.raises(api_tokens.Invalid):
        api_tokens.create(world.bob, ["admin"])
    with pytest.raises(api_tokens.Invalid):
        api_tokens.create(world.bob, ["tickets:read", "everything"])


def test_tokens_are_made_and_revoked_on_the_account_page(app, world):
    portal = signed_in(app, world.bob)
    page = portal.text("/account")
    assert 'value="admin"' not in page and 'value="tickets:read"' in page
    response = portal.post("/account/tokens", {"tk-name": "monitoring", "tk-scopes": ["tickets:read"], "tk-days": "30"},
                           page="/account")
    assert response.status_code == 200
    secret = response.get_data(as_text=True).split('<code id="new-token">')[1].split("<")[0]
    assert Api(app, secret).get("/me").get_json()["token"]["name"] == "monitoring"
    assert secret not in portal.text("/account")  # shown once
    token = ApiToken.get(ApiToken.name == "monitoring")
    assert portal.post(f"/account/tokens/{token.id}/revoke", page="/account").status_code == 302
    assert Api(app, secret).get("/me").status_code == 401
    other = ApiToken.get(ApiToken.user == world.alice.id)
    portal.post(f"/account/tokens/{other.id}/revoke", page="/account")  # not Bob's: nothing happens
    assert ApiToken.get_by_id(other.id).revoked_at is None


def test_helpdesk_token_create_prints_the_token_once(tmp_path, empty_database_url):
    import os
    import subprocess
    import sys

    from tests.test_cli import REPO  # noqa: F401  (the same way test_cli runs the command)

    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "cli"), HELPDESK_DATABASE_URL=empty_database_url,
               PYTHONPATH=str(REPO))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "helpdesk.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    assert run("init-db").returncode == 0
    assert run("user", "add", "ops@helpdesk.example", "--role", "admin").returncode == 0
    done = run("token", "create", "ops@helpdesk.example", "--scope", "tickets:read", "--scope", "admin",
               "--expires", "7")
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert secret.startswith("hdp_") and "tickets:read admin" in done.stderr
    refused = run("token", "create", "nobody@helpdesk.example")
    assert refused.returncode == 1 and "no account" in refused.stderr
    assert run("token", "create", "ops@helpdesk.example", "--expires", "0").returncode == 1


def test_tags_are_the_support_teams(app, world):
    engineer, alice = api(app, world, "engineer"), api(app, world, "alice")
    done = engineer.post(f"/tickets/{world.ticket.id}/tags", {"add": ["VIP", "Drukarka  sieciowa"]})
    assert done.get_json() == {"tags": ["drukarka sieciowa", "vip"]}
    assert engineer.get("/tickets?tag=vip").get_json()["items"][0]["tags"] == ["drukarka sieciowa", "vip"]
    assert engineer.get("/tickets?tag=other").get_json()["items"] == []
    assert "tags" not in alice.get(f"/tickets/{world.ticket.id}").get_json()
    assert alice.get("/tickets?tag=vip").status_code == 400
    too_many = engineer.post(f"/tickets/{world.ticket.id}/tags", {"add": [f"t{i}" for i in range(20)],
                                                                 "remove": ["vip"]})
    assert too_many.status_code == 422
    assert engineer.get(f"/tickets/{world.ticket.id}").get_json()["tags"] == ["drukarka sieciowa", "vip"]
    assert engineer.post(f"/tickets/{world.ticket.id}/tags", {"add": ["a,b" * 30]}).status_code == 422
    removed = engineer.post(f"/tickets/{world.ticket.id}/tags", {"remove": ["vip"]}).get_json()
    assert removed == {"tags": ["drukarka sieciowa"]}


def test_a_merged_ticket_answers_as_the_one_it_went_into(app, world, config):
    from helpdesk.domain import merge

    second = api(app, world, "alice").post("/tickets", {
        "contract_id": world.contract_a.id, "device_line_id": world.contract_a.lines[0].id, "title": "Drugie",
        "description": "to samo"}).get_json()
    merge.merge(second["id"], world.ticket.id, world.engineer)
    alice = api(app, world, "alice")
    assert [t["id"] for t in alice.get("/tickets").get_json()["items"]] == [world.ticket.id]
    assert alice.get(f"/tickets/{second['id']}").get_json()["id"] == world.ticket.id
    reply = alice.post(f"/tickets/{second['id']}/messages", {"text": "dalej"})
    assert Message.get_by_id(reply.get_json()["id"]).ticket_id == world.ticket.id
