"""The engineers' working day on the staff pages: canned answers (kept at /staff/canned),
tags, merging and splitting tickets. Engineers and admins only. What the staff ticket page
(web/staff.py) shows of these, and the canned answers and collisions of its reply form,
are in web/ticket_extras.py."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from helpdesk.domain import canned, merge, service_levels, tags
from helpdesk.domain.validation import Invalid
from helpdesk.models import CannedAnswer, Message, Ticket

from . import forms
from .context import config as _config
from .staff import staff_only

bp = Blueprint("desk", __name__, url_prefix="/staff")


def _prefix() -> str:
    return _config().ticket_prefix


def _ticket_or_404(ticket_id: int) -> Ticket:
    ticket = Ticket.get_or_none(Ticket.id == ticket_id)
    if ticket is None:
        abort(404)
    return ticket


# --- canned answers ----------------------------------------------------------------------------------


@bp.route("/canned", methods=["GET", "POST"])
@staff_only
def canned_list():
    form = forms.CannedForm(prefix="new")
    if form.validate_on_submit():
        try:
            answer = canned.save(form.name.data, title=form.title.data or "", body_pl=form.body_pl.data or "",
                                 body_en=form.body_en.data or "", by=current_user, now=g.now)
        except Invalid as error:
            form.body_pl.errors = [forms.translated(error)]
        else:
            flash(_("Canned answer %(name)s saved.", name=answer.name), "success")
            return redirect(url_for("desk.canned_list"))
    return render_template("desk/canned.html", answers=canned.all_answers(), form=form,
                           confirm=forms.ConfirmForm()), 422 if form.errors else 200


@bp.route("/canned/<int:answer_id>", methods=["GET", "POST"])
@staff_only
def canned_edit(answer_id: int):
    answer = CannedAnswer.get_or_none(CannedAnswer.id == answer_id)
    if answer is None:
        abort(404)
    form = forms.CannedForm(prefix="edit", obj=answer)
    if form.validate_on_submit():
        try:
            canned.save(form.name.data, title=form.title.data or "", body_pl=form.body_pl.data or "",
                        body_en=form.body_en.data or "", by=current_user, answer_id=answer.id, now=g.now)
        except Invalid as error:
            form.body_pl.errors = [forms.translated(error)]
        else:
            flash(_("Canned answer %(name)s saved.", name=form.name.data), "success")
            return redirect(url_for("desk.canned_list"))
    return render_template("desk/canned_edit.html", answer=answer, form=form), 422 if form.errors else 200


@bp.route("/canned/<int:answer_id>/delete", methods=["POST"])
@staff_only
def canned_delete(answer_id: int):
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    canned.delete(answer_id)
    flash(_("Canned answer deleted."), "success")
    return redirect(url_for("desk.canned_list"))


# --- tags -----------------------------------------------------------------------------------------------


@bp.route("/tickets/<int:ticket_id>/tags", methods=["POST"])
@staff_only
def tag(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    back = redirect(url_for("staff.ticket", ticket_id=ticket.id) + "#tags")
    removing = request.form.get("remove")
    if removing is not None:
        if not forms.ConfirmForm().validate_on_submit():
            abort(400)
        tags.remove(ticket.id, [removing])
        return back
    form = forms.TagForm(prefix="tag")
    if not form.validate_on_submit():
        flash(_("Give a tag."), "error")
        return back
    try:
        tags.add(ticket.id, tags.parse(form.tags.data), now=g.now)
    except Invalid as error:
        flash(forms.translated(error), "error")
    return back


# --- merge and split ----------------------------------------------------------------------------------


@bp.route("/tickets/<int:ticket_id>/merge", methods=["POST"])
@staff_only
def merge_ticket(ticket_id: int):
    source = _ticket_or_404(ticket_id)
    form = forms.MergeForm(prefix="merge")
    if not form.validate_on_submit():
        flash(_("Give a ticket number."), "error")
        return redirect(url_for("staff.ticket", ticket_id=source.id))
    target_id = form.target.data
    try:
        merge.merge(source.id, target_id, current_user, confirmed=form.confirmed.data == "1", now=g.now,
                    prefix=_prefix())
    except merge.NotFound:
        flash(_("There is no ticket %(number)s.", number=target_id), "error")
        return redirect(url_for("staff.ticket", ticket_id=source.id))
    except Invalid as error:
        flash(forms.translated(error), "error")
        return redirect(url_for("staff.ticket", ticket_id=source.id))
    except merge.DifferentCompanies as different:
        form.confirmed.data = "1"
        return render_template("desk/merge_confirm.html", source=source, target=_ticket_or_404(target_id),
                               form=form, different=different, prefix=_prefix()), 409
    flash(_("%(source)s is merged into %(target)s.", source=f"{_prefix()}-{source.id}",
            target=f"{_prefix()}-{target_id}"), "success")
    return redirect(url_for("staff.ticket", ticket_id=target_id))


@bp.route("/tickets/<int:ticket_id>/messages/<int:message_id>/split", methods=["GET", "POST"])
@staff_only
def split(ticket_id: int, message_id: int):
    message = Message.get_or_none(Message.id == message_id, Message.ticket == ticket_id)
    if message is None:
        abort(404)
    form = forms.SplitForm()
    if form.validate_on_submit():
        try:
            new = merge.split(message.id, current_user, with_later=form.with_later.data, now=g.now,
                              prefix=_prefix(), sla=service_levels.settings_of(_config()))
        except Invalid as error:
            flash(forms.translated(error), "error")
            return redirect(url_for("staff.ticket", ticket_id=ticket_id))
        flash(_("The new ticket is %(ref)s.", ref=new.ref(_prefix())), "success")
        return redirect(url_for("staff.ticket", ticket_id=new.id))
    return render_template("desk/split.html", form=form, message=message, ticket=_ticket_or_404(ticket_id),
                           prefix=_prefix())
