"""The partner side of the portal (SPEC P1-P3, L1-L3): registering as a partner, company
data and role changes, the programme enrolment wizard, sales registration, level
applications, resources gated by permission, own solutions, the web form to support.

Every step of the wizard asks domain.partners where the application stands and redirects
there when the URL asks for a step not reached; every tool asks domain.levels on the
server, at each request, whether the partner's level has the permission.
"""
from __future__ import annotations

import functools
import io

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from helpdesk.domain import accounts, conversation, levels, partner_access, partners, validation
from helpdesk.domain.prepared import prepared
from helpdesk.domain.storage import BlobStore
from helpdesk.domain.validation import Invalid
from helpdesk.models import (
    Blob,
    Company,
    LevelApplication,
    PartnerApplication,
    ProgrammeTerms,
    RequestStatus,
    Role,
    RoleChangeRequest,
)

from . import forms
from .context import config as _config
from .i18n import current_language
from .security import client_ip
from .tickets import choose_files_again

bp = Blueprint("partners", __name__, url_prefix="/partner")
public = Blueprint("certificates", __name__)
SERVICE_LEVELS = ("NBD", "4h", "8x5", "24x7", "Standard")


def _company() -> Company:
    found = _company_by_id.first(current_user.company_id)
    if found is None:
        raise Company.DoesNotExist(current_user.company_id)
    return found


@prepared
def _company_by_id(company_id: int):
    return Company.select().where(Company.id == company_id).limit(1)


def partner_only(view):
    """Partners only (anyone else: not found); an unverified one gets the waiting page."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.role != Role.PARTNER.value or not current_user.company_id:
            abort(404)
        if _company().verified_at is None:
            return render_template("partners/waiting.html", company=_company()), 403
        return view(*args, **kwargs)

    return wrapped


def needs(code: str):
    """The view only with the permission `code`; a page saying why otherwise."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not levels.can(current_user, code):
                return refused(_("Your partner level does not include this: %(what)s.",
                                 what=_(levels.PERMISSIONS[code])))
            return view(*args, **kwargs)

        return partner_only(wrapped)

    return decorator


def refused(message: str):
    return render_template("partners/refused.html", message=message, level=levels.company_level(current_user)), 403


# --- registering as a partner and the company (P2) ------------------------------------------------


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = forms.PartnerRegistrationForm()
    if form.validate_on_submit():
        try:
            accounts.register(_config(), accounts.Registration(
                first_name=form.first_name.data, last_name=form.last_name.data, email=form.email.data,
                phone=form.phone.data, nip=form.nip.data, company_name=form.company_name.data,
                language=current_language()), ip=client_ip(), now=g.now, partner_role=form.company_role.data)
        except Invalid as error:
            form.nip.errors = [*form.nip.errors, forms.translated(error)]
        else:
            return redirect(url_for("auth.registered"))
    return render_template("partners/register.html", form=form), 200 if not form.errors else 422


@bp.route("")
@login_required
def index():
    if current_user.role != Role.PARTNER.value or not current_user.company_id:
        return render_template("partners/not_partner.html"), 403
    company = _company()
    if company.verified_at is None:
        return render_template("partners/waiting.html", company=company)
    application = partners.open_application(company.id)
    return render_template("partners/index.html", company=company, application=application,
                           step=partners.next_step(application), allowed=levels.permissions_for(current_user),
                           level=levels.company_level(current_user), level_names=_level_names())


def _level_names() -> dict[int, str]:
    return {spec.level: _(spec.name) for spec in levels.LEVELS}


@bp.route("/company", methods=["GET", "POST"])
@login_required
def company():
    if current_user.role != Role.PARTNER.value or not current_user.company_id:
        abort(404)
    form = forms.RoleChangeForm()
    if form.validate_on_submit():
        try:
            partners.request_role_change(current_user, form.role.data, now=g.now)
        except Invalid as error:
            form.role.errors = [*form.role.errors, forms.translated(error)]
        else:
            flash(_("Your request to change the role to %(role)s is waiting for our verification; we will mail "
                    "you the decision.", role=forms.COMPANY_ROLE_LABELS.get(form.role.data, form.role.data)), "success")
            return redirect(url_for("partners.company"))
    requests = (RoleChangeRequest.select().where(RoleChangeRequest.company == current_user.company_id)
                .order_by(RoleChangeRequest.created_at.desc()))
    return render_template("partners/company.html", company=_company(), form=form, requests=requests,
                           roles=forms.COMPANY_ROLE_LABELS), 200 if not form.errors else 422


