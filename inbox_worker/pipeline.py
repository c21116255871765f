"""Pipeline: runs the stages over a source, batch by batch, and keeps running.

In: a `Source` (fetch.py / imap.py) and the config. Out: ledger rows, tickets and
messages (through `apply`), and messages marked done on the server.

The order that makes a crash harmless (E2): fetch a batch -> parse it and store its raw
bytes and attachments (`prepare`, in parsing processes when `parse_workers` > 0, while
earlier batches are written; with parsing processes, an IMAP mailbox's batch is fetched
by them by UID on read-only connections of their own, by_uid.py, and the writer only
lists and claims) -> one transaction for the batch: a read of what the batch
needs to know (`BatchView`), a savepoint per message, the dependent rows in bulk ->
commit -> mark the batch done on the server. A crash before the commit loses the batch's writes but not its mail
(still pending on the server); a crash after the commit but before marking leaves
messages the ledger already has: the next pass marks them without processing them
again. Never catches broadly except around one message, and what it catches goes to
quarantine with the Message-ID in the log line. Database outages, and a file store that
takes no file at all (read-only, full), are not a message's fault: the batch is rolled
back and retried after a pause, the mail staying on the server (domain/faults.py). The
parsing processes end with the worker, however it ends.
"""
from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import (
    CancelledError,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    TimeoutError as FuturesTimeout,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace

from peewee import InterfaceError, OperationalError

from helpdesk.config import Config, MailboxURL
from helpdesk.domain import faults, owners, service_levels
from helpdesk.domain.notify import events_of, notify
from helpdesk.domain.oauth import AccessTokens, OAuthUnavailable
from helpdesk.domain.rows import Deferred, chunks
from helpdesk.domain.storage import BlobStore
from helpdesk.logs import about
from helpdesk.models import InboundMail, MailboxState, Outcome, db, utcnow

from . import claims
from .apply import Applied, Context, apply, store_attachments
from .by_uid import FetchOrder, fetch_and_prepare
from .classify import classify
from .fetch import Source, SourceError, open_source
from .headers import message_id_of
from .imap import ImapSource
from .lookup import BatchView
from .message import Fetched, Inbound
from .parse import parse
from .route import Decision, QuarantineDecision, route
from .thread import thread_of

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# Errors that say the database is unavailable, not that the message is bad.
RETRYABLE = (OperationalError, InterfaceError)
POOL_START_SECONDS = 120  # for the parsing processes to start, before any message is timed


@dataclass(frozen=True)
class ParseFailure:
    """What a parse that raised leaves behind (exceptions do not always pickle)."""

    error: str
    detail: str
    stage: str = "parse"  # what could not be done: "cannot <stage>: <error>"


def parse_safely(raw: bytes) -> Inbound | ParseFailure:
    try:
        return parse(raw)
    except Exception as exc:  # any bad input: the message goes to quarantine
        return ParseFailure(f"{type(exc).__name__}: {exc}", traceback.format_exc())


@dataclass(frozen=True)
class Prepared:
    """A message parsed, and its raw bytes already in the raw store (before any commit)."""

    parsed: Inbound | ParseFailure
    raw_sha256: str
    blobs: dict[int, str | None]  # per attachment: its stored hash, None when over the size limit


def prepare(raw: bytes, store: BlobStore, max_attachment_bytes: int, *, max_attachments: int = 100) -> Prepared:
    """Parse, and keep the raw bytes and the attachments: the CPU- and disk-heavy half of a
    message's work, which runs in the parsing processes so that the writing process only
    decides and writes rows. (Attachments of mail that turns out to be an auto-reply are
    stored too; a file no row refers to is harmless.)"""
    parsed = parse_safely(raw)
    if not isinstance(parsed, Inbound):
        return Prepared(parsed, store.put_raw(raw), {})
    blobs = store_attachments(parsed, store, max_attachment_bytes, max_attachments)
    return Prepared(_to_send(parsed), store.put_raw(raw, parsed.raw_sha256), blobs)


def prepare_chunk(prepare, raws: list[bytes], store: BlobStore, max_attachment_bytes: int, *,
                  max_attachments: int = 100) -> list[Prepared | OSError]:
    """`prepare` for several messages in one task of a parsing process: a task costs the
    writer a future, a wake-up and its share of the pipe whatever its size. A store error
    is returned in the message's place (raised again when that message is written, as a
    parser's own would be), so it does not take the rest of the chunk with it."""
    out: list[Prepared | OSError] = []
    for raw in raws:
        try:
            out.append(prepare(raw, store, max_attachment_bytes, max_attachments=max_attachments))
        except OSError as exc:
            out.append(exc)
    return out


@dataclass(frozen=True)
class _InChunk:
    """Where a message's result will be: its place in a chunk's future."""

    future: Future
    index: int


def _to_send(parsed: Inbound) -> Inbound:
    """What the writer needs of a stored message, as little as it takes to send it across:
    attachments without their bytes (they are in the store; the size stays), and the reply
    text as the same object as the text when they are equal (pickled once, not twice)."""
    changes: dict = {}
    if parsed.attachments:
        changes["attachments"] = tuple(replace(part, payload=b"") for part in parsed.attachments)
    if parsed.reply_text == parsed.text and parsed.reply_text is not parsed.text:
        changes["reply_text"] = parsed.text
    return replace(parsed, **changes) if changes else parsed


@dataclass
class Summary:
    """What a run did: outcomes counted, and messages found already done."""

    outcomes: Counter = field(default_factory=Counter)
    already_done: int = 0
    passes: int = 0

    @property
    def processed(self) -> int:
        return sum(self.outcomes.values())

    def as_dict(self) -> dict:
        return {"processed": self.processed, "outcomes": dict(self.outcomes),
                "already_done": self.already_done, "passes": self.passes}


def context_for(config: Config, queue: str | None = None) -> Context:
    return Context(
        queue=queue or config.default_queue,
        # Files are made durable once per batch, before its commit (see _write_and_mark).
        store=BlobStore(config.blob_dir, config.raw_dir, sync_each=False),
        support_addresses=config.support_addresses,
        prefix=config.ticket_prefix,
        max_attachment_bytes=config.max_attachment_bytes,
        max_message_bytes=config.max_message_bytes,
        max_new_participants=config.max_new_participants_per_mail,
        max_participants=config.max_participants_per_ticket,
        max_text_bytes=config.max_text_bytes,
        max_attachments=config.max_attachments,
        sla=service_levels.settings_of(config),
    )


class Worker:
    """Processes a mailbox; `run_once` for what is waiting, `run` to keep going."""

    AHEAD = 3  # batches fetched and handed to the parsers before the oldest is written
    AHEAD_BYTES = 64 * 1024 * 1024
    # Messages a parsing process gets in one task: two halve the writer's cost of futures and
    # wake-ups. More would save a little more of it but cost time: a chunk's result larger than
    # the pipe's buffer (64 KB) keeps its parser waiting until the writer, busy with a batch,
    # has read it all (10 a task measured slower). A chunk that fails or takes longer than the
    # parse timeout is parsed again message by message: only the message at fault is quarantined.
    PARSE_CHUNK = 2
    # Messages a parsing process fetches (on its own IMAP connection) and prepares in one task:
    # each costs it two round trips to the server, and the result carries no raw bytes.
    FETCH_CHUNK = 4

    def __init__(self, config: Config, source: Source | None = None, *, mailbox: MailboxURL | None = None,
                 parse_workers: int | None = None, prepare=prepare, tokens: AccessTokens | None = None):
        self.config = config
        self.mailbox = mailbox or config.mailbox
        if source is None:
            tokens = tokens or (AccessTokens(config) if self.mailbox.oauth else None)
            source = open_source(self.mailbox, done=config.mailbox_done, batch=config.fetch_batch, tokens=tokens)
        self.source = source
        self.ctx = context_for(config, self.mailbox.queue)
        self.parse_workers = config.parse_workers if parse_workers is None else parse_workers
        self._pool: ProcessPoolExecutor | None = None
        # A batch's syncfs waits on the disk there while the writer makes the batch's rows.
        self._syncing: ThreadPoolExecutor | None = None
        self._prepare = prepare  # a module-level function: it is sent to the parsing processes
        # With parsing processes, an IMAP mailbox is fetched by them (by_uid.py): the writer only
        # lists, claims, writes and marks. (A context of one's own does not go across a pipe.)
        self._fetch_in_parsers = (self.parse_workers > 0 and isinstance(source, ImapSource)
                                  and getattr(source, "ssl_context", None) is None)
        self._open = False
        # Who holds this worker's claims on server messages (inbox_worker/claims.py).
        self.owner = owners.owner_name(f"{id(self):x}")
        # (done, total) after each written batch of a pass: the CLI's progress bar; None: nobody asks.
        self.progress: Callable[[int, int], None] | None = None

    # --- life cycle ----------------------------------------------------------------
    def close(self) -> None:
        self._stop_pool()
        syncing, self._syncing = self._syncing, None
        if syncing is not None:
            syncing.shutdown()
        self._close_source()

    def _stop_pool(self, *, kill: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            _shut(pool, kill=kill)

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _close_source(self) -> None:
        if self._open:
            try:
                self.source.close()
            finally:
                self._open = False

    def _ensure_open(self) -> None:
        if not self._open:
            self.source.open()
            self._open = True

    # --- the loops --------------------------------------------------------------------
    def run_once(self, *, max_failures: int = 5, stop: threading.Event | None = None) -> Summary:
        """Process everything waiting, then return. Reconnects after a dropped connection
        or a database outage; gives up (raising) after `max_failures` in a row."""
        summary = Summary()
        failures = 0
        while not (stop and stop.is_set()):
            try:
                self._ensure_open()
                new = self.one_pass(summary)
                failures = 0
                if new == 0:
                    return summary
            except (SourceError, faults.StoreUnavailable, *RETRYABLE) as exc:
                failures += 1
                self._after_failure(exc)
                if failures >= max_failures:
                    raise
                _sleep(self._backoff(failures), stop)
        return summary

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set: process, then wait for new mail (IDLE or polling)."""
        self.start_parsers()
        failures = 0
        while not stop.is_set():
            try:
                self._ensure_open()
                self.one_pass(Summary())
                failures = 0
                self.source.wait(self.config.poll_seconds)
            except (SourceError, faults.StoreUnavailable, *RETRYABLE) as exc:
                failures += 1
                self._after_failure(exc)
                _sleep(self._backoff(failures), stop)

    def _backoff(self, failures: int) -> float:
        return min(float(self.config.reconnect_max_seconds), 0.5 * 2 ** (failures - 1))

    def _after_failure(self, exc: Exception) -> None:
        if isinstance(exc, faults.StoreUnavailable):
            # The mail stays on the server, uncommitted; the admins hear of it once (the
            # health job reads the fault record), and `mail status`/`check`/`/healthz` say it.
            log.error("%s: the batch waits and is tried again", exc.fault.line())
            self._close_source()
            self._record_state(error=exc.fault.line())
            try:
                faults.record(exc.fault, utcnow())
            except RETRYABLE:
                log.warning("could not record the fault: the database is unavailable too")
            return
        kind = "mailbox" if isinstance(exc, SourceError) else "database"
        if kind == "database":
            log.warning("database unavailable (%s); the batch is rolled back and tried again",
                        faults.of_db_error(exc).line())
        else:
            log.warning("mailbox unavailable (%s); reconnecting", exc)
        self._close_source()
        if kind == "database":
            if not db.is_closed():
                db.close()
        else:
            self._record_state(error=str(exc))

    # --- one pass over the mailbox -------------------------------------------------
    def one_pass(self, summary: Summary) -> int:
        """Process the messages pending now; returns how many were new to the ledger."""
        source = self.source
        uidvalidity = source.uidvalidity()
        self._check_uidvalidity(uidvalidity)
        pending = source.pending()
        known = self._in_ledger(uidvalidity, pending)
        if known:
            # Committed by an earlier run that stopped before marking them.
            source.mark_done(sorted(known, key=pending.index))
            summary.already_done += len(known)
            log.info("marked %d message(s) the ledger already had", len(known))
        todo = [uid for uid in pending if uid not in known]
        summary.passes += 1
        if todo:
            claims.release_dead()
        done = self._process_batches(uidvalidity, todo, summary) if todo else 0
        self._record_state(error="", uidvalidity=uidvalidity, got_mail=bool(done))
        self._clear_store_fault()
        return done

    def _clear_store_fault(self) -> None:
        """After a good pass: a store fault recorded earlier is over once the store takes files."""
        if faults.is_open(faults.STORE) and faults.probe_store([self.config.blob_dir, self.config.raw_dir]) is None:
            if faults.clear(faults.STORE, utcnow()):
                log.info("the file store takes files again")

    def _process_batches(self, uidvalidity: int, uids: list[str], summary: Summary) -> int:
        """Fetch ahead while earlier batches are parsed and written: a few batches are in
        flight (bounded in count and bytes, so memory does not grow with the mailbox; when
        the parsing processes fetch, the writer holds no raw bytes at all).
        Each batch is claimed first; what another worker holds is left to it. Returns
        how many messages this worker took on."""
        size = max(1, self.config.fetch_batch)
        batches = (uids[start:start + size] for start in range(0, len(uids), size))
        in_flight: deque = deque()
        held = 0
        taken = 0
        written = 0

        def write_oldest() -> None:
            """The oldest batch in flight written and marked, and its claim released."""
            nonlocal held, written
            claimed, fetched, parsing = in_flight.popleft()
            held -= sum(len(f.raw) for f in fetched or ())
            pairs = (self._gathered(parsing) if fetched is None
                     else [(f, self._stored(f, p)) for f, p in zip(fetched, parsing)])
            self._write_and_mark(pairs, summary)
            written += len(pairs)
            if self.progress is not None:
                self.progress(written, len(uids))
            claims.release(self.owner, self.source.name, uidvalidity, claimed)

        try:
            for batch in batches:
                batch = self._claim(uidvalidity, batch, summary)
                if not batch:
                    continue
                taken += len(batch)
                if self._fetch_in_parsers:
                    in_flight.append((batch, None, self._fetch_later(uidvalidity, batch)))
                else:
                    fetched = list(self.source.fetch(batch, self.config.max_message_bytes))
                    in_flight.append((batch, fetched, self._parse_later(fetched)))
                    held += sum(len(f.raw) for f in fetched)
                while in_flight and (len(in_flight) > self.AHEAD or held > self.AHEAD_BYTES):
                    write_oldest()
            while in_flight:
                write_oldest()
        except BaseException:
            # The pass starts again (or the worker stops): what the parsers have not begun is not wanted.
            for _, fetched, parsing in in_flight:
                for item in parsing if fetched is None else ():
                    item[1].cancel()
            raise
        return taken

    def _claim(self, uidvalidity: int, batch: list[str], summary: Summary) -> list[str]:
        """The part of the batch this worker may process; what another worker committed
        meanwhile is only marked done."""
        mine, known = claims.claim(self.owner, self.source.name, uidvalidity, batch, utcnow())
        if known:
            self.source.mark_done(known)
            claims.release(self.owner, self.source.name, uidvalidity, known)
            summary.already_done += len(known)
        return mine

    def _parse_later(self, fetched: list[Fetched]) -> list:
        if self.parse_workers <= 0:
            return [self._prepare_here(f) for f in fetched]
        out: list = []
        for start in range(0, len(fetched), self.PARSE_CHUNK):
            chunk = fetched[start:start + self.PARSE_CHUNK]
            future = self._task(prepare_chunk, self._prepare, [f.raw for f in chunk], self.ctx.store,
                                self.ctx.max_attachment_bytes, max_attachments=self.ctx.max_attachments)
            out.extend(_InChunk(future, index) for index in range(len(chunk)))
        return out

    def _fetch_later(self, uidvalidity: int, uids: list[str]) -> list[tuple[list[str], Future]]:
        """The batch's UIDs handed to the parsing processes, a few a task, to fetch and prepare."""
        order = FetchOrder(self.source.url, uidvalidity, self.config.max_message_bytes,  # type: ignore[attr-defined]
                           token=self._access_token(), timeout=self.source.timeout)  # type: ignore[attr-defined]
        out = []
        for start in range(0, len(uids), self.FETCH_CHUNK):
            chunk = uids[start:start + self.FETCH_CHUNK]
            out.append((chunk, self._task(fetch_and_prepare, self._prepare, order, chunk, self.ctx.store,
                                          self.ctx.max_attachment_bytes, max_attachments=self.ctx.max_attachments)))
        return out

    def _access_token(self) -> str | None:
        """For ?auth=oauth2: the token the writer's own connection would use now (refreshed by
        it when due), for the parsing processes' connections."""
        url = self.source.url  # type: ignore[attr-defined]
        if not url.oauth:
            return None
        try:
            return self.source.tokens.get(url.username)  # type: ignore[attr-defined]
        except OAuthUnavailable as exc:
            raise SourceError(f"{self.source.name}: {exc}") from exc

    def _gathered(self, fetching: list[tuple[list[str], Future]]) -> list[tuple[Fetched, Prepared]]:
        """What the parsing processes fetched and prepared, in UID order. A task whose process
        ended abruptly, hung or was cancelled is done again here, message by message: fetched on
        the writer's own connection, each parsed on its own (so only the message at fault is
        quarantined). A SourceError from a parsing process is raised: the pass starts again."""
        pairs: list[tuple[Fetched, Prepared]] = []
        for uids, future in fetching:
            try:
                remote = future.result(timeout=self.config.parse_timeout_seconds)
            except CancelledError:
                alone = False  # stopped for another message's sake: nothing is wrong with these
            except (BrokenProcessPool, FuturesTimeout) as exc:
                what = ("took longer than %d s" % self.config.parse_timeout_seconds
                        if isinstance(exc, FuturesTimeout) else "ended abruptly")
                log.warning("a parsing process %s; fetching uids %s here and parsing each on its own",
                            what, ", ".join(uids))
                self._stop_pool(kill=True)
                alone = True
            else:
                pairs.extend((r.fetched, self._stored(r.fetched, r.prepared)) for r in remote)
                continue
            for fetched in self.source.fetch(uids, self.config.max_message_bytes):
                pairs.append((fetched, self._stored(fetched, self._submit(fetched), alone=alone)))
        return pairs

    def _prepare_here(self, fetched: Fetched) -> Prepared | OSError:
        try:
            return self._prepare(fetched.raw, self.ctx.store, self.ctx.max_attachment_bytes,
                                 max_attachments=self.ctx.max_attachments)
        except OSError as exc:  # raised again when the batch is written (_stored), as a parser's would be
            return exc

    def _submit(self, fetched: Fetched) -> Future:
        return self._task(self._prepare, fetched.raw, self.ctx.store, self.ctx.max_attachment_bytes,
                          max_attachments=self.ctx.max_attachments)

    def _task(self, fn, *args, **kwargs) -> Future:
        """`fn` handed to a parsing process. A pool already broken (a process died on an earlier
        message, and the writer has not read that result yet) gives a future failed the same
        way, handled where results are read: those messages are parsed again on their own."""
        try:
            return self._parsers().submit(fn, *args, **kwargs)
        except BrokenProcessPool as exc:
            failed: Future = Future()
            failed.set_exception(exc)
            return failed

    def _parsers(self) -> ProcessPoolExecutor:
        """The pool, its processes started before a message is handed to one: a new process's
        start (an interpreter and the parser's imports, a few tenths of a second, seconds on a
        busy machine) is not counted against a message's parse timeout, so a good message is
        not taken for one that hangs its parser when the pool was just (re)started."""
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(self.parse_workers, mp_context=ctx, initializer=_die_with_parent,
                                       initargs=(os.getpid(),))
            try:
                for started in [pool.submit(_started) for _ in range(self.parse_workers)]:
                    started.result(timeout=POOL_START_SECONDS)
            except BaseException as exc:
                _shut(pool, kill=True)
                if not isinstance(exc, (BrokenProcessPool, FuturesTimeout)):
                    raise
                why = f"not up in {POOL_START_SECONDS} s" if isinstance(exc, FuturesTimeout) else "one ended as it started"
                raise faults.ParsersUnavailable(f"the parsing processes could not be started ({why})") from exc
            self._pool = pool
        return self._pool

    def start_parsers(self) -> None:
        """Start the parsing processes now rather than with the first mail: for a
        long-running worker, and for benchmarks."""
        if self.parse_workers > 0:
            self._parsers()

    def _result(self, fetched: Fetched, parsing, *, alone: bool = False) -> Prepared:
        """The parsing process's result; a message that kills its parser or hangs it
        is quarantined (after a retry on its own, to tell it from its batch-mates)."""
        if isinstance(parsing, OSError):
            raise parsing
        if not isinstance(parsing, (Future, _InChunk)):
            return parsing
        future = parsing.future if isinstance(parsing, _InChunk) else parsing
        try:
            done = future.result(timeout=self.config.parse_timeout_seconds)
        except CancelledError:
            # The pool was stopped for another message's sake before this one's turn came
            # (a busy machine): nothing is wrong with this one, parse it again.
            return self._result(fetched, self._submit(fetched), alone=alone)
        except (BrokenProcessPool, FuturesTimeout) as exc:
            what = ("took longer than %d s" % self.config.parse_timeout_seconds
                    if isinstance(exc, FuturesTimeout) else "ended abruptly")
            self._stop_pool(kill=True)
            if not alone:
                log.warning("a parsing process %s; parsing uid %s again on its own", what, fetched.uid)
                return self._result(fetched, self._submit(fetched), alone=True)
            log.error("the parser %s on uid %s: quarantined", what, fetched.uid)
            failure = ParseFailure(f"the parsing process {what} on this message", "")
            return Prepared(failure, self.ctx.store.put_raw(fetched.raw), {})
        if not isinstance(parsing, _InChunk):
            return done
        if isinstance(done[parsing.index], OSError):
            raise done[parsing.index]
        return done[parsing.index]

    def _stored(self, fetched: Fetched, parsing, *, alone: bool = False) -> Prepared:
        """The message parsed and its files stored. A failed write is the store's fault when
        a probe of the store fails too: `StoreUnavailable`, the batch waits (uncommitted,
        still on the server) and is tried again after a pause. When the store takes other
        files, the message is tried once more on its own, and then quarantined with the
        reason (its raw bytes kept; if even those cannot be written, the batch waits)."""
        try:
            return self._result(fetched, parsing, alone=alone)
        except OSError as exc:
            log.warning("storing uid %s failed (%s): probing the store", fetched.uid, exc)
        self._store_works_or_raise()
        try:
            return self._prepare(fetched.raw, self.ctx.store, self.ctx.max_attachment_bytes,
                                 max_attachments=self.ctx.max_attachments)
        except OSError as exc:
            self._store_works_or_raise()
            fault = faults.of_os_error(exc)
            log.error("uid %s cannot be stored although the store takes other files (%s): quarantined",
                      fetched.uid, fault.line())
            try:
                raw_sha256 = self.ctx.store.put_raw(fetched.raw)
            except OSError as raw_exc:
                raise faults.StoreUnavailable(faults.of_os_error(raw_exc)) from raw_exc
            failure = ParseFailure(f"the file store is {fault.kind} for it: {fault.detail}", traceback.format_exc(),
                                   stage="store its files")
            return Prepared(failure, raw_sha256, {})

    def _store_works_or_raise(self) -> None:
        fault = faults.probe_store([self.config.blob_dir, self.config.raw_dir])
        if fault is not None:
            raise faults.StoreUnavailable(fault)

    def _write_and_mark(self, pairs: list[tuple[Fetched, Prepared]], summary: Summary) -> None:
        fetched = [f for f, _ in pairs]
        prepared = [p for _, p in pairs]
        # The batch's files are all written: the disk takes them while its rows are made.
        if self._syncing is None:
            self._syncing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker-sync")
        syncing = self._syncing.submit(self.ctx.store.sync)
        try:
            with db.atomic():
                view = self.view_of([p.parsed for p in prepared])
                batch = Deferred()
                results = []
                for f, p in zip(fetched, prepared):
                    applied = self.process(f, p.parsed, view, raw_stored=p.raw_sha256, blobs=p.blobs)
                    batch.extend(applied.rows)
                    results.append(applied)
                batch.flush()
                # The mail this batch causes goes into the outbox in the same transaction (E11).
                notify(self.config, events_of(zip(results, (p.parsed for p in prepared))))
                try:
                    syncing.result()  # the batch's files are on disk before rows refer to them
                except OSError as exc:  # the store's fault, not a message's: the batch waits, uncommitted
                    raise faults.StoreUnavailable(faults.of_os_error(exc)) from exc
        finally:
            wait([syncing])
        # Only now, after the commit, does the server hear about it.
        self.source.mark_done([f.uid for f in fetched])
        for applied in results:
            summary.outcomes[applied.outcome] += 1

    # --- one message ------------------------------------------------------------------
    def view_of(self, parsed: list) -> BatchView:
        """What the database knows that this batch's messages will ask about."""
        return BatchView.read([p for p in parsed if isinstance(p, Inbound)], secret=self.config.secret_key,
                              support_addresses=self.config.support_addresses, prefix=self.config.ticket_prefix)

    def process(self, fetched: Fetched, parsed: Inbound | ParseFailure, view: BatchView, *,
                ledger: InboundMail | None = None, raw_stored: str | None = None,
                blobs: dict[int, str | None] | None = None) -> Applied:
        """Decide and apply one message, quarantining it on any failure of its own. The
        dependent rows come back in `Applied.rows`, for the caller to insert."""
        if isinstance(parsed, ParseFailure):
            message_id = message_id_of(fetched.raw) or "?"
            log.warning("quarantined message %s (uid %s): cannot %s: %s", message_id, fetched.uid, parsed.stage,
                        parsed.error, extra=about(message_id, uid=fetched.uid, outcome="quarantined"))
            return apply(QuarantineDecision(f"cannot {parsed.stage}: {parsed.error}"), fetched, None, self.ctx, view,
                         error_detail=parsed.detail, ledger=ledger, raw_stored=raw_stored)
        try:
            decision = self.decide(parsed, view, ledger_id=ledger.id if ledger else None)
            applied = apply(decision, fetched, parsed, self.ctx, view, ledger=ledger, raw_stored=raw_stored,
                            blobs=blobs)
        except RETRYABLE:
            raise
        except Exception as exc:
            log.exception("quarantined message %s (uid %s): %s", parsed.message_id, fetched.uid, exc,
                          extra=about(parsed.message_id, uid=fetched.uid, outcome="quarantined"))
            return apply(QuarantineDecision(f"{type(exc).__name__}: {exc}"), fetched, parsed, self.ctx, view,
                         error_detail=traceback.format_exc(), ledger=ledger, raw_stored=raw_stored)
        view.absorb(applied.rows, message_id=parsed.message_id, outcome=applied.outcome,
                    ledger_id=applied.ledger_id, description=f"{applied.outcome}, {fetched.mailbox} uid {fetched.uid}",
                    ticket_id=applied.ticket_id, ticket_status=applied.ticket_status,
                    raw_sha256=parsed.raw_sha256, fingerprint=parsed.fingerprint)
        log.info("message %s uid %s -> %s ticket=%s: %s", parsed.message_id, fetched.uid, applied.outcome,
                 applied.ticket_id, applied.reason,
                 extra=about(parsed.message_id, applied.ticket_id, uid=fetched.uid, outcome=applied.outcome))
        return applied

    def decide(self, inbound: Inbound, view: BatchView, *, ledger_id: int | None = None) -> Decision:
        """The pure stages, fed with what the database knows."""
        classification = classify(inbound, support_addresses=self.config.support_addresses,
                                  own_message_id=view.is_own_message_id(inbound.message_id))
        match = thread_of(inbound, view, secret=self.config.secret_key,
                          support_addresses=self.config.support_addresses, prefix=self.config.ticket_prefix)
        facts = view.facts(inbound, classification, match, ledger_id=ledger_id)
        return route(inbound, classification, match, facts)

    # --- ledger and state -------------------------------------------------------------
    def _in_ledger(self, uidvalidity: int, uids: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(uids):
            query = InboundMail.select(InboundMail.uid).where(
                InboundMail.mailbox == self.source.name, InboundMail.uidvalidity == uidvalidity,
                InboundMail.uid.in_(chunk))
            found.update(row.uid for row in query)
        return found

    def _check_uidvalidity(self, uidvalidity: int) -> None:
        state = MailboxState.get_or_none(MailboxState.mailbox == self.source.name)
        if state is not None and state.uidvalidity and state.uidvalidity != uidvalidity:
            log.warning("UIDVALIDITY of %s changed from %s to %s: rescanning; Message-IDs guard against "
                        "duplicates", self.source.name, state.uidvalidity, uidvalidity)

    def _record_state(self, *, error: str, uidvalidity: int | None = None, got_mail: bool = False) -> None:
        now = utcnow()
        fields = {"last_error": error[:2000]}
        if uidvalidity is not None:
            fields.update(uidvalidity=uidvalidity, last_fetch_at=now)  # type: ignore[call-overload]
        if got_mail:
            fields["last_message_at"] = now  # type: ignore[assignment]
        try:
            with db.atomic():
                updated = MailboxState.update(**fields).where(MailboxState.mailbox == self.source.name).execute()
                if not updated:  # the first fetch; another worker may be making the row too
                    MailboxState.insert(mailbox=self.source.name, **fields).on_conflict_ignore().execute()
        except RETRYABLE:
            if not error:
                raise
            log.warning("could not record the mailbox error either: the database is unavailable too")


def reprocess(config: Config, ledger_id: int) -> Applied:
    """Run a quarantined message through the pipeline again, from its stored raw bytes."""
    row = InboundMail.get_or_none(InboundMail.id == ledger_id)
    if row is None:
        raise LookupError(f"no ingested message #{ledger_id}")
    if row.outcome != Outcome.QUARANTINED.value:
        raise ValueError(f"message #{ledger_id} is not quarantined: it was processed as {row.outcome}")
    box = next((b for b in config.mailboxes if b.name == row.mailbox), None)  # its ticket's queue
    worker = Worker(config, source=_NoSource(), mailbox=box, parse_workers=0)  # type: ignore[arg-type]
    raw = worker.ctx.store.get_raw(row.raw_sha256)
    fetched = Fetched(row.mailbox, row.uidvalidity, row.uid, raw, row.size, truncated=row.size > len(raw))
    parsed = parse_safely(raw)
    with db.atomic():
        applied = worker.process(fetched, parsed, worker.view_of([parsed]), ledger=row, raw_stored=row.raw_sha256)
        applied.rows.flush()
        notify(config, events_of([(applied, parsed)]))
        worker.ctx.store.sync()
    return applied


def _die_with_parent(parent_pid: int) -> None:
    """In a parsing process, first thing: end when the worker that started it ends, however
    it ends (SIGKILL by the out-of-memory killer included), instead of waiting forever on
    its queue as an orphan. Linux sends the parent-death signal (PR_SET_PDEATHSIG) when the
    thread that started the process ends: the worker's pool is started, used and shut down
    by the thread that runs the worker. A watch on the parent's pid covers the moment before
    the signal was set up and systems without prctl."""
    # Ctrl-C in a terminal reaches the whole process group: the worker stops its parsers itself,
    # and a parser interrupted on its queue would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        pass
    if os.getppid() != parent_pid:  # the parent died before the signal was set up
        os._exit(0)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()


def _watch_parent(parent_pid: int, every: float = 1.0) -> None:
    while os.getppid() == parent_pid:
        time.sleep(every)
    os._exit(0)


def _shut(pool: ProcessPoolExecutor, *, kill: bool) -> None:
    if kill:
        # A parser stuck on one message would never finish: end the processes. (The
        # executor has no public way to do that before Python 3.14.)
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
    pool.shutdown(wait=not kill, cancel_futures=True)


def _started() -> int:
    """A no-op for a parsing process: unpickling it imports this module, and so the parser."""
    return os.getpid()


class _NoSource:
    """Stands in for a mailbox when a message comes from the raw store."""

    name = "reprocess"

    def close(self) -> None:
        pass


def _sleep(seconds: float, stop: threading.Event | None) -> None:
    if stop is not None:
        stop.wait(seconds)
    else:
        time.sleep(seconds)
