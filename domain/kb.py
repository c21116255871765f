"""The knowledge base (issue 17, item 6): technical articles written by staff, who may
read which, the articles for a customer's devices, search, and writing them.

Who reads an article (`may_read`, pure; `audience_condition` is the same rule as SQL):
- staff: every article, drafts too;
- a published `public` article: anyone, signed in or not;
- a published `customers` article: a user with an active contract (one it verified, or,
  for a verified partner, one its company sold);
- a published `partners` article: a verified partner whose level is `min_level` or more.
Anything else is "not found".

An article is tagged with manufacturers and device models. A tag's key is its words
folded and run together ("DS-7716NI-K4" -> "ds7716nik4"); a device line matches a tag
when the key is one of the runs of up to four consecutive words of the line's model
("Hikvision DS-7716NI-K4 (rejestrator NVR)" has "hikvision", "ds7716nik4",
"hikvisionds7716nik4", ...): an equality on an index, not a scan.

Lists are newest published first with a keyset cursor (published_at, id); every page
makes a fixed number of queries whatever the number of articles, tags or contracts.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from peewee import JOIN, fn

from helpdesk.config import Config
from helpdesk.models import (
    Article,
    ArticleAudience,
    ArticleFile,
    ArticleTag,
    Blob,
    Company,
    Contract,
    ContractAccess,
    DeviceLine,
    Role,
    User,
    db,
    utcnow,
)

from . import audit, kb_render, search
from .conversation import Upload, checked_uploads
from .prepared import MAX_LISTED, prepared, slices
from .storage import BlobStore
from .validation import N_, Invalid

AUDIENCES = tuple(a.value for a in ArticleAudience)
LANGUAGES = ("pl", "en")
TAG_KINDS = ("manufacturer", "model")
LEVELS = range(0, 6)
MAX_TITLE = 300
MAX_BODY = 200_000  # characters of Markdown
MAX_TAGS = 30  # of each kind
MAX_TAG = 200
MAX_FILES = 20
PAGE = 20
MAX_DEVICE_MODELS = 50  # distinct models of a reader's devices considered for "for your devices"
DEVICE_ARTICLES = 10
SUGGESTED = 5  # articles suggested for one device on the new-ticket form
NGRAM = 4
WORD = re.compile(r"\S+")


# --- who reads what (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """What decides which articles someone reads: staff; an active contract; a verified
    partner's level (None: not a verified partner, or one without a level)."""

    staff: bool = False
    active_contract: bool = False
    partner_level: int | None = None
    user_id: int | None = None  # None: not signed in
    company_id: int | None = None  # the user's company (its verified contracts' devices)


ANONYMOUS = Reader()


def may_read(reader: Reader, audience: str, min_level: int, published: bool) -> bool:
    if reader.staff:
        return True
    if not published:
        return False
    if audience == ArticleAudience.PUBLIC.value:
        return True
    if audience == ArticleAudience.CUSTOMERS.value:
        return reader.active_contract
    if audience == ArticleAudience.PARTNERS.value:
        return reader.partner_level is not None and reader.partner_level >= min_level
    return False


def audiences_for(reader: Reader) -> list[str]:
    """The audiences whose published articles this reader may read (partners' subject to the level)."""
    return [a for a in AUDIENCES if may_read(reader, a, 0, True)]


def audience_condition(reader: Reader):
    """`may_read` as a condition on Article (staff: everything)."""
    return _audience(reader.staff, reader.active_contract, reader.partner_level)


def _audience(staff: bool, customers: bool, level: int | None):
    """`audience_condition` from the reader's facts as values (for `domain.prepared`)."""
    if staff:
        return Article.id.is_null(False)
    condition = Article.published_at.is_null(False) & (Article.audience == ArticleAudience.PUBLIC.value)
    if customers:
        condition |= Article.published_at.is_null(False) & (Article.audience == ArticleAudience.CUSTOMERS.value)
    if level is not None:
        condition |= (Article.published_at.is_null(False) & (Article.audience == ArticleAudience.PARTNERS.value)
                      & (Article.min_level <= level))
    return condition


