"""OAuth2 for the mail servers against real parts: Dovecot validating the provider's signed
JWTs itself (XOAUTH2 and OAUTHBEARER), aiosmtpd checking AUTH XOAUTH2 bearer tokens, and a
token endpoint on 127.0.0.1 that issues, refreshes and revokes tokens and answers the
device flow (tests/oauth.py)."""
from __future__ import annotations

import datetime as dt
import queue as queue_mod
import threading
import time

import pytest

from helpdesk import checks, config as config_mod, scheduler
from helpdesk.domain import oauth, outbox, reports
from helpdesk.domain.oauth_authorize import AuthorizeError, authorize
from helpdesk.inbox_worker.fetch import SourceError
from helpdesk.inbox_worker.imap import DONE_KEYWORD
from helpdesk.inbox_worker.pipeline import Worker
from helpdesk.models import DigestSent, InboundMail, OAuthToken, Outbox, Role, Ticket, User, utcnow
from helpdesk.outgoing.sender import Sender
from tests.mailfactory import make_mail
from tests.oauth import check_jwt
from tests.smtp import SmtpServer
from tests.tcpproxy import TcpProxy

WAIT_SECONDS = 60.0  # the most a test waits for a running worker to get somewhere


def oauth_config(config, token_server, **env) -> config_mod.Config:
    """The test config with the test provider and the given settings on top."""
    base = {"HELPDESK_DATABASE_URL": config.database_url, "HELPDESK_DATA_DIR": str(config.data_dir),
            "HELPDESK_SUPPORT_ADDRESS": "support@helpdesk.localhost", "HELPDESK_SECRET_KEY": "test-secret",
            "HELPDESK_BASE_URL": "http://helpdesk.test", "HELPDESK_PARSE_WORKERS": "0",
            "HELPDESK_POLL_SECONDS": "1", "HELPDESK_RECONNECT_MAX_SECONDS": "1", **token_server.env()}
    return config_mod.load_config({**base, **env}, dotenv=None)


def wait_for(what, condition) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def mails(prefix: str, n: int) -> list[bytes]:
    return [make_mail(f"Message {prefix}{i}\n", Subject=f"Problem {prefix}{i}", Message_ID=f"<{prefix}{i}@example.com>",
                      From=f"customer{i}@example.com") for i in range(n)]


def admin() -> User:
    return User.create(email="admin@example.com", role=Role.ADMIN.value, is_active=True, language="en")


def alerts(job: str) -> list[Outbox]:
    return list(Outbox.select().where(Outbox.kind == job))


# --- configuration ----------------------------------------------------------------------------


