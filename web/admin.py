"""Admin pages for partners (SPEC P1, P2, L1-L3): programme applications, partner
companies to verify and their levels, role changes, level applications, distributors,
resources, programme terms, own solutions, and the audit trail of every decision."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from peewee import JOIN

from helpdesk.domain import audit as audit_log, keyset, levels, partner_access, partners
from helpdesk.domain.storage import BlobStore
from helpdesk.domain.validation import Invalid
from helpdesk.models import (
    PARTNER_ROLES,
    AuditLog,
    Blob,
    Company,
    Distributor,
    LevelApplication,
    LevelEvidence,
    PartnerApplication,
    Permission,
    ProgrammeTerms,
    RequestStatus,
    Resource,
    RoleChangeRequest,
    Solution,
    User,
    db,
)

from . import forms
from .context import config as _config
from .i18n import label
from .paging import back_to, paged, search_text
from .rows import link_for
from .staff import admin_only

bp = Blueprint("admin", __name__, url_prefix="/admin")
# Each list's order, read a page at a time from a cursor (web/paging.py).
PENDING_ORDER = keyset.Order((PartnerApplication.submitted_at, PartnerApplication.id))  # oldest first
DECIDED_ORDER = keyset.Order((PartnerApplication.decided_at, PartnerApplication.id), descending=True)
WAITING_ORDER = keyset.Order((Company.created_at, Company.id))  # oldest first
VERIFIED_ORDER = keyset.Order((Company.name, Company.id))
ROLE_CHANGES_ORDER = keyset.Order((RoleChangeRequest.status, RoleChangeRequest.created_at, RoleChangeRequest.id),
                                  descending=True)
LEVELS_ORDER = keyset.Order((LevelApplication.status, LevelApplication.created_at, LevelApplication.id),
                            descending=True)
SOLUTIONS_ORDER = keyset.Order((Solution.created_at, Solution.id), descending=True)
AUDIT_ORDER = keyset.Order((AuditLog.at, AuditLog.id), descending=True)  # newest first


def _decide(decide, object_id: int, back: str):
    """Approve or reject by the button pressed; the reason comes from the form."""
    form = forms.DecisionForm()
    if not form.validate_on_submit():
        abort(400)
    approve = request.form.get("decision") == "approve"
    if request.form.get("decision") not in ("approve", "reject"):
        abort(400)
    try:
        decide(_config(), object_id, approve, form.reason.data or "", by=current_user, now=g.now)
    except Invalid as error:
        flash(forms.translated(error), "error")
    else:
        flash(_("Approved.") if approve else _("Rejected."), "success")
    return redirect(back)


@bp.route("")
@admin_only
def index():
    return redirect(url_for("admin.applications"))


# --- programme applications ---------------------------------------------------------------------


def pending_applications():
    return (PartnerApplication.select(PartnerApplication, Company).join(Company)
            .where(PartnerApplication.status == RequestStatus.PENDING.value))


def decided_applications():
    return (PartnerApplication.select(PartnerApplication, Company).join(Company)
            .where(PartnerApplication.decided_at.is_null(False),  # the condition of its index (migration 042)
                   PartnerApplication.status.in_([RequestStatus.APPROVED.value, RequestStatus.REJECTED.value])))


@bp.route("/applications")
@admin_only
def applications():
    pending = paged(pending_applications(), PENDING_ORDER, prefix="pending_")
    decided = paged(decided_applications(), DECIDED_ORDER)
    return render_template("admin/applications.html", pending=pending, decided=decided,
                           levels=partners.PROGRAMME_LEVELS, shown=link_for("admin.application", "application_id"))


@bp.route("/applications/<int:application_id>", methods=["GET", "POST"])
@admin_only
def application(application_id: int):
    item = PartnerApplication.get_or_none(PartnerApplication.id == application_id)
    if item is None:
        abort(404)
    if request.method == "POST":
        return _decide(partners.decide_application, application_id,
                       url_for("admin.application", application_id=application_id))
    return render_template("admin/application.html", application=item, company=Company.get_by_id(item.company_id),
                           distributors=partners.distributor_names(item.id), form=forms.DecisionForm(),
                           terms=ProgrammeTerms.get_or_none(ProgrammeTerms.id == item.terms_id),
                           level=partners.PROGRAMME_LEVELS.get(item.declared_level), roles=forms.COMPANY_ROLE_LABELS)


@bp.route("/applications/<int:application_id>/<any(agreement, certificate):kind>.pdf")
@admin_only
def application_pdf(application_id: int, kind: str):
    item = PartnerApplication.get_or_none(PartnerApplication.id == application_id)
    blob_id = None if item is None else item.agreement_blob_id if kind == "agreement" else item.certificate_blob_id
    if blob_id is None:
        abort(404)
    data = BlobStore(_config().blob_dir, _config().raw_dir).get(Blob.get_by_id(blob_id).sha256)
    return current_app.response_class(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{kind}-{item.verification_code}.pdf"'})


# --- partner companies: verification, level, subscription sales --------------------------------------


@bp.route("/companies")
@admin_only
def companies():
    text = search_text(limit=100)
    waiting, verified = partners.awaiting_verification(), (
        Company.select().where(Company.role.in_(PARTNER_ROLES), Company.verified_at.is_null(False)))
    if text:  # a name's part, or the NIP's beginning
        from .tickets import contains

        named = contains(Company.name, text) | Company.nip.startswith(text.replace("-", "").replace(" ", ""))
        waiting, verified = waiting.where(named), verified.where(named)
    level_choices = [("", _("no level"))] + [(str(s.level), f"{s.level}: {_(s.name)}") for s in levels.LEVELS]
    return render_template("admin/companies.html", waiting=paged(waiting, WAITING_ORDER, prefix="waiting_"),
                           verified=paged(verified, VERIFIED_ORDER), level_choices=level_choices, q=text,
                           roles=forms.COMPANY_ROLE_LABELS, confirm=forms.ConfirmForm(),
                           verify=link_for("admin.verify_company", "company_id"),
                           set_level=link_for("admin.set_level", "company_id"),
                           set_subscriptions=link_for("admin.set_subscriptions", "company_id"))


@bp.route("/companies/<int:company_id>/verify", methods=["POST"])
@admin_only
def verify_company(company_id: int):
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    try:
        company = partners.verify_company(_config(), company_id, by=current_user, now=g.now)
    except Invalid as error:
        flash(forms.translated(error), "error")
    else:
        flash(_("%(name)s is verified.", name=company.name), "success")
    return redirect(back_to(url_for("admin.companies")))


@bp.route("/companies/<int:company_id>/level", methods=["POST"])
@admin_only
def set_level(company_id: int):
    form = forms.SetLevelForm()
    form.level.choices = [("", "")] + [(str(n), str(n)) for n in levels.NUMBERS]
    if not form.validate_on_submit():
        abort(400)
    try:
        partner_access.set_level(company_id, int(form.level.data) if form.level.data else None,
                                 form.reason.data or "", by=current_user, now=g.now)
    except Invalid as error:
        flash(forms.translated(error), "error")
    else:
        flash(_("The level is set; it applies from the partner's next request."), "success")
    return redirect(back_to(url_for("admin.companies")))


@bp.route("/companies/<int:company_id>/subscriptions", methods=["POST"])
@admin_only
def set_subscriptions(company_id: int):
    form = forms.SubscriptionForm()
    if not form.validate_on_submit():
        abort(400)
    with db.atomic():
        company = Company.get_or_none(Company.id == company_id)
        if company is None:
            abort(404)
        Company.update(subscription_seller=form.subscription_seller.data).where(Company.id == company_id).execute()
        audit_log.record(current_user, "set_subscription_seller", "company", company_id,
                       f"{company.nip}: {form.subscription_seller.data}", g.now)
    flash(_("Saved."), "success")
    return redirect(back_to(url_for("admin.companies")))


# --- role changes -------------------------------------------------------------------------------------------


@bp.route("/role-changes", methods=["GET", "POST"])
@admin_only
def role_changes():
    if request.method == "POST":
        return _decide(partners.decide_role_change, request.form.get("request_id", 0, type=int),
                       url_for("admin.role_changes"))
    pager = paged(RoleChangeRequest.select(RoleChangeRequest, Company).join(Company), ROLE_CHANGES_ORDER)
    return render_template("admin/role_changes.html", rows=pager.rows, pager=pager, form=forms.DecisionForm(),
                           roles=forms.COMPANY_ROLE_LABELS)


# --- levels ----------------------------------------------------------------------------------------------------


@bp.route("/levels", methods=["GET", "POST"])
@admin_only
def level_applications():
    if request.method == "POST":
        return _decide(partner_access.decide_level_application, request.form.get("application_id", 0, type=int),
                       url_for("admin.level_applications"))
    pager = paged(LevelApplication.select(LevelApplication, Company).join(Company), LEVELS_ORDER)
    rows = pager.rows
    evidence: dict[int, list] = {}
    for item in LevelEvidence.select().where(LevelEvidence.application.in_([r.id for r in rows])):
        evidence.setdefault(item.application_id, []).append(item)
    table = [(spec, levels.stored_permissions(spec.level)) for spec in levels.LEVELS]
    return render_template("admin/levels.html", rows=rows, pager=pager, evidence=evidence, form=forms.DecisionForm(),
                           table=table, permissions=levels.PERMISSIONS, bases=levels.BASES,
                           distributors={d.id: d.name for d in Distributor.select()})


@bp.route("/levels/evidence/<int:evidence_id>")
@admin_only
def evidence(evidence_id: int):
    item = partner_access.evidence_for_staff(evidence_id)
    if item is None:
        abort(404)
    data = BlobStore(_config().blob_dir, _config().raw_dir).get(Blob.get_by_id(item.blob_id).sha256)
    return current_app.response_class(data, mimetype="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{item.filename}"'})


# --- distributors ------------------------------------------------------------------------------------------------


@bp.route("/distributors", methods=["GET", "POST"])
@admin_only
def distributors():
    form = forms.DistributorForm()
    if form.validate_on_submit():
        with db.atomic():
            distributor, created = Distributor.get_or_create(nip=form.nip.data, defaults={"name": form.name.data})
            if not created:
                Distributor.update(name=form.name.data, active=True).where(Distributor.id == distributor.id).execute()
            audit_log.record(current_user, "add_distributor", "distributor", distributor.id,
                           f"{form.nip.data} {form.name.data}", g.now)
        flash(_("%(name)s (NIP %(nip)s) is on the list of distributors: partners can choose it now.",
                name=form.name.data, nip=form.nip.data) if created else
              _("%(name)s (NIP %(nip)s) was on the list already: its name is updated and it is active.",
                name=form.name.data, nip=form.nip.data), "success")
        return redirect(url_for("admin.distributors"))
    return render_template("admin/distributors.html", form=form, confirm=forms.ConfirmForm(),
                           rows=Distributor.select().order_by(Distributor.name)), 200 if not form.errors else 422


@bp.route("/distributors/<int:distributor_id>/toggle", methods=["POST"])
@admin_only
def toggle_distributor(distributor_id: int):
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    with db.atomic():
        distributor = Distributor.get_or_none(Distributor.id == distributor_id)
        if distributor is None:
            abort(404)
        Distributor.update(active=not distributor.active).where(Distributor.id == distributor_id).execute()
        audit_log.record(current_user, "deactivate_distributor" if distributor.active else "activate_distributor",
                       "distributor", distributor_id, distributor.name, g.now)
    flash(_("%(name)s is deactivated: partners no longer see it.", name=distributor.name) if distributor.active else
          _("%(name)s is active again: partners can choose it.", name=distributor.name), "success")
    return redirect(url_for("admin.distributors"))


# --- resources ------------------------------------------------------------------------------------------------------


def _resource_form():
    form = forms.ResourceForm()
    form.kind.choices = [(k, label("resource_kind", k)) for k in partner_access.RESOURCE_KINDS]
    form.permission.choices = [(code, _(label)) for code, label in levels.PERMISSIONS.items()]
    return form


@bp.route("/resources", methods=["GET", "POST"])
@admin_only
def resources():
    form = _resource_form()
    if form.validate_on_submit():
        upload = request.files.get("file")
        evidence = partner_access.Evidence("", upload.filename, upload.mimetype, upload.read()) \
            if upload and upload.filename else None
        try:
            partner_access.add_resource(_config(), title=form.title.data, kind=form.kind.data,
                                        permission_code=form.permission.data, body=form.body.data or "",
                                        upload=evidence, by=current_user, now=g.now)
        except Invalid as error:
            form.permission.errors = [*form.permission.errors, forms.translated(error)]
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.resources"))
    rows = Resource.select(Resource, Permission).join(Permission).order_by(Permission.code, Resource.title)
    return render_template("admin/resources.html", form=form, rows=rows, confirm=forms.ConfirmForm(),
                           permissions=levels.PERMISSIONS), 200 if not form.errors else 422


@bp.route("/resources/<int:resource_id>/delete", methods=["POST"])
@admin_only
def delete_resource(resource_id: int):
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    partner_access.delete_resource(resource_id, by=current_user, now=g.now)
    return redirect(url_for("admin.resources"))


# --- terms, solutions, audit ----------------------------------------------------------------------------------------


@bp.route("/terms", methods=["GET", "POST"])
@admin_only
def terms():
    form = forms.TermsVersionForm()
    if form.validate_on_submit():
        if ProgrammeTerms.select().where(ProgrammeTerms.version == form.version.data).exists():
            form.version.errors = [_("This version exists already.")]
        else:
            with db.atomic():
                item = ProgrammeTerms.create(version=form.version.data, text=form.text.data, published_at=g.now)
                audit_log.record(current_user, "publish_terms", "programme_terms", item.id, item.version, g.now)
            flash(_("Published."), "success")
            return redirect(url_for("admin.terms"))
    rows = ProgrammeTerms.select().order_by(ProgrammeTerms.published_at.desc(), ProgrammeTerms.id.desc())
    return render_template("admin/terms.html", form=form, rows=rows), 200 if not form.errors else 422


@bp.route("/solutions")
@admin_only
def solutions():
    pager = paged(Solution.select(Solution, Company).join(Company), SOLUTIONS_ORDER, size=20)
    return render_template("admin/solutions.html", rows=pager.rows, pager=pager)


@bp.route("/audit")
@admin_only
def audit():
    pager = paged(AuditLog.select(AuditLog, User).join(User, on=(AuditLog.actor == User.id), join_type=JOIN.LEFT_OUTER),
                  AUDIT_ORDER, size=100)
    return render_template("admin/audit.html", rows=pager.rows, pager=pager)
