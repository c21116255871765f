"""Tickets in the customer portal (SPEC W7): the list, a new ticket from a contract, the
conversation with replies and CCs, attachments and the HTML of a mail.

Every ticket, message and attachment is looked up through `domain.access`, so an id
that is not the user's is a 404 like one that does not exist.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from typing import NamedTuple

import nh3
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from peewee import Tuple, fn

from helpdesk.domain import (
    access,
    contracts,
    conversation,
    devices,
    labels,
    limits,
    merge,
    partner_view,
    queue_order,
    search as full_text,
)
from helpdesk.domain.prepared import prepared
from helpdesk.domain.storage import BlobStore
from helpdesk.domain.validation import N_, Invalid
from helpdesk.models import Attachment, Contract, DeviceLine, Message, MessageKind, Participant, Status, Ticket

from . import forms, kb_reader
from .blank_fields import blank_field, blank_form_field, csrf_input
from .context import config as _config, local_time
from .i18n import fast_gettext
from .rows import link_for

bp = Blueprint("tickets", __name__)
for _global in (blank_field, blank_form_field, csrf_input):  # the ticket pages' blank forms, kept
    bp.add_app_template_global(_global)
PAGE = 50
STATUS_NAMES = labels.STATUS  # message ids, translated where shown
STATUS_LABELS = {status: _l(name) for status, name in STATUS_NAMES.items()}
WAITING_FOR_YOU = N_("Waiting for you")  # what a customer reads for waiting_customer


@bp.app_template_global()
def status_label(status: str) -> str:
    """The status in the reader's words (a customer is "you"); called once per row, so
    through the request's cached catalogue."""
    if status == Status.WAITING_CUSTOMER.value and not (current_user.is_authenticated and current_user.is_staff):
        return fast_gettext(WAITING_FOR_YOU)
    return fast_gettext(STATUS_NAMES[status]) if status in STATUS_NAMES else status


def status_labels() -> dict[str, str]:
    """Every status in the reader's words, once for a page whose rows look theirs up."""
    return {status: status_label(status) for status in STATUS_NAMES}


def contains(field, text: str):
    """`text` anywhere in the field, case aside (ILIKE on PostgreSQL), % and _ literal."""
    return full_text.like_any([field], text)


def searched(text: str, prefix: str, *, staff: bool = False) -> full_text.Found:
    """The search of a ticket list: tickets whose number matches, or whose subject or messages
    have every word of the text (full-text on either database: `domain.search`, which plans how
    a list's first page of them is read; internal notes for staff only)."""
    text = text.strip()[:200]
    number = re.fullmatch(rf"(?:{re.escape(prefix)}-?)?#?(\d{{1,12}})", text, re.IGNORECASE)
    return full_text.tickets_found(full_text.search_tokens(text), staff=staff,
                                   number=int(number.group(1)) if number else None)


def uploads(field: str = "attachments") -> list[conversation.Upload]:
    return [conversation.Upload(f.filename or "", f.mimetype or "", f.read())
            for f in request.files.getlist(field) if f and (f.filename or "")]


def reply_parts(form) -> tuple[str, list[conversation.Upload]] | None:
    """The text and files of a submitted reply form, or None with each error on its field."""
    if not form.validate_on_submit():
        choose_files_again(form.attachments)
        return None
    try:
        text = conversation.checked_text(form.text.data)
    except Invalid as error:
        form.text.errors = [forms.translated(error)]
    try:
        files = conversation.checked_uploads(uploads(), _config().max_attachment_bytes)
    except Invalid as error:
        form.attachments.errors = [forms.translated(error)]
    if form.text.errors or form.attachments.errors:
        choose_files_again(form.attachments)
        return None
    return text, files


def choose_files_again(field, name: str = "attachments") -> None:
    """A form sent back with an error: the browser does not send its files again, so the
    file field says which ones must be chosen again (its own error, if any, comes first)."""
    names = [f.filename for f in request.files.getlist(name) if f and f.filename]
    if names:
        shown = ", ".join(names[:conversation.MAX_FILES]) + ("…" if len(names) > conversation.MAX_FILES else "")
        field.errors = [*field.errors, _("These files were not sent, because of the error in the form: %(names)s. "
                                         "Choose them again before sending.", names=shown)]