# --- the programme (P1) ------------------------------------------------------------------------------


def _at_step(step: str):
    """The open application, or a redirect to the step it is really at (no skipping by URL,
    and no going back into a submitted application)."""
    application = partners.open_application(current_user.company_id)
    actual = partners.next_step(application)
    if actual != step and (partners.STEPS.index(actual) < partners.STEPS.index(step) or actual == "status"):
        return None, redirect(url_for(f"partners.programme_{actual}" if actual != "start" else "partners.programme"))
    return application, None


@bp.route("/programme")
@login_required
def programme():
    if current_user.role != Role.PARTNER.value or not current_user.company_id:
        abort(404)
    refusal = partners.enrolment_refusal(current_user)
    application = None if refusal else partners.open_application(current_user.company_id)
    return render_template("partners/programme.html", refusal=_(refusal) if refusal else None,
                           application=application, step=partners.next_step(application),
                           form=forms.ConfirmForm()), 403 if refusal else 200


@bp.route("/programme/start", methods=["POST"])
@partner_only
def programme_start():
    form = forms.ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        application = partners.start(current_user, now=g.now)
    except partners.NotAllowed as error:
        return refused(forms.translated(error))
    step = partners.next_step(application)
    return redirect(url_for(f"partners.programme_{step}"))


@bp.route("/programme/terms", methods=["GET", "POST"])
@partner_only
def programme_terms():
    application, elsewhere = _at_step("terms")
    if elsewhere:
        return elsewhere
    terms = partners.current_terms()
    form = forms.TermsForm(terms_id=str(terms.id) if terms else "")
    if request.method == "GET" and terms and application and application.terms_id == terms.id:
        form.accept.data = application.terms_accepted_at is not None  # back from a later step: still accepted
    if form.validate_on_submit():
        try:
            partners.accept_terms(current_user, int(form.terms_id.data or 0) if (form.terms_id.data or "").isdigit()
                                  else 0, now=g.now)
        except Invalid as error:
            form.accept.errors = [*form.accept.errors, forms.translated(error)]
        else:
            return redirect(url_for("partners.programme_distributors"))
    return render_template("partners/terms.html", form=form, terms=terms, step="terms"), 200 if not form.errors else 422


@bp.route("/programme/distributors", methods=["GET", "POST"])
@partner_only
def programme_distributors():
    application, elsewhere = _at_step("distributors")
    if elsewhere:
        return elsewhere
    form = forms.DistributorsForm()
    form.distributors.choices = [(d.id, d.name) for d in partners.active_distributors()]
    if request.method == "GET":  # back from a later step: what was chosen is still chosen
        form.distributors.data = partners.chosen_distributors(application.id)
    if form.validate_on_submit():
        try:
            partners.choose_distributors(current_user, form.distributors.data, now=g.now)
        except Invalid as error:
            form.distributors.errors = [*form.distributors.errors, forms.translated(error)]
        else:
            return redirect(url_for("partners.programme_level"))
    return render_template("partners/distributors.html", form=form, step="distributors",
                           support_address=_config().support_address,
                           ask_subject=_("Partner programme: please add my distributor")), \
        200 if not form.errors else 422


@bp.route("/programme/level", methods=["GET", "POST"])
@partner_only
def programme_level():
    application, elsewhere = _at_step("level")
    if elsewhere:
        return elsewhere
    form = forms.DeclaredLevelForm()
    form.level.choices = [(code, _(spec["name"])) for code, spec in partners.PROGRAMME_LEVELS.items()]
    if form.validate_on_submit():
        try:
            partners.submit(current_user, form.level.data, now=g.now)
        except Invalid as error:
            form.level.errors = [*form.level.errors, forms.translated(error)]
        else:
            return redirect(url_for("partners.programme_status"))
    table = {code: partners.targets(code) for code in partners.PROGRAMME_LEVELS}
    return render_template("partners/level_step.html", form=form, table=table, step="level", names=dict(form.level.choices),
                           distributors=partners.distributor_names(application.id)), 200 if not form.errors else 422