def reader_for(user, today: dt.date) -> Reader:
    """The facts about a signed-in user (two queries at most), or ANONYMOUS."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ANONYMOUS
    if user.is_staff:
        return Reader(staff=True, user_id=user.id)
    level = None
    sold = False
    if user.role == Role.PARTNER.value and user.company_id:
        company = Company.select(Company.verified_at, Company.partner_level).where(
            Company.id == user.company_id).first()
        if company is not None and company.verified_at is not None:
            level = company.partner_level
            sold = True
    active = _has_active.exists(user.id, user.company_id, user.company_id if sold else None, today)
    return Reader(active_contract=active, partner_level=level, user_id=user.id, company_id=user.company_id)


@prepared
def _has_active(user_id: int, company_id: int | None, sold_by: int | None, today: dt.date):
    """A contract in force today that the user verified, or (`sold_by`: a verified partner's
    company) that its company sold."""
    granted = ContractAccess.select(ContractAccess.contract).where(ContractAccess.user == user_id)
    mine = Contract.id.in_(granted) & (Contract.company == company_id)
    if sold_by is not None:
        mine |= Contract.id.in_(Contract.select(Contract.id).where(Contract.partner == sold_by))
    return Contract.active(today, Contract.select(Contract.id).where(mine)).limit(1)


# --- tags and devices (pure) -------------------------------------------------------------------


def tag_key(label: str) -> str:
    """A tag's words folded and run together, letters and digits only."""
    return "".join(search.TOKEN.findall(search.fold(label)))[:MAX_TAG]


def model_keys(model: str) -> set[str]:
    """Every run of up to NGRAM consecutive words of a device's model, as tag keys."""
    words = [w for w in (tag_key(w) for w in WORD.findall(model or "")) if w]
    return {"".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, min(len(words), i + NGRAM) + 1)}


def clean_tags(labels: Iterable[str]) -> list[tuple[str, str]]:
    """(key, label) of each distinct tag; `Invalid` for too many or too long ones."""
    out: dict[str, str] = {}
    for label in labels:
        for part in (label or "").split(","):
            part = " ".join(part.split())
            if not part:
                continue
            if len(part) > MAX_TAG:
                raise Invalid(N_("A tag is longer than %(limit)s characters."), {"limit": MAX_TAG})
            key = tag_key(part)
            if not key:
                raise Invalid(N_("A tag needs letters or digits: %(tag)s"), {"tag": part[:60]})
            out.setdefault(key, part)
    if len(out) > MAX_TAGS:
        raise Invalid(N_("At most %(limit)s tags of each kind."), {"limit": MAX_TAGS})
    return list(out.items())


# --- reading ---------------------------------------------------------------------------------


def visible(reader: Reader):
    return Article.select().where(audience_condition(reader))


def article_for(reader: Reader, article_id: int) -> Article | None:
    return _article.first(reader.staff, reader.active_contract, reader.partner_level, article_id)


@prepared
def _article(staff: bool, customers: bool, level: int | None, article_id: int):
    return Article.select().where(_audience(staff, customers, level), Article.id == article_id).limit(1)


def file_for(reader: Reader, article_id: int, file_id: int) -> ArticleFile | None:
    if article_for(reader, article_id) is None:
        return None
    return (ArticleFile.select(ArticleFile, Blob).join(Blob)
            .where(ArticleFile.id == file_id, ArticleFile.article == article_id).first())


def encode_cursor(article: Article) -> str:
    stamp = article.published_at or article.created_at
    return f"{int(stamp.replace(tzinfo=dt.timezone.utc).timestamp() * 1_000_000)}-{article.id}"


def decode_cursor(cursor: str | None) -> tuple[dt.datetime, int] | None:
    """(published_at, id) of the last article shown, or None for a missing or bad cursor."""
    found = re.fullmatch(r"(\d{1,17})-(\d{1,18})", cursor or "")
    if not found:
        return None
    when = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(found.group(1)))
    return when, int(found.group(2))