def cc_addresses(form) -> list[str] | None:
    """The addresses of a submitted CC form, or None with the error on the field."""
    if not form.validate_on_submit():
        return None
    try:
        return conversation.parse_addresses(form.addresses.data)
    except Invalid as error:
        form.addresses.errors = [forms.translated(error)]
        return None


def _ticket_or_404(ticket_id: int) -> Ticket:
    """The ticket, or the one it was merged into, when this user may see that one."""
    ticket = access.ticket_for(current_user, merge.current(ticket_id))
    if ticket is None:
        abort(404)
    return ticket


# --- the list ----------------------------------------------------------------------------------


@bp.route("/tickets")
@login_required
def index():
    status = request.args.get("status", "")
    text = request.args.get("q", "")
    active, only = status == "active", (status if status in STATUS_LABELS else None)
    after, before = (queue_order.Cursor.read(request.args.get(key, ""), False) for key in ("after", "before"))
    if text.strip():
        read = read_from(access.listed(access.visible_tickets(current_user), active=active, status=only),
                         searched(text, _config().ticket_prefix))
    else:
        def read(part, backward, cursor, limit):
            return access.ticket_page(current_user, active=active, status=only, cursor=cursor, backward=backward,
                                      limit=limit)
    page = queue_order.page_of(read, False, before or after, backward=before is not None, size=PAGE)
    return render_template("tickets/index.html", rows=listed_rows(page.rows, text), first=page.first, more=page.more,
                           cursors=queue_order.links(page, False), status=status, q=text)


def read_from(query, found: full_text.Found | None = None) -> queue_order.Reader:
    """A list's `queue_order.Reader` over a query of its rows (a searched or tagged list: a
    query of its own each time, not prepared); `found`: only the tickets the search finds."""
    def read(part: queue_order.Part, backward: bool, cursor: queue_order.Cursor | None, limit: int) -> list[dict]:
        where = queue_order.condition(part, backward, *queue_order.values(cursor))
        query_ = query.where(where) if where is not None else query
        ordering = queue_order.ordering(part, backward)
        if found is not None:
            return found.first(query_.dicts(), limit, ordering)
        return list(query_.order_by(*ordering).limit(limit).dicts())

    return read


def listed_rows(rows: list[dict], text: str) -> list[tuple[str, str, str, str, str, str, str]]:
    """The list's rows as it prints them: link (handing the search on), reference, subject,
    contract, status, its label and the last change in the reader's zone."""
    link, prefix, no_subject = link_for("tickets.show", "ticket_id", q=text or None), _config().ticket_prefix, \
        fast_gettext("(no subject)")
    labels = status_labels()
    return [(link(row["id"]), f"{prefix}-{row['id']}", row["subject"] or no_subject, row["contract_number"] or "—",
             row["status"], labels.get(row["status"], row["status"]), local_time(row["updated_at"])) for row in rows]


# --- a new ticket ------------------------------------------------------------------------------


def _contract_or_404(contract_id) -> Contract:
    """An active contract the user may open tickets on."""
    contract = contracts.openable_contract(current_user, contract_id, g.now.date())
    if contract is None:
        abort(404)
    return contract


