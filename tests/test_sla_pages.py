"""The SLA and report pages through the Flask test client, and the reports' numbers against
known data: "due soonest" queue, clocks on the ticket page, time spent on the staff form,
the admins' service levels page, /staff/reports with SVG charts (no script) and CSV."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from helpdesk.domain import service_levels, statistics, tickets
from helpdesk.models import Company, Contract, Message, MessageKind, Role, SlaPolicy, Status, Ticket, User, utcnow
from tests.portal import QueryCounter
from tests.test_portal_tickets import PASSWORD, _user

H = dt.timedelta(hours=1)


def sign_in(portal, user):
    assert portal.post("/login", {"email": user.email, "password": PASSWORD}).status_code == 302


@pytest.fixture
def settings(config):
    return service_levels.settings_of(config)


@pytest.fixture
def engineer(db):
    return _user("eng@helpdesk.example", role=Role.ENGINEER)


def test_the_due_soonest_queue_is_the_engineers_default_with_time_left_and_red_when_breached(
        portal, engineer, settings):
    service_levels.set_policy(settings, "Fast", "1h", "100h", "24x7")
    company = Company.create(nip="5260250274", name="Klient")
    contract = Contract.create(number="A123456", company=company, service_level="Fast",
                               starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2030, 1, 1))
    now = utcnow()
    late = tickets.open_ticket(subject="Late one", requester_email="a@example.com", now=now - 2 * H,
                               contract=contract, sla=settings)
    soon = tickets.open_ticket(subject="Soon one", requester_email="b@example.com", now=now - 0.5 * H,
                               contract=contract, sla=settings)
    tickets.open_ticket(subject="No clock", requester_email="c@example.com", now=now, sla=settings)
    sign_in(portal, engineer)
    page = portal.text("/staff")
    assert page.index("Late one") < page.index("Soon one") < page.index("No clock")
    row_late = page[page.index("Late one"):page.index("Soon one")]
    assert "po terminie o 1h" in row_late and 'class="due overdue"' in row_late
    row_soon = page[page.index("Soon one"):page.index("No clock")]
    assert "overdue" not in row_soon and ("zostało 29m" in row_soon or "zostało 30m" in row_soon)
    # any queue sorts by due time on request, and keeps the order by last change otherwise
    by_change = portal.text("/staff?queue=new")
    assert by_change.index("No clock") < by_change.index("Late one")
    by_due = portal.text("/staff?queue=new&sort=due")
    assert by_due.index("Late one") < by_due.index("Soon one") < by_due.index("No clock")
    # the ticket page shows both clocks
    ticket_page = portal.text(f"/staff/tickets/{late.id}")
    assert "Pierwsza odpowiedź" in ticket_page and "Rozwiązanie" in ticket_page and "Fast" in ticket_page
    assert 'class="clock overdue"' in ticket_page and "przekroczony" in ticket_page
    assert Ticket.get_by_id(soon.id).sla_next_due == Ticket.get_by_id(soon.id).first_response_due


def test_an_answer_with_time_spent_stops_the_first_response_clock(portal, engineer, settings, config):
    service_levels.set_policy(settings, "Fast", "1h", "100h", "24x7")
    ticket = tickets.open_ticket(subject="Printer", requester_email="a@example.com",
                                 sla=service_levels.settings_of(config.with_(sla_default="Fast")))
    sign_in(portal, engineer)
    bad = portal.post(f"/staff/tickets/{ticket.id}/reply", {"text": "On it", "minutes": "forever"},
                      page=f"/staff/tickets/{ticket.id}")
    assert bad.status_code == 422 and Message.select().count() == 0
    done = portal.post(f"/staff/tickets/{ticket.id}/reply", {"text": "On it", "minutes": "1h15m"},
                       page=f"/staff/tickets/{ticket.id}")
    assert done.status_code == 302
    assert [m.minutes for m in Message.select()] == [75]
    stored = Ticket.get_by_id(ticket.id)
    assert stored.first_response_at is not None and stored.status == Status.WAITING_CUSTOMER.value
    assert stored.sla_paused_at is not None
    assert "75 min" in portal.text(f"/staff/tickets/{ticket.id}")


def test_admins_keep_the_service_levels_engineers_cannot(portal, engineer, db):
    admin = _user("admin@helpdesk.example", role=Role.ADMIN)
    sign_in(portal, engineer)
    assert portal.get("/staff/sla").status_code == 404
    portal.get("/logout")
    portal.client.cookie_jar.clear() if hasattr(portal.client, "cookie_jar") else None
    from tests.portal import Portal

    admin_portal = Portal(portal.app, ip="192.0.2.77")
    sign_in(admin_portal, admin)
    refused = admin_portal.post("/staff/sla", {"sla-name": "Gold", "sla-first_response": "soon",
                                               "sla-resolution": "2d", "sla-hours": "business"})
    assert refused.status_code == 422 and SlaPolicy.select().count() == 0
    saved = admin_portal.post("/staff/sla", {"sla-name": "Gold", "sla-first_response": "4h",
                                             "sla-resolution": "2d", "sla-hours": "business"})
    assert saved.status_code == 302
    assert [(p.name, p.first_response_minutes, p.resolution_minutes) for p in SlaPolicy.select()] == [
        ("Gold", 240, 960)]
    assert "Gold" in admin_portal.text("/staff/sla")


# --- reports ---------------------------------------------------------------------------------------

MON = dt.datetime(2026, 11, 2, 9, 0)  # Monday 10:00 in Warsaw (week 45)


@pytest.fixture
def known(db, settings):
    """Ten tickets with known times: opened in weeks 45 and 46, answered and closed at set hours."""
    service_levels.set_policy(settings, "Gold", "1h", "10h", "24x7")
    anna = User.create(email="anna@firma.pl", role="engineer", is_active=True)
    company = Company.create(nip="5260250274", name="Klient")
    contract = Contract.create(number="A123456", company=company, customer_name="Klient", service_level="Gold",
                               starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2030, 1, 1))
    made = []
    for i in range(10):
        opened = MON + dt.timedelta(days=7 * (i // 5), minutes=i)
        t = tickets.open_ticket(subject=f"T{i}", requester_email="jan@example.com", now=opened, contract=contract,
                                sla=settings)
        # answered after i+1 half hours: 0.5 h ... 5 h; the first one breaches nothing
        tickets.add_message(t, kind=MessageKind.STAFF, author_email="anna@firma.pl", body_text="ok",
                            now=opened + (i + 1) * H / 2, minutes=10 * (i + 1), author=anna)
        Ticket.update(assignee=anna).where(Ticket.id == t.id).execute()
        if i < 6:  # closed after (i+1)*2 hours: 2 ... 12 h, the last one (12 h) after its 10 h deadline
            tickets.set_status(t, Status.CLOSED, now=opened + (i + 1) * 2 * H)
        made.append(t)
    return made


def period():
    return statistics.Period.of(dt.date(2026, 11, 2), dt.date(2026, 11, 15), "Europe/Warsaw")


def test_the_reports_numbers(known):
    now = dt.datetime(2026, 11, 16, 12, 0)
    got = statistics.report("opened_closed", period(), now=now)
    assert got.rows == [["2026-W45", 5, 5], ["2026-W46", 5, 1]]
    times = statistics.report("response_times", period(), now=now).rows
    # first responses 0.5..5 h: median 2.75, p90 (nearest rank, 9th of 10) 4.5; resolutions 2..12 h: 7 and 12
    assert times == [["2026-11", 10, 2.8, 4.5, 7.0, 12.0]]
    compliance = statistics.report("sla_compliance", period(), now=now).rows
    # first response within 1 h: tickets 0 and 1 (0.5 h, 1 h); resolution within 10 h: 5 of the 6 closed, and
    # the 4 still open were past 10 h on 16 November
    assert compliance == [["Gold 2026-11", "Gold", "2026-11", 10, 2, 8, 20.0, 5, 5, 50.0]]
    backlog = statistics.report("backlog", period(), now=now)
    assert backlog.rows[statistics.OPEN_STATUSES.index("new")][-1] == 4
    assert backlog.rows[statistics.OPEN_STATUSES.index("new")][4] == 4  # 7-30 days old
    engineers = statistics.report("engineers", period(), now=now).rows
    assert engineers == [["anna@firma.pl", 4, 6, 10, round(550 / 60, 2)]]
    assert statistics.report("time_spent", period(), now=now).rows == [["A123456", "Klient", 550, 9.17]]


def test_percentiles_and_medians():
    assert statistics.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9
    assert statistics.percentile([5], 0.9) == 5 and statistics.percentile([], 0.9) is None
    assert statistics.median([3, 1, 2]) == 2 and statistics.median([1, 2, 3, 4]) == 2.5
    assert statistics.weeks_between(dt.date(2026, 12, 28), dt.date(2027, 1, 4)) == ["2026-W53", "2027-W01"]
    huge = statistics.Period.of(dt.date(1900, 1, 1), dt.date(2026, 12, 1), "Europe/Warsaw")
    assert huge.end == dt.date(2026, 12, 1) and (huge.end - huge.start).days == statistics.MAX_DAYS


def test_the_reports_page_charts_and_csv_keep_the_csp(portal, engineer, known):
    sign_in(portal, engineer)
    page = portal.get("/staff/reports?start=2026-11-02&end=2026-11-15")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script" not in html and "<style" not in html and " style=" not in html
    for name in statistics.REPORTS:
        assert f'/staff/reports/{name}.svg?start=2026-11-02&amp;end=2026-11-15' in html
    assert "2026-W45" in html
    chart = portal.get("/staff/reports/opened_closed.svg?start=2026-11-02&end=2026-11-15")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    assert b"<svg" in chart.data and b"<script" not in chart.data.lower()
    assert "script-src 'none'" in chart.headers["Content-Security-Policy"]
    download = portal.get("/staff/reports/opened_closed.csv?start=2026-11-02&end=2026-11-15")
    assert download.mimetype == "text/csv" and "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert rows == [["week", "opened", "closed"], ["2026-W45", "5", "5"], ["2026-W46", "5", "1"]]
    assert portal.get("/staff/reports/nothing.csv").status_code == 404
    # customers see none of it
    customer = _user("jan@example.com")
    from tests.portal import Portal

    other = Portal(portal.app, ip="192.0.2.99")
    sign_in(other, customer)
    assert other.get("/staff/reports").status_code == 404
    assert other.get("/staff/reports/backlog.svg").status_code == 404


def test_a_chart_is_kept_by_its_figures_and_words_only(known, portal, engineer):
    """pygal's drawing is kept by everything it draws (kind, title, labels, figures and their
    types): the same inputs give the same SVG without drawing it again, any change draws anew,
    and a chart of thousands of bars is not kept."""
    import dataclasses

    from helpdesk.web import charts

    charts._drawn.cache_clear()
    report = statistics.report("opened_closed", period(), now=dt.datetime(2026, 11, 16, 12, 0))
    labels = {"opened": "otwarte", "closed": "zamknięte"}
    first = charts.svg(report, "Tygodnie", labels)
    assert charts.svg(report, "Tygodnie", labels) == first and charts._drawn.cache_info().hits == 1
    more = dataclasses.replace(report, rows=[[week, opened + 1, closed] for week, opened, closed in report.rows])
    as_floats = dataclasses.replace(report, rows=[[week, float(o), float(c)] for week, o, c in report.rows])
    for n, (drawn, title, words) in enumerate(((more, "Tygodnie", labels), (report, "Weeks", labels),
                                               (report, "Tygodnie", {"opened": "opened", "closed": "closed"}),
                                               (as_floats, "Tygodnie", labels)), start=2):
        assert charts.svg(drawn, title, words) != first  # (each drawing has an id of its own)
        assert charts._drawn.cache_info().misses == n  # drawn, not taken from another
    assert charts._drawn.cache_info().hits == 1
    big = dataclasses.replace(report, rows=[[f"W{i}", i, i] for i in range(charts.MEMO_POINTS)])
    charts.svg(big, "Tygodnie", labels)
    assert charts._drawn.cache_info().currsize == 5
    # through the page: a ticket more, a chart of the new figures
    sign_in(portal, engineer)
    url = "/staff/reports/opened_closed.svg?start=2026-11-02&end=2026-11-15"
    before = portal.get(url).data
    assert portal.get(url).data == before
    tickets.open_ticket(subject="one more", requester_email="jan@example.com", now=MON + H)
    assert portal.get(url).data != before
    with QueryCounter() as counter:  # response times never read the per-day sums, nor their zone
        assert portal.get(url.replace("opened_closed", "response_times")).status_code == 200
    assert not any('"rollup_zone"' in sql for sql in counter.statements)


def test_the_tables_rows_are_escaped_and_in_the_readers_numbers():
    from helpdesk.web.reports import TABLE_ROWS, table_rows

    report = statistics.Report("time_spent", "t", ["contract", "customer", "minutes", "resolution_percent"],
                               [["<b>K-1</b>", "Kowalski & Syn", 90, 87.5], ["K-2", None, 1.5, None]] * TABLE_ROWS)
    rows = table_rows(report, "pl")
    assert len(rows) == TABLE_ROWS  # the page's first rows; the CSV has all
    assert rows[0] == "<td>&lt;b&gt;K-1&lt;/b&gt;</td><td>Kowalski &amp; Syn</td><td>90</td><td>87,50%</td>"
    assert rows[1] == "<td>K-2</td><td>—</td><td>1,5</td><td>—</td>"