def listing(reader: Reader, *, text: str = "", after: tuple[dt.datetime, int] | None = None, limit: int = PAGE,
            language: str = "") -> tuple[list[Article], bool]:
    """A page of the articles this reader may read, newest published first (drafts last,
    for staff), searched; and whether there are more."""
    terms = search.stemmed_terms(text[:200])
    when, last = after if after is not None else (None, None)
    if reader.staff:
        when = None  # staff page by id alone
    rows = _page(reader.staff, reader.active_contract, reader.partner_level,
                 search.article_match(terms) if terms else None, language if language in LANGUAGES else None,
                 when, last, limit + 1)
    return rows[:limit], len(rows) > limit


@prepared
def _page(staff: bool, customers: bool, level: int | None, match: str | None, language: str | None,
          when: dt.datetime | None, last: int | None, limit: int):
    query = Article.select().where(_audience(staff, customers, level))
    if match is not None:
        query = query.where(search.articles_matching(Article.id, match))
    if language is not None:
        query = query.where(Article.language == language)
    order: tuple = (Article.published_at.desc(), Article.id.desc())
    if not staff:
        if when is not None:
            query = query.where((Article.published_at < when) | ((Article.published_at == when) & (Article.id < last)))
    else:  # staff: newest written first, drafts among them; a cursor is the id
        order = (Article.id.desc(),)
        if last is not None:
            query = query.where(Article.id < last)
    return query.order_by(*order).limit(limit)


def device_models(reader: Reader, today: dt.date) -> list[str]:
    """The distinct models of the devices on the reader's active contracts (those it verified)."""
    if reader.user_id is None or reader.staff:
        return []
    company_id = reader.company_id
    if company_id is None:  # a Reader made without it (reader_for sets it)
        user = User.select(User.id, User.company).where(User.id == reader.user_id).first()
        if user is None:
            return []
        company_id = user.company_id
    return [m for (m,) in _models(reader.user_id, company_id, today, MAX_DEVICE_MODELS) if m]


@prepared
def _models(user_id: int, company_id: int | None, today: dt.date, limit: int):
    granted = ContractAccess.select(ContractAccess.contract).where(ContractAccess.user == user_id)
    contracts = Contract.active(today, Contract.select(Contract.id).where(
        Contract.id.in_(granted), Contract.company == company_id))
    return (DeviceLine.select(DeviceLine.model).where(DeviceLine.contract.in_(contracts))
            .distinct().order_by(DeviceLine.model).limit(limit).tuples())


def matching(reader: Reader, models: Sequence[str], limit: int) -> list[tuple[Article, list[str]]]:
    """The articles tagged with one of these devices, each with the models it matches;
    those matching by model before those matching by manufacturer only, newest first
    (two queries)."""
    keys: dict[str, set[str]] = {}
    for model in models:
        for key in model_keys(model):
            keys.setdefault(key, set()).add(model)
    if not keys:
        return []
    hits: dict[int, tuple[int, set[str]]] = {}
    shown: dict[int, tuple[str, object]] = {}
    # Each tag row brings its article's title and date along: the articles are not read
    # again by id (nor with their text), and the rows are read as the driver gives them
    # (the date only compared: a datetime, or SQLite's ISO text, which sorts the same).
    facts = (list(keys), reader.staff, reader.active_contract, reader.partner_level, limit * 20)
    if len(keys) <= MAX_LISTED:
        _, rows = _matching_tags.cursor(facts)
    else:  # a reader with many long model names: built for this call alone
        rows = db.execute(_matching_tags.build(*facts))
    for article_id, kind, value, title, when in rows:
        rank, found = hits.get(article_id, (1, set()))
        hits[article_id] = (min(rank, 0 if kind == "model" else 1), found | keys[value])
        shown[article_id] = (title, when)
    order = sorted(shown, key=lambda i: (shown[i][1], i), reverse=True)  # newest first, then
    order.sort(key=lambda i: hits[i][0])  # those matching a model before those matching a maker (a stable sort)
    return [(Article(id=i, title=shown[i][0]), sorted(hits[i][1])) for i in order[:limit]]


@prepared
def _matching_tags(keys: list, staff: bool, customers: bool, level: int | None, limit: int):
    return (ArticleTag.select(ArticleTag.article, ArticleTag.kind, ArticleTag.value, Article.title,
                              fn.COALESCE(Article.published_at, Article.created_at))
            .join(Article).where(ArticleTag.value.in_(keys), _audience(staff, customers, level))
            .order_by(ArticleTag.article.desc()).limit(limit))


