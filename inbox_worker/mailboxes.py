"""Every configured mailbox in one process (HELPDESK_MAILBOX_URL lists one or more).

In: the config. Out: a `Worker` per mailbox (pipeline.py), each feeding its mailbox's
queue; `run_once` processes what waits in each mailbox in turn, `run` keeps every one
going in a thread of its own until `stop` is set. A mailbox that fails (unreachable,
wrong password, dead OAuth2 token) is retried with backoff by its own worker, and the
others go on: nothing one mailbox does stops another. The parsing processes are shared
out among the workers (at least one each when parsing runs in processes at all).
"""
from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

from helpdesk.config import Config
from helpdesk.domain import faults
from helpdesk.domain.oauth import AccessTokens

from .fetch import SourceError
from .pipeline import RETRYABLE, Summary, Worker

log = logging.getLogger(__name__)

RESTART_SECONDS = 30.0  # after a worker stopped on something unexpected, start it again this much later


def workers_for(config: Config) -> list[Worker]:
    boxes = config.mailboxes
    parsers = config.parse_workers and max(1, config.parse_workers // len(boxes))
    tokens = AccessTokens(config) if any(b.oauth for b in boxes) else None
    return [Worker(config, mailbox=box, parse_workers=parsers, tokens=tokens) for box in boxes]


def run_once(config: Config, *, max_failures: int = 5,
             progress: Callable[[str, int, int], None] | None = None) -> tuple[Summary, dict[str, str]]:
    """Process what waits in every mailbox; returns the summary over all of them and, per
    mailbox that could not be read, why (the others are processed all the same).
    `progress(mailbox, done, total)` is called after each batch written."""
    total, errors = Summary(), {}
    for worker in workers_for(config):
        if progress is not None:
            worker.progress = functools.partial(progress, worker.source.name)
        with worker:
            try:
                summary = worker.run_once(max_failures=max_failures)
            except SourceError as exc:
                errors[worker.source.name] = str(exc)
                continue
            except RETRYABLE as exc:  # the database, for every mailbox: read-only, locked, full
                errors[worker.source.name] = faults.of_db_error(exc).line()
                continue
        total.outcomes.update(summary.outcomes)
        total.already_done += summary.already_done
        total.passes += summary.passes
    return total, errors


def run(config: Config, stop: threading.Event) -> None:
    """Every mailbox until `stop` is set, one thread each; returns when all have stopped."""
    threads = [threading.Thread(target=_keep_running, args=(config, box, stop), name=f"mailbox-{i}", daemon=True)
               for i, box in enumerate(config.mailboxes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(1.0)


def _keep_running(config: Config, box, stop: threading.Event) -> None:
    parsers = config.parse_workers and max(1, config.parse_workers // len(config.mailboxes))
    tokens = AccessTokens(config) if box.oauth else None
    while not stop.is_set():
        try:
            with Worker(config, mailbox=box, parse_workers=parsers, tokens=tokens) as worker:
                log.info("worker watching %s (queue %s)", worker.source.name, box.queue)
                worker.run(stop)
        except Exception:  # a bug, or something no one foresaw: this mailbox waits, the others go on
            log.exception("the worker for %s stopped; starting it again in %s s", box.name, RESTART_SECONDS)
            stop.wait(RESTART_SECONDS)
