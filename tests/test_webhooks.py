"""Webhooks (issue 19): where they may point, events queued with the change that caused
them, and delivery to a real HTTP server on 127.0.0.1 started here (allowed explicitly as
a host): signatures, retries after a 500, pausing after repeated failures (admins told
once), DNS rebinding caught at delivery, and each event once with two senders at once."""
from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpdesk.domain import conversation, partners, webhooks
from helpdesk.domain.validation import Invalid
from helpdesk.models import (
    Company,
    CompanyRole,
    Outbox,
    PartnerApplication,
    Status,
    WebhookDelivery,
    WebhookEndpoint,
    db,
    utcnow,
)
from helpdesk.outgoing.webhook_sender import WebhookSender
from tests.mailfactory import make_mail
from tests.test_instances import in_threads
from tests.test_portal_tickets import _contract, _user

SECRET = "s3cret-s3cret-s3cret"


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers with the next status
    of `answers` (the last one repeats)."""

    def __init__(self, answers=(200,)):
        self.answers = list(answers)
        self.received: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.received.append({"headers": dict(self.headers), "body": body, "path": self.path})
                    status = receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/helpdesk?x=1"

    def events(self) -> list[str]:
        return [json.loads(r["body"])["type"] for r in self.received]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def people(db):
    a = Company.create(nip="5260001246", name="Firma A")
    contract = _contract("A000001", a)
    alice = _user("alice@a.example", a)
    from helpdesk.models import ContractAccess

    ContractAccess.create(user=alice, contract=contract)
    return {"alice": alice, "contract": contract, "engineer": _user("eng@helpdesk.example", role=_role("engineer")),
            "admin": _user("admin@helpdesk.example", role=_role("admin")),
            "admin2": _user("admin2@helpdesk.example", role=_role("admin"))}


def _role(name):
    from helpdesk.models import Role

    return Role(name)


def endpoint_for(receiver, events=webhooks.EVENTS) -> WebhookEndpoint:
    return webhooks.add_endpoint(receiver.url, SECRET, events, allow_host="127.0.0.1")


def open_one(config, people, title="Kamera"):
    contract = people["contract"]
    return conversation.submit_ticket(config, people["alice"], contract=contract, line=contract.lines[0],
                                      title=title, description="nie działa")


# --- where a webhook may point ---------------------------------------------------------------------


def fake_dns(address):
    return lambda host, port, **kw: [(2, 1, 6, "", (address, port))]


@pytest.mark.parametrize("url, allow_host, resolves_to", [
    ("http://8.8.8.8/hook", "", None),
    ("https://127.0.0.1/hook", "", None),
    ("https://10.1.2.3/hook", "", None),
    ("https://192.168.0.10/hook", "", None),
    ("https://169.254.169.254/latest/meta-data", "", None),
    ("https://[::1]/hook", "", None),
    ("https://[::ffff:127.0.0.1]/hook", "", None),
    ("https://100.64.0.1/hook", "", None),
    ("https://localhost/hook", "", None),
    ("https://db.internal/hook", "", None),
    ("https://user:pw@8.8.8.8/hook", "", None),
    ("ftp://8.8.8.8/hook", "", None),
    ("https://8.8.8.8/hook#x", "", None),
    ("https://hooks.example.com/x", "", "10.0.0.7"),  # a public name with a private address
    ("http://127.0.0.1:8080/hook", "127.0.0.2", None),  # another host was allowed
    ("https://8.8.8.8/ho ok", "", None),
])
def test_webhooks_may_not_point_inside(url, allow_host, resolves_to):
    with pytest.raises(Invalid):
        webhooks.checked_url(url, allow_host, resolve=fake_dns(resolves_to or "8.8.8.8"))


@pytest.mark.parametrize("url, allow_host", [
    ("https://8.8.8.8/hook", ""),
    ("https://hooks.example.com/x?y=1", ""),
    ("http://127.0.0.1:8080/hook", "127.0.0.1"),
    ("https://intranet.local/hook", "intranet.local"),
])
def test_public_https_urls_and_allowed_hosts_are_taken(url, allow_host):
    assert webhooks.checked_url(url, allow_host, resolve=fake_dns("93.184.216.34")) == url


def test_endpoints_need_a_secret_and_known_events(db):
    with pytest.raises(Invalid):
        webhooks.add_endpoint("https://8.8.8.8/", "short", ["ticket.created"])
    with pytest.raises(Invalid):
        webhooks.add_endpoint("https://8.8.8.8/", SECRET, ["ticket.exploded"])
    with pytest.raises(Invalid):
        webhooks.add_endpoint("https://8.8.8.8/", SECRET, [])
    assert WebhookEndpoint.select().count() == 0


def test_signatures_cover_timestamp_and_body():
    header = webhooks.signature(SECRET, 1_700_000_000, b'{"a":1}')
    assert header.startswith("t=1700000000,v1=")
    assert webhooks.verify_signature(SECRET, header, b'{"a":1}')
    assert not webhooks.verify_signature(SECRET, header, b'{"a":2}')
    assert not webhooks.verify_signature("another-secret-value", header, b'{"a":1}')
    assert not webhooks.verify_signature(SECRET, header.replace("t=1700000000", "t=1700000001"), b'{"a":1}')


# --- events, queued with their change -----------------------------------------------------------------


def test_changes_queue_events_for_the_endpoints_that_want_them(config, people, receiver):
    everything = endpoint_for(receiver)
    only_new = endpoint_for(receiver, ["ticket.created"])
    ticket = open_one(config, people)
    conversation.assign(ticket.id, people["engineer"].id, people["engineer"])
    conversation.reply(config, ticket.id, people["engineer"], "Proszę o restart")
    queued = Counter((d.endpoint_id, d.event) for d in WebhookDelivery.select())
    assert queued == {(only_new.id, "ticket.created"): 1, (everything.id, "ticket.created"): 1,
                      (everything.id, "message.created"): 2, (everything.id, "ticket.assigned"): 1,
                      (everything.id, "ticket.status_changed"): 2}  # new -> open (assigned) -> waiting_customer
    payloads = [json.loads(d.payload) for d in WebhookDelivery.select().where(WebhookDelivery.endpoint == everything)]
    created = next(p for p in payloads if p["type"] == "ticket.created")
    assert created["data"]["ticket"]["id"] == ticket.id and created["data"]["ticket"]["subject"] == "Kamera"
    assigned = next(p for p in payloads if p["type"] == "ticket.assigned")
    assert assigned["data"]["assignee"]["email"] == "eng@helpdesk.example"


def test_a_failed_change_queues_nothing(config, people, receiver):
    endpoint_for(receiver)
    ticket = open_one(config, people)
    before = WebhookDelivery.select().count()
    with pytest.raises(RuntimeError):
        with db.atomic():
            conversation.change_status(ticket.id, Status.CLOSED, people["engineer"])
            raise RuntimeError("the transaction fails after the change")
    assert WebhookDelivery.select().count() == before


def test_mail_in_queues_events_in_the_batch(desk, config, people, receiver):
    endpoint_for(receiver, ["ticket.created", "message.created"])
    desk.deliver(make_mail(From="jan@example.com", Subject="Drukarka", Message_ID="<p1@example.com>"))
    desk.deliver(make_mail(From="jan@example.com", Subject="Re: Drukarka", In_Reply_To="<p1@example.com>"))
    desk.run()
    assert sorted(d.event for d in WebhookDelivery.select()) == ["message.created", "message.created",
                                                                  "ticket.created"]


def test_partner_application_decisions_are_events(config, people, receiver):
    endpoint_for(receiver, ["partner.application_changed"])
    company = Company.create(nip="7740001454", name="Instalator", role=CompanyRole.INSTALLER.value)
    application = PartnerApplication.create(company=company, declared_level="authorised", status="pending",
                                            open_key=company.id)
    partners.decide_application(config, application.id, False, "brak dokumentów", by=people["admin"])
    [delivery] = WebhookDelivery.select()
    data = json.loads(delivery.payload)["data"]["application"]
    assert (data["id"], data["status"], data["reason"]) == (application.id, "rejected", "brak dokumentów")


# --- delivery ------------------------------------------------------------------------------------------


def test_deliveries_are_signed_and_reach_the_receiver(config, people, receiver):
    endpoint = endpoint_for(receiver)
    ticket = open_one(config, people)
    done = WebhookSender(config).deliver_due()
    assert done == {"delivered": 2}
    assert sorted(receiver.events()) == ["message.created", "ticket.created"]
    for got in receiver.received:
        headers = got["headers"]
        assert webhooks.verify_signature(SECRET, headers["X-Helpdesk-Signature"], got["body"])
        assert headers["Content-Type"] == "application/json" and got["path"] == "/hooks/helpdesk?x=1"
        row = WebhookDelivery.get_by_id(int(headers["X-Helpdesk-Delivery"]))
        assert row.payload.encode() == got["body"] and row.status == "delivered" and row.last_status_code == 200
        assert headers["X-Helpdesk-Event"] == json.loads(got["body"])["type"] == row.event
    assert json.loads(receiver.received[0]["body"])["data"]["ticket"]["id"] == ticket.id
    assert WebhookEndpoint.get_by_id(endpoint.id).consecutive_failures == 0
    assert WebhookSender(config).deliver_due() == {}  # nothing twice


def test_a_500_is_retried_with_backoff(config, people):
    with Receiver([500, 200]) as receiver:
        endpoint_for(receiver, ["ticket.created"])
        open_one(config, people)
        now = utcnow()
        sender = WebhookSender(config)
        assert sender.deliver_due(now=now) == {"retry": 1}
        row = WebhookDelivery.get()
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
        assert row.next_attempt_at == now + dt.timedelta(seconds=30)
        assert sender.deliver_due(now=now + dt.timedelta(seconds=10)) == {}  # not due yet
        assert sender.deliver_due(now=now + dt.timedelta(seconds=31)) == {"delivered": 1}
        row = WebhookDelivery.get()
        assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("delivered", 2, 200, "")
        ids = {r["headers"]["X-Helpdesk-Delivery"] for r in receiver.received}
        assert len(receiver.received) == 2 and ids == {str(row.id)}


def test_an_endpoint_that_keeps_failing_is_paused_and_admins_are_told_once(config, people):
    config = config.with_(webhook_pause_after=3)
    with Receiver([500]) as receiver:
        endpoint = endpoint_for(receiver, ["ticket.created"])
        for i in range(5):
            open_one(config, people, title=f"T{i}")
        now = utcnow()
        sender = WebhookSender(config)
        assert sender.deliver_due(now=now) == {"retry": 3, "waiting": 2}
        paused = WebhookEndpoint.get_by_id(endpoint.id)
        assert paused.paused_at is not None and "3 failed deliveries" in paused.pause_reason
        assert len(receiver.received) == 3
        mails = Outbox.select().where(Outbox.kind == "account:webhook_paused")
        assert sorted(m.recipient for m in mails) == ["admin2@helpdesk.example", "admin@helpdesk.example"]
        assert sender.deliver_due(now=now + dt.timedelta(hours=5)) == {}  # paused: nothing goes
        assert len(receiver.received) == 3
        # Resumed, what waited goes out; the admins heard once.
        receiver.answers = [200]
        assert webhooks.resume(endpoint.id, now=now + dt.timedelta(hours=5))
        assert sender.deliver_due(now=now + dt.timedelta(hours=5)) == {"delivered": 5}
        assert WebhookEndpoint.get_by_id(endpoint.id).consecutive_failures == 0
        assert Outbox.select().where(Outbox.kind == "account:webhook_paused").count() == 2


def test_dns_rebinding_is_caught_at_delivery(config, people):
    public = fake_dns("93.184.216.34")
    endpoint = webhooks.add_endpoint("https://hooks.example.com/in", SECRET, ["ticket.created"], resolve=public)
    open_one(config, people)
    rebound = WebhookSender(config, resolve=fake_dns("127.0.0.1"))
    assert rebound.deliver_due() == {"retry": 1}
    row = WebhookDelivery.get()
    assert "127.0.0.1, a loopback or private address" in row.last_error and row.last_status_code is None
    assert WebhookEndpoint.get_by_id(endpoint.id).consecutive_failures == 1


def test_each_event_is_delivered_once_with_two_senders_running(config, people, receiver):
    endpoint_for(receiver, ["ticket.created"])
    for i in range(40):
        open_one(config, people, title=f"T{i}")
    now = utcnow()

    def work(i):
        sender, done = WebhookSender(config, owner=f"test-sender-{i}"), Counter()
        while batch := sender.deliver_due(now=now, limit=3):
            done.update(batch)
        return done

    results = in_threads(2, work)
    assert sum(r["delivered"] for r in results) == 40
    event_ids = Counter(json.loads(r["body"])["id"] for r in receiver.received)
    assert len(event_ids) == 40 and set(event_ids.values()) == {1}
    assert WebhookDelivery.select().where(WebhookDelivery.status == "delivered").count() == 40


# --- the admin page and the command ----------------------------------------------------------------------


def test_admins_manage_webhooks_and_read_the_log_on_their_page(app, config, people, receiver):
    from tests.test_portal_tickets import signed_in

    portal = signed_in(app, people["admin"])
    response = portal.post("/admin/webhooks", {"wh-url": receiver.url, "wh-secret": SECRET,
                                               "wh-events": ["ticket.created"], "wh-allow_host": "127.0.0.1"})
    assert response.status_code == 302
    refused = portal.post("/admin/webhooks", {"wh-url": "https://10.0.0.1/", "wh-secret": SECRET,
                                              "wh-events": ["ticket.created"]})
    assert refused.status_code == 422
    open_one(config, people)
    WebhookSender(config).deliver_due()
    page = portal.text("/admin/webhooks")
    assert receiver.url.replace("&", "&amp;") in page and "delivered" in page and "ticket.created" in page
    assert SECRET not in page
    assert signed_in(app, people["alice"]).get("/admin/webhooks").status_code == 404
    endpoint = WebhookEndpoint.get()
    assert portal.post(f"/admin/webhooks/{endpoint.id}/remove", page="/admin/webhooks").status_code == 302
    assert not WebhookEndpoint.get_by_id(endpoint.id).active


def test_helpdesk_webhook_add_list_log(tmp_path, empty_database_url, receiver):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_DATABASE_URL=empty_database_url,
               PYTHONPATH=str(REPO))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "helpdesk.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    assert run("init-db").returncode == 0
    refused = run("webhook", "add", "https://127.0.0.1/x", "--secret", SECRET, "--event", "ticket.created")
    assert refused.returncode == 1 and "private address" in refused.stderr
    added = run("webhook", "add", receiver.url, "--secret", SECRET, "--event", "ticket.created", "message.created",
                "--allow-host", "127.0.0.1")
    assert added.returncode == 0, added.stderr
    [listed] = json.loads(run("webhook", "list", "--json").stdout)
    assert listed["events"] == ["ticket.created", "message.created"] and "secret" not in listed
    (tmp_path / "m.eml").write_bytes(make_mail(From="jan@example.com", Subject="Drukarka"))
    assert run("mail", "drop", str(tmp_path / "m.eml")).returncode == 0
    assert run("worker", "--once").returncode == 0
    sent = run("send", "--once", "--json")
    assert json.loads(sent.stdout)["webhook_delivered"] == 2, sent.stdout
    log = json.loads(run("webhook", "log", "--json").stdout)
    assert sorted((r["event"], r["status"]) for r in log) == [("message.created", "delivered"),
                                                              ("ticket.created", "delivered")]
    assert sorted(receiver.events()) == ["message.created", "ticket.created"]
    assert "delivered" in run("webhook", "log").stdout


def test_deliveries_claimed_by_a_sender_that_died_are_taken_over(config, people, receiver):
    import socket

    endpoint_for(receiver, ["ticket.created"])
    open_one(config, people)
    now = utcnow()
    dead = f"{socket.gethostname()}:999999999:webhooks-dead"  # no such process
    WebhookDelivery.update(lease_owner=dead, lease_until=now + dt.timedelta(minutes=5)).execute()
    assert WebhookSender(config).deliver_due(now=now) == {"delivered": 1}
    assert len(receiver.received) == 1


def test_a_breached_service_level_is_an_event_once(config, people, receiver):
    from helpdesk import scheduler
    from helpdesk.domain import service_levels, tickets

    settings = service_levels.settings_of(config.with_(sla_default="Standard"))
    service_levels.set_policy(settings, "Standard", "1h", "10h", "24x7")
    endpoint_for(receiver, ["sla.breached"])
    opened = dt.datetime(2026, 11, 23, 8, 0)
    ticket = tickets.open_ticket(subject="Serwer", requester_email="jan@example.com", now=opened, sla=settings)
    scheduler.run_sla_escalations(config, opened + dt.timedelta(minutes=50))  # the 80% warning: no event
    assert WebhookDelivery.select().count() == 0
    scheduler.run_sla_escalations(config, opened + dt.timedelta(hours=2))
    scheduler.run_sla_escalations(config, opened + dt.timedelta(hours=3))
    [delivery] = WebhookDelivery.select()
    data = json.loads(delivery.payload)["data"]
    assert (data["ticket"]["id"], data["clock"], data["policy"], data["due"]) == \
           (ticket.id, "first_response", "Standard", "2026-11-23T09:00:00Z")
    scheduler.run_sla_escalations(config, opened + dt.timedelta(hours=11))
    assert sorted(json.loads(d.payload)["data"]["clock"] for d in WebhookDelivery.select()) == \
        ["first_response", "resolution"]