def suggestions(reader: Reader, models: Sequence[str]) -> dict[str, list[Article]]:
    """For each model (of a new ticket's contract), the articles for it, at most SUGGESTED."""
    out: dict[str, list[Article]] = {m: [] for m in models}
    for article, found in matching(reader, list(models)[:MAX_DEVICE_MODELS], SUGGESTED * max(1, len(out))):
        for model in found:
            if len(out[model]) < SUGGESTED:
                out[model].append(article)
    return out


def tags_of(article_ids: list[int]) -> dict[int, list[ArticleTag]]:
    found: dict[int, list[ArticleTag]] = {i: [] for i in article_ids}
    for ids in slices(found):  # every article when the search is rebuilt
        for tag in _tags(ids):
            found[tag.article_id].append(tag)
    return found


@prepared
def _tags(article_ids: list):
    return ArticleTag.select().where(ArticleTag.article.in_(article_ids)).order_by(ArticleTag.kind.desc(), ArticleTag.id)


@prepared
def _files(article_id: int):
    return ArticleFile.select().where(ArticleFile.article == article_id).order_by(ArticleFile.id)


def tag_labels(article_ids: list[int]) -> dict[int, list[str]]:
    """The labels of `tags_of`, in the same order (what the list shows of them: one narrow query)."""
    found: dict[int, list[str]] = {i: [] for i in article_ids}
    if article_ids:
        for article_id, label in _labels(list(article_ids)):
            found[article_id].append(label)
    return found


@prepared
def _labels(article_ids: list):
    return (ArticleTag.select(ArticleTag.article, ArticleTag.label).where(ArticleTag.article.in_(article_ids))
            .order_by(ArticleTag.kind.desc(), ArticleTag.id).tuples())


def files_of(article_id: int) -> list[ArticleFile]:
    return _files(article_id)


def summary(article: Article, chars: int = 240) -> str:
    return _summary(article.body[:4000], chars)


@functools.lru_cache(maxsize=1024)
def _summary(head: str, chars: int) -> str:
    """The list's summary of an article's beginning: Markdown rendered to plain text costs
    about a millisecond, twenty times a page, for the same few articles. Keyed by the text
    itself, so an edited article is summarised again."""
    text = " ".join(kb_render.plain_text(head).split())
    return text if len(text) <= chars else text[:chars].rsplit(" ", 1)[0] + " …"


# --- writing -----------------------------------------------------------------------------------


@dataclass
class Draft:
    """What staff (or `helpdesk kb add`) submit for an article."""

    title: str
    body: str
    language: str = "pl"
    audience: str = ArticleAudience.PUBLIC.value
    min_level: int = 0
    models: Sequence[str] = ()
    manufacturers: Sequence[str] = ()
    publish: bool = True


def checked(draft: Draft) -> tuple[Draft, list[tuple[str, str]], list[tuple[str, str]]]:
    """The draft cleaned, with its model and manufacturer tags; `Invalid` names what is wrong."""
    title = " ".join((draft.title or "").split())
    if not title:
        raise Invalid(N_("Give the article a title."))
    if len(title) > MAX_TITLE:
        raise Invalid(N_("The title is longer than %(limit)s characters."), {"limit": MAX_TITLE})
    body = (draft.body or "").replace("\r\n", "\n").replace("\x00", "")
    if not body.strip():
        raise Invalid(N_("Write the article's text."))
    if len(body) > MAX_BODY:
        raise Invalid(N_("The text is longer than %(limit)s characters."), {"limit": f"{MAX_BODY:,}"})
    if draft.language not in LANGUAGES:
        raise Invalid(N_("Choose the language: pl or en."))
    if draft.audience not in AUDIENCES:
        raise Invalid(N_("Choose who may read it: public, customers or partners."))
    if draft.min_level not in LEVELS:
        raise Invalid(N_("Choose one of the levels 0-5."))
    models, manufacturers = clean_tags(draft.models), clean_tags(draft.manufacturers)
    clean = Draft(title, body, draft.language, draft.audience,
                  draft.min_level if draft.audience == ArticleAudience.PARTNERS.value else 0,
                  [label for _, label in models], [label for _, label in manufacturers], draft.publish)
    return clean, models, manufacturers


