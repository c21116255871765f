"""/staff/reports (engineers and admins): each report as a chart (SVG from the server), its
table and a CSV download, over a period of local days (issue 15)."""
from __future__ import annotations

import csv
import dataclasses
import io
import numbers as number_types

from flask import Blueprint, Response, abort, g, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape

from helpdesk.domain import numbers, statistics

from . import charts, forms
from .context import config as _config
from .i18n import _translations, label, locale_name
from .staff import staff_only

bp = Blueprint("reports", __name__, url_prefix="/staff/reports")


def column_labels() -> dict[str, str]:
    """The columns' names as people read them (the CSV and JSON keep the plain names)."""
    _ = _translations().ugettext  # the request's catalogue once, not Flask-Babel's lookup per name
    return {
        "week": _("week"), "opened": _("opened"), "closed": _("closed"), "month": _("month"),
        "tickets": _("tickets"), "first_response_median_h": _("first response, median (h)"),
        "first_response_p90_h": _("first response, 90th percentile (h)"),
        "resolution_median_h": _("resolution, median (h)"), "resolution_p90_h": _("resolution, 90th percentile (h)"),
        "group": _("level and month"), "level": _("service level"),
        "first_response_met": _("first response met"), "first_response_breached": _("first response breached"),
        "first_response_percent": _("first response met, per cent"), "resolution_met": _("resolution met"),
        "resolution_breached": _("resolution breached"), "resolution_percent": _("resolution met, per cent"),
        "status": _("status"), "total": _("total"), "under a day": _("under a day"), "1-3 days": _("1-3 days"),
        "3-7 days": _("3-7 days"), "7-30 days": _("7-30 days"), "over 30 days": _("over 30 days"),
        "engineer": _("engineer"), "open_assigned": _("open, assigned"), "answers": _("answers"),
        "hours_spent": _("hours spent"), "contract": _("contract"), "customer": _("customer"),
        "minutes": _("minutes"), "hours": _("hours"),
    }


def shown(report: statistics.Report) -> statistics.Report:
    """The report as people read it: a status column in their words (the CSV keeps the names)."""
    if "status" not in report.columns:
        return report
    at = report.columns.index("status")
    rows = [[label("status", v) if i == at else v for i, v in enumerate(row)] for row in report.rows]
    return dataclasses.replace(report, rows=rows)


def _period() -> statistics.Period:
    form = forms.ReportPeriodForm(request.args)
    form.validate()
    return statistics.Period.of(form.start.data if not form.start.errors else None,
                                form.end.data if not form.end.errors else None,
                                _config().timezone, now=g.now)


def _report(name: str) -> statistics.Report:
    if name not in statistics.REPORTS:
        abort(404)
    return statistics.report(name, _period(), now=g.now)


def _args(period: statistics.Period) -> dict:
    return {"start": period.start.isoformat(), "end": period.end.isoformat()}


TABLE_ROWS = 50  # of a report on the page (time spent lists every contract: thousands); the CSV has all


def cells(report: statistics.Report, locale: str) -> list[list[str]]:
    """The table's rows as the reader reads them: numbers in their locale (per cents with
    two decimals), "—" for none; worked out here, once a page, not by a filter per cell."""
    percents = [column.endswith("_percent") for column in report.columns]
    return [["—" if v is None
             else (numbers.percent(v, locale) if is_percent else numbers.number(v, locale))
             if isinstance(v, number_types.Number) and not isinstance(v, bool) else str(v)
             for v, is_percent in zip(row, percents)]
            for row in report.rows]


def table_rows(report: statistics.Report, locale: str) -> list[Markup]:
    """The table's first rows as HTML, each row's cells escaped and joined here: a Jinja loop
    per cell cost more than the reports' own sums on a page of six tables."""
    return [Markup("".join(f"<td>{escape(v)}</td>" for v in row)) for row in cells(report, locale)[:TABLE_ROWS]]


def links(names: list[str], args: dict) -> dict[str, tuple[str, str]]:
    """Each report's chart and CSV addresses, from one `url_for` of each kind."""
    chart_url, csv_url = (url_for(endpoint, name=PLACE, **args) for endpoint in ("reports.chart", "reports.download"))
    return {name: (chart_url.replace(PLACE, name), csv_url.replace(PLACE, name)) for name in names}


PLACE = "report-name"  # stands for a report's name in `links` (no report has it, nor any query argument)


@bp.route("")
@staff_only
def index():
    period = _period()
    reports = [shown(r) for r in statistics.reports(period, now=g.now, limit=TABLE_ROWS)]
    form = forms.ReportPeriodForm(data={"start": period.start, "end": period.end})
    locale = locale_name()
    return render_template("reports/index.html", reports=reports, period=period, form=form,
                           labels=column_labels(), table_rows=TABLE_ROWS,
                           links=links([r.name for r in reports], _args(period)),
                           rows={r.name: table_rows(r, locale) for r in reports})


@bp.route("/<name>.svg")
@staff_only
def chart(name: str):
    report = shown(_report(name))
    response = Response(charts.svg(report, _(report.title), column_labels()), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = charts.CSP
    return response


@bp.route("/<name>.csv")
@staff_only
def download(name: str):
    report = _report(name)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(report.columns)
    writer.writerows([["" if v is None else v for v in row] for row in report.rows])
    period = _period()
    filename = f"{name}_{period.start.isoformat()}_{period.end.isoformat()}.csv"
    return Response(out.getvalue().encode("utf-8-sig"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


