"""The service levels page (admins): the policies contracts name, kept as data (issue 15)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from helpdesk.domain import service_levels, sla
from helpdesk.domain.validation import Invalid

from . import forms
from .context import config as _config
from .staff import admin_only

bp = Blueprint("sla", __name__, url_prefix="/staff/sla")


def _settings():
    return service_levels.settings_of(_config())


@bp.app_template_global("sla_duration")
def sla_duration(value) -> str:
    return sla.shown_duration(value) if value is not None else "—"


@bp.route("", methods=["GET", "POST"])
@admin_only
def policies():
    form = forms.SlaPolicyForm(prefix="sla")
    form.hours.choices = [("business", _("business hours")), ("24x7", "24x7")]
    if form.validate_on_submit():
        try:
            row, changed = service_levels.set_policy(_settings(), form.name.data, form.first_response.data,
                                                     form.resolution.data, form.hours.data, now=g.now)
        except Invalid as error:
            form.name.errors = [forms.translated(error)]
        else:
            flash(_("Saved: %(name)s (%(count)s open tickets recomputed).", name=row.name, count=changed), "success")
            return redirect(url_for("sla.policies"))
    config = _config()
    return render_template("sla/policies.html", form=form, policies=service_levels.policies(),
                           default=config.sla_default, hours=config.sla_business_hours, zone=config.timezone,
                           holidays=config.sla_holidays, confirm=forms.ConfirmForm()), 422 if form.errors else 200


@bp.route("/<int:policy_id>/delete", methods=["POST"])
@admin_only
def delete(policy_id: int):
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    row = next((p for p in service_levels.policies() if p.id == policy_id), None)
    if row is None:
        abort(404)
    service_levels.delete_policy(_settings(), row.name)
    flash(_("Removed: %(name)s", name=row.name), "success")
    return redirect(url_for("sla.policies"))


