"""The signed-in user's own account (SPEC W3): password, email address, preferences, deletion."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from helpdesk.domain import accounts, api_tokens, links
from helpdesk.domain.validation import Invalid
from helpdesk.models import User

from . import forms
from .auth import _bad_link
from .context import config as _config
from .i18n import LANGUAGES
from .security import client_ip, sign_in

bp = Blueprint("account", __name__, url_prefix="/account")


def _token_form(form=None):
    form = form or forms.TokenForm(prefix="tk")
    form.scopes.choices = [(s, forms.SCOPE_LABELS[s]) for s in api_tokens.SCOPES
                           if s != "admin" or current_user.role == "admin"]
    return form


def _page(new_token: str = "", **forms_):
    defaults = dict(token_form=_token_form(), tokens=list(api_tokens.of_user(current_user, 50)), new_token=new_token,
                    password_form=forms.ChangePasswordForm(prefix="pw"),
                    email_form=forms.ChangeEmailForm(prefix="em"),
                    preferences_form=forms.PreferencesForm(prefix="pr", digest_opt_in=current_user.digest_opt_in,
                                                           language=current_user.language),
                    delete_form=forms.DeleteAccountForm(prefix="del"))
    defaults.update(forms_)
    status = 422 if any(f.errors for f in forms_.values()) else 200
    defaults["confirm"] = forms.ConfirmForm()
    if g.get("too_many_attempts"):
        status = 429
    return render_template("account/index.html", **defaults), status


@bp.route("")
@login_required
def index():
    return _page()


@bp.route("/password", methods=["POST"])
@login_required
def change_password():
    form = forms.ChangePasswordForm(prefix="pw")
    if form.validate_on_submit():
        try:
            user = accounts.change_password(current_user, form.current.data, form.password.data, ip=client_ip(),
                                            now=g.now)
        except Invalid as error:
            g.too_many_attempts = isinstance(error, accounts.TooManyWrongPasswords)
            target = form.current if isinstance(error, accounts.WrongPassword) else form.password
            target.errors = [*target.errors, forms.translated(error)]
        else:
            sign_in(user)  # this session goes on; every other one has ended
            flash(_("Your password is changed. You have been signed out everywhere else."), "success")
            return redirect(url_for("account.index"))
    return _page(password_form=form)


@bp.route("/email", methods=["POST"])
@login_required
def change_email():
    form = forms.ChangeEmailForm(prefix="em")
    if form.validate_on_submit():
        try:
            accounts.request_email_change(_config(), current_user, form.current.data,
                                          form.email.data, ip=client_ip(), now=g.now)
        except Invalid as error:
            g.too_many_attempts = isinstance(error, accounts.TooManyWrongPasswords)
            form.current.errors = [*form.current.errors, forms.translated(error)]
        else:
            flash(_("We have sent a confirmation link to %(address)s. Your address changes when you open it.",
                    address=form.email.data), "success")
            return redirect(url_for("account.index"))
    return _page(email_form=form)


@bp.route("/email/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    config = _config()
    form = forms.ConfirmForm()
    try:
        user, new_email = links.open_link(config.secret_key, "change_email", token)
        if not form.validate_on_submit():
            return render_template("account/confirm_email.html", form=form, user=user, new_email=new_email)
        user = accounts.confirm_email_change(config, token, now=g.now)
    except links.BadLink as error:
        return _bad_link(error, "email")
    sign_in(user)
    flash(_("Your email address is now %(address)s.", address=user.email), "success")
    return redirect(url_for("account.index"))


@bp.route("/preferences", methods=["POST"])
@login_required
def preferences():
    form = forms.PreferencesForm(prefix="pr")
    if form.validate_on_submit():
        language = form.language.data if form.language.data in LANGUAGES else current_user.language
        User.update(digest_opt_in=bool(form.digest_opt_in.data), language=language).where(
            User.id == current_user.id).execute()
        session["lang"] = language
        flash(_("Your preferences are saved."), "success")
        return redirect(url_for("account.index"))
    return _page(preferences_form=form)


@bp.route("/delete", methods=["POST"])
@login_required
def delete():
    form = forms.DeleteAccountForm(prefix="del")
    if form.validate_on_submit():
        try:
            accounts.delete_account(current_user, form.current.data, ip=client_ip(), now=g.now)
        except Invalid as error:
            g.too_many_attempts = isinstance(error, accounts.TooManyWrongPasswords)
            form.current.errors = [*form.current.errors, forms.translated(error)]
        else:
            logout_user()
            flash(_("Your account has been deleted."), "success")
            return redirect(url_for("auth.login"))
    return _page(delete_form=form)


@bp.route("/tokens", methods=["POST"])
@login_required
def create_token():
    """A personal API token; its secret is on this one page, never again."""
    form = _token_form(forms.TokenForm(prefix="tk"))
    if form.validate_on_submit():
        try:
            _, secret = api_tokens.create(current_user, form.scopes.data, days=form.days.data, name=form.name.data,
                                          now=g.now)
        except Invalid as error:
            form.scopes.errors = [*form.scopes.errors, forms.translated(error)]
        else:
            return _page(new_token=secret)
    return _page(token_form=form)


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    if api_tokens.revoke(token_id, user=current_user, now=g.now):
        flash(_("The token is revoked."), "success")
    return redirect(url_for("account.index") + "#tokens")
