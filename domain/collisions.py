"""Collisions: two engineers answering one ticket at once.

In: who opens a staff ticket page and when (`seen`), the newest message id a reply form
was rendered with. Out: the other engineers who had the page open or answered in the
last minutes (`recent_others`), and the messages from someone else that arrived since
the form was rendered (`arrived_since`: a reply is held while there are any, until its
author sends it anyway). Opening the page records the view (`recent_others(viewing=True)`)
only when the recorded one is older than `refresh_after`: not a write on every page.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from helpdesk.models import Message, MessageKind, TicketView, User, utcnow

from .prepared import prepared


@dataclass(frozen=True)
class Other:
    name: str
    email: str
    what: str  # "viewing" | "answered"
    at: dt.datetime


class Held(Exception):
    """A reply not saved: messages from someone else arrived after its form was shown."""

    def __init__(self, messages: list[Message], newest_id: int):
        super().__init__(f"{len(messages)} new message(s)")
        self.messages, self.newest_id = messages, newest_id


def seen(ticket_id: int, user: User, now: dt.datetime | None = None) -> None:
    """Record that this engineer has the ticket open now."""
    now = now or utcnow()
    (TicketView.insert(ticket=ticket_id, user=user.id, seen_at=now)
     .on_conflict(conflict_target=[TicketView.ticket, TicketView.user], update={TicketView.seen_at: now})
     .execute())


VIEWS_SHOWN = 20  # other engineers' views listed at most


def refresh_after(minutes: int) -> dt.timedelta:
    """How old this engineer's recorded view may be before opening the page records it again:
    a tenth of the window, at most a minute (a page reloaded every few seconds writes once a
    minute, and others see it a minute late at most)."""
    return min(dt.timedelta(minutes=1), dt.timedelta(minutes=minutes) / 10)


def recent_others(ticket_id: int, user: User, *, minutes: int, now: dt.datetime | None = None,
                  viewing: bool = False) -> list[Other]:
    """Other engineers who answered, or had the page open, in the last `minutes`: newest first,
    each person once (an answer wins over a view). `viewing`: this engineer opens the page
    now, so their view is recorded too, unless the one read with the others is fresher than
    `refresh_after(minutes)` (the same statement, no write on every page)."""
    now = now or utcnow()
    since = now - dt.timedelta(minutes=minutes)
    found: dict[str, Other] = {}
    for m in _answers_since(ticket_id, since, user.email):
        found.setdefault(m.author_email, Other(m.author_name or m.author_email, m.author_email, "answered",
                                               m.created_at))
    views = _views_since(ticket_id, since)
    mine = next((v.seen_at for v in views if v.user.id == user.id), None)
    others = [v for v in views if v.user.id != user.id][:VIEWS_SHOWN]  # 21 read: the reader's own may be one
    for v in others:
        found.setdefault(v.user.email, Other(v.user.name, v.user.email, "viewing", v.seen_at))
    if viewing and (mine is None or mine > now or now - mine >= refresh_after(minutes)):
        seen(ticket_id, user, now)
    return sorted(found.values(), key=lambda o: o.at, reverse=True)


@prepared
def _answers_since(ticket_id: int, since: dt.datetime, email: str):
    return (Message.select(Message.author_email, Message.author_name, Message.created_at)
            .where(Message.ticket == ticket_id, Message.kind.in_([MessageKind.STAFF.value, MessageKind.NOTE.value]),
                   Message.created_at >= since, Message.author_email != email)
            .order_by(Message.created_at.desc()).limit(20))


@prepared
def _views_since(ticket_id: int, since: dt.datetime):
    """The views since then, the reader's own among them (so it needs no statement of its own)."""
    return (TicketView.select(TicketView.seen_at, User.id, User.email, User.first_name, User.last_name).join(User)
            .where(TicketView.ticket == ticket_id, TicketView.seen_at >= since)
            .order_by(TicketView.seen_at.desc()).limit(VIEWS_SHOWN + 1))


@prepared
def _newest(ticket_id: int):
    return Message.select(Message.id).where(Message.ticket == ticket_id).order_by(Message.id.desc()).limit(1)


def newest_id(ticket_id: int) -> int:
    """The id of the ticket's newest message (0 for none): what a reply form was shown with."""
    return _newest.scalar(ticket_id) or 0


def arrived_since(ticket_id: int, message_id: int, user: User) -> list[Message]:
    """Messages from someone else on the ticket with an id above `message_id`, oldest first."""
    return list(Message.select().where(Message.ticket == ticket_id, Message.id > message_id,
                                       Message.author_email != user.email).order_by(Message.id).limit(20))
