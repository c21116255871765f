"""Dashboard, contracts and contract verification (SPEC W4-W6).

Every contract shown, listed or searched comes through `contracts.visible_contracts`:
an id the user may not see is a 404, the same as an id that does not exist.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from peewee import SQL

from helpdesk.domain import access, contract_order, contracts, keyset

from . import forms
from .context import config, local_time
from .i18n import fast_gettext
from .rows import contract_rows, link_for
from .security import client_ip
from .tickets import status_label

bp = Blueprint("contracts", __name__)
PAGE_SIZE = 50
DASHBOARD_SIZE = 50
COUNT_CAP = 1000  # contracts counted at most: staff see 100,000, and "more than 1000" says enough


def counted(query, upto: int) -> tuple[int, bool]:
    """How many contracts `query` has, reading at most `upto` + 1 of them (an index range,
    not every current contract); and whether there are more than `upto`."""
    return capped(query.select(SQL("1")).limit(upto + 1).count(), upto)


def capped(n: int, upto: int) -> tuple[int, bool]:
    """A count made up to `upto` + 1: the number to show, and whether there are more."""
    return min(n, upto), n > upto


def _today():
    return g.now.date()


def _rows(shown: list[tuple]) -> list:
    """`contracts.LISTED` tuples as the lists show them."""
    return contract_rows(shown, contracts.models_by_contract([c[0] for c in shown]), _today())


def _ticket_rows(tickets) -> list[tuple[str, str, str, str, str, str]]:
    """The dashboard's tickets: link, reference, subject, status, its label, last change."""
    link, prefix, no_subject = link_for("tickets.show", "ticket_id"), config().ticket_prefix, fast_gettext("(no subject)")
    return [(link(t.id), t.ref(prefix), t.subject or no_subject, t.status, status_label(t.status),
             local_time(t.updated_at)) for t in tickets]


@bp.route("/dashboard")
@login_required
def dashboard():
    shown = contracts.unsearched_rows(current_user, _today(), soonest=True, limit=DASHBOARD_SIZE)
    total, more = capped(contracts.unsearched_count(current_user, _today(), upto=COUNT_CAP), COUNT_CAP)
    return render_template("contracts/dashboard.html", contracts=_rows(shown), total=total, more=more,
                           tickets=_ticket_rows(access.active_tickets(current_user)), today=_today())


def _list(archive: bool):
    """A page of the list from the cursor in `after` (the next page) or `before` (the previous
    one), searched by `q`; the count up to COUNT_CAP ("more than" past it)."""
    text = request.args.get("q", "")[:200]
    after, before = (contract_order.Cursor.read(request.args.get(name, ""), archive) for name in ("after", "before"))
    cursor, backward = (before, True) if before is not None else (after, False)
    read, total, more = _reader(archive, text, _today())
    return _listed(archive, text, keyset.page_of(read, cursor, backward=backward, size=PAGE_SIZE), total, more)


def _reader(archive: bool, text: str, today) -> tuple[keyset.Reader, int, bool]:
    """How the list's rows are read from a cursor (`keyset.Reader`), and their count up to COUNT_CAP."""
    tokens = contracts.search_tokens(text)
    if not tokens:  # no search: the same two statements for everyone, built once
        def unsearched(at, back, limit):
            return contracts.unsearched_rows(current_user, today, archive=archive, cursor=at, backward=back,
                                             limit=limit)
        n = contracts.unsearched_count(current_user, today, archive=archive, upto=COUNT_CAP)
        return unsearched, *capped(n, COUNT_CAP)
    if not current_user.is_staff:  # a customer's few contracts, matched in Python (`contracts.few_matches`)
        found = contracts.few_matches(current_user, today, archive=archive, tokens=tokens)
        if found is not None:
            def cut(at, back, limit):
                return contract_order.beyond(found, at, back, archive)[:limit]
            return cut, *capped(len(found), COUNT_CAP)
    plan = contracts.search_plan(current_user, archive=archive, many=False)
    query = contracts.listing(current_user, today, archive=archive, text=text, plan=plan)
    total, more = counted(query, COUNT_CAP)
    if more:  # many matches: read them another way (`contracts.search_plan`)
        query = contracts.listing(current_user, today, archive=archive, text=text,
                                  plan=contracts.search_plan(current_user, archive=archive, many=True))

    def matches(at, back, limit):
        if more and current_user.is_staff:  # a common word: the list's contracts from the cursor, matched here
            first = contracts.first_matches(current_user, today, archive=archive, tokens=tokens, cursor=at,
                                            backward=back, limit=limit)
            if first is not None:
                return first
        shown = contract_order.in_order(query.select(*contracts.LISTED), archive, back, *contract_order.values(at))
        return list(shown.limit(limit).tuples())
    return matches, total, more


def _listed(archive: bool, text: str, page: keyset.Page, total: int, more: bool):
    return render_template("contracts/index.html", archive=archive, q=text, contracts=_rows(page.rows), total=total,
                           more=more, first=page.first, next=page.more,
                           cursors=contract_order.links(page.rows, archive), today=_today())


@bp.route("/contracts")
@login_required
def index():
    return _list(archive=False)


@bp.route("/contracts/archive")
@login_required
def archive():
    return _list(archive=True)


@bp.route("/contracts/<int:contract_id>")
@login_required
def detail(contract_id: int):
    contract = contracts.visible_contract(current_user, contract_id)
    if contract is None:
        abort(404)
    lines = contracts.lines_by_contract([contract.id])[contract.id]
    return render_template("contracts/detail.html", contract=contract, lines=lines, today=_today())


@bp.route("/contracts/verify", methods=["GET", "POST"])
@login_required
def verify():
    form = forms.VerifyContractForm()
    if form.validate_on_submit():
        try:
            contract = contracts.verify(current_user, form.number.data, form.serial.data, ip=client_ip(), now=g.now)
        except contracts.VerifyRefused as refused:
            message = _("These details do not match any contract of your company. Check the contract number "
                        "and the serial number, and try again.")
            if refused.limited:
                message = _("Too many attempts. Try again in 15 minutes.")
            form.number.data = form.serial.data = ""  # nothing typed comes back: every refusal looks the same
            return render_template("contracts/verify.html", form=form, error=message), 429 if refused.limited else 422
        flash(_("Contract %(number)s is verified: you can see it now.", number=contract.number), "success")
        target = "contracts.archive" if contract.ends_on < _today() else "contracts.index"
        return redirect(url_for(target))
    return render_template("contracts/verify.html", form=form), 422 if form.errors else 200