def test_urls_and_providers_are_read_with_clear_errors():
    env = {"HELPDESK_DATA_DIR": "/tmp/x", "HELPDESK_SECRET_KEY": "s"}
    ms = {**env, "HELPDESK_OAUTH_PROVIDER": "microsoft", "HELPDESK_OAUTH_CLIENT_ID": "app", "HELPDESK_OAUTH_TENANT": "t1",
          "HELPDESK_MAILBOX_URL": "imaps://support%40firma.pl@outlook.office365.com/INBOX?auth=oauth2",
          "HELPDESK_SMTP_URL": "smtp://support%40firma.pl@smtp.office365.com:587?auth=oauth2"}
    c = config_mod.load_config(ms, dotenv=None)
    assert c.mailbox.auth == "oauth2" and c.mailbox.username == "support@firma.pl" and c.smtp.oauth
    assert c.oauth.token_url == "https://login.microsoftonline.com/t1/oauth2/v2.0/token"
    assert c.oauth.device_url == "https://login.microsoftonline.com/t1/oauth2/v2.0/devicecode"
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in c.oauth.scopes and "offline_access" in c.oauth.scopes
    assert oauth.accounts_of(c) == ["support@firma.pl"]
    google = config_mod.load_config({**ms, "HELPDESK_OAUTH_PROVIDER": "google"}, dotenv=None)
    assert google.oauth.scopes == ("https://mail.google.com/",) and google.oauth.device_url == ""

    refused = {
        "auth=oauth2 with a password": {**ms, "HELPDESK_MAILBOX_URL": "imaps://u:pw@h/INBOX?auth=oauth2"},
        "no provider": {**env, "HELPDESK_MAILBOX_URL": "imaps://u@h/INBOX?auth=oauth2"},
        "unknown auth": {**ms, "HELPDESK_MAILBOX_URL": "imaps://u@h/INBOX?auth=kerberos"},
        "unknown option": {**ms, "HELPDESK_MAILBOX_URL": "imaps://u@h/INBOX?auth=oauth2&qeue=x"},
        "token URL in clear": {**ms, "HELPDESK_OAUTH_PROVIDER": "custom", "HELPDESK_OAUTH_TOKEN_URL": "http://idp.example/t"},
        "bad queue name": {**env, "HELPDESK_MAILBOX_URL": "maildir:///tmp/a?queue=Dział Handlowy"},
        "one queue, two addresses": {**env, "HELPDESK_MAILBOX_URL": "maildir:///tmp/a?queue=x&address=a@f.pl "
                                                                      "maildir:///tmp/b?queue=x&address=b@f.pl"},
        "bad portal rule": {**env, "HELPDESK_PORTAL_QUEUE_RULES": "customers:x"},
    }
    for why, bad in refused.items():
        with pytest.raises(config_mod.ConfigError):
            config_mod.load_config(bad, dotenv=None)
            pytest.fail(why)


def test_several_mailboxes_each_with_its_queue_and_address():
    c = config_mod.load_config({
        "HELPDESK_DATA_DIR": "/tmp/x", "HELPDESK_SECRET_KEY": "s", "HELPDESK_SUPPORT_ADDRESS": "support@firma.pl",
        "HELPDESK_MAILBOX_URL": "imaps://a:p@h/INBOX?queue=serwis&address=serwis@firma.pl  "
                                "imaps://b:q@h/INBOX?queue=partnerzy&address=partnerzy@firma.pl",
    }, dotenv=None)
    assert [(b.queue, b.address) for b in c.mailboxes] == [("serwis", "serwis@firma.pl"),
                                                           ("partnerzy", "partnerzy@firma.pl")]
    assert c.default_queue == "serwis" and c.queue_address("partnerzy") == "partnerzy@firma.pl"
    assert c.queue_address("default") == "support@firma.pl"  # tickets from before queues existed
    assert c.support_addresses == ("support@firma.pl", "serwis@firma.pl", "partnerzy@firma.pl")
    single = config_mod.load_config({"HELPDESK_DATA_DIR": "/tmp/x", "HELPDESK_SECRET_KEY": "s"}, dotenv=None)
    assert single.queues == {"default": "support@helpdesk.localhost"} and single.mailbox.auth == "password"


# --- tokens -------------------------------------------------------------------------------------


def test_tokens_are_refreshed_before_expiry_kept_encrypted_and_rotated(config, db, token_server):
    token_server.rotate = True
    seed = token_server.grant("anna")
    c = oauth_config(config, token_server, HELPDESK_OAUTH_REFRESH_TOKEN=seed)
    tokens = oauth.AccessTokens(c)
    now = utcnow()
    first = tokens.get("anna", now=now)
    assert check_jwt(token_server.key, first) == "anna" and token_server.refreshes == 1
    assert tokens.get("anna", now=now + dt.timedelta(minutes=30)) == first  # still valid: no refresh
    assert token_server.refreshes == 1
    later = tokens.get("anna", now=now + dt.timedelta(minutes=56))  # under five minutes left: refreshed first
    assert token_server.refreshes == 2 and later != first
    assert tokens.get("anna", force=True) != later and token_server.refreshes == 3  # a server refused it

    row = OAuthToken.get(OAuthToken.account == "anna")
    assert seed not in row.refresh_token and first not in row.access_token  # only ciphertext in the database
    stored = oauth.unseal("test-secret", row.refresh_token)
    assert stored in token_server.refresh_tokens and stored != seed  # the rotated one is kept
    assert oauth.unseal("another-secret", row.refresh_token) == ""
    # A second process (its own AccessTokens) uses the stored token without a refresh.
    assert oauth.AccessTokens(c).get("anna") == tokens.get("anna") and token_server.refreshes == 3


