"""The staff pages (SPEC W8): the queue, a ticket with its notes and threading, quarantined
mail, and the people (engineers and admins only; managing people is for admins)."""
from __future__ import annotations

import datetime as dt
import enum
import functools

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from peewee import JOIN, SQL, Case, Select, fn

from helpdesk import database
from helpdesk.domain import (
    accounts,
    collisions,
    conversation,
    devices,
    keyset,
    people_search,
    queue_order,
    security_events,
    service_levels,
    tags,
    timespent,
)
from helpdesk.domain.prepared import prepared
from helpdesk.domain.storage import BlobStore
from helpdesk.domain.validation import Invalid
from helpdesk.inbox_worker import pipeline
from helpdesk.models import (
    Contract,
    InboundMail,
    Message,
    Outcome,
    Participant,
    Quarantine,
    Role,
    SecurityEvent,
    Status,
    StatusChange,
    Ticket,
    User,
    db,
)

from . import forms, ticket_extras
from .context import config as _config, local_time
from .i18n import history_reason, label
from .options import options
from .paging import back_to, paged, search_text
from .queue_rows import queue_rows
from .rows import link_for
from .tickets import (
    STATUS_LABELS,
    cc_addresses,
    choose_files_again,
    conversation_page,
    page_start,
    participants_of,
    read_from,
    reply_parts,
    searched,
    status_label,
    status_labels,
)

bp = Blueprint("staff", __name__, url_prefix="/staff")
PAGE = 50
USERS_ORDER = keyset.Order((User.role, User.email))  # the index user_role_email (migration 039)
QUARANTINE_ORDER = keyset.Order((Quarantine.id,), descending=True)  # newest first
QUEUES = ("due", "new", "unassigned", "open", "waiting_customer", "waiting_us", "closed", "mine", "all")


def staff_only(view):
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_staff:
            abort(404)
        return view(*args, **kwargs)

    return wrapped


def admin_only(view):
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.role != Role.ADMIN.value:
            abort(404)
        return view(*args, **kwargs)

    return wrapped


def in_queue(query, queue: str, user: User):
    """The tickets of one queue: by status, unassigned (open ones nobody has), mine, or all."""
    if queue in STATUS_LABELS:
        return query.where(Ticket.status == queue)
    if queue == "due":  # every open ticket, the next deadline first (see `_ordered`)
        return query.where(Ticket.status != Status.CLOSED.value)
    if queue == "unassigned":
        return query.where(Ticket.assignee.is_null(), Ticket.status != Status.CLOSED.value)
    if queue == "mine":
        return query.where(Ticket.assignee == user.id, MINE)
    return query


# "Open" with the literal, as the partial index of the engineer's own queue says it (migration
# 027): a planner uses that index only for a query whose condition implies the index's, which
# a bound parameter cannot.
MINE = (Ticket.status != SQL("'closed'")) & Ticket.merged_into.is_null()


def default_queue(counts: dict[str, int | str]) -> str:
    """The tab the queue opens on when none is asked for: the first one with tickets in it
    (due soonest while anything is open), never an empty one while another has work."""
    return next((name for name in QUEUES if counts.get(name)), "due")


COUNT_CAP = 1000  # closed and all tickets are counted up to here ("1000+"): an archive's size is no queue's business
OPEN_STATUSES = [status for status in STATUS_LABELS if status != Status.CLOSED.value]


def queue_counts(user: User, box: str = "") -> dict[str, int | str]:
    """Every queue's count in two queries; with `box`, of that mailbox queue's tickets only.
    The open queues are counted exactly from the index on (status, merged_into, queue,
    assignee) alone, which holds as many open entries as there are open tickets; closed
    and all up to COUNT_CAP (the index's first COUNT_CAP + 1 closed entries), then "1000+"."""
    counts = {}
    unassigned = mine = 0
    for status, n, nobody, theirs in _open_counts(user.id, box or None):
        counts[status], unassigned, mine = n, unassigned + (nobody or 0), mine + (theirs or 0)
    closed = _closed_count.scalar(box or None, COUNT_CAP + 1)
    open_ = sum(counts.values())
    return {**{q: counts.get(q, 0) for q in OPEN_STATUSES}, "unassigned": unassigned, "due": open_, "mine": mine,
            Status.CLOSED.value: capped(closed), "all": capped(open_ + closed)}


