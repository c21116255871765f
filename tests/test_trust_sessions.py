"""Trust, sessions and accounts (issue 13, item 7): what a copied cookie, a deleted account,
a stranger registering under a partner's NIP, a password guesser, an address prober, a
link and an oversized number in a URL can get. Each test fails on the code before it.

Threats: a session outliving its logout or its account; reading a partner's customers
before an admin vouched for the partner; guessing the current password through a stolen
session; weak passwords; telling known addresses from unknown ones; a GET that changes
state; a URL that makes the server fail."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from werkzeug.routing import IntegerConverter

from helpdesk.domain import passwords
from helpdesk.models import AuthAttempt, Company, CompanyRole, Contract, Role, Ticket, User
from tests.portal import Portal, QueryCounter, link_in, mails_to

PASSWORD = "correct horse battery"
GOOD = dict(first_name="Anna", last_name="Kowalska", email="anna@firma.example", phone="601 234 567",
            nip="5260001246", company_name="Firma Sp. z o.o.", terms="y")


def register_and_sign_in(portal, email="anna@firma.example", password=PASSWORD, path="/register", **form):
    """The whole way in, as a person does it: register, activate, set the password (signed in)."""
    response = portal.post(path, {**GOOD, "email": email, **form})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    activation = link_in(mails_to(email)[-1], "/activate/")
    assert portal.post(activation, page=activation).status_code == 302
    setting = link_in(mails_to(email)[-1], "/password/set/")
    response = portal.post(setting, {"password": password, "repeat": password}, page=setting)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return User.get(User.email == email)


def session_cookie(portal) -> str:
    return portal.client.get_cookie("helpdesk_session").value


def with_cookie(app, value, ip="192.0.2.99") -> Portal:
    """Another browser, holding a copy of somebody's session cookie."""
    thief = Portal(app, ip=ip)
    thief.client.set_cookie("helpdesk_session", value)
    return thief


# --- a session ends on the server ---------------------------------------------------------------


