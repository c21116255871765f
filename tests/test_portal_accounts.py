"""The portal's front door (SPEC W1-W3, W9): registration, activation links, logging in,
passwords, email change and deletion, through the Flask test client with CSRF on."""
from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from helpdesk.domain import links, passwords
from helpdesk.models import AuthAttempt, Company, Outbox, Ticket, User
from tests.portal import Portal, body, link_in, mails_to

GOOD = dict(first_name="Anna", last_name="Kowalska", email="anna@firma.example", phone="601 234 567",
            nip="5260001246", company_name="Firma Sp. z o.o.", terms="y")


def main(response) -> str:
    """The page's own content, without the header and footer around it."""
    return response.get_data(as_text=True).split("<main", 1)[1].split("</main>", 1)[0]


def register(portal, **changes):
    return portal.post("/register", {**GOOD, **changes})


def activate(portal, address=GOOD["email"]):
    path = link_in(mails_to(address)[-1], "/activate/")
    return portal.post(path, page=path)


def active_user(portal, address=GOOD["email"], password="correct horse battery"):
    """Register, activate and set a password; returns the portal signed in."""
    register(portal, email=address)
    activate(portal, address)
    path = link_in(mails_to(address)[-1], "/password/set/")
    response = portal.post(path, {"password": password, "repeat": password}, page=path)
    assert response.status_code == 302
    return User.get(User.email == address)


def login(portal, address=GOOD["email"], password="correct horse battery", **extra):
    return portal.post("/login", {"email": address, "password": password, **extra})


# --- registration (W1) ---------------------------------------------------------------------


def test_registration_creates_an_inactive_account_and_mails_the_activation_link(portal):
    response = register(portal)
    assert response.status_code == 302 and response.location.endswith("/register/done")
    user = User.get(User.email == "anna@firma.example")
    assert not user.is_active and user.password_hash is None
    assert (user.first_name, user.last_name, user.phone) == ("Anna", "Kowalska", "601234567")
    assert user.company.nip == "5260001246" and user.company.name == "Firma Sp. z o.o."
    [mail] = mails_to("anna@firma.example")
    assert mail["Auto-Submitted"] == "auto-generated"
    assert "/activate/" in body(mail) and "48" in body(mail)


