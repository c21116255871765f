"""A partner's customers (issue 17, item 5): the contracts its company sold and their
tickets, read-only, and its choice of notices and digest. Verified partners only
(web.partners.partner_only); who sees what is domain.partner_view's, and a contract it
did not sell is "not found". Lists are keyset-paged with a fixed number of queries."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from helpdesk.domain import contracts, partner_view

from . import forms
from .context import config as _config, local_time
from .i18n import fast_gettext
from .partners import partner_only
from .rows import contract_rows, link_for
from .tickets import status_labels

bp = Blueprint("partner_customers", __name__, url_prefix="/partner/customers")


def _company_id() -> int:
    company_id = partner_view.verified_company_id(current_user)
    if company_id is None:  # partner_only let it through: verified
        abort(404)
    return company_id


def _before_id() -> int | None:
    value = request.args.get("before", type=int)
    return value if value is not None and 0 < value < 2**63 else None


def _before_ticket() -> tuple[dt.datetime, int] | None:
    raw = request.args.get("before", "")
    stamp, _, last = raw.partition("~")
    try:
        return dt.datetime.fromisoformat(stamp), int(last)
    except ValueError:
        return None


def ticket_cursor(row: dict) -> str:
    return f"{row['updated_at'].isoformat()}~{row['id']}"


@bp.route("")
@partner_only
def index():
    company_id = _company_id()
    archive = request.args.get("archive") == "1"
    rows, more = partner_view.contracts_page(company_id, g.now.date(), archive=archive, before=_before_id())
    form = forms.CustomerNoticesForm(notices=current_user.customer_notices_since is not None,
                                     digest=current_user.digest_opt_in)
    shown = contract_rows([(c.id, c.number, c.customer_name, c.service_level, c.starts_on, c.ends_on) for c in rows],
                          contracts.models_by_contract([c.id for c in rows]), g.now.date(),
                          detail_page="partner_customers.contract")
    return render_template("partners/customers.html", rows=shown, more=more, last=rows[-1].id if rows else None,
                           archive=archive, form=form, today=g.now.date())


@bp.route("/notices", methods=["POST"])
@partner_only
def notices():
    form = forms.CustomerNoticesForm()
    if not form.validate_on_submit():
        abort(400)
    user = partner_view.set_notices(current_user, notices=bool(form.notices.data), digest=bool(form.digest.data),
                                    now=g.now)
    if user.customer_notices_since is not None:
        flash(_("You will get a mail on every new entry on your customers' tickets."), "success")
    else:
        flash(_("You will get no mail about your customers' tickets."), "success")
    return redirect(url_for("partner_customers.index"))


@bp.route("/tickets")
@partner_only
def tickets():
    company_id = _company_id()
    everything = request.args.get("status") == "all"
    rows, more = partner_view.tickets_page(company_id, everything=everything, before=_before_ticket())
    return render_template("partners/customer_tickets.html", rows=ticket_rows(rows), more=more, everything=everything,
                           cursor=ticket_cursor(rows[-1]) if more else "")


def ticket_rows(rows: list[dict]) -> list[tuple]:
    """`partner_view.tickets_page` rows as the table prints them: link, reference, subject,
    the contract's link, number and customer, status, its label, the last change."""
    show, contract = link_for("tickets.show", "ticket_id"), link_for("partner_customers.contract", "contract_id")
    prefix, no_subject = _config().ticket_prefix, fast_gettext("(no subject)")
    labels = status_labels()
    return [(show(row["id"]), f"{prefix}-{row['id']}", row["subject"] or no_subject, contract(row["contract_id"]),
             row["contract_number"], row["customer_name"], row["status"], labels.get(row["status"], row["status"]),
             local_time(row["updated_at"])) for row in rows]


@bp.route("/contracts/<int:contract_id>")
@partner_only
def contract(contract_id: int):
    company_id = _company_id()
    found = partner_view.sold_contract(company_id, contract_id)
    if found is None:
        abort(404)
    rows, more = partner_view.tickets_page(company_id, everything=True, contract_id=found.id,
                                           limit=partner_view.TICKETS_ON_CONTRACT)
    return render_template("partners/customer_contract.html", contract=found,
                           lines=contracts.lines_by_contract([found.id])[found.id], rows=ticket_rows(rows), more=more,
                           today=g.now.date())