def save(config: Config, draft: Draft, *, article_id: int | None = None, uploads: Sequence[Upload] = (),
         remove_files: Iterable[int] = (), by: User | None = None, now: dt.datetime | None = None) -> Article:
    """Create or change an article with its tags and files, and index it for search.
    `Invalid` (nothing stored) for a bad field or file; LookupError for an unknown id."""
    now = now or utcnow()
    draft, models, manufacturers = checked(draft)
    files = checked_uploads(list(uploads), config.max_attachment_bytes) if uploads else []
    remove = {int(i) for i in remove_files}
    with db.atomic():
        if article_id is None:
            article = Article.create(title=draft.title, body=draft.body, language=draft.language,
                                     audience=draft.audience, min_level=draft.min_level, author=by,
                                     created_at=now, updated_at=now, published_at=now if draft.publish else None)
            action = "kb_article_added"
        else:
            article = Article.get_or_none(Article.id == article_id)
            if article is None:
                raise LookupError(article_id)
            published = (article.published_at or now) if draft.publish else None
            Article.update(title=draft.title, body=draft.body, language=draft.language, audience=draft.audience,
                           min_level=draft.min_level, updated_at=now, published_at=published).where(
                Article.id == article.id).execute()
            action = "kb_article_changed"
        kept = ArticleFile.select().where(ArticleFile.article == article.id, ArticleFile.id.not_in(list(remove)))
        if kept.count() + len(files) > MAX_FILES:
            raise Invalid(N_("An article can have at most %(limit)s files."), {"limit": MAX_FILES})
        if remove:
            ArticleFile.delete().where(ArticleFile.article == article.id, ArticleFile.id.in_(list(remove))).execute()
        store = BlobStore(config.blob_dir, config.raw_dir)
        for upload in files:
            sha = store.put(upload.data)
            blob, _ = Blob.get_or_create(sha256=sha, defaults={"size": len(upload.data), "created_at": now})
            ArticleFile.create(article=article, blob=blob, filename=upload.filename, content_type=upload.content_type,
                               size=len(upload.data), added_at=now)
        ArticleTag.delete().where(ArticleTag.article == article.id).execute()
        rows = [{"article": article.id, "kind": kind, "value": key, "label": label}
                for kind, tags in (("model", models), ("manufacturer", manufacturers)) for key, label in tags]
        if rows:
            ArticleTag.insert_many(rows).execute()
        reindex([article.id])
        audit.record(by, action, "article", article.id, f"{draft.title} ({draft.audience}, {draft.language})", now)
    return Article.get_by_id(article.id)


def reindex(article_ids: Iterable[int]) -> None:
    """Rewrite the search documents of these articles: title, text and tags, with stems."""
    ids = list(article_ids)
    if not ids:
        return
    tags = tags_of(ids)
    bodies = []
    for article in Article.select(Article.id, Article.title, Article.body).where(Article.id.in_(ids)):
        text = " ".join([article.title, kb_render.plain_text(article.body),
                         *(t.label for t in tags[article.id]), *(t.value for t in tags[article.id])])
        bodies.append((article.id, search.stemmed_document(text)[:900_000]))
    search.write_articles(bodies)


def every_article(limit: int = 1000):
    """For `helpdesk kb list`: every article, newest first, with its tags (two queries)."""
    rows = list(Article.select(Article, User.email).join(User, JOIN.LEFT_OUTER, on=(Article.author == User.id))
                .order_by(Article.id.desc()).limit(limit))
    return rows, tags_of([a.id for a in rows])


def as_row(article: Article, tags: list[ArticleTag]) -> dict:
    """An article as `helpdesk kb list --json` and the API show it (without the text)."""
    return {"id": article.id, "title": article.title, "language": article.language, "audience": article.audience,
            "min_level": article.min_level, "published": article.published_at is not None,
            "published_at": article.published_at.isoformat() if article.published_at else None,
            "updated_at": article.updated_at.isoformat(),
            "models": [t.label for t in tags if t.kind == "model"],
            "manufacturers": [t.label for t in tags if t.kind == "manufacturer"]}