def test_a_new_refresh_token_in_the_environment_replaces_the_stored_one(config, db, token_server):
    old = oauth_config(config, token_server, HELPDESK_OAUTH_REFRESH_TOKEN=token_server.grant("anna"))
    oauth.AccessTokens(old).get("anna")
    token_server.revoke("anna")
    new = oauth_config(config, token_server, HELPDESK_OAUTH_REFRESH_TOKEN=token_server.grant("anna"))
    assert check_jwt(token_server.key, oauth.AccessTokens(new).get("anna", force=True)) == "anna"
    # Authorized by hand later, with the same variable still set: the variable does not win again.
    oauth.store_refresh_token(new, "anna", token_server.grant("anna"))
    stored = OAuthToken.get(OAuthToken.account == "anna").refresh_token
    oauth.AccessTokens(new).get("anna")
    assert OAuthToken.get(OAuthToken.account == "anna").refresh_token == stored


def test_a_revoked_refresh_token_is_reported_not_raised_through(config, db, token_server):
    c = oauth_config(config, token_server, HELPDESK_OAUTH_REFRESH_TOKEN=token_server.grant("anna"))
    tokens = oauth.AccessTokens(c)
    tokens.get("anna")
    token_server.revoke("anna")
    with pytest.raises(oauth.TokenDead, match="invalid_grant"):
        tokens.get("anna", force=True)
    refreshes = token_server.refreshes
    with pytest.raises(oauth.TokenDead):  # not asked again at once
        tokens.get("anna", force=True)
    assert token_server.refreshes == refreshes
    [state] = oauth.states(c, ["anna"])
    assert not state.ok and "stopped working" in state.detail and "helpdesk mailbox authorize" in state.detail
    with pytest.raises(oauth.TokenDead, match="no refresh token"):
        oauth.AccessTokens(c.with_(oauth=c.oauth.__class__(**{**c.oauth.__dict__, "refresh_token": ""}))).get("bob")
    token_server.stop()  # the provider down is not a dead token
    with pytest.raises(oauth.OAuthUnavailable) as caught:
        oauth.AccessTokens(oauth_config(config, token_server,
                                        HELPDESK_OAUTH_REFRESH_TOKEN="x")).get("carol")
    assert not isinstance(caught.value, oauth.TokenDead)


def test_device_flow_prints_url_and_code_and_stores_the_refresh_token(config, db, token_server):
    c = oauth_config(config, token_server)
    said: queue_mod.Queue = queue_mod.Queue()
    done = {}

    def run():
        try:
            authorize(c, "anna", say=said.put, ask=lambda prompt: "", sleep=lambda s: time.sleep(0.05))
            done["ok"] = True
        except AuthorizeError as exc:
            done["error"] = str(exc)

    thread = threading.Thread(target=run)
    thread.start()
    lines = []
    while not any("enter the code" in line for line in lines):
        lines.append(said.get(timeout=WAIT_SECONDS))
    assert any(f"{token_server.base}/verify" in line for line in lines)
    code = next(line for line in lines if "enter the code" in line).split()[-1]
    token_server.approve(code, "anna")
    thread.join(WAIT_SECONDS)
    assert done == {"ok": True}
    token = oauth.AccessTokens(c).get("anna")
    assert check_jwt(token_server.key, token) == "anna"


