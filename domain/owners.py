"""Who holds a lease or claim: "host:pid:tag", so that those of a dead process on this
machine can be let go at once instead of when their lease runs out (sender, claims)."""
from __future__ import annotations

import os
import socket
from typing import Iterable


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
