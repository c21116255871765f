"""Leases: who holds one ("host:pid:tag"), letting go of those of dead processes, and
named leases (one scheduler at a time runs a job).

Owners are named so that the leases and claims of a process of this machine that died
can be let go at once instead of when they run out (`release_dead`: the sender's outbox
rows, the worker's message claims). `take` and `release` hold a named `Lease` row.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Callable, Iterable

from peewee import Field

from helpdesk.models import Lease, db, utcnow


def owner_name(tag: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{tag}"[:100]


def dead_owners(owners: Iterable[str]) -> list[str]:
    """The owners among these that are processes of this machine that no longer run."""
    prefix = f"{socket.gethostname()}:"
    dead = []
    for owner in owners:
        if owner and owner.startswith(prefix):
            pid = owner[len(prefix):].split(":", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                dead.append(owner)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def release_dead(owner_field: Field, release: Callable[[str], int], *where) -> int:
    """Call `release(owner)` for each owner in this column (rows matching `where`) that is a
    process of this machine that no longer runs; the rows it released in all."""
    owners = {o for (o,) in owner_field.model.select(owner_field).distinct().where(
        owner_field.startswith(f"{socket.gethostname()}:"), *where).tuples()}
    return sum(release(owner) for owner in dead_owners(owners))


def take(name: str, owner: str, *, ttl: dt.timedelta) -> bool:
    """Whether `owner` now holds the named lease (free, run out, or already its own)."""
    now = utcnow()
    with db.atomic():
        taken = Lease.update(owner=owner, until=now + ttl).where(
            Lease.name == name, (Lease.until < now) | (Lease.owner == owner)).execute()
        if not taken:
            taken = Lease.insert(name=name, owner=owner, until=now + ttl).on_conflict_ignore().as_rowcount().execute()
    return bool(taken)


def release(name: str, owner: str) -> None:
    Lease.update(until=utcnow()).where(Lease.name == name, Lease.owner == owner).execute()