def test_browser_flow_takes_the_pasted_address(config, db, token_server):
    c = oauth_config(config, token_server)
    said = []

    def paste(prompt):
        url = next(line for line in said if line.startswith(f"{token_server.base}/authorize"))
        assert "code_challenge=" in url and "login_hint=anna" in url
        state = url.split("state=", 1)[1].split("&", 1)[0]
        token_server.codes["c0de"] = "anna"
        return f"http://localhost/?code=c0de&state={state}"

    authorize(c, "anna", say=lambda text: said.extend(text.split("\n")), ask=paste, flow="browser")
    assert check_jwt(token_server.key, oauth.AccessTokens(c).get("anna")) == "anna"
    with pytest.raises(AuthorizeError, match="code="):
        authorize(c, "anna", say=lambda text: None, ask=lambda prompt: "http://localhost/?error=access_denied",
                  flow="browser")


# --- IMAP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["oauth2", "oauthbearer"])
def test_worker_reads_a_mailbox_with_an_oauth2_token(config, db, oauth_dovecot, token_server, auth):
    url = oauth_dovecot.new_mailbox()
    user = oauth_dovecot.user_of(url)
    for raw in mails("a", 3):
        oauth_dovecot.append(url, raw)
    c = oauth_config(config, token_server, HELPDESK_MAILBOX_URL=oauth_dovecot.oauth_url(url, auth),
                     HELPDESK_OAUTH_REFRESH_TOKEN=token_server.grant(user))
    with Worker(c, parse_workers=0) as worker:
        assert worker.run_once().outcomes == {"new_ticket": 3}
    assert all(DONE_KEYWORD in f for f in oauth_dovecot.flags(url).values())
    assert "method=" + ("XOAUTH2" if auth == "oauth2" else "OAUTHBEARER") in oauth_dovecot.log_tail(200)


def test_worker_survives_expiry_and_revocation_alerting_once(config, db, oauth_dovecot, token_server):
    """Tokens that die before the client expects, a cut connection, a revoked refresh token
    (one alert, then one recovery notice after `mailbox authorize`): every message once."""
    url = oauth_dovecot.new_mailbox()
    user = oauth_dovecot.user_of(url)
    admin()
    token_server.access_seconds, token_server.claimed_seconds = 2, 3600  # the token lies about its life
    with TcpProxy(oauth_dovecot.port) as proxy:
        proxied = oauth_dovecot.oauth_url(url).replace(f":{oauth_dovecot.port}/", f":{proxy.port}/")
        c = oauth_config(config, token_server, HELPDESK_MAILBOX_URL=proxied,
                         HELPDESK_OAUTH_REFRESH_TOKEN=token_server.grant(user))
        for raw in mails("a", 3):
            oauth_dovecot.append(url, raw)
        stop = threading.Event()
        worker = Worker(c, parse_workers=0)
        running = threading.Thread(target=worker.run, args=(stop,))
        running.start()
        try:
            wait_for("the first mail", lambda: Ticket.select().count() == 3)
            assert token_server.refreshes == 1

            # The access token expires while the worker idles; the connection drops. (The
            # next tokens live longer: Dovecot delays the login after a refusal by seconds.)
            time.sleep(token_server.access_seconds + 1)
            token_server.access_seconds = 60
            proxy.cut()
            for raw in mails("b", 3):
                oauth_dovecot.append(url, raw)
            wait_for("mail after the reconnection", lambda: Ticket.select().count() == 6)
            assert token_server.refreshes == 2  # refused once, refreshed, in again

            # The refresh token is revoked (say, the mailbox's password was changed) and the
            # access token is near its end: refreshing it before the login fails.
            token_server.revoke(user)
            OAuthToken.update(expires_at=utcnow()).execute()
            proxy.cut()
            for raw in mails("c", 2):
                oauth_dovecot.append(url, raw)
            wait_for("the dead token to be noticed",
                     lambda: OAuthToken.get(OAuthToken.account == user).dead_since is not None)
            status = reports.mail_status(c)
            assert [t["ok"] for t in status["oauth2"]] == [False]
            assert "stopped working" in status["oauth2"][0]["detail"]
            assert any(not check.ok and check.name == f"oauth2 {user}" for check in checks.checks(c))
            for _ in range(2):
                scheduler.run_mailbox_health(c, utcnow())
            [alert] = alerts("oauth_dead")
            assert alert.recipient == "admin@example.com" and not alerts("oauth_recovered")
            assert Ticket.select().count() == 6  # the two new ones wait on the server

            # An admin authorizes again (device flow); the worker picks the new token up.
            said: queue_mod.Queue = queue_mod.Queue()
            authorizing = threading.Thread(target=authorize, args=(c, user), kwargs=dict(
                say=said.put, ask=lambda p: "", sleep=lambda s: time.sleep(0.05)))
            authorizing.start()
            line = ""
            while "enter the code" not in line:
                line = said.get(timeout=WAIT_SECONDS)
            token_server.approve(line.split()[-1], user)
            authorizing.join(WAIT_SECONDS)
            wait_for("the waiting mail", lambda: Ticket.select().count() == 8)
        finally:
            stop.set()
            running.join(WAIT_SECONDS)
            worker.close()
    for _ in range(2):
        scheduler.run_mailbox_health(c, utcnow())
    assert len(alerts("oauth_dead")) == 1 and len(alerts("oauth_recovered")) == 1
    assert DigestSent.select().where(DigestSent.job == "oauth_recovered").count() == 1
    # Nothing lost, nothing twice.
    assert sorted(r.message_id for r in InboundMail.select()) == sorted(
        [f"{p}{i}@example.com" for p, n in (("a", 3), ("b", 3), ("c", 2)) for i in range(n)])
    assert all(DONE_KEYWORD in f for f in oauth_dovecot.flags(url).values())
    assert [s.ok for s in oauth.states(c, [user])] == [True]