@bp.route("/tickets/new", methods=["GET", "POST"])
@login_required
def new():
    contract = _contract_or_404(request.args.get("contract", type=int))
    lines = list(DeviceLine.select().where(DeviceLine.contract == contract).order_by(DeviceLine.id))
    form = forms.NewTicketForm()
    form.line.choices = [(line.id, f"{line.model} · {line.serial}") for line in lines]
    if len(lines) == 1 and not form.line.data:
        form.line.data = lines[0].id
    if form.validate_on_submit():
        try:
            files = conversation.checked_uploads(uploads(), _config().max_attachment_bytes)
        except Invalid as error:
            form.attachments.errors = [forms.translated(error)]
        try:
            ccs = conversation.parse_addresses(form.ccs.data or "")
        except Invalid as error:
            form.ccs.errors = [forms.translated(error)]
        try:
            description = conversation.checked_text(form.description.data)
        except Invalid as error:
            form.description.errors = [forms.translated(error)]
        if not (form.attachments.errors or form.ccs.errors or form.description.errors):
            line = next(line for line in lines if line.id == form.line.data)
            try:
                ticket = conversation.submit_ticket(_config(), current_user, contract=contract, line=line,
                                                    title=form.title.data, description=description, uploads=files,
                                                    ccs=ccs, now=g.now)
            except conversation.TooManyParticipants as error:
                form.ccs.errors = [forms.translated(error)]
            else:
                flash(_("Ticket %(ref)s is open. We will answer by mail and here.",
                        ref=ticket.ref(_config().ticket_prefix)), "success")
                return redirect(url_for("tickets.show", ticket_id=ticket.id))
    status = 422 if request.method == "POST" else 200
    if request.method == "POST":
        choose_files_again(form.attachments)
    suggested, line_models = kb_reader.suggestions_for(lines)
    return render_template("tickets/new.html", form=form, contract=contract, lines=lines, suggested=suggested,
                           line_models=line_models), status


# --- one ticket ----------------------------------------------------------------------------------


PREVIEW_BYTES = 2000  # of a message shown once the page's budget is spent
CONVERSATION_PAGE = 20  # messages a ticket page shows first; older ones behind "Show earlier messages"
SEARCH_HITS = 50  # messages of a ticket a search names on its page (the newest ones)


class Shown(NamedTuple):
    """What the conversation shows of a message (no headers, no HTML body: whether it has one)."""
    id: int
    kind: str
    author_email: str
    author_name: str
    body_text: str
    body_display: str
    body_html: bool  # it has an HTML version (linked, not shown)
    thread_rule: str
    inbound_id: int | None
    created_at: dt.datetime


class ShownFile(NamedTuple):
    id: int
    message_id: int
    blob_id: int | None
    filename: str
    size: int
    skipped_reason: str


@prepared
def _shown_messages(ticket_id: int, notes: bool, since: dt.datetime | None, only: int | None,
                    before_at: dt.datetime | None, before_id: int | None, limit: int | None):
    """A conversation's messages as it shows them, newest first: `notes` for staff, `since` when
    the reader joined later, `only` one message, from (before_at, before_id) on (keyset)."""
    query = (Message.select(Message.id, Message.kind, Message.author_email, Message.author_name, Message.body_text,
                            Message.body_display, fn.COALESCE(Message.body_html, "") != "", Message.thread_rule,
                            Message.inbound, Message.created_at)
             .where(Message.ticket == ticket_id).order_by(Message.created_at.desc(), Message.id.desc()).tuples())
    if not notes:
        query = query.where(Message.kind != MessageKind.NOTE.value)
    if since is not None:
        query = query.where(Message.created_at >= since)
    if only is not None:
        query = query.where(Message.id == only)
    if before_at is not None and before_id is not None:
        query = query.where(Tuple(Message.created_at, Message.id) <= Tuple(before_at, before_id))
    return query.limit(limit) if limit is not None else query


@prepared
def _shown_files(message_ids: list[int]):
    return (Attachment.select(Attachment.id, Attachment.message, Attachment.blob, Attachment.filename, Attachment.size,
                              Attachment.skipped_reason)
            .where(Attachment.message.in_(message_ids)).order_by(Attachment.id).tuples())


@prepared
def _anchor(ticket_id: int, message_id: int):
    return (Message.select(Message.created_at, Message.id)
            .where(Message.ticket == ticket_id, Message.id == message_id).limit(1).tuples())


