"""The staff queue's rows, worked out once in Python (see `web.rows`): each ticket's link,
labels, tags with their links and the due cell's text, so the template only prints them."""
from __future__ import annotations

from typing import NamedTuple

from flask import url_for

from .context import local_time
from .i18n import _translations
from .rows import link_for
from .tickets import status_label


class QueueRow(NamedTuple):
    url: str
    ref: str  # "HD-12"
    subject: str
    tags: list[tuple[str, str]]  # (link to the queue filtered by it, tag)
    requester_email: str
    queue: str
    contract_number: str
    status: str
    status_label: str
    assignee_email: str
    due: tuple[str, str, str] | None  # (kind: "overdue", "paused" or "left"; the deadline, local; the text)
    updated: str  # the last change, local


def queue_rows(rows: list[dict], row_tags: dict[int, list[str]], *, prefix: str, queue: str, q: str) -> list[QueueRow]:
    """The staff queue's rows (dicts of the queue's columns with `with_time_left`'s clock)."""
    catalogue = _translations()
    ticket = link_for("staff.ticket", "ticket_id", q=q or None)
    no_subject = catalogue.ugettext("(no subject)")
    tag_links: dict[str, str] = {}
    out = []
    for t in rows:
        tags = []
        for tag in row_tags.get(t["id"], ()):
            if tag not in tag_links:
                tag_links[tag] = url_for("staff.queue", queue=queue, tag=tag)
            tags.append((tag_links[tag], tag))
        due = None
        if t["sla_left"] is not None:
            if t["sla_breached"]:
                due = ("overdue", local_time(t["sla_due"]),
                       catalogue.ugettext("overdue by %(time)s") % {"time": t["sla_left"].lstrip("-")})
            elif t["sla_paused"]:
                due = ("paused", local_time(t["sla_due"]),
                       catalogue.ugettext("paused, %(time)s left") % {"time": t["sla_left"]})
            else:
                due = ("left", local_time(t["sla_due"]), catalogue.ugettext("%(time)s left") % {"time": t["sla_left"]})
        out.append(QueueRow(ticket(t["id"]), f"{prefix}-{t['id']}", t["subject"] or no_subject, tags,
                            t["requester_email"], t["queue"], t["contract_number"] or "—", t["status"],
                            status_label(t["status"]), t["assignee_email"] or "—", due, local_time(t["updated_at"])))
    return out