def test_a_refused_token_with_no_way_to_refresh_is_a_source_error(config, db, oauth_dovecot, token_server):
    url = oauth_dovecot.new_mailbox()
    user = oauth_dovecot.user_of(url)
    c = oauth_config(config, token_server, HELPDESK_MAILBOX_URL=oauth_dovecot.oauth_url(url))
    with Worker(c, parse_workers=0) as worker, pytest.raises(SourceError, match="no refresh token"):
        worker.run_once(max_failures=1)
    # Signed with the right key for another user: refused, refreshed, refused again.
    token_server.access_seconds = 3600
    wrong = oauth_config(config, token_server, HELPDESK_MAILBOX_URL=oauth_dovecot.oauth_url(url),
                         HELPDESK_OAUTH_REFRESH_TOKEN=token_server.grant("somebody-else"))
    with Worker(wrong, parse_workers=0) as worker, pytest.raises(SourceError, match="refused even with a fresh token"):
        worker.run_once(max_failures=1)
    assert token_server.refreshes == 2 and user


# --- SMTP ---------------------------------------------------------------------------------------


@pytest.fixture
def oauth_smtp(token_server):
    server = SmtpServer(check_token=lambda token: check_jwt(token_server.key, token))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def queue_mail(to: str) -> Outbox:
    msg = outbox.build(mail_from="support@helpdesk.localhost", from_name="Pomoc", to=to, subject="Test",
                       text="Treść\n", message_id=outbox.new_message_id("helpdesk.localhost"),
                       loop_marker="support@helpdesk.localhost")
    return outbox.queue(msg, kind="notice", recipient=to)


