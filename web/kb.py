"""The knowledge base in the portal (issue 17, item 6): the list (articles for the
reader's devices first), search, one article with its files, suggestions for the
new-ticket form, and the staff pages that write, edit and publish articles.

Who reads which article is domain.kb's (`reader_for`, `visible`): an article the reader
may not read is "not found", its files too. Every page runs a fixed number of queries.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from helpdesk.domain import kb, kb_render, limits
from helpdesk.domain.storage import BlobStore
from helpdesk.domain.validation import Invalid
from helpdesk.models import Article

from . import forms
from .context import config as _config
from .kb_reader import reader
from .staff import staff_only
from .tickets import DOWNLOAD_CSP, uploads

bp = Blueprint("kb", __name__, url_prefix="/kb")
staff = Blueprint("kb_staff", __name__, url_prefix="/staff/kb")


def audience_label(value: str) -> str:
    return {"public": _("public"), "customers": _("customers"), "partners": _("partners")}.get(value, value)


def language_label(value: str) -> str:
    return {"pl": "polski", "en": "English"}.get(value, value)


@bp.app_context_processor
def _labels():
    return {"kb_audience_label": audience_label, "kb_language_label": language_label}


# --- reading ---------------------------------------------------------------------------------------


@bp.route("")
def index():
    text = request.args.get("q", "")[:200]
    language = request.args.get("language", "")
    after = kb.decode_cursor(request.args.get("after"))
    rows, more = kb.listing(reader(), text=text, after=after, language=language)
    yours = []
    if not text and after is None and not language:  # the first page: the reader's devices first
        models = kb.device_models(reader(), g.now.date())
        yours = kb.matching(reader(), models, kb.DEVICE_ARTICLES) if models else []
    shown = [a.id for a in rows] + [a.id for a, _ in yours]
    return render_template("kb/index.html", rows=rows, more=more, yours=yours, q=text, language=language,
                           tags=kb.tag_labels(shown), summaries={a.id: kb.summary(a) for a in rows},
                           cursor=kb.encode_cursor(rows[-1]) if more else "", paged=after is not None)


@bp.route("/<int:article_id>")
def show(article_id: int):
    article = kb.article_for(reader(), article_id)
    if article is None:
        abort(404)
    return render_template("kb/show.html", article=article, html=Markup(kb_render.to_html(article.body)),  # noqa: S704 (sanitised by nh3)
                           tags=kb.tags_of([article.id])[article.id], files=kb.files_of(article.id))


@bp.route("/<int:article_id>/files/<int:file_id>/<path:filename>")
def file(article_id: int, file_id: int, filename: str):
    found = kb.file_for(reader(), article_id, file_id)
    if found is None:
        abort(404)
    store = BlobStore(_config().blob_dir, _config().raw_dir)
    response = send_file(store.blob_path(found.blob.sha256), mimetype="application/octet-stream", as_attachment=True,
                         download_name=limits.one_line(found.filename) or "file", max_age=0, conditional=False)
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- staff -----------------------------------------------------------------------------------------


@staff.route("")
@staff_only
def staff_index():
    text = request.args.get("q", "")[:200]
    after = kb.decode_cursor(request.args.get("after"))
    rows, more = kb.listing(reader(), text=text, after=after, limit=50)
    return render_template("kb/staff_index.html", rows=rows, more=more, q=text, tags=kb.tags_of([a.id for a in rows]),
                           cursor=f"0-{rows[-1].id}" if more else "")


def _draft(form: forms.ArticleForm) -> kb.Draft:
    return kb.Draft(title=form.title.data or "", body=form.body.data or "", language=form.language.data,
                    audience=form.audience.data, min_level=int(form.min_level.data or 0),
                    models=[form.models.data or ""], manufacturers=[form.manufacturers.data or ""],
                    publish=bool(form.publish.data))


def _edit(article: Article | None):
    form = forms.ArticleForm()
    files = kb.files_of(article.id) if article else []
    form.remove_files.choices = [(f.id, f.filename) for f in files]
    if request.method == "GET" and article is not None:
        tags = kb.tags_of([article.id])[article.id]
        form.title.data, form.body.data, form.language.data = article.title, article.body, article.language
        form.audience.data, form.min_level.data = article.audience, str(article.min_level)
        form.models.data = ", ".join(t.label for t in tags if t.kind == "model")
        form.manufacturers.data = ", ".join(t.label for t in tags if t.kind == "manufacturer")
        form.publish.data = article.published_at is not None
    elif request.method == "GET":
        form.publish.data = True
    if form.validate_on_submit():
        try:
            saved = kb.save(_config(), _draft(form), article_id=article.id if article else None,
                            uploads=uploads("files"),
                            remove_files=form.remove_files.data or [], by=current_user, now=g.now)
        except Invalid as error:
            form.body.errors = [*form.body.errors, forms.translated(error)]
        else:
            flash(_("The article is saved and published.") if saved.published_at else
                  _("The article is saved as a draft: only staff see it."), "success")
            return redirect(url_for("kb_staff.edit", article_id=saved.id))
    status = 422 if request.method == "POST" else 200
    return render_template("kb/edit.html", form=form, article=article, files=files), status


@staff.route("/new", methods=["GET", "POST"])
@staff_only
def new():
    return _edit(None)


@staff.route("/<int:article_id>", methods=["GET", "POST"])
@staff_only
def edit(article_id: int):
    article = Article.get_or_none(Article.id == article_id)
    if article is None:
        abort(404)
    return _edit(article)