def conversation_of(ticket: Ticket, *, only: int | None = None, start: int | None = None,
                    limit: int | None = None, tokens: list[str] | None = None) -> list[dict]:
    """The messages this user may read, newest first, each with its attachments (two queries)
    and the text to show: whole while the page stays under HELPDESK_MAX_PAGE_BYTES (half of
    it for texts, as escaped), then a preview with `shortened` set. `only`: one message;
    `start` (a message id) and `limit`: a page of them from `start` on, older ones after
    (keyset: created_at and id, as the order is); `tokens`: search words marked in the text.
    Each item's "message" is a `Shown` (the columns the page prints, read as tuples)."""
    staff = current_user.is_staff
    since = None if staff else access.joined_at(current_user, ticket)
    anchor = _anchor.first(ticket.id, start) if start is not None else None
    before_at, before_id = anchor if anchor is not None else (None, None)
    messages = [Shown._make(row) for row in _shown_messages(ticket.id, staff, since, only, before_at, before_id, limit)]
    files: dict[int, list] = {}
    if messages:
        for row in _shown_files([m.id for m in messages]):  # a statement per power of two of the page's length
            files.setdefault(row[1], []).append(ShownFile._make(row))
    budget = _config().max_page_bytes // 2
    items = []
    for m in messages:
        text = m.body_display or m.body_text
        quoted = m.body_text if m.body_display and m.body_display != m.body_text else ""
        size = _escaped_size(text) + _escaped_size(quoted)
        shortened = size > budget
        if shortened:
            text, quoted = limits.cut(text, max(PREVIEW_BYTES, budget // 5), marker="[...]")[0], ""
            size = _escaped_size(text)
        budget = max(0, budget - size)
        if tokens:
            text, quoted = highlighted(text, tokens), highlighted(quoted, tokens)
        items.append({"message": m, "attachments": files.get(m.id, []), "text": text, "quoted": quoted,
                      "shortened": shortened})
    return items


def conversation_page(ticket: Ticket, *, start: int | None = None, text: str = "") -> dict:
    """What a ticket page shows of the conversation: CONVERSATION_PAGE messages from `start`
    (default the newest), newest first, with search words marked; the id the next page of
    older messages starts at (None when there are none); and, for a search (`text`), the
    newest SEARCH_HITS messages it found on this ticket, shown here or not, to jump to."""
    tokens = full_text.search_tokens(text[:200])
    items = conversation_of(ticket, start=start, limit=CONVERSATION_PAGE + 1, tokens=tokens)
    earlier = items.pop()["message"].id if len(items) > CONVERSATION_PAGE else None
    hits = []
    if tokens:
        shown = {item["message"].id for item in items}
        found = full_text.message_hits(access.visible_messages(current_user, ticket), tokens, SEARCH_HITS)
        hits = [{"message": m, "shown": m.id in shown} for m in found]
        for item in items:
            item["hit"] = item["message"].id in {m.id for m in found}
    return {"items": items, "earlier": earlier, "start": start, "hits": hits, "q": text if tokens else ""}


WORD = re.compile(r"[^\W_]+")


@functools.lru_cache(maxsize=4096)
def _folded_word(word: str) -> str:
    return full_text.fold(word)


def highlighted(text: str, tokens: list[str]) -> Markup | str:
    """The text, escaped, with every word a search token matches (as the search does: a
    prefix from MIN_PREFIX characters, else the whole word, case and diacritics aside) in <mark>."""
    if not text:
        return text
    whole = {t for t in tokens if len(t) < full_text.MIN_PREFIX}
    prefixes = tuple(t for t in tokens if len(t) >= full_text.MIN_PREFIX)
    marked: dict[str, bool] = {}  # a text's words repeat: each decided once
    out, last = [], 0
    for found in WORD.finditer(text):
        word = found.group()
        mark = marked.get(word)
        if mark is None:
            folded = _folded_word(word)
            mark = marked[word] = folded in whole or folded.startswith(prefixes)
        if mark:
            out += [escape(text[last:found.start()]), Markup("<mark>"), escape(word), Markup("</mark>")]
            last = found.end()
    if not out:
        return text
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _escaped_size(text: str) -> int:
    """Bytes the text takes in a page, escaped."""
    return len(str(escape(text)).encode("utf-8", "surrogatepass")) if text else 0


def participants_of(ticket: Ticket) -> list[Participant]:
    return _participants(ticket.id)


@prepared
def _participants(ticket_id: int):
    return Participant.select().where(Participant.ticket == ticket_id).order_by(Participant.id)


@prepared
def _contract(contract_id: int):
    return Contract.select().where(Contract.id == contract_id).limit(1)


def _taking_part(ticket: Ticket) -> Ticket:
    """The ticket, when this user may reply to it and change it (403 for a partner that
    only reads its customer's ticket: domain.partner_view)."""
    if not partner_view.rights(current_user, ticket).take_part:
        abort(403)
    return ticket


def page_start() -> int | None:
    """The `start` of a ticket page's address: the message its conversation starts at."""
    start = request.args.get("start", type=int) if request.method == "GET" else None
    return start if start is not None and 0 < start < 2 ** 63 else None  # a bigger number is no id


def _page(ticket: Ticket, reply_form=None, cc_form=None, status: int = 200):
    return render_template(
        "tickets/show.html", ticket=ticket, rights=partner_view.rights(current_user, ticket),
        participants=participants_of(ticket),
        paging=conversation_page(ticket, start=page_start(), text=request.args.get("q", "")),
        reply_form=reply_form, cc_form=cc_form, forms=forms,  # None: shown blank, not built (web.blank_fields)
        prefix=_config().ticket_prefix,
        contract=_contract.first(ticket.contract_id) if ticket.contract_id else None,
        device=devices.of_ticket(ticket.id) if ticket.contract_id else None,
    ), status


@bp.route("/tickets/<int:ticket_id>")
@login_required
def show(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    if ticket.id != ticket_id:
        flash(_("%(source)s was merged into %(target)s.", source=f"{_config().ticket_prefix}-{ticket_id}",
                target=ticket.ref(_config().ticket_prefix)), "info")
        return redirect(url_for("tickets.show", ticket_id=ticket.id))
    return _page(ticket)


@bp.route("/tickets/<int:ticket_id>/reply", methods=["POST"])
@login_required
def reply(ticket_id: int):
    ticket = _taking_part(_ticket_or_404(ticket_id))
    form = forms.ReplyForm()
    parts = reply_parts(form)
    if parts is not None:
        text, files = parts
        conversation.reply(_config(), ticket.id, current_user, text, uploads=files, now=g.now)
        flash(_("Your message is added and sent to everyone on the ticket."), "success")
        return redirect(url_for("tickets.show", ticket_id=ticket.id))
    return _page(ticket, reply_form=form, status=422)


@bp.route("/tickets/<int:ticket_id>/cc", methods=["POST"])
@login_required
def add_cc(ticket_id: int):
    ticket = _taking_part(_ticket_or_404(ticket_id))
    form = forms.CcForm(prefix="cc")
    addresses = cc_addresses(form)
    if addresses is not None:
        try:
            added = conversation.add_cc(ticket.id, addresses, current_user, _config(), now=g.now)
        except conversation.TooManyParticipants as error:
            form.addresses.errors = [forms.translated(error)]
            return _page(ticket, cc_form=form, status=422)
        flash(_("Added: %(addresses)s", addresses=", ".join(added)) if added else
              _("These addresses are already on the ticket."), "success")
        return redirect(url_for("tickets.show", ticket_id=ticket.id) + "#people")
    return _page(ticket, cc_form=form, status=422)


@bp.route("/tickets/<int:ticket_id>/cc/<int:participant_id>/remove", methods=["POST"])
@login_required
def remove_cc(ticket_id: int, participant_id: int):
    ticket = _taking_part(_ticket_or_404(ticket_id))
    try:
        removed = conversation.remove_cc(ticket.id, participant_id, current_user, now=g.now)
    except conversation.NotFound:
        abort(404)
    except Invalid as error:
        flash(forms.translated(error), "error")
    else:
        flash(_("Removed: %(address)s", address=removed), "success")
    return redirect(url_for("tickets.show", ticket_id=ticket.id) + "#people")


@bp.route("/tickets/<int:ticket_id>/reopen", methods=["POST"])
@login_required
def reopen(ticket_id: int):
    ticket = _taking_part(_ticket_or_404(ticket_id))
    if conversation.change_status(ticket.id, Status.OPEN, current_user, now=g.now, config=_config()):
        flash(_("The ticket is open again."), "success")
    return redirect(url_for("tickets.show", ticket_id=ticket.id))


# --- attachments and the HTML of a mail ------------------------------------------------------------

# What a file from a customer may do when opened: nothing (no script, no plugin, no frame).
DOWNLOAD_CSP = "default-src 'none'; sandbox"


@bp.route("/attachments/<int:attachment_id>/<path:filename>")
@login_required
def attachment(attachment_id: int, filename: str):
    row = access.attachment_for(current_user, attachment_id)
    if row is None:
        abort(404)
    store = BlobStore(_config().blob_dir, _config().raw_dir)
    response = send_file(store.blob_path(row.blob.sha256), mimetype="application/octet-stream",
                         as_attachment=True, download_name=limits.one_line(row.filename) or "file", max_age=0,
                         conditional=False)
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


CID = re.compile(r"""(src=["'])cid:([^"']+)(["'])""", re.IGNORECASE)


# What sanitised HTML never has: a stored value with any of these was not written by the
# ingest's sanitiser (an old or hand-made row) and is sanitised before it is shown.
UNSANITISED = re.compile(r"<\s*(?:script|iframe|object|embed|style|form)|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


def html_view(message: Message, attachments: list, images: bool, download_url) -> tuple[str, str]:
    """(the mail's HTML, sanitised once when it was stored, with inline images pointing at
    their attachment; the CSP to serve it with: remote images only when the reader asked
    for them)."""
    by_cid = {a.content_id.strip("<>"): a for a in attachments if a.content_id and a.blob_id}
    html = message.body_html or ""
    if UNSANITISED.search(html):
        html = nh3.clean(html, url_schemes={"http", "https", "mailto", "cid"})
    html = CID.sub(lambda m: m.group(1) + (download_url(by_cid[m.group(2)]) if m.group(2) in by_cid else "")
                   + m.group(3), html)
    sources = "'self' data: https: http:" if images else "'self' data:"
    csp = (f"default-src 'none'; img-src {sources}; style-src 'self' 'unsafe-inline'; sandbox; base-uri 'none'; "
           "form-action 'none'")
    return html, csp


@bp.route("/tickets/<int:ticket_id>/messages/<int:message_id>")
@login_required
def message_page(ticket_id: int, message_id: int):
    """One message as whole as a page may hold (the conversation shortens long ones)."""
    ticket = _ticket_or_404(ticket_id)
    items = conversation_of(ticket, only=message_id)
    if not items:
        abort(404)
    return render_template("tickets/message.html", ticket=ticket, items=items, prefix=_config().ticket_prefix,
                           staff=current_user.is_staff)


@bp.app_template_filter("one_line")
def one_line_filter(value: str) -> str:
    """A file name or subject without control or bidi characters (rows stored before they were cleaned)."""
    return limits.one_line(value or "")


@bp.route("/tickets/<int:ticket_id>/messages/<int:message_id>/html")
@login_required
def message_html(ticket_id: int, message_id: int):
    ticket = _ticket_or_404(ticket_id)
    message = access.visible_messages(current_user, ticket).where(Message.id == message_id).first()
    if message is None or not message.body_html:
        abort(404)
    images = request.args.get("images") == "1"
    attachments = list(Attachment.select().where(Attachment.message == message))
    html, csp = html_view(message, attachments, images, lambda a: url_for(
        "tickets.attachment", attachment_id=a.id, filename=a.filename))
    response = current_app.make_response(render_template(
        "tickets/message_html.html", html=html, images=images, ticket=ticket, message=message))
    response.headers["Content-Security-Policy"] = csp
    return response
