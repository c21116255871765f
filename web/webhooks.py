"""Webhooks for admins (`/admin/webhooks`): the endpoints (add, resume, remove) and the
delivery log; the same functions as the API and `helpdesk webhook` (`domain.webhooks`)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from helpdesk.domain import webhooks
from helpdesk.domain.validation import Invalid

from . import forms
from .paging import paged
from .staff import admin_only

bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")


def _form(form=None):
    form = form or forms.WebhookForm(prefix="wh")
    form.events.choices = [(e, e) for e in webhooks.EVENTS]
    return form


@bp.route("", methods=["GET", "POST"])
@admin_only
def index():
    form = _form()
    if form.validate_on_submit():
        try:
            endpoint = webhooks.add_endpoint(form.url.data, form.secret.data, form.events.data,
                                             allow_host=form.allow_host.data or "", by=current_user, now=g.now)
        except Invalid as error:
            form.url.errors = [*form.url.errors, forms.translated(error)]
        else:
            flash(_("Webhook added: %(url)s", url=endpoint.url), "success")
            return redirect(url_for("webhooks.index"))
    status = request.args.get("status", "")
    status = status if status in ("pending", "delivered", "failed") else ""
    pager = paged(webhooks.log(status=status, limit=None), webhooks.LOG_ORDER)
    return render_template("webhooks/index.html", form=form, endpoints=list(webhooks.endpoints()),
                           deliveries=pager.rows, pager=pager, status=status,
                           confirm=forms.ConfirmForm()), 422 if form.errors else 200


@bp.route("/<int:endpoint_id>/<action>", methods=["POST"])
@admin_only
def change(endpoint_id: int, action: str):
    if action not in ("resume", "remove") or not forms.ConfirmForm().validate_on_submit():
        abort(400)
    done = (webhooks.resume if action == "resume" else webhooks.remove)(endpoint_id, by=current_user, now=g.now)
    if done:
        flash(_("The webhook is resumed.") if action == "resume" else _("The webhook is removed."), "success")
    return redirect(url_for("webhooks.index"))
