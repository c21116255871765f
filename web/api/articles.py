"""Knowledge-base articles through the API, read-only (issue 17, item 6): the list
(searched, newest first) and one article with its text, its sanitised HTML and its files,
by the portal's rules (domain.kb: an article the token's user may not read is not found)."""
from __future__ import annotations

from flask import g, request, send_file, url_for

from helpdesk.domain import kb, kb_render
from helpdesk.domain.storage import BlobStore
from helpdesk.models import Article
from helpdesk.web import tickets as ticket_pages

from .core import Problem, bp, config, needs
from .tickets import decode_cursor, encode_cursor, page_size


def _reader() -> kb.Reader:
    return kb.reader_for(g.api_user, g.now.date())


def article_json(article: Article, tags, *, full: bool = False) -> dict:
    out = {**kb.as_row(article, tags), "url": f"{config().base_url}/kb/{article.id}"}
    if full:
        out["body_markdown"] = article.body
        out["body_html"] = kb_render.to_html(article.body)
        out["files"] = [{"id": f.id, "filename": f.filename, "content_type": f.content_type, "size": f.size,
                         "url": config().base_url + url_for("api.article_file", article_id=article.id, file_id=f.id)}
                        for f in kb.files_of(article.id)]
    return out


@bp.get("/articles")
@needs("tickets:read")
def list_articles():
    size = page_size()
    language = request.args.get("language", "")
    if language not in ("", *kb.LANGUAGES):
        raise Problem(400, "Bad Request", "language: pl or en.", kind="bad-parameter")
    after = None
    if request.args.get("cursor"):
        stamp, last = decode_cursor(request.args["cursor"], (str, int))
        after = kb.decode_cursor(f"{stamp}-{last}")
        if after is None:
            raise Problem(400, "Bad Request", "The cursor is not one this API gave.", kind="bad-cursor")
    rows, more = kb.listing(_reader(), text=request.args.get("q", "")[:200], after=after, limit=size,
                            language=language)
    tags = kb.tags_of([a.id for a in rows])
    cursor = None
    if more:
        stamp, last = kb.encode_cursor(rows[-1]).split("-")
        cursor = encode_cursor(stamp, int(last))
    return {"items": [article_json(a, tags[a.id]) for a in rows], "next_cursor": cursor}


@bp.get("/articles/<int:article_id>")
@needs("tickets:read")
def show_article(article_id: int):
    article = kb.article_for(_reader(), article_id)
    if article is None:
        raise Problem(404, "Not Found")
    return article_json(article, kb.tags_of([article.id])[article.id], full=True)


@bp.get("/articles/<int:article_id>/files/<int:file_id>")
@needs("tickets:read")
def article_file(article_id: int, file_id: int):
    found = kb.file_for(_reader(), article_id, file_id)
    if found is None:
        raise Problem(404, "Not Found")
    store = BlobStore(config().blob_dir, config().raw_dir)
    response = send_file(store.blob_path(found.blob.sha256), mimetype="application/octet-stream", as_attachment=True,
                         download_name=found.filename, max_age=0, conditional=False)
    response.headers["Content-Security-Policy"] = ticket_pages.DOWNLOAD_CSP
    return response
