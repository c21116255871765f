"""The `helpdesk` command: one entry point for operators, scripts and tests.

Commands that list things take `--json`. Exit status: 0 done, 1 failed (the message
says why), 2 bad usage.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from helpdesk import config as config_mod, database

log = logging.getLogger("helpdesk")


class CommandError(Exception):
    """A failure the user can act on; printed without a traceback."""


# --- setting up ------------------------------------------------------------------------


def _setup(args) -> config_mod.Config:
    config = config_mod.load_config()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    args.database = database.open_configured(config)
    return config


def _migrated(args) -> config_mod.Config:
    config = _setup(args)
    database.migrate(args.database)
    return config


def _local(config, value, *, seconds: bool = False) -> str:
    """A time for the terminal: in HELPDESK_TIMEZONE, the zone named ("2026-12-02 07:09 CET");
    stored times are naive UTC, ISO strings with an offset are converted (--json keeps UTC)."""
    from helpdesk.domain import local_time

    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value) if value else None
    return local_time.shown(value, config.timezone, named=True, seconds=seconds)


def _label(kind: str, value: str) -> str:
    """An internal name in the words the pages use (the text output is English; --json keeps the names)."""
    from helpdesk.domain import labels

    return labels.label(kind, value, labels.english)


def _print_json(value) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


class _Progress:
    """Progress bars on stderr for a long command, one per phase (`progress(phase, done, total)`):
    only when both stdout and stderr are terminals and no `--json` was asked for; silent otherwise,
    so scripts and pipes get what they always got."""

    PHASES = {"read": ("reading", "line"), "store": ("storing", "contract")}  # else: a mailbox's name, mail

    def __init__(self, args):
        self.shown = not getattr(args, "json", False) and sys.stdout.isatty() and sys.stderr.isatty()
        self.bar = None
        self.phase = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.shown:
            return
        from tqdm import tqdm

        if self.bar is None or phase != self.phase or total != self.bar.total:
            self.close()
            self.phase = phase
            label, unit = self.PHASES.get(phase, (phase, "mail"))
            self.bar = tqdm(total=total, desc=label, unit=unit, unit_scale=True,
                            file=sys.stderr, leave=False, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "_Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- commands ---------------------------------------------------------------------------


def cmd_init_db(args) -> int:
    from helpdesk.domain import rollups

    config = _setup(args)
    applied = database.migrate(args.database)
    print(f"database ready at {config_mod.masked_url(config.database_url)} ({len(applied)} migration(s) applied)")
    if not rollups.kept_for(config.timezone):  # the reports' per-day sums are per local day of HELPDESK_TIMEZONE
        counted = rollups.rebuild(config.timezone)
        print(f"the reports' sums per day rebuilt for {config.timezone} ({counted} messages)")
    return 0


def cmd_worker(args) -> int:
    from helpdesk.inbox_worker import mailboxes

    config = _migrated(args)
    if args.once:
        with _Progress(args) as progress:
            summary, errors = mailboxes.run_once(config, progress=progress)
        if args.json:
            _print_json({**summary.as_dict(), "errors": errors})
        else:
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items())) or "nothing new"
            print(f"processed {summary.processed}: {outcomes}")
            for error in errors.values():
                print(f"helpdesk: {error}", file=sys.stderr)
        return 1 if errors else 0
    mailboxes.run(config, _stop_on_signals())
    return 0


def cmd_run(args) -> int:
    """Everything on the embedded defaults: the mail worker, the sender and the portal."""
    from helpdesk.inbox_worker import mailboxes
    from helpdesk.outgoing.sender import Sender
    from helpdesk.web import create_app
    from helpdesk.web.server import serve_in_thread, url_of

    config = _migrated(args)
    server, serving = serve_in_thread(create_app(config, db=args.database), *config.web_address)
    stop = _stop_on_signals()
    sending = threading.Thread(target=Sender(config).run, args=(stop,), name="sender", daemon=True)
    sending.start()
    _start_scheduler(config, stop)
    mailbox = config.mailbox
    print(f"helpdesk running: data in {config.data_dir}, mailbox "
          + ", ".join(f"{b.name} (queue {b.queue})" if len(config.mailboxes) > 1 else b.name for b in config.mailboxes))
    print(f"portal at {url_of(server)}", flush=True)
    if mailbox.scheme == "maildir":
        print(f"drop .eml files into {mailbox.path}/new (or: helpdesk mail drop FILE.eml); "
              "see them with: helpdesk ticket list", flush=True)
    print(_mail_out(config), flush=True)
    try:
        mailboxes.run(config, stop)
    finally:
        server.shutdown()
    sending.join(10)
    serving.join(10)
    return 0


def _mail_out(config) -> str:
    """Where the mail the system sends goes (no password shown)."""
    smtp = config.smtp
    if not smtp.scheme:
        return (f"mail out: .eml files in {config.outbox_dir} (no SMTP server: HELPDESK_SMTP_URL is not set); "
                "see them with: helpdesk outbox list")
    return f"mail out: by {smtp.scheme}://{smtp.host}:{smtp.port} from {config.support_address}"


def cmd_web(args) -> int:
    """Only the portal: a threaded werkzeug server, or gunicorn with --workers N."""
    from helpdesk.web import create_app
    from helpdesk.web.server import run_gunicorn, serve_in_thread, url_of

    config = _migrated(args)
    if args.workers:
        if args.workers < 1:
            raise CommandError("--workers: give one or more")
        host, port = config.web_address
        print(f"portal at http://{host}:{port}/ (gunicorn, {args.workers} worker(s))", flush=True)
        run_gunicorn(config, args.workers)
        return 0
    server, serving = serve_in_thread(create_app(config, db=args.database), *config.web_address)
    stop = _stop_on_signals()
    print(f"portal at {url_of(server)}", flush=True)
    while not stop.wait(1):
        pass
    server.shutdown()
    serving.join(10)
    return 0


def cmd_send(args) -> int:
    """Deliver the outbox: what is due now (--once), or keep delivering."""
    from helpdesk.outgoing.sender import Sender

    config = _migrated(args)
    sender = Sender(config)
    if args.once:
        done = sender.send_due(limit=10_000)
        done.update({f"webhook_{k}": v for k, v in _deliver_webhooks(config).items()})
        if args.json:
            _print_json(dict(done))
        else:
            print(", ".join(f"{k} {v}" for k, v in sorted(done.items())) or "nothing due")
        return 0
    sender.run(_stop_on_signals())
    return 0


def _deliver_webhooks(config) -> dict:
    """Every webhook delivery due now, ten at a time."""
    from collections import Counter

    from helpdesk.outgoing.webhook_sender import WebhookSender

    sender, done = WebhookSender(config), Counter[str]()
    while batch := sender.deliver_due():
        done.update(batch)
        if set(batch) <= {"waiting"} or sum(done.values()) > 10_000:
            break
    return done


def cmd_outbox_list(args) -> int:
    from helpdesk.models import Outbox

    config = _migrated(args)
    query = Outbox.select().order_by(Outbox.id.desc()).limit(args.limit)
    if args.status:
        query = query.where(Outbox.status == args.status)
    rows = [{"id": r.id, "kind": r.kind, "ticket": r.ticket_id, "recipient": r.recipient,
             "message_id": r.message_id, "status": r.status, "attempts": r.attempts,
             "next_attempt_at": r.next_attempt_at, "sent_at": r.sent_at, "last_error": r.last_error}
            for r in query]
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        when = _local(config, r["sent_at"] or r["next_attempt_at"], seconds=True)
        print(f"#{r['id']:<6} {r['status']:<8} {when}  {r['recipient']:<30} <{r['message_id']}>"
              + (f"  {r['last_error']}" if r["last_error"] else ""))
    if not rows:
        print("the outbox is empty")
    return 0


def _start_scheduler(config, stop: threading.Event) -> threading.Thread:
    """The scheduled jobs (digests, reminders, mailbox health) in the background until `stop`
    is set; join the thread returned to wait for a running job to finish."""
    from helpdesk import scheduler

    jobs = scheduler.build_scheduler(config)
    jobs.start()
    for job in jobs.get_jobs():
        log.debug("scheduled %s: %s", job.id, job.trigger)

    def stop_when_told():
        stop.wait()
        jobs.shutdown(wait=True)

    stopping = threading.Thread(target=stop_when_told, name="scheduler", daemon=True)
    stopping.start()
    return stopping


def cmd_scheduler(args) -> int:
    """Run the scheduled jobs until stopped; several may run against one database."""
    config = _migrated(args)
    stopping = _start_scheduler(config, _stop_on_signals())
    while stopping.is_alive():  # short waits: the signal handlers run between them
        stopping.join(1)
    return 0


def cmd_digest_run(args) -> int:
    """Run one scheduled job now, by hand (under its lease, like the scheduler)."""
    from helpdesk import scheduler

    config = _migrated(args)
    try:
        now = scheduler.parse_now(args.now) if args.now else None
    except ValueError:
        raise CommandError(f"--now: not an ISO time: {args.now!r}") from None
    summary = scheduler.run_job(config, args.name, now)
    if summary is None:
        raise CommandError(f"{args.name} is being run by a scheduler right now; try again later")
    if args.json:
        _print_json(summary.as_dict())
    else:
        print(f"{args.name}: {summary.recipients} recipient(s), {summary.queued} queued, "
              f"{summary.already} already sent, {summary.nothing} with nothing to say")
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def cmd_ticket_list(args) -> int:
    from helpdesk.domain import reports

    config = _migrated(args)
    rows = reports.ticket_rows(status=args.status, queue=args.queue, limit=args.limit, prefix=config.ticket_prefix,
                               tag=args.tag)
    if args.json:
        _print_json(rows)
        return 0
    queues = len({r["queue"] for r in rows}) > 1 or len(config.queues) > 1
    for r in rows:
        queue = f"{r['queue']:<12} " if queues else ""
        extra = "".join(f"  #{t}" for t in r["tags"]) + (f"  (merged into {r['merged_into']})" if r["merged_into"]
                                                        else "")
        print(f"{r['ref']:>9}  {queue}{_label('status', r['status']):<24} {r['messages']:>3} msg  {r['requester']:<30} {r['subject']}{extra}")
    if not rows:
        print("no tickets")
    return 0


def cmd_ticket_show(args) -> int:
    from helpdesk.domain import reports

    config = _migrated(args)
    detail = reports.ticket_detail(args.ref, prefix=config.ticket_prefix)
    if detail is None:
        raise CommandError(f"no ticket {args.ref}")
    detail.update(_sla_and_time(config, detail["id"]))
    if args.json:
        _print_json(detail)
        return 0
    print(f"{detail['ref']}  {detail['subject']}")
    if detail["merged_into"]:
        print(f"merged into {detail['merged_into']}")
    if detail["tags"]:
        print("tags: " + ", ".join(detail["tags"]))
    print(f"status {_label('status', detail['status'])}, queue {detail['queue']}, requester {detail['requester']}, "
          f"opened {_local(config, detail['created_at'])}")
    if detail["device"]:
        d = detail["device"]
        print(f"contract {d['contract']}" + (f" ({d['customer']})" if d["customer"] else "")
              + f", service level {d['service_level'] or '-'}")
        print(f"device {d['model'] or '-'}, serial {d['serial'] or '-'}, address {d['address'] or '-'}"
              if d["serial"] or d["model"] or d["address"] else "device: none chosen (the contract as a whole)")
    if detail["sla"]["policy"]:
        s = detail["sla"]
        print(f"service level {s['policy']}: first response due {_local(config, s['first_response_due'])}"
              f"{' BREACHED' if s['first_response_breached'] else ''}, resolution due {_local(config, s['resolution_due'])}"
              f"{' BREACHED' if s['resolution_breached'] else ''}{', paused' if s['paused_since'] else ''}")
    if detail["time_spent_minutes"]:
        print(f"time spent: {detail['time_spent_minutes']} min")
    print("participants: " + ", ".join(f"{p['email']} ({_label('participant_role', p['role'])})"
                                       for p in detail["participants"]))
    for m in detail["messages"]:  # newest first
        print(f"\n--- {_local(config, m['created_at'])}  {_label('message_kind', m['kind'])}  from {m['author']}  [rule: {m['thread_rule']}]")
        for a in m["attachments"]:
            note = f" SKIPPED: {a['skipped_reason']}" if a["skipped_reason"] else ""
            print(f"    attachment: {a['filename']} ({a['content_type']}, {a['size']} bytes){note}")
        print(m["body"])
    return 0


# --- the engineers' working day: canned answers, merge, split, tags ---------------------------------


def _ticket_id(ref: str, prefix: str) -> int:
    from helpdesk.domain import reports

    ticket_id = reports.ticket_id_of(ref, prefix)
    if ticket_id is None:
        raise CommandError(f"not a ticket number: {ref}")
    return ticket_id


def cmd_ticket_merge(args) -> int:
    from helpdesk.domain import merge
    from helpdesk.domain.validation import Invalid

    config = _migrated(args)
    prefix = config.ticket_prefix
    source, target = _ticket_id(args.source, prefix), _ticket_id(args.target, prefix)
    try:
        merge.merge(source, target, None, confirmed=args.yes, prefix=prefix)
    except merge.NotFound as missing:
        raise CommandError(f"no ticket {prefix}-{missing}") from None
    except Invalid as error:
        raise CommandError(str(error)) from None
    except merge.DifferentCompanies as different:
        raise CommandError(f"{prefix}-{source} belongs to {different.source} and {prefix}-{target} to "
                           f"{different.target}: run again with --yes to merge them") from None
    print(f"{prefix}-{source} merged into {prefix}-{target}")
    return 0


def cmd_ticket_split(args) -> int:
    from helpdesk.domain import merge, service_levels
    from helpdesk.domain.validation import Invalid

    config = _migrated(args)
    try:
        new = merge.split(args.message, None, with_later=args.with_later, prefix=config.ticket_prefix,
                          sla=service_levels.settings_of(config))
    except merge.NotFound:
        raise CommandError(f"no message {args.message} (the ids are in `helpdesk ticket show --json`)") from None
    except Invalid as error:
        raise CommandError(str(error)) from None
    print(f"new ticket {new.ref(config.ticket_prefix)}")
    return 0


def cmd_ticket_tag(args) -> int:
    from helpdesk.domain import tags
    from helpdesk.domain.validation import Invalid
    from helpdesk.models import Ticket

    config = _migrated(args)
    ticket_id = _ticket_id(args.ref, config.ticket_prefix)
    if not Ticket.select().where(Ticket.id == ticket_id).exists():
        raise CommandError(f"no ticket {args.ref}")
    try:
        wanted = tags.parse(args.tags)
        if args.remove:
            tags.remove(ticket_id, wanted)
        else:
            tags.add(ticket_id, wanted)
    except Invalid as error:
        raise CommandError(str(error)) from None
    print(f"{config.ticket_prefix}-{ticket_id} tags: " + (", ".join(tags.of(ticket_id)) or "none"))
    return 0


def cmd_canned_add(args) -> int:
    from helpdesk.domain import canned
    from helpdesk.domain.validation import Invalid

    _migrated(args)
    try:
        body = Path(args.body_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read {args.body_file}: {error}") from None
    try:
        answer, created = canned.set_body(args.name, body, language=args.language, title=args.title or "")
    except Invalid as error:
        raise CommandError(str(error)) from None
    print(f"canned answer {answer.name} {'added' if created else 'changed'} ({args.language})")
    return 0


def cmd_canned_list(args) -> int:
    from helpdesk.domain import canned

    _migrated(args)
    rows = canned.as_rows()
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        print(f"{r['name']:<24} {','.join(r['languages']):<6} {r['title']}")
    if not rows:
        print("no canned answers")
    return 0


def cmd_kb_add(args) -> int:
    from helpdesk.domain import kb
    from helpdesk.domain.conversation import Upload
    from helpdesk.domain.validation import Invalid

    config = _migrated(args)
    try:
        body = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read {args.file}: {error}") from None
    files = []
    for name in args.attach or []:
        try:
            files.append(Upload(Path(name).name, "", Path(name).read_bytes()))
        except OSError as error:
            raise CommandError(f"cannot read {name}: {error}") from None
    draft = kb.Draft(args.title, body, language=args.language, audience=args.audience, min_level=args.level,
                     models=args.model or [], manufacturers=args.manufacturer or [], publish=not args.draft)
    try:
        article = kb.save(config, draft, uploads=files)
    except Invalid as error:
        raise CommandError(str(error)) from None
    if args.json:
        _print_json(kb.as_row(article, kb.tags_of([article.id])[article.id]))
        return 0
    state = "published" if article.published_at else "draft"
    print(f"article {article.id} added ({state}, {article.audience}, {article.language}): {article.title}")
    return 0


def cmd_kb_list(args) -> int:
    from helpdesk.domain import kb

    _migrated(args)
    articles, tags = kb.every_article()
    rows = [kb.as_row(a, tags[a.id]) for a in articles]
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        level = f" {r['min_level']}+" if r["audience"] == "partners" else ""
        print(f"{r['id']:>5} {r['language']:<3} {r['audience'] + level:<12} {'published' if r['published'] else 'draft':<9} "
              f"{r['title']}" + (f"  [{', '.join(r['models'] + r['manufacturers'])}]" if r['models'] or r['manufacturers']
                                 else ""))
    if not rows:
        print("no articles")
    return 0


def cmd_mail_log(args) -> int:
    from helpdesk.domain import reports

    config = _migrated(args)
    rows = reports.mail_log(limit=args.limit, outcome=args.outcome)
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        ticket = r["ticket"] or "-"
        print(f"#{r['id']:<6} {_local(config, r['processed_at'], seconds=True)}  {r['outcome']:<12} {ticket:>8}  "
              f"<{r['message_id']}>  {r['reason']}")
    return 0


def cmd_mail_status(args) -> int:
    from helpdesk.domain import reports

    config = _migrated(args)
    status = reports.mail_status(config)
    if args.json:
        _print_json(status)
        return 0
    for box in status["mailboxes"]:
        print(f"{box['mailbox']}: last fetch {_local(config, box['last_fetch_at']) or 'never'}, "
              f"last mail {_local(config, box['last_message_at']) or 'none'}, "
              f"UIDVALIDITY {box['uidvalidity']}" + (f", ERROR: {box['last_error']}" if box["last_error"] else ""))
    for token in status["oauth2"]:  # one line per OAuth2 account
        print(f"oauth2 {token['account']}: {'ok' if token['ok'] else 'FAILING'}: {token['detail']}")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(status["outcomes"].items())))
    print(f"quarantined, waiting for re-processing: {status['quarantine_pending']}")
    for problem in status["problems"]:
        print(f"PROBLEM: {problem}")
    return 0


def cmd_check(args) -> int:
    """Configuration, database, mailbox and SMTP: each reachable, or why not."""
    from helpdesk.checks import checks

    config = config_mod.load_config()
    results = checks(config)
    if args.json:
        _print_json([{"name": c.name, "ok": c.ok, "detail": c.detail} for c in results])
    else:
        for c in results:
            print(f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}")
    return 0 if all(c.ok for c in results) else 1


def cmd_mail_reprocess(args) -> int:
    from helpdesk.inbox_worker.pipeline import reprocess

    config = _migrated(args)
    try:
        applied = reprocess(config, args.id)
    except (LookupError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        _print_json({"id": applied.ledger_id, "outcome": applied.outcome, "ticket": applied.ticket_id,
                     "reason": applied.reason})
    else:
        print(f"#{applied.ledger_id}: {applied.outcome} (ticket {applied.ticket_id or '-'}): {applied.reason}")
    return 0 if applied.outcome != "quarantined" else 1


def cmd_mail_drop(args) -> int:
    """Deliver .eml files into the embedded Maildir, as a mail server would."""
    import mailbox

    config = _setup(args)
    url = config.mailbox
    if url.scheme != "maildir":
        raise CommandError("mail drop works with the Maildir inbox only; send mail to your IMAP mailbox instead")
    box = mailbox.Maildir(url.path, create=True)  # type: ignore[arg-type]
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            raise CommandError(f"{name}: no such file")
        key = box.add(path.read_bytes())
        print(f"{name} -> {url.path}/new/{key}")
    return 0


def cmd_mailbox_authorize(args) -> int:
    """Get a refresh token for each OAuth2 mail account (or the one named) and store it."""
    from helpdesk.domain import oauth
    from helpdesk.domain.oauth_authorize import AuthorizeError, authorize

    config = _migrated(args)
    accounts = [args.account.lower()] if args.account else oauth.accounts_of(config)
    if not accounts:
        raise CommandError("no mail server URL says ?auth=oauth2: nothing to authorize (give --account to "
                           "authorize one anyway)")
    for account in accounts:
        try:
            authorize(config, account, say=lambda line: print(line, flush=True), ask=input,
                      flow="browser" if args.browser else "")
        except AuthorizeError as exc:
            raise CommandError(f"{account}: {exc}") from None
        except (EOFError, KeyboardInterrupt):
            raise CommandError(f"{account}: stopped before the authorization was finished") from None
        print(f"{account}: authorized; the refresh token is stored (encrypted) in the database", flush=True)
    return 0


def cmd_user_queues(args) -> int:
    """Limit an engineer to some queues (who is told about which tickets), or to none."""
    from helpdesk.models import User

    config = _migrated(args)
    user = User.get_or_none(User.email == args.email.strip().lower())
    if user is None or not user.is_staff:
        raise CommandError(f"no engineer or admin {args.email}")
    names = [q.strip().lower() for q in (args.queues or "").split(",") if q.strip()]
    unknown = [q for q in names if q not in config.queues]
    if unknown:
        raise CommandError(f"no queue {', '.join(unknown)}; the queues are: {', '.join(config.queues)}")
    User.update(queues=",".join(names)).where(User.id == user.id).execute()
    print(f"{user.email}: " + (f"queues {', '.join(names)}" if names else "every queue"))
    return 0


def cmd_security_log(args) -> int:
    from helpdesk.domain import security_events

    config = _migrated(args)
    rows = security_events.events(limit=args.limit, kind=args.kind)
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        ticket = f"{config.ticket_prefix}-{r['ticket']}" if r["ticket"] else "-"
        addresses = f"  [{', '.join(r['addresses'])}]" if r["addresses"] else ""
        print(f"{_local(config, r['at'], seconds=True)}  {r['kind']:<22} {ticket:>9}  {r['sender'] or '-'}  {r['reason']}{addresses}")
    if not rows:
        print("no security events")
    return 0


def cmd_contracts_import(args) -> int:
    """Import contracts from a CSV file (one row per device line). Rows refused are listed
    with their line and reason, and the rest is imported: exit 0. Exit 1 only when the
    file cannot be read at all."""
    from helpdesk.domain import contract_csv, contracts

    config = _migrated(args)
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise CommandError(f"{args.file}: {exc.strerror or exc}") from None
    try:
        with _Progress(args) as progress:
            report = contracts.import_csv(data, progress=progress)
    except contract_csv.UnreadableFile as exc:
        raise CommandError(f"{args.file}: {exc}") from None
    from helpdesk.domain import service_levels
    from helpdesk.models import db

    with db.atomic():  # a contract's new service level: its open tickets' clocks follow
        service_levels.refresh_contracts(service_levels.settings_of(config), report.levels_changed)
    if args.json:
        _print_json(report.as_dict())
        return 0
    for refusal in report.refused:
        print(f"{args.file}:{refusal.line}: refused: {refusal.reason}")
    print(report.summary())
    return 0


def cmd_demo(args) -> int:
    """Demo companies, contracts and a customer who can log in (safe to repeat)."""
    from helpdesk.domain import demo

    _migrated(args)
    made = demo.create()
    print(f"demo data: {made.companies_created} compan(y/ies), {made.contracts_created} contract(s) and "
          f"{made.distributors_created} distributor(s) created"
          + ("" if made.user_created else "; the demo user existed: its password is new"))
    print(f"log in as:  {made.email}")
    print(f"password:   {made.password}")
    print(f"then verify contract {made.verify_number} with the serial number {made.verify_serial}")
    return 0


def cmd_user_add(args) -> int:
    """An engineer or admin account (the first admin comes from here), with a link to set its password."""
    from email_validator import EmailNotValidError, validate_email

    from helpdesk.domain import accounts
    from helpdesk.domain.validation import Invalid
    from helpdesk.models import Role, User, utcnow

    config = _migrated(args)
    try:
        email = validate_email(args.email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise CommandError(f"{args.email!r} is not an email address: {error}") from None
    role = Role(args.role)
    existing = User.get_or_none(User.email == email)
    try:
        if existing is not None and existing.activated_at is not None:
            accounts.set_role(existing, role, by=None)
            user = User.get_by_id(existing.id)
            print(f"{email} is now {role.value}")
        else:
            user = accounts.invite(config, email=email, first_name=args.first_name, last_name=args.last_name,
                                   role=role, by=None, now=utcnow())
            print(f"{email} created as {role.value}; the invitation is in the outbox")
    except Invalid as error:
        raise CommandError(str(error)) from None
    if not user.password_hash:
        print(f"set the password here (valid 48 hours, works once): {accounts.password_link(config, user)}")
    return 0


def _invalid(error) -> CommandError:
    return CommandError(error.message % error.params if error.params else error.message)


def cmd_token_create(args) -> int:
    """A personal API token for a user; the secret is printed once and never stored."""
    from helpdesk.domain import api_tokens
    from helpdesk.domain.validation import Invalid
    from helpdesk.models import User

    config = _migrated(args)
    user = User.get_or_none(User.email == args.email.strip().lower())
    if user is None:
        raise CommandError(f"no account with the address {args.email}")
    try:
        token, secret = api_tokens.create(user, args.scope or ["tickets:read"], days=args.expires, name=args.name)
    except Invalid as error:
        raise _invalid(error) from None
    expires = f"expires {_local(config, token.expires_at)}" if token.expires_at else "never expires"
    print(f"token {token.id} for {user.email} ({token.scopes}; {expires}); it is shown only now:", file=sys.stderr)
    print(secret)
    return 0


def cmd_token_revoke(args) -> int:
    from helpdesk.domain import api_tokens

    _migrated(args)
    if not api_tokens.revoke(args.id):
        raise CommandError(f"no live token {args.id}")
    print(f"token {args.id} revoked")
    return 0


def cmd_webhook_add(args) -> int:
    from helpdesk.domain import webhooks
    from helpdesk.domain.validation import Invalid

    _migrated(args)
    try:
        endpoint = webhooks.add_endpoint(args.url, args.secret, args.event, allow_host=args.allow_host or "")
    except Invalid as error:
        raise _invalid(error) from None
    print(f"webhook {endpoint.id}: {endpoint.url} ({endpoint.events})")
    return 0


def cmd_webhook_list(args) -> int:
    from helpdesk.domain import webhooks

    config = _migrated(args)
    rows = [{"id": e.id, "url": e.url, "events": e.events.split(), "allow_host": e.allow_host or None,
             "paused_at": e.paused_at, "pause_reason": e.pause_reason or None,
             "consecutive_failures": e.consecutive_failures, "created_at": e.created_at}
            for e in webhooks.endpoints()]
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        state = f"paused since {_local(config, r['paused_at'])}: {r['pause_reason']}" if r["paused_at"] else "active"
        print(f"{r['id']:>4}  {r['url']}  {' '.join(r['events'])}  {state}")
    if not rows:
        print("no webhooks")
    return 0


def cmd_webhook_log(args) -> int:
    from helpdesk.domain import webhooks

    config = _migrated(args)
    rows = [{"id": d.id, "endpoint": d.endpoint_id, "url": d.endpoint.url, "event": d.event, "event_id": d.event_id,
             "status": d.status, "attempts": d.attempts, "last_status_code": d.last_status_code,
             "last_error": d.last_error or None, "created_at": d.created_at, "delivered_at": d.delivered_at}
            for d in webhooks.log(status=args.status or "", limit=args.limit)]
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        answer = f"{r['last_status_code'] or ''} {(r['last_error'] or '')[:80]}".strip()
        print(f"{r['id']:>6}  {_local(config, r['created_at'])}  {r['event']:<28} {r['status']:<9} "
              f"{r['attempts']:>2}  {r['url']}  {answer}")
    if not rows:
        print("no deliveries")
    return 0


# --- argument parsing -----------------------------------------------------------------------


# --- service levels, time spent and reports (issue 15) --------------------------------------


def _sla_and_time(config, ticket_id: int) -> dict:
    from helpdesk.domain import service_levels, timespent
    from helpdesk.models import Ticket, utcnow

    ticket = Ticket.get_by_id(ticket_id)
    return {"sla": service_levels.sla_json(ticket, service_levels.settings_of(config), utcnow()),
            "time_spent_minutes": timespent.ticket_total(ticket_id)}


def cmd_sla_set(args) -> int:
    from helpdesk.domain import service_levels
    from helpdesk.domain.validation import Invalid

    config = _migrated(args)
    try:
        row, tickets = service_levels.set_policy(service_levels.settings_of(config), args.level,
                                                 args.first_response, args.resolution, args.hours)
    except Invalid as exc:
        raise CommandError(exc.message % exc.params if exc.params else exc.message) from None
    print(f"{row.name}: first response {row.first_response_minutes} min, resolution {row.resolution_minutes} min "
          f"({row.hours}); {tickets} open ticket(s) recomputed")
    return 0


def cmd_sla_list(args) -> int:
    from helpdesk.domain import service_levels

    config = _migrated(args)
    rows = [{"name": p.name, "first_response_minutes": p.first_response_minutes,
             "resolution_minutes": p.resolution_minutes, "hours": p.hours,
             "default": p.name == config.sla_default} for p in service_levels.policies()]
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        print(f"{r['name']:<20} first response {r['first_response_minutes']:>6} min  resolution "
              f"{r['resolution_minutes']:>6} min  {r['hours']}{'  (default)' if r['default'] else ''}")
    if not rows:
        print("no service levels; add one with `helpdesk sla set LEVEL --first-response 4h --resolution 2d`")
    return 0


def cmd_report(args) -> int:
    from helpdesk.domain import statistics

    config = _migrated(args)
    try:
        start = dt.date.fromisoformat(args.from_) if args.from_ else None
        end = dt.date.fromisoformat(args.to) if args.to else None
    except ValueError:
        raise CommandError("--from and --to are dates: YYYY-MM-DD") from None
    report = statistics.report(args.name, statistics.Period.of(start, end, config.timezone), config)
    if args.json:
        _print_json(report.as_dict())
        return 0
    widths = [max(len(str(c)), *(len(str(row[i])) for row in report.rows)) if report.rows else len(str(c))
              for i, c in enumerate(report.columns)]
    print(report.title)
    print("  ".join(str(c).ljust(w) for c, w in zip(report.columns, widths)))
    for row in report.rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)))
    return 0


def _add_sla_and_report_commands(sub) -> None:
    from helpdesk.domain.statistics import REPORTS

    levels = sub.add_parser("sla", help="service levels").add_subparsers(dest="sla_command", required=True)
    p = levels.add_parser("set", help="create or change a service level's policy")
    p.add_argument("level", help="the name contracts give in service_level")
    p.add_argument("--first-response", required=True, help="e.g. 30m, 4h, 1d (a working day on business hours)")
    p.add_argument("--resolution", required=True, help="e.g. 8h, 2d")
    p.add_argument("--hours", choices=["business", "24x7"], default="business")
    p.set_defaults(func=cmd_sla_set)
    p = levels.add_parser("list", help="the service levels")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sla_list)
    p = sub.add_parser("report", help="a report of /staff/reports as a table or JSON")
    p.add_argument("name", choices=list(REPORTS))
    p.add_argument("--from", dest="from_", metavar="DATE", help="first day (YYYY-MM-DD; default: 12 weeks ago)")
    p.add_argument("--to", metavar="DATE", help="last day (YYYY-MM-DD; default: today)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)


def _add_desk_commands(sub, ticket) -> None:
    """Canned answers, and merging, splitting and tagging tickets."""
    p = ticket.add_parser("merge", help="merge SOURCE into TARGET: its messages, people and reply addresses")
    p.add_argument("source", help="HD-12 or 12")
    p.add_argument("target", help="HD-13 or 13")
    p.add_argument("--yes", action="store_true", help="merge even when the tickets are of different companies")
    p.set_defaults(func=cmd_ticket_merge)
    p = ticket.add_parser("split", help="move a message (and, with --with-later, the later ones) to a new ticket")
    p.add_argument("message", type=int, help="the message's id (in `helpdesk ticket show --json`)")
    p.add_argument("--with-later", action="store_true")
    p.set_defaults(func=cmd_ticket_split)
    p = ticket.add_parser("tag", help="add tags to a ticket (or remove them with --remove)")
    p.add_argument("ref", help="HD-12 or 12")
    p.add_argument("tags", nargs="+")
    p.add_argument("--remove", action="store_true")
    p.set_defaults(func=cmd_ticket_tag)

    canned = sub.add_parser("canned", help="canned answers").add_subparsers(dest="canned_command", required=True)
    p = canned.add_parser("add", help="add a canned answer, or set one language's text of an existing one")
    p.add_argument("name")
    p.add_argument("--body-file", required=True, help="UTF-8 text with placeholders such as {{ ticket.ref }}")
    p.add_argument("--language", choices=["pl", "en"], default="pl")
    p.add_argument("--title", help="default: the name (or the title it has)")
    p.set_defaults(func=cmd_canned_add)
    p = canned.add_parser("list", help="the canned answers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_canned_list)

    kb = sub.add_parser("kb", help="the knowledge base: technical articles").add_subparsers(dest="kb_command",
                                                                                          required=True)
    p = kb.add_parser("add", help="add an article (Markdown), published unless --draft")
    p.add_argument("title")
    p.add_argument("--file", required=True, help="the article's text: UTF-8 Markdown")
    p.add_argument("--model", action="append", help="a device model it is about (repeat for more)")
    p.add_argument("--manufacturer", action="append", help="a manufacturer it is about (repeat for more)")
    p.add_argument("--audience", choices=["public", "customers", "partners"], default="public",
                   help="who reads it: anyone, customers with an active contract, or partners (from --level)")
    p.add_argument("--level", type=int, choices=range(6), default=0, help="partners: the lowest level (0-5)")
    p.add_argument("--language", choices=["pl", "en"], default="pl")
    p.add_argument("--attach", action="append", help="a file to attach (repeat for more)")
    p.add_argument("--draft", action="store_true", help="keep it unpublished: staff only")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_kb_add)
    p = kb.add_parser("list", help="the articles, newest first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_kb_list)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helpdesk", description="Email-driven helpdesk")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("init-db", help="create or upgrade the database (safe to repeat)").set_defaults(func=cmd_init_db)
    p = sub.add_parser("worker", help="fetch and process inbound mail")
    p.add_argument("--once", action="store_true", help="process what is waiting, then exit")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_worker)
    sub.add_parser("run", help="run everything on the configured defaults").set_defaults(func=cmd_run)
    p = sub.add_parser("check", help="configuration, database, mailbox and SMTP: each reachable, or why not")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("web", help="serve the portal only (on HELPDESK_WEB_LISTEN)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="serve with gunicorn and N worker processes (default: one threaded process)")
    p.set_defaults(func=cmd_web)

    ticket = sub.add_parser("ticket", help="tickets").add_subparsers(dest="ticket_command", required=True)
    p = ticket.add_parser("list", help="tickets, newest first")
    p.add_argument("--status", help="only this status (new, open, waiting_customer, waiting_us, closed)")
    p.add_argument("--queue", help="only this queue (the ?queue= of a mailbox in HELPDESK_MAILBOX_URL)")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--tag", help="only tickets with this tag")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ticket_list)
    p = ticket.add_parser("show", help="one ticket: participants and messages, newest first")
    p.add_argument("ref", help="HD-12 or 12")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ticket_show)
    _add_desk_commands(sub, ticket)

    p = sub.add_parser("send", help="deliver the outbox over SMTP (or into the outbox folder)")
    p.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_send)
    outbox = sub.add_parser("outbox", help="outgoing mail").add_subparsers(dest="outbox_command", required=True)
    p = outbox.add_parser("list", help="outgoing mail, newest first")
    p.add_argument("--status", help="pending, sent or failed")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_outbox_list)

    sub.add_parser("scheduler", help="run the scheduled jobs (digests, reminders)").set_defaults(func=cmd_scheduler)
    digest = sub.add_parser("digest", help="scheduled digests").add_subparsers(dest="digest_command", required=True)
    p = digest.add_parser("run", help="run one scheduled job now")
    p.add_argument("name", choices=["engineer_digest", "customer_digest", "contract_reminders", "admin_digest",
                                    "mailbox_health", "sla_escalations", "search_upkeep"])
    p.add_argument("--now", help="the time to run it for (ISO; UTC unless it has an offset)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_digest_run)

    mail = sub.add_parser("mail", help="the inbound mail ledger").add_subparsers(dest="mail_command", required=True)
    p = mail.add_parser("log", help="one line per ingested message, newest first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--outcome", help="only this outcome, e.g. quarantined")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_mail_log)
    p = mail.add_parser("status", help="mailbox health and counts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_mail_status)
    p = mail.add_parser("reprocess", help="run a quarantined message through the pipeline again")
    p.add_argument("id", type=int, help="the message's number in `helpdesk mail log`")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_mail_reprocess)
    p = mail.add_parser("drop", help="deliver .eml files into the embedded Maildir inbox")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_mail_drop)

    mailbox = sub.add_parser("mailbox", help="mail server accounts").add_subparsers(dest="mailbox_command",
                                                                                   required=True)
    p = mailbox.add_parser("authorize", help="sign in to the OAuth2 provider for each ?auth=oauth2 account and "
                                             "store its refresh token (prints a URL and a code)")
    p.add_argument("--account", help="only this mail server user name")
    p.add_argument("--browser", action="store_true", help="the browser flow (paste back the address) instead of "
                                                          "the device code (the default where the provider has it)")
    p.set_defaults(func=cmd_mailbox_authorize)

    security = sub.add_parser("security", help="security events").add_subparsers(dest="security_command",
                                                                               required=True)
    p = security.add_parser("log", help="refused or flagged attempts, newest first (time, kind, ticket, sender, "
                                        "reason)")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--kind", help="only this kind, e.g. forged_reply_address")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_security_log)

    contracts = sub.add_parser("contracts", help="service contracts").add_subparsers(dest="contracts_command",
                                                                                   required=True)
    p = contracts.add_parser("import", help="import contracts from a CSV file, one row per device line")
    p.add_argument("file", help="UTF-8 CSV with a header: contract_number,nip,customer_name,service_level,"
                                "starts_on,ends_on,partner_nip,model,serial,address")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_contracts_import)
    users = sub.add_parser("user", help="portal accounts").add_subparsers(dest="user_command", required=True)
    p = users.add_parser("add", help="create an engineer or admin (or change an account's role); prints a link "
                                     "to set the password")
    p.add_argument("email")
    p.add_argument("--role", choices=["engineer", "admin", "customer", "partner"], default="engineer")
    p.add_argument("--first-name", default="")
    p.add_argument("--last-name", default="")
    p.set_defaults(func=cmd_user_add)
    p = users.add_parser("queues", help="limit an engineer to some queues (comma-separated); none: every queue")
    p.add_argument("email")
    p.add_argument("queues", nargs="?", default="")
    p.set_defaults(func=cmd_user_queues)
    sub.add_parser("demo", help="create demo contracts and a customer login to try the portal").set_defaults(
        func=cmd_demo)
    _add_sla_and_report_commands(sub)
    tokens = sub.add_parser("token", help="personal API tokens").add_subparsers(dest="token_command", required=True)
    p = tokens.add_parser("create", help="a token for a user's scripts; prints it once")
    p.add_argument("email")
    p.add_argument("--scope", action="append", choices=["tickets:read", "tickets:write", "contracts:read", "admin"],
                   help="repeat for several (default: tickets:read)")
    p.add_argument("--expires", type=int, default=365, metavar="DAYS", help="days it works (default 365)")
    p.add_argument("--name", default="", help="what it is for")
    p.set_defaults(func=cmd_token_create)
    p = tokens.add_parser("revoke", help="revoke a token by its id")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_token_revoke)
    hooks = sub.add_parser("webhook", help="webhook endpoints").add_subparsers(dest="webhook_command", required=True)
    p = hooks.add_parser("add", help="post events to a URL, signed with the secret")
    p.add_argument("url")
    p.add_argument("--secret", required=True)
    p.add_argument("--event", nargs="+", action="extend", required=True, metavar="EVENT",
                   help="ticket.created message.created ticket.status_changed ticket.assigned "
                        "partner.application_changed sla.breached")
    p.add_argument("--allow-host", default="", help="a host allowed outside the rules (private address, http)")
    p.set_defaults(func=cmd_webhook_add)
    p = hooks.add_parser("list", help="the endpoints and their state")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_webhook_list)
    p = hooks.add_parser("log", help="deliveries, newest first")
    p.add_argument("--status", choices=["pending", "delivered", "failed"])
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_webhook_log)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from helpdesk import logs

    try:
        config = config_mod.load_config()  # HELPDESK_LOG_LEVEL and _FORMAT, from the environment or .env
        level = logging.DEBUG if args.verbose else getattr(logging, config.log_level.upper(), logging.INFO)
        logs.configure(level, config.log_format.lower())
    except (config_mod.ConfigError, ValueError) as exc:
        print(f"helpdesk: {exc}", file=sys.stderr)
        return 1
    if not args.verbose:
        # Library chatter ("Adding job tentatively", "Running job"): what an operator sees at start is
        # where the portal is and where mail goes; the libraries' warnings and errors still show.
        for noisy in ("helpdesk.migrations", "peewee_migrate", "apscheduler"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    from peewee import DatabaseError, InterfaceError

    from helpdesk.domain import faults
    from helpdesk.inbox_worker.fetch import SourceError

    try:
        return args.func(args)
    except (CommandError, config_mod.ConfigError, SourceError, faults.ParsersUnavailable) as exc:
        print(f"helpdesk: {exc}", file=sys.stderr)
        return 1
    except faults.StoreUnavailable as exc:
        print(f"helpdesk: {exc.fault.line()}", file=sys.stderr)
        return 1
    except (DatabaseError, InterfaceError) as exc:
        # A read-only, locked, full or unreachable database: one line, not a traceback.
        log.debug("database error", exc_info=True)
        print(f"helpdesk: {faults.of_db_error(exc).line()}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
