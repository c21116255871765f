"""Tickets and attachments through the API: the portal's rules, through the same functions
(`domain.access` decides what a user sees, `domain.conversation` writes)."""
from __future__ import annotations

import base64
import binascii
import datetime as dt

from flask import g, request, send_file, url_for
from peewee import JOIN

from helpdesk.domain import access, contracts, conversation, keyset, merge, partner_view, tags, validation
from helpdesk.domain.storage import BlobStore
from helpdesk.domain.validation import Invalid
from helpdesk.models import Attachment, Contract, DeviceLine, Message, Participant, Status, Ticket, User, db
from helpdesk.web import staff as staff_pages, tickets as ticket_pages

from .core import Problem, body, bp, config, idempotent, invalid, needs

PAGE, MAX_PAGE = 50, 100
MESSAGES = 50  # on the ticket itself; more through /messages
STATUSES = tuple(s.value for s in Status)
QUEUES = ("unassigned", "mine")  # beyond the statuses, for staff


def iso(value: dt.datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() + "Z" if value else None


# --- cursors: (updated_at, id) of the last row, opaque to clients --------------------------------


def encode_cursor(*values) -> str:
    return keyset.cursor_text(values)


def decode_cursor(text: str, kinds: tuple) -> tuple:
    try:
        return keyset.read_cursor(text, kinds)
    except ValueError:
        raise Problem(400, "Bad Request", "The cursor is not one this API gave.", kind="bad-cursor") from None


def page_size() -> int:
    size = request.args.get("limit", PAGE, type=int)
    if size is None or not 1 <= size <= MAX_PAGE:
        raise Problem(400, "Bad Request", f"limit: 1 to {MAX_PAGE}.", kind="bad-parameter")
    return size


def _timestamp(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


# --- what a ticket looks like ----------------------------------------------------------------------


def ticket_json(row: dict, user: User, tag_list: list[str] | None = None) -> dict:
    prefix = config().ticket_prefix
    out = {"id": row["id"], "ref": f"{prefix}-{row['id']}", "subject": row["subject"], "status": row["status"],
           "channel": row["channel"], "requester_email": row["requester_email"],
           "contract": {"id": row["contract"], "number": row["contract_number"]} if row.get("contract") else None,
           "device_line_id": row["device_line"], "created_at": iso(row["created_at"]),
           "updated_at": iso(row["updated_at"]), "closed_at": iso(row["closed_at"]),
           "url": f"{config().base_url}/{'staff/' if user.is_staff else ''}tickets/{row['id']}"}
    if user.is_staff:  # the assignee and the tags are the support team's
        out["assignee_id"] = row["assignee"]
        out["tags"] = tag_list if tag_list is not None else tags.of(row["id"])
    return out


def _ticket_rows(user: User):
    return (access.visible_tickets(user)
            .select(Ticket.id, Ticket.subject, Ticket.status, Ticket.channel, Ticket.requester_email, Ticket.contract,
                    Ticket.device_line, Ticket.assignee, Ticket.created_at, Ticket.updated_at, Ticket.closed_at,
                    Contract.number.alias("contract_number"))
            .join(Contract, JOIN.LEFT_OUTER, on=(Ticket.contract == Contract.id)))


def _one(ticket_id: int) -> dict:
    """The ticket, or the one it was merged into (as in the portal), if this user sees it."""
    row = _ticket_rows(g.api_user).where(Ticket.id == merge.current(ticket_id)).dicts().first()
    if row is None:
        raise Problem(404, "Not Found")
    return row


def _taking_part(ticket_id: int) -> int:
    """The ticket's id, when the user may reply to it and change it; 403 for a partner
    that only reads its customer's ticket (domain.partner_view)."""
    ticket_id = _one(ticket_id)["id"]
    if not partner_view.rights(g.api_user, Ticket.get_by_id(ticket_id)).take_part:
        raise Problem(403, "Forbidden", "You read this ticket as the partner that sold its contract; "
                      "only its customer's people take part in it.", kind="forbidden")
    return ticket_id


def attachment_json(a: Attachment) -> dict:
    return {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size,
            "url": config().base_url + url_for("api.attachment", attachment_id=a.id) if a.blob_id else None,
            "skipped_reason": a.skipped_reason or None}


def messages_json(messages: list[Message]) -> list[dict]:
    files: dict[int, list] = {}
    if messages:
        for a in Attachment.select().where(Attachment.message.in_([m.id for m in messages])).order_by(Attachment.id):
            files.setdefault(a.message_id, []).append(attachment_json(a))
    return [{"id": m.id, "kind": m.kind, "author_email": m.author_email, "author_name": m.author_name,
             "subject": m.subject, "text": m.display, "has_html": bool(m.body_html),
             "created_at": iso(m.created_at), "attachments": files.get(m.id, [])} for m in messages]


def _messages_page(ticket: Ticket, size: int, cursor: str | None) -> tuple[list[dict], str | None]:
    query = access.visible_messages(g.api_user, ticket)
    if cursor:
        created, last = decode_cursor(cursor, (_timestamp, int))
        query = query.where((Message.created_at < created) | ((Message.created_at == created) & (Message.id < last)))
    messages = list(query.limit(size + 1))
    more = len(messages) > size
    messages = messages[:size]
    return messages_json(messages), (encode_cursor(messages[-1].created_at, messages[-1].id) if more else None)


# --- reading ---------------------------------------------------------------------------------------


@bp.get("/tickets")
@needs("tickets:read")
def list_tickets():
    user, size = g.api_user, page_size()
    query = _ticket_rows(user).where(Ticket.merged_into.is_null())
    status = request.args.get("status", "")
    if status == "active":
        query = query.where(Ticket.status != Status.CLOSED.value)
    elif status in STATUSES:
        query = query.where(Ticket.status == status)
    elif status:
        raise Problem(400, "Bad Request", f"status: one of active, {', '.join(STATUSES)}.", kind="bad-parameter")
    queue = request.args.get("queue", "")
    if queue:
        if not user.is_staff or queue not in QUEUES:
            raise Problem(400, "Bad Request", "queue: unassigned or mine, for engineers.", kind="bad-parameter")
        query = staff_pages.in_queue(query, queue, user)
    tag = request.args.get("tag", "")
    if tag:
        if not user.is_staff:
            raise Problem(400, "Bad Request", "tag: for engineers.", kind="bad-parameter")
        query = tags.tagged(query, tag[:100])
    contract = request.args.get("contract", type=int)
    if contract is not None:
        query = query.where(Ticket.contract == contract)
    text = request.args.get("q", "")
    cursor = request.args.get("cursor")
    if cursor:
        updated, last = decode_cursor(cursor, (_timestamp, int))
        query = query.where((Ticket.updated_at < updated) | ((Ticket.updated_at == updated) & (Ticket.id < last)))
    ordering = [Ticket.updated_at.desc(), Ticket.id.desc()]
    if text.strip():
        found = ticket_pages.searched(text, config().ticket_prefix, staff=user.is_staff)
        rows = found.first(query.dicts(), size + 1, ordering)
    else:
        rows = list(query.order_by(*ordering).limit(size + 1).dicts())
    more = len(rows) > size
    rows = rows[:size]
    labels = tags.of_tickets([r["id"] for r in rows]) if user.is_staff else {}
    return {"items": [ticket_json(r, user, labels.get(r["id"], [])) for r in rows],
            "next_cursor": encode_cursor(rows[-1]["updated_at"], rows[-1]["id"]) if more else None}


@bp.get("/tickets/<int:ticket_id>")
@needs("tickets:read")
def show_ticket(ticket_id: int):
    row = _one(ticket_id)
    ticket_id = row["id"]
    ticket = Ticket(id=ticket_id)
    messages, cursor = _messages_page(ticket, MESSAGES, None)
    people = [{"email": p.email, "name": p.name, "role": p.role} for p in
              Participant.select().where(Participant.ticket == ticket_id).order_by(Participant.id)]
    return {**ticket_json(row, g.api_user), "participants": people, "messages": messages,
            "messages_next_cursor": cursor}


@bp.get("/tickets/<int:ticket_id>/messages")
@needs("tickets:read")
def list_messages(ticket_id: int):
    ticket_id = _one(ticket_id)["id"]
    items, cursor = _messages_page(Ticket(id=ticket_id), page_size(), request.args.get("cursor"))
    return {"items": items, "next_cursor": cursor}


@bp.get("/attachments/<int:attachment_id>")
@needs("tickets:read")
def attachment(attachment_id: int):
    row = access.attachment_for(g.api_user, attachment_id)
    if row is None:
        raise Problem(404, "Not Found")
    store = BlobStore(config().blob_dir, config().raw_dir)
    response = send_file(store.blob_path(row.blob.sha256), mimetype="application/octet-stream", as_attachment=True,
                         download_name=row.filename, max_age=0, conditional=False)
    response.headers["Content-Security-Policy"] = ticket_pages.DOWNLOAD_CSP
    return response


# --- writing ---------------------------------------------------------------------------------------


def _text(data: dict, field: str, *, required: bool = True) -> str:
    value = data.get(field, "")
    if not isinstance(value, str):
        raise invalid(Invalid("This must be a string."), field)
    try:
        return conversation.checked_text(value, required=required)
    except Invalid as error:
        raise invalid(error, field) from None


def _flag(data: dict, field: str) -> bool:
    value = data.get(field, False)
    if not isinstance(value, bool):
        raise invalid(Invalid("This must be true or false."), field)
    return value


def _uploads(data: dict) -> list[conversation.Upload]:
    """The `attachments` array: {filename, content_type, content_base64} each, within the
    portal's caps (count, size, names)."""
    items = data.get("attachments", [])
    if not isinstance(items, list):
        raise invalid(Invalid("This must be an array."), "attachments")
    if len(items) > conversation.MAX_FILES:
        raise invalid(Invalid("At most 10 files can be attached to one message."), "attachments")
    uploads = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not all(isinstance(item.get(k, ""), str) for k in
                                                 ("filename", "content_type", "content_base64")):
            raise invalid(Invalid("Each attachment is an object of strings: filename, content_type, "
                                  "content_base64."), f"attachments[{i}]")
        encoded = item.get("content_base64", "")
        if len(encoded) > config().max_attachment_bytes * 4 // 3 + 8:
            data_ = b"x" * (config().max_attachment_bytes + 1)  # refused below with the portal's words
        else:
            try:
                data_ = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise invalid(Invalid("This is not base64."), f"attachments[{i}].content_base64") from None
        uploads.append(conversation.Upload(item.get("filename", "")[:1000], item.get("content_type", "")[:255], data_))
    try:
        return conversation.checked_uploads(uploads, config().max_attachment_bytes)
    except Invalid as error:
        raise invalid(error, "attachments") from None


def _addresses(data: dict, field: str, *, required: bool = False) -> list[str]:
    items = data.get(field, [])
    if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
        raise invalid(Invalid("This must be an array of addresses."), field)
    if len(items) > conversation.MAX_CCS:
        raise invalid(Invalid("Give at most %(limit)s addresses at a time.", {"limit": conversation.MAX_CCS}), field)
    if required and not items:
        raise invalid(Invalid("This field is required."), field)
    try:
        return conversation.parse_addresses(", ".join(a[:400] for a in items))
    except Invalid as error:
        raise invalid(error, field) from None


def _created(row: dict, location: str):
    return ticket_json(row, g.api_user), 201, {"Location": location}


@bp.post("/tickets")
@needs("tickets:write")
@idempotent
def create_ticket():
    data = body()
    for field in ("contract_id", "device_line_id"):
        if isinstance(data.get(field), bool):  # JSON true is no id, though Python takes it for 1
            raise invalid(Invalid("This must be a number."), field)
    contract = contracts.openable_contract(g.api_user, data.get("contract_id"), g.now.date())
    if contract is None:
        raise invalid(Invalid("No contract in force with this id is yours."), "contract_id")
    lines = list(DeviceLine.select().where(DeviceLine.contract == contract).order_by(DeviceLine.id))
    line_id = data.get("device_line_id", lines[0].id if len(lines) == 1 else None)
    line = next((x for x in lines if isinstance(line_id, int) and x.id == line_id), None)
    if line is None:
        raise invalid(Invalid("Choose the device the ticket is about."), "device_line_id")
    title = data.get("title", "")
    try:
        title = validation.name(title if isinstance(title, str) else "", 200)
    except Invalid as error:
        raise invalid(error, "title") from None
    description = _text(data, "description")
    ccs = _addresses(data, "ccs")
    files = _uploads(data)
    try:
        ticket = conversation.submit_ticket(config(), g.api_user, contract=contract, line=line, title=title,
                                            description=description, uploads=files, ccs=ccs, now=g.now)
    except conversation.TooManyParticipants as error:  # the caps on participants (issue 13)
        raise invalid(error, "ccs") from None
    return _created(_one(ticket.id), url_for("api.show_ticket", ticket_id=ticket.id))


@bp.post("/tickets/<int:ticket_id>/messages")
@needs("tickets:write")
@idempotent
def reply(ticket_id: int):
    ticket_id = _taking_part(ticket_id)
    data = body()
    text = _text(data, "text")
    internal, close = _flag(data, "internal"), _flag(data, "close")
    if (internal or close) and not g.api_user.is_staff:
        raise Problem(403, "Forbidden", "Only engineers write internal notes or close with an answer.",
                      kind="forbidden")
    files = _uploads(data)
    message = conversation.reply(config(), ticket_id, g.api_user, text, uploads=files, internal=internal,
                                 close=close and not internal, now=g.now)
    return messages_json([message])[0], 201, {"Location": url_for("api.list_messages", ticket_id=ticket_id)}


@bp.post("/tickets/<int:ticket_id>/status")
@needs("tickets:write")
@idempotent
def set_status(ticket_id: int):
    ticket_id = _taking_part(ticket_id)
    status = body().get("status")
    if status not in STATUSES:
        raise invalid(Invalid(f"One of {', '.join(STATUSES)}."), "status")
    try:
        conversation.change_status(ticket_id, Status(status), g.api_user, now=g.now)
    except PermissionError:
        raise Problem(403, "Forbidden", "Customers may only reopen a ticket (status open).",
                      kind="forbidden") from None
    return ticket_json(_one(ticket_id), g.api_user)


@bp.post("/tickets/<int:ticket_id>/assign")
@needs("tickets:write", staff=True)
@idempotent
def assign(ticket_id: int):
    ticket_id = _one(ticket_id)["id"]
    value = body().get("assignee_id")
    if value == "me":
        value = g.api_user.id
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise invalid(Invalid("A user id, \"me\", or null."), "assignee_id")
    try:
        conversation.assign(ticket_id, value, g.api_user, now=g.now)
    except Invalid as error:
        raise invalid(error, "assignee_id") from None
    return ticket_json(_one(ticket_id), g.api_user)


@bp.post("/tickets/<int:ticket_id>/ccs")
@needs("tickets:write")
@idempotent
def add_ccs(ticket_id: int):
    ticket_id = _taking_part(ticket_id)
    addresses = _addresses(body(), "addresses", required=True)
    try:
        added = conversation.add_cc(ticket_id, addresses, g.api_user, config(), now=g.now)
    except conversation.TooManyParticipants as error:
        raise invalid(error, "addresses") from None
    return {"added": added}


@bp.post("/tickets/<int:ticket_id>/tags")
@needs("tickets:write", staff=True)
@idempotent
def set_tags(ticket_id: int):
    ticket_id = _one(ticket_id)["id"]
    data = body()
    change = {}
    for field in ("add", "remove"):
        value = data.get(field, [])
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise invalid(Invalid("An array of tags."), field)
        try:
            change[field] = tags.parse(value)
        except Invalid as error:
            raise invalid(error, field) from None
    try:
        with db.atomic():  # both or neither
            tags.remove(ticket_id, change["remove"], now=g.now)
            tags.add(ticket_id, change["add"], now=g.now)
    except Invalid as error:
        raise invalid(error, "add") from None
    return {"tags": tags.of(ticket_id)}