def test_an_unchanged_session_is_signed_again_once_a_minute_and_lives_on(app, monkeypatch):
    """Its cookie goes out again when the session changed or its signature is a minute old, not
    with every page (web/sessions.py); a cookie signed again keeps the 12 hours counting from
    then, and one past them (or altered) opens no session."""
    from helpdesk.web import sessions

    portal = Portal(app)
    register_and_sign_in(portal)
    portal.get("/account")  # whatever the first pages store (the form's CSRF token) is stored
    assert "Set-Cookie" not in portal.get("/account").headers  # unchanged, signed a moment ago
    serializer = app.session_interface.get_signing_serializer(app)
    _, signed = serializer.loads(session_cookie(portal), return_timestamp=True)

    monkeypatch.setattr(sessions, "SIGN_AGAIN_AFTER", dt.timedelta(0))  # as if a minute had passed
    page = portal.get("/account")
    assert page.status_code == 200 and "helpdesk_session=" in page.headers["Set-Cookie"]
    data, signed_again = serializer.loads(session_cookie(portal), return_timestamp=True)
    assert signed_again >= signed and data["_user_id"]
    expires = dt.datetime.strptime(re.search(r"Expires=([^;]+)", page.headers["Set-Cookie"]).group(1),
                                   "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=dt.timezone.utc)
    assert abs(expires - (signed_again + app.permanent_session_lifetime)) < dt.timedelta(minutes=1)

    # the same session signed 12 hours and a second ago
    monkeypatch.setattr("itsdangerous.timed.TimestampSigner.get_timestamp",
                        lambda self: int(dt.datetime.now(dt.timezone.utc).timestamp()) - 12 * 3600 - 1)
    past = serializer.dumps(data)
    monkeypatch.undo()
    assert with_cookie(app, past).get("/account").status_code == 302  # to the login page
    assert with_cookie(app, session_cookie(portal)[:-2] + "xx").get("/account").status_code == 302
    assert with_cookie(app, session_cookie(portal)).get("/account").status_code == 200

def test_a_cookie_copied_before_logout_is_dead_after_it(app):
    portal = Portal(app)
    register_and_sign_in(portal)
    copied = session_cookie(portal)
    assert with_cookie(app, copied).get("/account").status_code == 200  # the copy works while signed in

    assert portal.post("/logout", page="/account").status_code == 302
    assert portal.get("/account").status_code == 302
    replay = with_cookie(app, copied).get("/account")
    assert replay.status_code == 302 and "/login" in replay.location


def test_a_deleted_accounts_cookie_does_not_sign_in_as_the_next_account(app):
    first = Portal(app)
    deleted = register_and_sign_in(first, "first@firma.example")
    copied = session_cookie(first)
    response = first.post("/account/delete", {"del-current": PASSWORD, "del-confirm": "y"}, page="/account")
    assert response.status_code == 302

    successor = register_and_sign_in(Portal(app, ip="192.0.2.11"), "second@firma.example")
    assert successor.id > deleted.id  # ids are never given out twice
    replay = with_cookie(app, copied).get("/account")
    assert replay.status_code == 302 and "/login" in replay.location
    assert "second@firma.example" not in with_cookie(app, copied).text("/account")


def test_user_ids_are_never_reused_even_for_the_newest_row(db):
    newest = User.create(email="newest@firma.example")
    User.delete().where(User.id == newest.id).execute()
    assert User.create(email="next@firma.example").id > newest.id


# --- partners: nothing through a NIP before an admin verifies the company ------------------------


def test_an_unverified_partner_sees_nothing_through_the_contracts_naming_its_nip(app, config):
    from helpdesk.domain.storage import BlobStore
    from helpdesk.models import Attachment, Blob, Message

    seller = Company.create(nip="7740001454", name="NIP 7740001454")  # as a contract import makes it
    customer = Company.create(nip="1234563218", name="Klient")
    contract = Contract.create(number="K000001", company=customer, partner=seller, customer_name="Klient",
                               starts_on=dt.date.today(), ends_on=dt.date.today() + dt.timedelta(days=300))
    ticket = Ticket.create(subject="Alarm w magazynie", requester_email="szef@klient.example", contract=contract)
    message = Message.create(ticket=ticket, kind="customer", author_email="szef@klient.example",
                             body_text="Kod do centrali: 1234", message_id="m1@klient.example")
    sha = BlobStore(config.blob_dir, config.raw_dir).put(b"plan of the building")
    blob = Blob.create(sha256=sha, size=20)
    attachment = Attachment.create(message=message, filename="plan.pdf", content_type="application/pdf",
                                   size=20, blob=blob)

    stranger = Portal(app, ip="192.0.2.66")
    register_and_sign_in(stranger, "mallory@evil.example", path="/partner/register", nip=seller.nip,
                         company_name="Anything", company_role="installer")
    assert Company.get_by_id(seller.id).verified_at is None
    assert stranger.get(f"/tickets/{ticket.id}").status_code == 404
    assert "Alarm w magazynie" not in stranger.text("/tickets")
    assert stranger.get(f"/attachments/{attachment.id}/plan.pdf").status_code == 404

    # The same account once an admin has verified the company: the page opens (the test can tell).
    Company.update(verified_at=dt.datetime(2026, 12, 1)).where(Company.id == seller.id).execute()
    assert stranger.get(f"/tickets/{ticket.id}").status_code == 200
    download = stranger.get(f"/attachments/{attachment.id}/plan.pdf")
    download.close()
    assert download.status_code == 200


# --- passwords ------------------------------------------------------------------------------------


def test_wrong_current_passwords_on_the_change_form_are_limited(app):
    portal = Portal(app)
    register_and_sign_in(portal)
    new = "a brand new passphrase"
    for _ in range(5):
        wrong = portal.post("/account/password", {"pw-current": "guess number x", "pw-password": new,
                                                  "pw-repeat": new}, page="/account")
        assert wrong.status_code == 422
    limited = portal.post("/account/password", {"pw-current": PASSWORD, "pw-password": new, "pw-repeat": new},
                          page="/account")
    assert limited.status_code == 429
    assert "Zbyt wiele błędnych haseł" in limited.get_data(as_text=True)
    user = User.get(User.email == GOOD["email"])
    assert not passwords.verify(user.password_hash, new) and passwords.verify(user.password_hash, PASSWORD)
    from helpdesk.domain import security_events

    [event] = security_events.events(kind="current_password_limited")
    assert event["sender"] == portal.ip and GOOD["email"] in event["reason"]
    # The other forms that ask for the current password share the limit.
    delete = portal.post("/account/delete", {"del-current": PASSWORD, "del-confirm": "y"}, page="/account")
    assert delete.status_code == 429 and User.get_or_none(User.id == user.id) is not None


WEAK = ["abcdefghij", "qwertyuiop", "1234567890", "password123", "kowalska2026", "anna.kowalska", "firma12345"]


@pytest.mark.parametrize("weak", WEAK)
def test_weak_and_common_passwords_are_refused_when_set_by_link(app, weak):
    portal = Portal(app)
    portal.post("/register", GOOD)
    activation = link_in(mails_to(GOOD["email"])[-1], "/activate/")
    portal.post(activation, page=activation)
    setting = link_in(mails_to(GOOD["email"])[-1], "/password/set/")
    refused = portal.post(setting, {"password": weak, "repeat": weak}, page=setting)
    assert refused.status_code == 200 and "zbyt łatwe do odgadnięcia" in refused.get_data(as_text=True)
    assert User.get(User.email == GOOD["email"]).password_hash is None


def test_a_weak_password_is_refused_on_the_change_form_and_after_a_reset_in_both_languages(app):
    portal = Portal(app)
    user = register_and_sign_in(portal)
    refused = portal.post("/account/password", {"pw-current": PASSWORD, "pw-password": "abcdefghij",
                                                "pw-repeat": "abcdefghij"}, page="/account")
    assert refused.status_code == 422 and "zbyt łatwe do odgadnięcia" in refused.get_data(as_text=True)
    portal.get("/language/en")
    refused = portal.post("/account/password", {"pw-current": PASSWORD, "pw-password": "Password123",
                                                "pw-repeat": "Password123"}, page="/account")
    assert refused.status_code == 422 and "too easy to guess" in refused.get_data(as_text=True)
    assert passwords.verify(User.get_by_id(user.id).password_hash, PASSWORD)

    Portal(app, ip="192.0.2.70").post("/password/forgot", {"email": GOOD["email"]})
    reset = link_in(mails_to(GOOD["email"])[-1], "/password/set/")
    refused = portal.post(reset, {"password": "qwertyuiop", "repeat": "qwertyuiop"}, page=reset)
    assert "too easy to guess" in refused.get_data(as_text=True)
    assert passwords.verify(User.get_by_id(user.id).password_hash, PASSWORD)


def without_token(html: str) -> str:
    return re.sub(r'value="[^"]{20,}"', "", html)


def test_password_reset_requests_look_and_cost_the_same_for_known_and_unknown_addresses(app):
    register_and_sign_in(Portal(app))
    portal = Portal(app, ip="192.0.2.80")
    portal.get("/password/forgot")  # the CSRF token, fetched before counting
    token = portal.token("/password/forgot")

    def ask(address):
        with QueryCounter() as queries:
            response = portal.post("/password/forgot", {"email": address, "csrf_token": token})
        return response, [statement.split("', [")[0] for statement in queries.statements]  # SQL, not values

    known, known_sql = ask(GOOD["email"])
    unknown, unknown_sql = ask("nobody@firma.example")
    assert known.status_code == unknown.status_code == 200
    assert without_token(known.get_data(as_text=True)) == without_token(unknown.get_data(as_text=True))
    # The same statements, but for the mail actually queued for the known address.
    queued = [s for s in known_sql if s.startswith("('INSERT INTO \"outbox\"")]
    assert len(queued) == 1 and [s for s in known_sql if s not in queued] == unknown_sql
    assert mails_to("nobody@firma.example") == []
    # Unknown addresses are limited like known ones: the attempts are counted per address.
    for _ in range(5):
        ask("nobody@firma.example")
    counted = AuthAttempt.select().where(AuthAttempt.kind == "mail", AuthAttempt.key == "address:nobody@firma.example")
    assert counted.count() == 3  # three an hour, then refused (and not counted again)
    from helpdesk.domain import security_events

    limited = security_events.events(kind="mail_request_limited")
    assert any("nobody@firma.example" in str(e["addresses"]) for e in limited)
    for _ in range(5):
        ask(GOOD["email"])
    assert AuthAttempt.select().where(AuthAttempt.kind == "mail", AuthAttempt.key == "address:" + GOOD["email"]
                                      ).count() == 3  # the registration's mail counted too


def test_activation_resend_requests_are_counted_and_limited_for_unknown_addresses_too(app):
    portal = Portal(app, ip="192.0.2.81")
    portal.post("/register", GOOD)  # an account waiting for activation
    answers = {portal.post("/activate/resend", {"email": address}).status_code
               for address in ["nobody@firma.example"] * 5 + [GOOD["email"]]}
    assert answers == {302}
    counted = AuthAttempt.select().where(AuthAttempt.kind == "mail", AuthAttempt.key == "address:nobody@firma.example")
    assert counted.count() == 3
    assert mails_to("nobody@firma.example") == []
    assert len(mails_to(GOOD["email"])) == 2  # the registration's, and the one resent


# --- GET changes nothing stored -----------------------------------------------------------------


def test_a_signed_in_get_of_the_language_link_changes_no_stored_state(app):
    portal = Portal(app)
    user = register_and_sign_in(portal)
    assert User.get_by_id(user.id).language == "pl"
    response = portal.get("/language/en?next=/account")
    assert response.status_code == 302
    assert "Change password" in portal.text("/account")  # this browser reads English now
    assert User.get_by_id(user.id).language == "pl"  # the account's stored choice did not move
    saved = portal.post("/account/preferences", {"pr-language": "en"}, page="/account")
    assert saved.status_code == 302 and User.get_by_id(user.id).language == "en"


# --- numbers too large for the database ----------------------------------------------------------

HUGE = str(2**64 + 7)


def int_routes(app):
    """Every route with an <int:...> parameter, with a URL holding a number over 64 bits there
    (and a plausible value in any other parameter)."""
    for rule in app.url_map.iter_rules():
        ints = {name for name, conv in rule._converters.items() if isinstance(conv, IntegerConverter)}
        if not ints:
            continue
        url = rule.rule
        for name in rule._converters:
            value = HUGE if name in ints else ("agreement" if name == "kind" else "x")
            url = re.sub(r"<[^<>]*\b" + name + ">", value, url)
        yield rule, url


def test_a_number_beyond_64_bits_is_404_on_every_route(app, db):
    admin = User.create(email="admin@helpdesk.example", role=Role.ADMIN.value, is_active=True,
                        activated_at=dt.datetime(2026, 1, 1), password_hash=passwords.hash_password(PASSWORD))
    customer = User.create(email="c@firma.example", role=Role.CUSTOMER.value, is_active=True,
                           activated_at=dt.datetime(2026, 1, 1), password_hash=passwords.hash_password(PASSWORD),
                           company=Company.create(nip="5260001246", name="Firma"))
    partner_company = Company.create(nip="7740001454", name="Instalator", role=CompanyRole.INSTALLER.value,
                                     verified_at=dt.datetime(2026, 1, 1), partner_level=5)
    partner = User.create(email="p@instalator.example", role=Role.PARTNER.value, is_active=True,
                          activated_at=dt.datetime(2026, 1, 1), password_hash=passwords.hash_password(PASSWORD),
                          company=partner_company)
    routes = list(int_routes(app))
    assert len(routes) >= 10
    for user in (admin, customer, partner):
        portal = Portal(app, ip=f"192.0.2.{user.id + 100}")
        assert portal.post("/login", {"email": user.email, "password": PASSWORD}).status_code == 302
        for rule, url in routes:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = portal.client.open(url, method=method, data={},
                                              environ_base={"REMOTE_ADDR": portal.ip})
                assert response.status_code == 404, (user.role, method, url, response.status_code)
    # And in the query string, where no converter looks.
    portal = Portal(app, ip="192.0.2.200")
    portal.post("/login", {"email": admin.email, "password": PASSWORD})
    for url in (f"/staff?page={HUGE}", f"/tickets?page={HUGE}", f"/admin/audit?page={HUGE}",
                f"/tickets/new?contract={HUGE}", f"/contracts?page={HUGE}"):
        assert portal.get(url).status_code in (200, 302, 404), url
        assert portal.get(url).status_code != 500