@prepared
def _open_counts(user_id: int, box: str | None):
    in_box = (Ticket.queue == box) if box else True
    return (Ticket.select(Ticket.status, fn.COUNT(Ticket.id), fn.SUM(Case(None, [(Ticket.assignee.is_null(), 1)], 0)),
                          fn.SUM(Case(None, [(Ticket.assignee == user_id, 1)], 0)))
            .where(Ticket.status.in_(OPEN_STATUSES), Ticket.merged_into.is_null(), in_box)
            .group_by(Ticket.status).tuples())


@prepared
def _closed_count(box: str | None, upto: int):
    in_box = (Ticket.queue == box) if box else True
    first = (Ticket.select(SQL("1")).where(Ticket.status == Status.CLOSED.value, Ticket.merged_into.is_null(), in_box)
             .limit(upto))
    return Select([first.alias("_wrapped")], [fn.COUNT(SQL("1"))])


def capped(n: int) -> int | str:
    return f"{COUNT_CAP}+" if n > COUNT_CAP else n


@bp.route("")
@staff_only
def queue():
    boxes = list(_config().queues)  # the mailboxes' queues, as configured
    box = request.args.get("box", "")
    box = box if box in boxes else ""
    counts = queue_counts(current_user, box)
    name = request.args.get("queue") or default_queue(counts)
    name = name if name in QUEUES else "due"
    sort = request.args.get("sort") or ("due" if name == "due" else "updated")
    sort = sort if sort in ("due", "updated") else "updated"
    text = request.args.get("q", "")
    tag = request.args.get("tag", "").strip()[:100]
    by_due = sort == "due"
    after, before = (queue_order.Cursor.read(request.args.get(key, ""), by_due) for key in ("after", "before"))
    if text or tag:
        query = _queue_query(name, current_user, box)
        # A search by due time reads the queue's first rows as `_plain_queue_rows` does (`+merged_into_id`:
        # along the deadline's index); a tag's few tickets are read from the tag's list.
        along = by_due and name != "mine" and not tag
        unmerged = database.unindexed(Ticket.merged_into) if along else Ticket.merged_into
        query = (tags.tagged(query, tag) if tag else query).where(unmerged.is_null())
        read = read_from(query, searched(text, _config().ticket_prefix, staff=True) if text.strip() else None)
    else:
        read = functools.partial(_plain_queue_part, QueueTab(name), box=box or None,
                                 user_id=current_user.id if name == "mine" else None)
    page = queue_order.page_of(read, by_due, before or after, backward=before is not None, size=PAGE)
    rows, cursors = page.rows, queue_order.links(page, by_due)
    rows = service_levels.with_time_left(rows, service_levels.settings_of(_config()), g.now)
    shown = queue_rows(rows, tags.of_tickets([r["id"] for r in rows]), prefix=_config().ticket_prefix,
                       queue=name, q=text)
    return render_template("staff/queue.html", rows=shown, first=page.first, more=page.more, cursors=cursors,
                           queue=name, q=text, counts=counts, queues=QUEUES, box=box, boxes=boxes if len(boxes) > 1 else [],
                           tag=tag, tag_suggestions=tags.suggestions(), sort=sort)


SLA_COLUMNS = (Ticket.sla_policy, Ticket.first_response_due, Ticket.first_response_at, Ticket.resolution_due,
               Ticket.sla_paused_at, Ticket.sla_next_due)
class QueueTab(enum.Enum):
    """A queue's name as part of a query's shape (`domain.prepared`: one statement each)."""

    due, new, unassigned, open, waiting_customer, waiting_us, closed, mine, all = QUEUES


def _queue_query(name: str, user: User, box: str):
    """The tickets of queue `name` (of mailbox queue `box`, when given) with the columns a row shows."""
    assignee = User.alias()
    query = (Ticket.select(Ticket.id, Ticket.subject, Ticket.status, Ticket.updated_at, Ticket.requester_email,
                           Ticket.channel, Ticket.queue, Contract.number.alias("contract_number"),
                           assignee.email.alias("assignee_email"), *SLA_COLUMNS)
             .join(Contract, JOIN.LEFT_OUTER, on=(Ticket.contract == Contract.id))
             .switch(Ticket).join(assignee, JOIN.LEFT_OUTER, on=(Ticket.assignee == assignee.id)))
    query = in_queue(query, name, user)
    return query.where(Ticket.queue == box) if box else query


def _plain_queue_part(tab: QueueTab, part: queue_order.Part, backward: bool, cursor: queue_order.Cursor | None,
                      limit: int, *, box: str | None, user_id: int | None) -> list[dict]:
    return _plain_queue_rows(tab, part, backward, box, user_id, *queue_order.values(cursor), limit)


