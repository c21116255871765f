"""Registration, activation, logging in and out, passwords by mail (SPEC W1-W3)."""
from __future__ import annotations

import logging

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from helpdesk.domain import accounts, links
from helpdesk.domain.validation import Invalid

from . import forms
from .context import config as _config
from .i18n import current_language
from .security import client_ip, landing_url, safe_next, sign_in

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = forms.RegistrationForm()
    if form.validate_on_submit():
        accounts.register(_config(), accounts.Registration(
            first_name=form.first_name.data, last_name=form.last_name.data, email=form.email.data,
            phone=form.phone.data, nip=form.nip.data, company_name=form.company_name.data,
            language=current_language()), ip=client_ip(), now=g.now)
        # The same page whether the address is new or not: only its owner learns which.
        return redirect(url_for("auth.registered"))
    return render_template("auth/register.html", form=form), 200 if not form.errors else 422


@bp.route("/register/done")
def registered():
    return render_template("auth/registered.html", form=forms.EmailOnlyForm())


@bp.route("/activate/resend", methods=["GET", "POST"])
def resend_activation():
    form = forms.EmailOnlyForm()
    if form.validate_on_submit():
        accounts.resend_activation(_config(), form.email.data, ip=client_ip(), now=g.now)
        return redirect(url_for("auth.registered"))
    return render_template("auth/resend.html", form=form)


def _bad_link(error: links.BadLink, again: str):
    log.info("refused a %s link: %s", again, error.why)
    return render_template("auth/bad_link.html", again=again), 410


@bp.route("/activate/<token>", methods=["GET", "POST"])
def activate(token: str):
    form = forms.ConfirmForm()
    try:
        user = accounts.activation_user(_config(), token)
        if not form.validate_on_submit():
            return render_template("auth/activate.html", form=form, user=user)
        user = accounts.activate(_config(), token, now=g.now)
    except links.BadLink as error:
        if current_user.is_authenticated:
            # The Back button after activating, or the mail's link opened again: nothing is wrong.
            log.info("a used or stale activation link opened while signed in: %s", error.why)
            flash(_("Your account is already active and you are signed in."), "info")
            return redirect(landing_url(current_user))
        return _bad_link(error, "activation")
    sign_in(user)
    flash(_("Your account is active. We have mailed you a link to set your password."), "success")
    return redirect(landing_url(user))


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = forms.LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data, ip=client_ip(), now=g.now)
        except accounts.LoginRefused as refused:
            message = _("Too many failed attempts. Try again in 15 minutes.") if refused.limited else \
                _("Wrong email address or password.")
            return render_template("auth/login.html", form=form, error=message), 429 if refused.limited else 401
        sign_in(user)
        return redirect(safe_next(form.next.data, landing_url(user)))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        # Ended on the server too: a copy of the cookie taken before is worth nothing now.
        accounts.end_sessions(current_user)
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = forms.EmailOnlyForm()
    if form.validate_on_submit():
        accounts.forgot_password(_config(), form.email.data, ip=client_ip(), now=g.now)
        return render_template("auth/forgot_sent.html")
    return render_template("auth/forgot.html", form=form)


@bp.route("/password/set/<token>", methods=["GET", "POST"])
def set_password(token: str):
    form = forms.SetPasswordForm()
    try:
        user = accounts.password_link_user(_config(), token)
        if form.validate_on_submit():
            try:
                user = accounts.set_password_by_link(_config(), token, form.password.data, now=g.now)
            except Invalid as error:
                form.password.errors.append(forms.translated(error))
            else:
                sign_in(user)
                flash(_("Your password is set."), "success")
                return redirect(landing_url(user))
    except links.BadLink as error:
        return _bad_link(error, "password")
    return render_template("auth/set_password.html", form=form, user=user)
