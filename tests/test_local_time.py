"""Polish time (issue 17, item 2): every time a person reads is in the reader's zone (the
user's own, else HELPDESK_TIMEZONE): mail (the quote header too), pages (the admin's
applications and audit log), PDFs and the CLI's text; the zone is named in mail and on the
terminal. `--json` and the API stay UTC."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from helpdesk.domain import local_time, tokens
from helpdesk.models import AuditLog, Company, CompanyRole, Message, Participant, PartnerApplication, Role, User
from helpdesk.outgoing.sender import Sender
from tests.cli_runner import cli_runner
from tests.mailfactory import make_mail
from tests.test_portal_tickets import signed_in, world  # noqa: F401  (the fixture)

WINTER = dt.datetime(2026, 12, 2, 6, 9)  # naive UTC, as stored: 07:09 in Warsaw (CET, UTC+1)
SUMMER = dt.datetime(2026, 7, 2, 6, 9)  # 08:09 in Warsaw (CEST, UTC+2)


@pytest.mark.parametrize("stored, zone, minutes, named", [
    (WINTER, "Europe/Warsaw", "2026-12-02 07:09", "2026-12-02 07:09 CET"),
    (SUMMER, "Europe/Warsaw", "2026-07-02 08:09", "2026-07-02 08:09 CEST"),
    # The night daylight saving starts: 00:59Z is 01:59 CET, a minute later it is 03:00 CEST.
    (dt.datetime(2026, 3, 29, 0, 59), "Europe/Warsaw", "2026-03-29 01:59", "2026-03-29 01:59 CET"),
    (dt.datetime(2026, 3, 29, 1, 0), "Europe/Warsaw", "2026-03-29 03:00", "2026-03-29 03:00 CEST"),
    # ... and the night it ends: 02:30 local twice, told apart by the zone's name.
    (dt.datetime(2026, 10, 25, 0, 30), "Europe/Warsaw", "2026-10-25 02:30", "2026-10-25 02:30 CEST"),
    (dt.datetime(2026, 10, 25, 1, 30), "Europe/Warsaw", "2026-10-25 02:30", "2026-10-25 02:30 CET"),
    (WINTER, "America/New_York", "2026-12-02 01:09", "2026-12-02 01:09 EST"),
    (WINTER, "No/Such_Zone", "2026-12-02 07:09", "2026-12-02 07:09 CET"),  # unknown: the default, not an error
])
def test_one_helper_shows_a_stored_time_in_the_zone(stored, zone, minutes, named):
    assert local_time.shown(stored, zone) == minutes
    assert local_time.shown(stored, zone, named=True) == named
    assert local_time.shown(None, zone) == ""


def _engineer():
    return User.create(email="eng@helpdesk.localhost", first_name="Ewa", role=Role.ENGINEER.value, is_active=True)


def _sent(config, smtp_server) -> dict:
    Sender(config.with_(smtp_url=smtp_server.url)).send_due()
    got = {r.rcpt_tos[0]: r.message for r in smtp_server.received}
    smtp_server.received.clear()
    return got


@pytest.mark.parametrize("stored, shown", [(WINTER, "2026-12-02 07:09 CET"), (SUMMER, "2026-07-02 08:09 CEST")])
def test_the_mail_quote_header_is_in_polish_time(desk, config, smtp_server, stored, shown):
    engineer = _engineer()
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    Message.update(created_at=stored).execute()  # the notices are rendered when sent: they read this
    Participant.update(added_at=stored - dt.timedelta(minutes=1)).execute()
    got = _sent(config, smtp_server)
    notice = got["eng@helpdesk.localhost"]
    text, html = notice.get_body(("plain",)).get_content(), notice.get_body(("html",)).get_content()
    assert f"napisał(a) {shown}:" in text and f"napisał(a) {shown}:" in html
    assert "UTC" not in text and "UTC" not in html

    # The quoted history of a later notice is in the same time.
    address = tokens.reply_address("support@helpdesk.localhost", config.secret_key, 1, f"u{engineer.id}")
    desk.receive(make_mail("Proszę o zdjęcie.\n", From=engineer.email, To=address))
    text = _sent(config, smtp_server)["jan@example.com"].get_body(("plain",)).get_content()
    assert f"Jan Kowalski, {shown}:" in text and "UTC" not in text


def test_a_reader_without_an_account_gets_helpdesk_timezone(desk, config, smtp_server):
    config = config.with_(timezone="America/New_York")
    desk.config = config
    desk.receive(make_mail(Message_ID="<first@example.com>", Cc="anna@example.com"))
    Message.update(created_at=WINTER).execute()
    text = _sent(config, smtp_server)["anna@example.com"].get_body(("plain",)).get_content()
    assert "2026-12-02 01:09 EST" in text


def test_admin_pages_show_polish_time_and_name_the_zone(app, world):  # noqa: F811
    AuditLog.create(actor=world.admin, action="verify_company", object_type="company", object_id="1", at=WINTER)
    AuditLog.create(actor=world.admin, action="verify_company", object_type="company", object_id="2", at=SUMMER)
    company = Company.create(nip="9542752600", name="Nowy Partner", role=CompanyRole.INSTALLER.value)
    PartnerApplication.create(company=company, declared_level="authorised", submitted_at=WINTER, open_key=company.id)
    admin = signed_in(app, world.admin, ip="192.0.2.40")

    audit = admin.text("/admin/audit")
    assert "2026-12-02 07:09:00" in audit and "2026-07-02 08:09:00" in audit
    assert "06:09" not in audit
    assert re.search(r"<th>[^<]*<span class=\"muted\">\(Europe/Warsaw\)</span></th>", audit)

    applications = admin.text("/admin/applications")
    assert "2026-12-02 07:09" in applications and "06:09" not in applications
    assert "(Europe/Warsaw)" in applications


def test_the_customers_page_shows_polish_time(app, world):  # noqa: F811
    from tests.test_portal_tickets import open_ticket

    portal = signed_in(app, world.alice)
    assert open_ticket(portal, world.contract_a).status_code == 302
    Message.update(created_at=SUMMER).execute()
    page = portal.text("/tickets/1")
    assert "2026-07-02 08:09" in page and "06:09</time>" not in page


def test_the_cli_shows_local_time_and_json_stays_utc(desk, config, tmp_path):
    desk.receive(make_mail(Message_ID="<first@example.com>"))
    Message.update(created_at=WINTER).execute()
    from helpdesk.models import Ticket
    Ticket.update(created_at=WINTER).execute()
    cli = cli_runner(config, tmp_path)

    text = cli("ticket", "show", "HD-1")
    assert "opened 2026-12-02 07:09 CET" in text and "--- 2026-12-02 07:09 CET" in text
    assert "06:09" not in text
    shown = json.loads(cli("ticket", "show", "HD-1", "--json"))
    assert shown["created_at"].startswith("2026-12-02 06:09") and shown["messages"][0]["created_at"].startswith(
        "2026-12-02 06:09")  # UTC, for scripts
    log = cli("mail", "log")
    assert re.search(r"^#1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CE[S]?T ", log, re.M), log


def test_the_partner_pdfs_carry_the_polish_day(db, config):
    """Approved at 23:30 UTC on 2 December: in Poland it is already the 3rd, and the PDFs say so."""
    import io

    import pypdf

    from helpdesk.domain import partners
    from helpdesk.domain.storage import BlobStore
    from helpdesk.models import Blob

    admin = User.create(email="admin@helpdesk.localhost", role=Role.ADMIN.value, is_active=True)
    company = Company.create(nip="9542752600", name="Nowy Partner", role=CompanyRole.INSTALLER.value,
                             verified_at=dt.datetime(2026, 1, 2), address="ul. Długa 1, Łódź")
    application = PartnerApplication.create(company=company, declared_level="authorised", submitted_at=WINTER,
                                            open_key=company.id)
    decided = partners.decide_application(config, application.id, True, "", by=admin,
                                          now=dt.datetime(2026, 12, 2, 23, 30))
    store = BlobStore(config.blob_dir, config.raw_dir)
    for blob_id in (decided.agreement_blob_id, decided.certificate_blob_id):
        data = store.get(Blob.get_by_id(blob_id).sha256)
        text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)
        assert "03.12.2026" in text and "02.12.2026" not in text, text
