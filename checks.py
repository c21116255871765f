"""`helpdesk check`: is everything the system needs reachable, and if not, why not.

`checks(config)` tries each thing the system needs, in order (configuration, database
and its schema, whether it takes writes, the file store, mailbox, SMTP server or outbox
folder) and returns one `Check` per thing with a sentence an operator can act on (a
fault in one line: `database locked`, `store read-only`, `store full`); it never raises
for a failed check.
It opens the mailbox and the SMTP server as the worker and the sender do, so it sits
beside the CLI, above both (the portal's /healthz, which touches only the database,
is `domain.health.status`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from peewee import DatabaseError, InterfaceError

from helpdesk.config import Config
from helpdesk.domain import faults

# The OAuth2 tokens live in the database: without it an OAuth2 login cannot be checked.
DatabaseUnavailable = (DatabaseError, InterfaceError)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _database_kind(url: str) -> str:
    return "SQLite" if url.startswith("sqlite:") else "PostgreSQL"


def checks(config: Config) -> list[Check]:
    boxes = ", ".join(b.name + (f" (queue {b.queue})" if len(config.mailboxes) > 1 else "") for b in config.mailboxes)
    results = [Check("configuration", True, f"{_database_kind(config.database_url)} database, "
                     f"mailbox{'es' if len(config.mailboxes) > 1 else ''} {boxes}, mail out "
                     f"{'by SMTP to ' + config.smtp.host if config.smtp.scheme else 'into ' + str(config.outbox_dir)}")]
    results.append(_database(config))
    results.append(_store(config))
    results.extend(_mailbox(config, box) for box in config.mailboxes)
    results.append(_smtp(config))
    if results[1].ok:  # after the logins, which refresh the tokens: their state is news
        results.extend(_oauth(config))
    return results


def _oauth(config: Config) -> list[Check]:
    """One line per OAuth2 account: whether its refresh token works (as far as we know)."""
    from helpdesk.domain import oauth

    accounts = oauth.accounts_of(config)
    if not accounts:
        return []
    return [Check(f"oauth2 {s.account}", s.ok, s.detail) for s in oauth.states(config, accounts)]


def _tokens(config: Config):
    from helpdesk.domain import oauth

    return oauth.AccessTokens(config) if oauth.accounts_of(config) else None


def _database(config: Config) -> Check:
    from peewee import DatabaseError, InterfaceError

    from helpdesk import database

    try:
        db = database.open_configured(config)
        db.execute_sql("SELECT 1").fetchone()
        missing = database.pending_migrations(db)
    except (DatabaseError, InterfaceError, OSError, ValueError) as exc:
        return Check("database", False, f"cannot use the {_database_kind(config.database_url)} database: "
                                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
    if missing:
        return Check("database", False, f"reachable, but {len(missing)} migration(s) not applied "
                                        f"({', '.join(missing)}): run `helpdesk init-db`")
    fault = faults.probe_database(db, timeout_ms=min(config.db_busy_timeout_ms, 2000))
    if fault is not None:
        return Check("database", False, fault.line())
    return Check("database", True, f"{_database_kind(config.database_url)} reachable, schema up to date")


def _store(config: Config) -> Check:
    fault = faults.probe_store([config.blob_dir, config.raw_dir])
    if fault is not None:
        return Check("store", False, fault.line())
    return Check("store", True, f"{config.data_dir} takes files")


def _mailbox(config: Config, box) -> Check:
    from helpdesk.inbox_worker.fetch import SourceError, open_source

    name = "mailbox" if len(config.mailboxes) == 1 else f"mailbox {box.queue}"
    source = open_source(box, done=config.mailbox_done, batch=config.fetch_batch,
                         tokens=_tokens(config) if box.oauth else None)
    try:
        source.open()
        pending = len(source.pending())
    except (SourceError, OSError, *DatabaseUnavailable) as exc:
        return Check(name, False, f"cannot read {box.name}: {exc}")
    finally:
        try:
            source.close()
        except (SourceError, OSError):
            pass
    return Check(name, True, f"{box.name} answered; {pending} message(s) waiting")


def _smtp(config: Config) -> Check:
    from helpdesk.outgoing.sender import SmtpTransport, TransportDown

    smtp = config.smtp
    if not smtp.scheme:
        folder = config.outbox_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return Check("smtp", False, f"no SMTP server set, and the outbox folder {folder} cannot be made: {exc}")
        if not os.access(folder, os.W_OK):
            return Check("smtp", False, f"no SMTP server set, and the outbox folder {folder} is not writable")
        return Check("smtp", True, f"no SMTP server set (HELPDESK_SMTP_URL): mail goes to {folder} as .eml files")
    transport = SmtpTransport(smtp, timeout=15, tokens=_tokens(config) if smtp.oauth else None)
    try:
        transport.open()
    except (TransportDown, *DatabaseUnavailable) as exc:
        return Check("smtp", False, str(exc))
    finally:
        transport.close()
    return Check("smtp", True, f"{smtp.host}:{smtp.port} accepted us" + (" (logged in)" if smtp.username else ""))