@prepared
def _plain_queue_rows(tab: QueueTab, part: queue_order.Part, backward: bool, box: str | None, user_id: int | None,
                      due: dt.datetime | None, updated_at: dt.datetime | None, ticket_id: int | None, limit: int):
    """A part of a queue's page without a search or a tag, the pages engineers open all day
    (`user_id`: only for "mine"; the cursor's values, or None from the part's start)."""
    # By due time, `+merged_into_id` on SQLite: along the index on (sla_next_due, id), the page's
    # rows first (0.2 ms), not every unmerged ticket by the index on merged_into_id, sorted (12 ms),
    # which ANALYZE's statistics make it prefer. "Mine" keeps its partial index (migration 027).
    by_due = part is not queue_order.Part.ALL
    unmerged = database.unindexed(Ticket.merged_into) if by_due and tab is not QueueTab.mine else Ticket.merged_into
    query = _queue_query(tab.value, User(id=user_id), box or "").where(unmerged.is_null())
    where = queue_order.condition(part, backward, due, updated_at, ticket_id)
    order = queue_order.ordering(part, backward)
    if part is queue_order.Part.DUE and not database.is_sqlite(db.obj):
        # PostgreSQL: the page's ids first, from the index of the open tickets in this order
        # (migration 034) alone. Asked for the rows at once, it takes "open" and the deadline's
        # range for independent, expects a few rows of the 1,700 that match (bench/web.py), and
        # gathers them all by bitmaps to sort them (10 ms for page 2, against 0.05).
        ids = in_queue(Ticket.select(Ticket.id), tab.value, User(id=user_id)).where(unmerged.is_null())
        ids = ids.where(Ticket.queue == box) if box else ids
        page = (ids.where(where) if where is not None else ids).order_by(*order).limit(limit).alias("page")
        return query.switch(Ticket).join(page, on=(Ticket.id == page.c.id)).order_by(*order).dicts()
    query = query.where(where) if where is not None else query
    return query.order_by(*order).limit(limit).dicts()


# --- one ticket ------------------------------------------------------------------------------------


@prepared
def _ticket_by_id(ticket_id: int):
    return Ticket.select().where(Ticket.id == ticket_id).limit(1)


def _ticket_or_404(ticket_id: int) -> Ticket:
    """The ticket, or the one it was merged into (a form on a merged ticket acts on that one)."""
    ticket = _ticket_by_id.first(ticket_id)
    if ticket is not None and ticket.merged_into_id:
        ticket = _ticket_by_id.first(ticket.merged_into_id)
    if ticket is None:
        abort(404)
    return ticket


@prepared
def _engineers():
    return (User.select().where(User.role.in_([Role.ENGINEER.value, Role.ADMIN.value]), User.is_active)
            .order_by(User.first_name, User.email))


def flagged(ticket: Ticket, items: list[dict], on_ticket: set[str] | None = None) -> list[dict]:
    """The conversation with each message's security events (why it was flagged) and the
    addresses it named that are not on the ticket (an engineer may add them with one click);
    `on_ticket`: the participants' addresses, when the caller has them already."""
    events: dict[int, list] = {}
    shown = [item["message"].id for item in items]
    if shown:
        for e in _flags(ticket.id, shown):
            events.setdefault(e.message_id, []).append(e)
    if on_ticket is None:
        on_ticket = {p.email for p in Participant.select(Participant.email).where(Participant.ticket == ticket.id)}
    for item in items:
        mine = events.get(item["message"].id, [])
        proposed = []
        for e in mine:
            proposed += [a for a in e.addresses.split() if a not in on_ticket and a not in proposed]
        item.update(flags=mine, proposed=proposed)
    return items


@prepared
def _flags(ticket_id: int, message_ids: list[int]):
    return (SecurityEvent.select().where(SecurityEvent.ticket == ticket_id, SecurityEvent.message.in_(message_ids))
            .order_by(SecurityEvent.id))


def proposed_addresses(ticket_id: int, message_id: int) -> list[str]:
    """The addresses a message named that are not on its ticket, as its events recorded them."""
    item = {"message": Message(id=message_id)}
    return flagged(Ticket(id=ticket_id), [item])[0]["proposed"]


def _ticket_events(ticket: Ticket) -> list[dict]:
    """What was refused on this ticket (caps reached, addresses not added), for its staff."""
    return security_events.of_ticket(ticket.id, 50)