def test_sender_refreshes_and_retries_on_535(config, db, token_server, oauth_smtp):
    token_server.access_seconds, token_server.claimed_seconds = 2, 3600
    c = oauth_config(config, token_server, HELPDESK_SMTP_URL=oauth_smtp.oauth_url("mailer"),
                     HELPDESK_OAUTH_REFRESH_TOKEN=token_server.grant("mailer"))
    sender = Sender(c)
    queue_mail("jan@example.com")
    assert sender.send_due() == {"sent": 1}
    time.sleep(3)  # the token the sender keeps has expired, though it was told an hour
    queue_mail("ewa@example.com")
    assert sender.send_due() == {"sent": 1}
    assert oauth_smtp.auth_results == [("XOAUTH2", "mailer", True), ("XOAUTH2", "mailer", False),
                                       ("XOAUTH2", "mailer", True)]
    assert token_server.refreshes == 2
    assert sorted(r.rcpt_tos[0] for r in oauth_smtp.received) == ["ewa@example.com", "jan@example.com"]


def test_sender_with_oauthbearer_and_a_dead_token_keeps_the_mail(config, db, token_server, oauth_smtp):
    c = oauth_config(config, token_server, HELPDESK_SMTP_URL=oauth_smtp.oauth_url("mailer", "oauthbearer"),
                     HELPDESK_OAUTH_REFRESH_TOKEN=token_server.grant("mailer"))
    queue_mail("jan@example.com")
    assert Sender(c).send_due() == {"sent": 1}
    assert oauth_smtp.auth_results == [("OAUTHBEARER", "mailer", True)]
    token_server.revoke("mailer")
    OAuthToken.update(expires_at=utcnow()).execute()  # the access token has run out too
    row = queue_mail("ewa@example.com")
    assert Sender(c).send_due() == {"retry": 1}  # waits for a new sign-in, never fails
    row = Outbox.get_by_id(row.id)
    assert row.status == "pending" and "refresh token stopped working" in row.last_error
    assert [c.ok for c in checks.checks(c) if c.name == "smtp"] == [False]


# --- the commands -------------------------------------------------------------------------------


def test_mailbox_authorize_status_and_check_commands(config, db, oauth_dovecot, token_server, tmp_path):
    """`helpdesk mailbox authorize` prints a URL and a code and waits; `mail status` and `check`
    then say in one line each whether the token works."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    url = oauth_dovecot.new_mailbox()
    user = oauth_dovecot.user_of(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(token_server.env(), HELPDESK_DATA_DIR=str(config.data_dir), HELPDESK_DATABASE_URL=config.database_url,
               HELPDESK_SECRET_KEY="test-secret", HELPDESK_MAILBOX_URL=oauth_dovecot.oauth_url(url),
               PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "helpdesk.cli"]
    authorizing = subprocess.Popen([*command, "mailbox", "authorize"], cwd=tmp_path, env=env, text=True,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = []
        while not any("enter the code" in line for line in lines):
            line = authorizing.stdout.readline()
            assert line, authorizing.stderr.read()
            lines.append(line)
        assert any(f"{token_server.base}/verify" in line for line in lines) and any(user in line for line in lines)
        token_server.approve(lines[-1].split()[-1], user)
        out, err = authorizing.communicate(timeout=WAIT_SECONDS)
    finally:
        if authorizing.poll() is None:
            authorizing.kill()
            authorizing.wait()
    assert authorizing.returncode == 0, err
    assert f"{user}: authorized" in out

    def run(*args, code=0):
        done = subprocess.run([*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == code, done.stdout + done.stderr
        return done.stdout

    checked = run("check")
    assert f"ok   oauth2 {user}: refresh token works" in checked and "ok   mailbox:" in checked
    token_server.revoke(user)
    OAuthToken.update(expires_at=utcnow()).execute()
    checked = run("check", code=1)
    [line] = [line for line in checked.splitlines() if f"oauth2 {user}" in line]
    assert line.startswith("FAIL") and "stopped working" in line and "helpdesk mailbox authorize" in line
    [line] = [line for line in run("mail", "status").splitlines() if line.startswith("oauth2")]
    assert "FAILING" in line and "invalid_grant" in line