@bp.route("/programme/status")
@partner_only
def programme_status():
    application = partners.open_application(current_user.company_id)
    latest = application or (PartnerApplication.select()
                             .where(PartnerApplication.company == current_user.company_id,
                                    PartnerApplication.status == RequestStatus.REJECTED.value)
                             .order_by(PartnerApplication.decided_at.desc()).first())
    if latest is None or latest.status == RequestStatus.DRAFT.value:
        return redirect(url_for("partners.programme"))
    level = partners.PROGRAMME_LEVELS.get(latest.declared_level, {})
    return render_template("partners/status.html", application=latest, step="status",
                           level_name=_(level["name"]) if level else latest.declared_level,
                           distributors=partners.distributor_names(latest.id),
                           terms=ProgrammeTerms.get_or_none(ProgrammeTerms.id == latest.terms_id))


def _pdf(blob_id: int | None, filename: str):
    if blob_id is None:
        abort(404)
    blob = Blob.get_by_id(blob_id)
    data = BlobStore(_config().blob_dir, _config().raw_dir).get(blob.sha256)
    return current_app.response_class(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/programme/<int:application_id>/<any(agreement, certificate):kind>.pdf")
@partner_only
def programme_pdf(application_id: int, kind: str):
    application = partners.application_for(current_user, application_id)
    if application is None or application.status != RequestStatus.APPROVED.value:
        abort(404)
    blob_id = application.agreement_blob_id if kind == "agreement" else application.certificate_blob_id
    name = "umowa-partnerska" if kind == "agreement" else "certyfikat-partnera"
    return _pdf(blob_id, f"{name}-{application.verification_code}.pdf")


@public.route("/verify/<code>")
def verify(code: str):
    application, valid = partners.certificate_status(code[:40], g.now.date())
    company = Company.get_by_id(application.company_id) if application else None
    level = partners.PROGRAMME_LEVELS.get(application.declared_level, {}) if application else {}
    return render_template("partners/verify.html", application=application, valid=valid, company=company,
                           code=code[:40], level_name=_(level["name"]) if level else ""), 200 if application else 404


# --- sales registration (P3) ----------------------------------------------------------------------------


@bp.route("/sales")
@needs("sales.register")
def sales():
    return render_template("partners/sales.html", contracts=partners.sold_contracts(current_user.company_id))


@bp.route("/sales/new", methods=["GET", "POST"])
@needs("sales.register")
def new_sale():
    form = forms.SaleForm()
    form.service_level.choices = [(s, s) for s in SERVICE_LEVELS]
    if form.validate_on_submit():
        lines, bad = [], False
        for entry in form.lines:
            model, serial, address = (entry.form.model.data or "").strip(), (entry.form.serial.data or "").strip(), \
                (entry.form.address.data or "").strip()
            if not (model or serial or address):
                continue
            try:
                lines.append(partners.SaleLine(validation.name(model, 200), validation.serial(serial),
                                               validation.name(address, 500)))
            except Invalid as error:
                entry.form.serial.errors = [forms.translated(error)]
                bad = True
        if not bad:
            try:
                contract = partners.register_sale(_config(), current_user, partners.Sale(
                    nip=form.nip.data, customer_name=form.customer_name.data, service_level=form.service_level.data,
                    starts_on=form.starts_on.data, ends_on=form.ends_on.data, lines=tuple(lines)), now=g.now)
            except Invalid as error:
                form.ends_on.errors = [*form.ends_on.errors, forms.translated(error)]
            else:
                flash(_("Sale registered: contract %(number)s. We have mailed you its terms and number.",
                        number=contract.number), "success")
                return redirect(url_for("partners.sales"))
    return render_template("partners/new_sale.html", form=form), 200 if not form.errors and \
        not any(e.form.errors for e in form.lines) else 422


# --- levels and resources (L1-L3) ------------------------------------------------------------------------


@bp.route("/level", methods=["GET", "POST"])
@partner_only
def level():
    company = _company()
    form = forms.LevelApplicationForm()
    form.level.choices = [(n, f"{n}: {name}") for n, name in _level_names().items()]
    form.basis.choices = [("none", _("None needed (level 0)"))] + [(k, _(v)) for k, v in levels.BASES.items()]
    form.distributor.choices = [(0, "—")] + [(d.id, d.name) for d in partners.active_distributors()]
    if form.validate_on_submit():
        nips = [n.strip() for n in (form.nips.data or "").splitlines() if n.strip()]
        files = [f for f in request.files.getlist("files") if f and f.filename]
        if form.basis.data == "three_users":
            evidence = [partner_access.Evidence(nip, f.filename, f.mimetype, f.read()) for nip, f in zip(nips, files)]
            if len(nips) != len(files):
                evidence = []  # every NIP needs its own recommendation
        else:
            evidence = [partner_access.Evidence("", f.filename, f.mimetype, f.read()) for f in files]
        try:
            partner_access.apply_for_level(_config(), current_user, form.level.data, form.basis.data,
                                           evidence=evidence, distributor_id=form.distributor.data or None,
                                           now=g.now)
        except Invalid as error:
            form.basis.errors = [*form.basis.errors, forms.translated(error)]
        else:
            flash(_("Your level application is waiting for a decision."), "success")
            return redirect(url_for("partners.level"))
    if request.method == "POST":
        choose_files_again(form.files, "files")
    applications = company.level_applications.order_by(LevelApplication.created_at.desc())
    table = [(spec, levels.permissions_of(spec.level)) for spec in levels.LEVELS]
    return render_template("partners/level.html", form=form, company=company, applications=applications,
                           table=table, permissions=levels.PERMISSIONS, level_names=_level_names(),
                           on_list=partner_access.on_distributor_list(company), bases=levels.BASES), \
        200 if not form.errors else 422


@bp.route("/resources")
@partner_only
def resources():
    return render_template("partners/resources.html", rows=partner_access.resources_for(current_user),
                           permissions=levels.PERMISSIONS)


def _resource(resource_id: int):
    """(the resource, None), or (None, the page that refuses it); 404 when it is not there."""
    try:
        return partner_access.resource_for(current_user, resource_id), None
    except LookupError:
        abort(404)
    except partners.NotAllowed as error:
        return None, refused(forms.translated(error))


@bp.route("/resources/<int:resource_id>")
@partner_only
def resource(resource_id: int):
    item, refusal = _resource(resource_id)
    return refusal or render_template("partners/resource.html", resource=item)


@bp.route("/resources/<int:resource_id>/file")
@partner_only
def resource_file(resource_id: int):
    item, refusal = _resource(resource_id)
    if refusal:
        return refusal
    if item.blob_id is None:
        abort(404)
    data = BlobStore(_config().blob_dir, _config().raw_dir).get(Blob.get_by_id(item.blob_id).sha256)
    # send_file quotes the name (RFC 6266, filename* for non-ASCII): a name is never a header of its own.
    response = send_file(io.BytesIO(data), mimetype="application/octet-stream", as_attachment=True,
                         download_name=item.filename or "file", max_age=0)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.route("/solutions", methods=["GET", "POST"])
@needs("solutions.submit")
def solutions():
    form = forms.SolutionForm()
    if form.validate_on_submit():
        try:
            partner_access.submit_solution(current_user, form.title.data, form.description.data, now=g.now)
        except Invalid as error:
            return refused(forms.translated(error))
        flash(_("Your solution has been submitted."), "success")
        return redirect(url_for("partners.solutions"))
    return render_template("partners/solutions.html", form=form,
                           solutions=partner_access.solutions_of(current_user.company_id)), \
        200 if not form.errors else 422


@bp.route("/support", methods=["GET", "POST"])
@needs("support.web_form")
def support():
    form = forms.SupportQueryForm()
    if form.validate_on_submit():
        ticket = conversation.submit_ticket(_config(), current_user, contract=None, line=None, title=form.title.data,
                                            description=form.description.data, now=g.now)
        flash(_("Your question has been sent to technical support."), "success")
        return redirect(url_for("tickets.show", ticket_id=ticket.id))
    return render_template("partners/support.html", form=form), 200 if not form.errors else 422
