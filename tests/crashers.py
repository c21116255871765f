"""Stand-ins for `prepare` that misbehave on marked messages, as a parser bug might:
module-level, so the parsing processes can import them."""
from __future__ import annotations

import os
import time

from helpdesk.inbox_worker.pipeline import prepare


def prepare_or_misbehave(raw, store, limit, **limits):
    if b"<kills-the-parser@example.com>" in raw:
        os._exit(70)  # as a crash in a C extension would end the process
    if b"<hangs-the-parser@example.com>" in raw:
        time.sleep(3600)
    return prepare(raw, store, limit, **limits)


def prepare_or_fail_to_store(raw, store, limit, **limits):
    """As if the store refused one message's files (and only that message's)."""
    if b"<cannot-be-stored@example.com>" in raw:
        raise OSError(28, "No space left on device")
    return prepare(raw, store, limit, **limits)