def _page(ticket: Ticket, status: int = 200, viewing: bool = False, **given):
    """The ticket page (`viewing`: this engineer opens it, noted for the collision warnings)."""
    # The status and assignee selects' options, built once per set of choices (the template writes the selects;
    # `status` and `assign` read the posted value and check it themselves).
    status_options = options(tuple(status_labels().items()), ticket.status)
    assign_options = options((("", _("nobody")), *((str(u.id), u.name) for u in _engineers())),
                             str(ticket.assignee_id or ""))
    reply_form = ticket_extras.prepare_reply_form(given.get("reply_form") or forms.StaffReplyForm(), ticket)
    paging = conversation_page(ticket, start=page_start(), text=request.args.get("q", ""))
    participants = participants_of(ticket)
    device = devices.of_ticket(ticket.id) if ticket.contract_id else None  # its contract's number and customer too
    history = _history(ticket.id, HISTORY_SHOWN + 1)
    return render_template(
        "staff/ticket.html", ticket=ticket, items=flagged(ticket, paging["items"], {p.email for p in participants}),
        paging=paging, participants=participants, refusals=_ticket_events(ticket),
        **ticket_extras.ticket_extras(ticket, viewing), held=given.get("held"),
        reply_form=reply_form, cc_form=given.get("cc_form"), forms=forms,  # its small forms: blank ones (web.blank_fields)
        status_options=status_options, assign_options=assign_options, prefix=_config().ticket_prefix,
        device=device, history=history[:HISTORY_SHOWN], whole_history=len(history) > HISTORY_SHOWN, **_clocks(ticket),
    ), status


HISTORY_SHOWN = 10  # status changes the ticket page lists (the newest); the rest on the history page


def _history(ticket_id: int, limit: int | None = None) -> list[tuple[str, str, str, str]]:
    """The ticket's status changes, newest first (the newest `limit`, or all): when (local),
    from, to, why (each reason translated once: a long ticket repeats a few of them)."""
    reasons: dict[str, str] = {}
    statuses = status_labels()
    rows = []
    for changed_at, old, new, reason in _status_changes(ticket_id, limit):
        if reason not in reasons:
            reasons[reason] = history_reason(reason)
        rows.append((local_time(changed_at), statuses.get(old) or status_label(old) if old else "—",
                     statuses.get(new) or status_label(new), reasons[reason]))
    return rows


@prepared
def _status_changes(ticket_id: int, limit: int | None):
    query = (StatusChange.select(StatusChange.changed_at, StatusChange.old_status, StatusChange.new_status,
                                 StatusChange.reason)
             .where(StatusChange.ticket == ticket_id).order_by(StatusChange.id.desc()).tuples())
    return query.limit(limit) if limit is not None else query


def _clocks(ticket: Ticket) -> dict:
    """The service-level clocks and the time spent, for the ticket page's side panel."""
    return {"clocks": service_levels.clock_states(ticket, service_levels.settings_of(_config()), g.now),
            "time_spent": timespent.ticket_total(ticket.id)}