@pytest.mark.parametrize("field, value, message", [
    ("phone", "+48601234567", "bez numeru kierunkowego"),
    ("phone", "60123456", "dokładnie dziewięć cyfr"),
    ("phone", "٦٠١٢٣٤٥٦٧", "dokładnie dziewięć cyfr"),  # Arabic-Indic digits
    ("phone", "６０１２３４５６７", "dokładnie dziewięć cyfr"),  # full-width digits
    ("nip", "526-000-12-46", "bez myślników"),
    ("nip", "5260001245", "cyfra kontrolna"),
    ("nip", "５２６０００１２４６", "dokładnie dziesięć cyfr"),
    ("nip", "' OR 1=1--", "bez myślników"),
    ("first_name", "Anna\r\nBcc: x@evil.example", "jedną linię"),
    ("company_name", "Firma\nX", "jedną linię"),
    ("email", "anna@firma.example\r\nBcc: x@evil.example", "jedną linię"),
    ("email", "not-an-address", "prawidłowy adres"),
    ("last_name", "", "wymagane"),
    ("terms", None, "regulaminu"),
])
def test_each_bad_field_gets_its_own_message_and_nothing_is_stored(portal, field, value, message):
    data = {**GOOD, field: value} if value is not None else {k: v for k, v in GOOD.items() if k != field}
    response = portal.post("/register", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message in error
    assert 'aria-invalid="true"' in html
    assert User.select().count() == 0 and Company.select().count() == 0 and Outbox.select().count() == 0


def test_several_bad_fields_each_get_a_message(portal):
    html = register(portal, phone="12", nip="1234567890", first_name="").get_data(as_text=True)
    for field in ("phone", "nip", "first_name"):
        assert f'id="{field}-error"' in html
    assert 'id="email-error"' not in html


def test_an_existing_address_gets_the_same_page_and_a_mail_saying_so(portal):
    active_user(portal)
    portal.client.cookie_jar.clear() if hasattr(portal.client, "cookie_jar") else None
    fresh = Portal(portal.app, ip="192.0.2.11")
    again = register(fresh, first_name="Mallory")
    new = register(fresh, email="someone.else@firma.example")
    assert again.status_code == new.status_code == 302 and again.location == new.location
    token = re.compile(r'name="csrf_token"[^>]*value="[^"]*"')  # signed with the time: may differ by a second
    assert token.sub("", fresh.text(again.location)) == token.sub("", fresh.text(new.location))
    last = mails_to(GOOD["email"])[-1]
    assert "ma już konto" in body(last) and "/activate/" not in body(last)
    assert User.get(User.email == GOOD["email"]).first_name == "Anna"  # not overwritten


def test_an_address_known_from_mail_registers_into_its_existing_user(portal):
    User.create(email="anna@firma.example", is_active=False)  # wrote to support before
    register(portal)
    user = User.get(User.email == "anna@firma.example")
    assert user.first_name == "Anna" and user.company.nip == "5260001246"
    assert "/activate/" in body(mails_to("anna@firma.example")[-1])


def test_an_existing_company_keeps_its_name(portal):
    Company.create(nip="5260001246", name="Firma prawdziwa")
    register(portal, company_name="Inna nazwa")
    assert User.get(User.email == GOOD["email"]).company.name == "Firma prawdziwa"


def test_mail_on_request_is_limited_per_address(portal):
    for _ in range(5):
        register(portal)
    assert len(mails_to(GOOD["email"])) == 3


# --- activation and the password link (W2) ---------------------------------------------------


def test_activation_link_shows_a_page_then_a_post_activates_and_logs_in(portal):
    register(portal)
    path = link_in(mails_to(GOOD["email"])[-1], "/activate/")
    page = portal.get(path)
    assert page.status_code == 200 and "Aktywuj konto" in page.get_data(as_text=True)
    assert not User.get(User.email == GOOD["email"]).is_active  # a GET changes nothing
    response = portal.post(path, page=path)
    assert response.status_code == 302 and response.location.endswith("/dashboard")
    user = User.get(User.email == GOOD["email"])
    assert user.is_active and user.activated_at and user.password_hash is None
    assert portal.get("/dashboard").status_code == 200  # signed in
    welcome = mails_to(GOOD["email"])[-1]
    assert GOOD["email"] in body(welcome) and "/password/set/" in body(welcome)
    assert "hasło:" not in body(welcome).lower()  # no password in clear text, ever


def test_an_activation_link_works_once(portal):
    register(portal)
    path = link_in(mails_to(GOOD["email"])[-1], "/activate/")
    portal.post(path, page=path)
    other = Portal(portal.app, ip="192.0.2.12")
    again = other.get(path)
    assert again.status_code == 410
    assert "Poproś o nowy link aktywacyjny" in again.get_data(as_text=True)


def test_forged_expired_and_wrong_purpose_links_get_one_clear_page(portal, config):
    register(portal)
    user = User.get(User.email == GOOD["email"])
    good = link_in(mails_to(GOOD["email"])[-1], "/activate/").rsplit("/", 1)[1]
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    class TwoDaysAgo(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 49 * 3600

    old = URLSafeTimedSerializer(config.secret_key, salt="helpdesk.link.activate", signer=TwoDaysAgo)
    expired = old.dumps([user.id, links._fingerprint(config.secret_key, "activate", user), ""])
    wrong_purpose = links.make(config.secret_key, "set_password", user)
    pages = [portal.get(f"/activate/{token}") for token in (forged, expired, wrong_purpose, "x")]
    assert {p.status_code for p in pages} == {410}
    assert len({main(p) for p in pages}) == 1
    assert not User.get_by_id(user.id).is_active


def test_the_password_link_sets_a_password_once(portal):
    register(portal)
    activate(portal)
    path = link_in(mails_to(GOOD["email"])[-1], "/password/set/")
    short = portal.post(path, {"password": "short", "repeat": "short"}, page=path)
    assert short.status_code == 200 and "co najmniej 10 znaków" in short.get_data(as_text=True)
    differ = portal.post(path, {"password": "correct horse battery", "repeat": "correct horse batterx"}, page=path)
    assert "nie są takie same" in differ.get_data(as_text=True)
    ok = portal.post(path, {"password": "correct horse battery", "repeat": "correct horse battery"}, page=path)
    assert ok.status_code == 302
    stored = User.get(User.email == GOOD["email"]).password_hash
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert Portal(portal.app).get(path).status_code == 410  # used


# --- logging in (W3) ----------------------------------------------------------------------------


def test_login_with_the_right_password_and_logout(app):
    portal = Portal(app)
    active_user(portal)
    fresh = Portal(app)
    assert fresh.get("/dashboard").status_code == 302
    response = login(fresh)
    assert response.status_code == 302 and response.location.endswith("/dashboard")
    assert fresh.get("/dashboard").status_code == 200
    assert fresh.post("/logout", page="/dashboard").status_code == 302
    assert fresh.get("/dashboard").status_code == 302


def test_a_failed_login_never_says_which_part_was_wrong(app):
    active_user(Portal(app))
    User.create(email="inactive@firma.example", password_hash=passwords.hash_password("correct horse battery"))
    answers = [login(Portal(app), GOOD["email"], "wrong password!"),
               login(Portal(app), "nobody@firma.example", "correct horse battery"),
               login(Portal(app), "inactive@firma.example", "correct horse battery")]
    assert {a.status_code for a in answers} == {401}
    texts = [a.get_data(as_text=True).replace(a.get_data(as_text=True).split('value="', 2)[1].split('"')[0], "")
             for a in answers]
    assert all("Nieprawidłowy adres e-mail lub hasło." in t for t in texts)


def test_login_attempts_are_limited_per_account(app):
    active_user(Portal(app))
    for i in range(5):
        assert login(Portal(app, ip=f"198.51.100.{i}"), password="guess number %d" % i).status_code == 401
    blocked = login(Portal(app, ip="198.51.100.99"))  # the right password, but too late
    assert blocked.status_code == 429 and "Zbyt wiele" in blocked.get_data(as_text=True)
    assert AuthAttempt.select().where(AuthAttempt.kind == "login", AuthAttempt.ok == False).count() >= 6  # noqa: E712


def test_login_attempts_are_limited_per_client_address(app):
    active_user(Portal(app))
    attacker = Portal(app, ip="203.0.113.5")
    for i in range(20):
        login(attacker, f"user{i}@firma.example", "whatever123")
    assert login(attacker).status_code == 429
    assert login(Portal(app, ip="203.0.113.6")).status_code == 302


@pytest.mark.parametrize("target, lands", [
    ("/account", "/account"),
    ("https://elsewhere.example/", "/dashboard"),
    ("//elsewhere.example/x", "/dashboard"),
    ("/\\elsewhere.example", "/dashboard"),
    ("javascript:alert(1)", "/dashboard"),
    ("/account\r\nSet-Cookie: x=1", "/dashboard"),
])
def test_next_only_ever_leads_to_our_own_pages(app, target, lands):
    active_user(Portal(app))
    response = login(Portal(app), next=target)
    assert response.status_code == 302
    assert response.location == lands


def test_the_session_is_renewed_at_login(app):
    portal = Portal(app)
    active_user(portal)
    before = portal.client.get_cookie("helpdesk_session").value
    login(portal)
    after = portal.client.get_cookie("helpdesk_session")
    assert after.value != before and after.http_only and after.same_site == "Lax"


def test_changing_the_password_ends_other_sessions(app):
    here, elsewhere = Portal(app), Portal(app, ip="192.0.2.50")
    active_user(here)
    login(elsewhere)
    assert elsewhere.get("/account").status_code == 200
    bad = here.post("/account/password", {"pw-current": "not it at all", "pw-password": "a new password 1",
                                           "pw-repeat": "a new password 1"}, page="/account")
    assert bad.status_code == 422 and "Obecne hasło jest nieprawidłowe" in bad.get_data(as_text=True)
    ok = here.post("/account/password", {"pw-current": "correct horse battery", "pw-password": "a new password 1",
                                          "pw-repeat": "a new password 1"}, page="/account")
    assert ok.status_code == 302
    assert here.get("/account").status_code == 200  # this session goes on
    assert elsewhere.get("/account").status_code == 302  # the other one has ended
    assert login(Portal(app), password="a new password 1").status_code == 302


def test_a_forgotten_password_is_reset_by_mail_and_unknown_addresses_learn_nothing(app):
    active_user(Portal(app))
    portal = Portal(app, ip="192.0.2.60")
    known = portal.post("/password/forgot", {"email": GOOD["email"]})
    unknown = portal.post("/password/forgot", {"email": "nobody@firma.example"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True) == unknown.get_data(as_text=True)
    assert mails_to("nobody@firma.example") == []
    path = link_in(mails_to(GOOD["email"])[-1], "/password/set/")
    portal.post(path, {"password": "forgotten but new", "repeat": "forgotten but new"}, page=path)
    assert login(Portal(app), password="forgotten but new").status_code == 302
    assert login(Portal(app), password="correct horse battery").status_code == 401


# --- email address and deletion --------------------------------------------------------------


def test_the_email_address_changes_only_after_the_new_one_is_confirmed(app):
    portal = Portal(app)
    active_user(portal)
    response = portal.post("/account/email", {"em-email": "Anna.New@Firma.example",
                                              "em-current": "correct horse battery"}, page="/account")
    assert response.status_code == 302
    assert User.get_or_none(User.email == GOOD["email"])  # not yet
    path = link_in(mails_to("anna.new@firma.example")[-1], "/account/email/")
    assert portal.get(path).status_code == 200
    assert portal.post(path, page=path).status_code == 302
    assert User.get_or_none(User.email == "anna.new@firma.example")
    assert "anna.new@firma.example" in body(mails_to(GOOD["email"])[-1])  # the old address is told
    assert Portal(app).get(path).status_code == 410  # used
    assert login(Portal(app), "anna.new@firma.example").status_code == 302


def test_an_address_in_use_is_not_taken_and_the_page_does_not_say_so(app):
    portal = Portal(app)
    active_user(portal)
    active_user(Portal(app, ip="192.0.2.70"), "other@firma.example")
    response = portal.post("/account/email", {"em-email": "other@firma.example",
                                              "em-current": "correct horse battery"}, page="/account")
    assert response.status_code == 302
    assert "/account/email/" not in body(mails_to("other@firma.example")[-1])
    assert User.get(User.email == GOOD["email"])


def test_deleting_the_account_keeps_its_tickets(app):
    portal = Portal(app)
    user = active_user(portal)
    ticket = Ticket.create(subject="Drukarka", requester=user, requester_email=user.email)
    wrong = portal.post("/account/delete", {"del-current": "nope nope nope", "del-confirm": "y"}, page="/account")
    assert wrong.status_code == 422 and User.get_or_none(User.id == user.id)
    ok = portal.post("/account/delete", {"del-current": "correct horse battery", "del-confirm": "y"},
                     page="/account")
    assert ok.status_code == 302
    assert User.get_or_none(User.id == user.id) is None
    kept = Ticket.get_by_id(ticket.id)
    assert kept.requester_id is None and kept.requester_email == GOOD["email"]
    assert login(Portal(app)).status_code == 401


def test_the_digest_preference_is_saved(app):
    portal = Portal(app)
    user = active_user(portal)
    portal.post("/account/preferences", {"pr-digest_opt_in": "y"}, page="/account")
    assert User.get_by_id(user.id).digest_opt_in
    portal.post("/account/preferences", {}, page="/account")
    assert not User.get_by_id(user.id).digest_opt_in


# --- what every page does ---------------------------------------------------------------------


def test_a_post_without_the_csrf_token_is_refused(portal):
    response = portal.post("/register", GOOD, csrf=False)
    assert response.status_code == 400
    assert User.select().count() == 0


def test_headers_on_every_page(portal):
    for path in ("/", "/register", "/login", "/terms"):
        response = portal.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
    assert 'style="' not in portal.text("/register")  # the CSP would block it


def test_cookies_are_secure_over_https(config, db):
    from helpdesk.web import create_app

    app = create_app(config.with_(base_url="https://portal.example"), db=db)
    portal = Portal(app)
    portal.get("/login")
    cookie = portal.client.get_cookie("helpdesk_session", domain="localhost")
    assert cookie is not None and cookie.secure


def test_polish_by_default_and_english_on_request(portal):
    assert "Zarejestruj się" in portal.text("/register")
    response = portal.get("/language/en?next=/register")
    assert response.location == "/register"
    assert "Register" in portal.text("/register") and "Zarejestruj" not in portal.text("/register")
    assert portal.get("/language/en?next=https://elsewhere.example").location == "/"
