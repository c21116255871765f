"""Trust, mail (issue 13, items 1 and 8): who may join a ticket by mail, and what a forged
mail gets. The threat model, one case per test: mail in through the Maildir (the worker as
`helpdesk worker` runs it), pages through the app, mail out through aiosmtpd.

Every refused or flagged attempt is a security event, which admins read on
/staff/security and with `helpdesk security log [--json]`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from helpdesk.domain import passwords, security_events
from helpdesk.models import Role, SecurityEvent, Ticket, User, db as models_db
from tests.conftest import REPO
from tests.portal import Portal

PASSWORD = "correct horse battery"


def _staff(email, role=Role.ENGINEER, **extra):
    return User.create(email=email, first_name=email.split("@")[0].title(), last_name="Test", role=role.value,
                       password_hash=passwords.hash_password(PASSWORD), is_active=True, **extra)


def signed_in(app, user) -> Portal:
    portal = Portal(app, ip="192.0.2.30")
    response = portal.post("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return portal


# --- the security-event log ---------------------------------------------------------------------


def test_security_events_are_listed_for_admins_only(app, db):
    ticket = Ticket.create(subject="Drukarka", requester_email="jan@example.com")
    with models_db.atomic():
        security_events.record("forged_reply_address", "mallory used jan's reply address",
                               sender="mallory@evil.example", ticket_id=ticket.id,
                               addresses=["mallory@evil.example", "m2@evil.example"])
        security_events.record("participant_cap", "<b>x</b> " + "y" * 5000, sender="spam@evil.example")
    [cap, forged] = security_events.events()
    assert (forged["kind"], forged["sender"], forged["ticket"]) == \
           ("forged_reply_address", "mallory@evil.example", ticket.id)
    assert forged["addresses"] == ["mallory@evil.example", "m2@evil.example"] and forged["at"]
    assert len(cap["reason"]) == security_events.MAX_REASON

    admin = signed_in(app, _staff("admin@helpdesk.example", Role.ADMIN))
    page = admin.text("/staff/security")
    assert "mallory used jan&#39;s reply address" in page and "HD-%d" % ticket.id in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page  # escaped
    only = admin.text("/staff/security?kind=participant_cap")
    assert "spam@evil.example" in only and "mallory used" not in only
    assert "mallory used" in admin.text(f"/staff/security?ticket={ticket.id}")
    assert admin.get("/staff/security?ticket=99999999999999999999999").status_code == 200  # beyond 64 bits
    engineer = signed_in(app, _staff("eng@helpdesk.example"))
    assert engineer.get("/staff/security").status_code == 404
    assert Portal(app).get("/staff/security").status_code == 302  # to the login page


def test_helpdesk_security_log_lists_events_as_text_and_json(config, db, tmp_path):
    ticket = Ticket.create(subject="Drukarka", requester_email="jan@example.com")
    security_events.record("stale_reply_address", "the participant was removed", sender="anna@example.com",
                           ticket_id=ticket.id)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(config.data_dir), HELPDESK_DATABASE_URL=config.database_url,
               PYTHONPATH=str(REPO))

    def helpdesk(*args):
        done = subprocess.run([sys.executable, "-m", "helpdesk.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    [event] = json.loads(helpdesk("security", "log", "--json"))
    assert (event["kind"], event["sender"], event["ticket"], event["reason"]) == \
           ("stale_reply_address", "anna@example.com", ticket.id, "the participant was removed")
    assert event["at"]
    text = helpdesk("security", "log")
    assert f"HD-{ticket.id}" in text and "anna@example.com" in text and "the participant was removed" in text
    assert json.loads(helpdesk("security", "log", "--json", "--kind", "participant_cap")) == []
    assert SecurityEvent.select().count() == 1