@bp.route("/tickets/<int:ticket_id>")
@staff_only
def ticket(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    if ticket.id != ticket_id:
        flash(_("%(source)s was merged into %(target)s.", source=f"{_config().ticket_prefix}-{ticket_id}",
                target=ticket.ref(_config().ticket_prefix)), "info")
        return redirect(url_for("staff.ticket", ticket_id=ticket.id))
    return _page(ticket, viewing=True)


@bp.route("/tickets/<int:ticket_id>/history")
@staff_only
def history(ticket_id: int):
    """Every status change of the ticket (its page lists the newest HISTORY_SHOWN)."""
    ticket = _ticket_or_404(ticket_id)
    return render_template("staff/history.html", ticket=ticket, history=_history(ticket.id),
                           prefix=_config().ticket_prefix)


@bp.route("/tickets/<int:ticket_id>/reply", methods=["POST"])
@staff_only
def reply(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    form = forms.StaffReplyForm()
    if "insert" in request.form:  # a canned answer into the form, nothing saved
        if not form.validate_on_submit() and form.csrf_token.errors:
            abort(400)
        form.text.errors = []
        ticket_extras.insert_canned(form, ticket)
        return _page(ticket, 422 if form.canned.errors else 200, reply_form=form, viewing=True)
    parts = reply_parts(form)
    minutes = timespent.minutes_of(form.minutes.data) if (form.minutes.data or "").strip() else None
    if minutes is None and (form.minutes.data or "").strip():
        form.minutes.errors = [_("Give the time as 15, 15m, 1h or 1h30m (at most a day).")]
        if parts is not None:
            choose_files_again(form.attachments)
        parts = None
    if parts is not None:
        text, files = parts
        seen = None if form.anyway.data == "1" or not (form.seen.data or "").isdigit() else int(form.seen.data)
        try:
            conversation.reply(_config(), ticket.id, current_user, text, uploads=files, internal=form.internal.data,
                               close=form.close.data and not form.internal.data, now=g.now, seen_message_id=seen,
                               minutes=minutes)
        except collisions.Held as held:
            form.seen.data = str(held.newest_id)
            form.anyway.data = "1"
            choose_files_again(form.attachments)
            return _page(ticket, 409, reply_form=form, held=held)
        closed = form.close.data and not form.internal.data
        flash(_("Internal note added.") if form.internal.data else
              _("Answer sent to everyone on the ticket, and the ticket is closed.") if closed else
              _("Answer sent to everyone on the ticket."), "success")
        return redirect(url_for("staff.ticket", ticket_id=ticket.id))
    return _page(ticket, 422, reply_form=form)


@bp.route("/tickets/<int:ticket_id>/status", methods=["POST"])
@staff_only
def status(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    value = request.form.get("st-status", "")
    if value not in STATUS_LABELS or not forms.ConfirmForm().validate_on_submit():
        abort(400)
    conversation.change_status(ticket.id, Status(value), current_user, now=g.now, config=_config())
    flash(_("Status: %(status)s", status=STATUS_LABELS[value]), "success")
    return redirect(url_for("staff.ticket", ticket_id=ticket.id))


@bp.route("/tickets/<int:ticket_id>/assign", methods=["POST"])
@staff_only
def assign(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    value = request.form.get("as-engineer", "")
    if value == "me":
        value = str(current_user.id)
    if value and not value.isdigit():
        abort(400)
    try:
        conversation.assign(ticket.id, int(value) if value else None, current_user, now=g.now)
    except Invalid as error:
        flash(forms.translated(error), "error")
    return redirect(url_for("staff.ticket", ticket_id=ticket.id))


@bp.route("/tickets/<int:ticket_id>/cc", methods=["POST"])
@staff_only
def add_cc(ticket_id: int):
    ticket = _ticket_or_404(ticket_id)
    form = forms.CcForm(prefix="cc")
    addresses = cc_addresses(form)
    if addresses is not None:
        try:
            conversation.add_cc(ticket.id, addresses, current_user, _config(), now=g.now)
        except conversation.TooManyParticipants as error:
            form.addresses.errors = [forms.translated(error)]
            return _page(ticket, 422, cc_form=form)
        return redirect(url_for("staff.ticket", ticket_id=ticket.id) + "#people")
    return _page(ticket, 422, cc_form=form)


@bp.route("/tickets/<int:ticket_id>/messages/<int:message_id>/add-people", methods=["POST"])
@staff_only
def add_proposed(ticket_id: int, message_id: int):
    """One click: the addresses a message named but could not add (it came on no signed reply
    address) join the ticket. The addresses come from what was recorded, never from the form."""
    ticket = _ticket_or_404(ticket_id)
    if Message.get_or_none(Message.id == message_id, Message.ticket == ticket.id) is None:
        abort(404)
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    addresses = proposed_addresses(ticket.id, message_id)
    try:
        added = conversation.add_cc(ticket.id, addresses, current_user, _config(), now=g.now) if addresses else []
    except conversation.TooManyParticipants as error:
        flash(forms.translated(error), "error")
    else:
        flash(_("Added: %(addresses)s", addresses=", ".join(added)) if added else
              _("These addresses are already on the ticket."), "success")
    return redirect(url_for("staff.ticket", ticket_id=ticket.id) + f"#m{message_id}")


@bp.route("/tickets/<int:ticket_id>/messages/<int:message_id>/raw")
@staff_only
def raw_mail(ticket_id: int, message_id: int):
    """The mail a message came from, whole, as it arrived (the pages and notices may show it cut)."""
    message = Message.get_or_none(Message.id == message_id, Message.ticket == ticket_id)
    if message is None or message.inbound_id is None:
        abort(404)
    inbound = InboundMail.get_by_id(message.inbound_id)
    raw = BlobStore(_config().blob_dir, _config().raw_dir).get_raw(inbound.raw_sha256)
    response = current_app.response_class(raw, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f"attachment; filename=message-{message.id}.eml"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/tickets/<int:ticket_id>/messages/<int:message_id>/move", methods=["GET", "POST"])
@staff_only
def move_message(ticket_id: int, message_id: int):
    message = Message.get_or_none(Message.id == message_id, Message.ticket == ticket_id)
    if message is None:
        abort(404)
    form = forms.MoveForm()
    if not form.validate_on_submit():
        return render_template("staff/move.html", form=form, message=message, ticket=_ticket_or_404(ticket_id),
                               prefix=_config().ticket_prefix), 422 if request.method == "POST" else 200
    try:
        conversation.move_message(message_id, form.target.data, current_user, now=g.now)
    except conversation.NotFound:
        flash(_("There is no ticket %(number)s.", number=form.target.data), "error")
        return redirect(url_for("staff.ticket", ticket_id=ticket_id))
    flash(_("The message is now on ticket %(number)s.", number=form.target.data), "success")
    return redirect(url_for("staff.ticket", ticket_id=form.target.data))


# --- quarantine -------------------------------------------------------------------------------------


@bp.route("/quarantine")
@staff_only
def quarantine():
    listed = (Quarantine.select(Quarantine.id, Quarantine.error, Quarantine.attempts, InboundMail.id,
                                InboundMail.received_at, InboundMail.from_addr, InboundMail.subject)
              .join(InboundMail).where(Quarantine.resolved_at.is_null()))
    pager = paged(listed, QUARANTINE_ORDER)
    return render_template("staff/quarantine.html", rows=pager.rows, pager=pager, confirm=forms.ConfirmForm(),
                           reprocess=link_for("staff.reprocess", "ledger_id"))


@bp.route("/quarantine/<int:ledger_id>/reprocess", methods=["POST"])
@staff_only
def reprocess(ledger_id: int):
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    try:
        applied = pipeline.reprocess(_config(), ledger_id)
    except (LookupError, ValueError) as error:
        flash(str(error), "error")
        return redirect(back_to(url_for("staff.quarantine")))
    if applied.outcome == Outcome.QUARANTINED.value:
        flash(_("It failed again: %(reason)s", reason=applied.reason), "error")
    else:  # the pipeline has marked the quarantine entry resolved, in the same transaction
        flash(_("Processed: %(outcome)s", outcome=label("mail_outcome", applied.outcome)), "success")
    return redirect(back_to(url_for("staff.quarantine")))


# --- people (admins) ------------------------------------------------------------------------------------

def _roles() -> list[tuple[str, str]]:
    return [(r.value, label("user_role", r.value)) for r in Role]


@bp.route("/users", methods=["GET", "POST"])
@admin_only
def users():
    form = forms.UserForm(prefix="new")
    form.role.choices = _roles()
    if form.validate_on_submit():
        try:
            accounts.invite(_config(), email=form.email.data, first_name=form.first_name.data,
                            last_name=form.last_name.data, role=Role(form.role.data), by=current_user, now=g.now)
        except Invalid as error:
            form.email.errors = [forms.translated(error)]
        else:
            flash(_("%(address)s is invited: a link to set a password is on its way.", address=form.email.data),
                  "success")
            return redirect(url_for("staff.users"))
    role = request.args.get("role", "")
    query = User.select(User.id, User.email, User.first_name, User.last_name, User.role, User.is_active)
    if role in {r.value for r in Role}:
        query = query.where(User.role == role)
    text = search_text()
    if text:
        query = query.where(people_search.matching(text))
    pager = paged(query, USERS_ORDER)
    return render_template("staff/users.html", users=pager.rows, pager=pager, form=form, roles=form.role.choices,
                           role=role, q=text, change=link_for("staff.user_change", "user_id"),
                           confirm=forms.ConfirmForm()), 422 if form.errors else 200


@bp.route("/users/<int:user_id>", methods=["POST"])
@admin_only
def user_change(user_id: int):
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    user = User.get_or_none(User.id == user_id)
    if user is None:
        abort(404)
    action = request.form.get("action", "")
    try:
        if action == "role" and request.form.get("role") in {r.value for r in Role}:
            accounts.set_role(user, Role(request.form["role"]), by=current_user, now=g.now)
        elif action in ("deactivate", "activate"):
            accounts.set_active(user, action == "activate", by=current_user, now=g.now)
        else:
            abort(400)
    except Invalid as error:
        flash(forms.translated(error), "error")
    else:
        flash(_("Saved: %(address)s", address=user.email), "success")
    return redirect(back_to(url_for("staff.users")))
