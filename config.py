"""One frozen Config built from HELPDESK_* environment variables (and an optional .env).

Nothing here runs at import time: call `load_config()` and pass the result on.
"""
from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_SUPPORT_ADDRESS = "support@helpdesk.localhost"
DEFAULT_QUEUE = "default"  # the queue of a mailbox URL without ?queue=
# How a mail server URL logs in (`?auth=`): a password, or an OAuth2 access token with
# SASL XOAUTH2 or OAUTHBEARER ("oauth2": XOAUTH2 where the server offers it).
AUTH_MODES = ("password", "oauth2", "xoauth2", "oauthbearer")
QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


@dataclass(frozen=True)
class MailboxURL:
    """Where inbound mail comes from: an IMAP folder or a local Maildir."""

    scheme: str  # imap | imaps | maildir
    host: str = ""
    port: int = 0
    username: str = ""
    password: str = field(default="", repr=False)  # never in a log line or a traceback
    folder: str = "INBOX"
    path: Path | None = None
    starttls: bool = True  # for imap://; plain only on loopback
    auth: str = "password"  # password | oauth2 | xoauth2 | oauthbearer (`?auth=`)
    queue: str = DEFAULT_QUEUE  # the queue its new tickets go to (`?queue=`)
    address: str = ""  # the address it receives on and answers go out from (`&address=`); "" = the support address

    @property
    def oauth(self) -> bool:
        return self.auth != "password"

    @property
    def name(self) -> str:
        """A stable, password-free name, used as the ledger's mailbox key."""
        if self.scheme == "maildir":
            return f"maildir:{self.path}"
        return f"{self.scheme}://{self.username}@{self.host}:{self.port}/{self.folder}"


def parse_mailbox_url(url: str) -> MailboxURL:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = _query(parts, "HELPDESK_MAILBOX_URL", ("starttls", "auth", "queue", "address"))
    queue = query.get("queue", DEFAULT_QUEUE).lower()
    if not QUEUE_NAME.match(queue):
        raise ConfigError(f"HELPDESK_MAILBOX_URL: queue={queue!r}: use lower-case letters, digits, - and _")
    address = query.get("address", "").strip().lower()
    if address and ("@" not in address or any(c in address for c in " ,;<>\r\n")):
        raise ConfigError(f"HELPDESK_MAILBOX_URL: address={address!r} is not an email address")
    if scheme == "maildir":
        path = unquote((parts.netloc or "") + parts.path)
        if not path:
            raise ConfigError("HELPDESK_MAILBOX_URL: maildir:///path needs a path")
        return MailboxURL(scheme="maildir", path=Path(path), queue=queue, address=address)
    if scheme not in ("imap", "imaps"):
        raise ConfigError(
            f"HELPDESK_MAILBOX_URL: unknown scheme {scheme!r}; use imap://, imaps:// or maildir://"
        )
    if not parts.hostname:
        raise ConfigError("HELPDESK_MAILBOX_URL: the IMAP URL needs a host")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return MailboxURL(
        scheme=scheme,
        host=parts.hostname,
        port=parts.port or (993 if scheme == "imaps" else 143),
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        folder=folder,
        starttls=_starttls(parts),
        auth=_auth(query, "HELPDESK_MAILBOX_URL", bool(parts.password)),
        queue=queue,
        address=address,
    )


def parse_mailbox_urls(value: str) -> tuple[MailboxURL, ...]:
    """HELPDESK_MAILBOX_URL: one mailbox, or several separated by spaces, each its own queue."""
    boxes = tuple(parse_mailbox_url(url) for url in value.split())
    if not boxes:
        raise ConfigError("HELPDESK_MAILBOX_URL: give one or more mailbox URLs, separated by spaces")
    names = [b.name for b in boxes]
    if len(set(names)) != len(names):
        raise ConfigError("HELPDESK_MAILBOX_URL: the same mailbox is listed twice")
    addresses: dict[str, str] = {}
    for box in boxes:
        if box.address and addresses.setdefault(box.queue, box.address) != box.address:
            raise ConfigError(f"HELPDESK_MAILBOX_URL: queue {box.queue!r} has two addresses; one queue answers "
                              "from one address")
    return boxes


@dataclass(frozen=True)
class SmtpURL:
    """Where outgoing mail goes: an SMTP server, or (empty URL) .eml files in the data dir."""

    scheme: str  # smtp | smtps | "" for the local outbox folder
    host: str = ""
    port: int = 0
    username: str = ""
    password: str = field(default="", repr=False)  # never in a log line or a traceback
    starttls: bool = True  # for smtp://; plain only on loopback
    auth: str = "password"  # password | oauth2 | xoauth2 | oauthbearer (`?auth=`)

    @property
    def oauth(self) -> bool:
        return self.auth != "password"


def parse_smtp_url(url: str) -> SmtpURL:
    if not url:
        return SmtpURL(scheme="")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ConfigError(f"HELPDESK_SMTP_URL: unknown scheme {scheme!r}; use smtp:// or smtps://")
    if not parts.hostname:
        raise ConfigError("HELPDESK_SMTP_URL: the SMTP URL needs a host")
    return SmtpURL(
        scheme=scheme, host=parts.hostname, port=parts.port or (465 if scheme == "smtps" else 587),
        username=unquote(parts.username or ""), password=unquote(parts.password or ""),
        starttls=_starttls(parts),
        auth=_auth(_query(parts, "HELPDESK_SMTP_URL", ("starttls", "auth")), "HELPDESK_SMTP_URL",
                   bool(parts.password)),
    )


def is_loopback(host: str) -> bool:
    """Whether a host is this machine: the only place mail may travel in clear text."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _starttls(parts) -> bool:
    """`?starttls=no` in a mail server URL turns STARTTLS off (allowed on loopback only)."""
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    return query.get("starttls", "yes").lower() not in ("no", "0", "false")


def _query(parts, variable: str, known: tuple[str, ...]) -> dict[str, str]:
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise ConfigError(f"{variable}: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return query


def _auth(query: dict, variable: str, has_password: bool) -> str:
    auth = query.get("auth", "password").lower()
    if auth not in AUTH_MODES:
        raise ConfigError(f"{variable}: auth={auth!r}; use {', '.join(AUTH_MODES)}")
    if auth != "password" and has_password:
        raise ConfigError(f"{variable}: auth={auth} logs in with an OAuth2 token: give the user name without "
                          "a password")
    return auth


@dataclass(frozen=True)
class OAuthProvider:
    """The OAuth2 client the mail servers' tokens come from (HELPDESK_OAUTH_*)."""

    name: str  # microsoft | google | custom | "" (none set)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    token_url: str = ""
    device_url: str = ""  # RFC 8628 device authorization endpoint; "" where the provider has none for mail
    authorize_url: str = ""  # for the browser flow (Google: its device flow does not allow the mail scope)
    scopes: tuple[str, ...] = ()
    refresh_token: str = field(default="", repr=False)  # HELPDESK_OAUTH_REFRESH_TOKEN: one given directly instead of `mailbox authorize`


OAUTH_PROVIDERS = {
    # Microsoft 365 (Entra ID): IMAP and SMTP AUTH of Exchange Online, delegated permissions.
    "microsoft": dict(
        token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        device_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
        authorize_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
        scopes=("https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send",
                "offline_access"),
    ),
    # Google Workspace and Gmail: the one scope for IMAP and SMTP.
    "google": dict(
        token_url="https://oauth2.googleapis.com/token",
        device_url="",
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        scopes=("https://mail.google.com/",),
    ),
}


def _oauth(env: dict) -> OAuthProvider:
    name = (env.get("HELPDESK_OAUTH_PROVIDER") or "").strip().lower()
    if not name:
        return OAuthProvider(name="")
    if name not in (*OAUTH_PROVIDERS, "custom"):
        raise ConfigError(f"HELPDESK_OAUTH_PROVIDER: {name!r}; use microsoft, google or custom")
    known = OAUTH_PROVIDERS.get(name, {})
    tenant = env.get("HELPDESK_OAUTH_TENANT") or "organizations"
    urls = {key: env.get(f"HELPDESK_OAUTH_{key.upper()}") or str(known.get(key, "")).format(tenant=tenant)
            for key in ("token_url", "device_url", "authorize_url")}
    scopes = tuple((env.get("HELPDESK_OAUTH_SCOPES") or " ".join(known.get("scopes", ("offline_access",)))).split())
    provider = OAuthProvider(name=name, client_id=env.get("HELPDESK_OAUTH_CLIENT_ID") or "",
                             client_secret=env.get("HELPDESK_OAUTH_CLIENT_SECRET") or "", scopes=scopes,
                             refresh_token=(env.get("HELPDESK_OAUTH_REFRESH_TOKEN") or "").strip(), **urls)
    if not provider.client_id:
        raise ConfigError("HELPDESK_OAUTH_CLIENT_ID: the OAuth2 provider needs the application's client id")
    if not provider.token_url:
        raise ConfigError("HELPDESK_OAUTH_TOKEN_URL: the custom OAuth2 provider needs its token URL")
    for key, url in urls.items():
        parts = urlsplit(url)
        if url and not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or ""))):
            raise ConfigError(f"HELPDESK_OAUTH_{key.upper()}: {url!r} must be https:// (http:// only on loopback)")
    return provider


def _split_addresses(value: str) -> tuple[str, ...]:
    return tuple(a.strip().lower() for a in value.replace(";", ",").split(",") if a.strip())


def _int(env: dict, name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None


SECRET_URLS = ("database_url", "mailbox_url", "smtp_url")  # settings that may hold a password


def masked_url(value: str) -> str:
    """URLs (one, or several separated by commas or spaces) with each password replaced by ***."""
    # up to the host's @: the last one before the path, as urlsplit reads a netloc
    return re.sub(r"(://[^:/@\s,]*:)[^/\s,]*@", r"\1***@", value)


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    mailbox_url: str
    support_addresses: tuple[str, ...]
    secret_key: str
    base_url: str
    ticket_prefix: str = "HD"
    # What happens to a message on the server after its commit: "flag" or "move:Folder".
    mailbox_done: str = "flag"
    poll_seconds: int = 30
    fetch_batch: int = 100
    max_message_bytes: int = 25 * 1024 * 1024
    max_attachment_bytes: int = 10 * 1024 * 1024
    # What one stranger's mail can grow: the text kept per message for display, mail and
    # search (cut with a marker; the raw mail stays whole), a notice mail, a page, and the
    # attachments stored from one mail (the rest are listed).
    max_text_bytes: int = 512 * 1024
    max_notice_bytes: int = 2 * 1024 * 1024
    max_page_bytes: int = 2 * 1024 * 1024
    max_attachments: int = 100
    parse_workers: int = 1  # processes parsing beside the one that fetches and writes; 0: in-process
    db_busy_timeout_ms: int = 30_000
    # PostgreSQL: the portal's queries prepared by the server once per connection ("on"), or
    # sent whole each time ("off": behind PgBouncer in transaction mode or a like pooler).
    database_prepared: str = "on"
    parse_timeout_seconds: int = 120  # a message that keeps a parser busy longer is quarantined
    reconnect_max_seconds: int = 300
    # Caps on who one mail or form brings onto a ticket (no relay: issue 13). The sender of a
    # new ticket is not counted in the first; the second counts everyone on the ticket.
    max_new_participants_per_mail: int = 10
    max_participants_per_ticket: int = 50
    # Scheduled jobs (scheduler.py): cron expressions in `timezone`, five fields, or six with
    # seconds first; and what the digests call late.
    schedule_engineer_digest: str = "0 7 * * *"
    schedule_customer_digest: str = "0 8 * * mon"
    schedule_contract_reminders: str = "30 7 * * *"
    schedule_admin_digest: str = "0 7 * * *"
    schedule_mailbox_health: str = "*/5 * * * *"
    schedule_sla_escalations: str = "*/5 * * * *"
    schedule_search_upkeep: str = "30 3 * * *"
    # Service levels (domain/sla.py): the policy of a ticket without a contract ("" for none),
    # the business hours ("mon-fri 08:00-16:00" in `timezone`) and whose public holidays are off.
    sla_default: str = ""
    sla_business_hours: str = "mon-fri 08:00-16:00"
    sla_holidays: str = "PL"
    no_answer_hours: int = 24  # a customer message without an answer this long is in the engineers' digest
    mailbox_stalled_minutes: int = 30  # no successful fetch for this long: the admins are alerted
    collision_minutes: int = 10  # another engineer on a ticket this recently is shown on its page
    smtp_url: str = ""
    language: str = "pl"
    timezone: str = "Europe/Warsaw"
    # The support phone line shown beside the support address on the portal and in every mail;
    # empty: no number is shown (a made-up default would send customers to a wrong number).
    hotline: str = ""
    web_listen: str = "127.0.0.1:5000"  # where `helpdesk run` and `helpdesk web` serve the portal
    proxy_hops: int = 0  # reverse proxies in front of the portal whose X-Forwarded-* we trust
    api_rate_limit: int = 600  # API requests per token per minute
    api_max_body_bytes: int = 20 * 1024 * 1024  # the largest API request body (attachments are base64 in it)
    webhook_pause_after: int = 20  # consecutive failed deliveries before a webhook is paused
    log_level: str = "INFO"  # a name of the logging module's levels; an unknown one is INFO
    log_format: str = "text"  # text | json (logs.py)
    oauth: OAuthProvider = OAuthProvider(name="")
    # Portal tickets: "partner:partnerzy" sends partners' tickets to that queue; else the default queue.
    portal_queue_rules: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        """Every setting, with the secret key left out and the passwords in the URLs masked: a
        Config printed in a log line or a traceback gives away nothing."""
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "secret_key":
                value = "***"
            elif f.name in SECRET_URLS:
                value = masked_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"Config({', '.join(shown)})"

    @property
    def mailboxes(self) -> tuple[MailboxURL, ...]:
        return parse_mailbox_urls(self.mailbox_url)

    @property
    def mailbox(self) -> MailboxURL:
        """The first mailbox (the only one, in most setups)."""
        return self.mailboxes[0]

    @property
    def default_queue(self) -> str:
        """Where portal tickets go unless a rule says otherwise: the first mailbox's queue."""
        return self.mailbox.queue

    @property
    def queues(self) -> dict[str, str]:
        """Every configured queue -> the address it answers from, in the order of HELPDESK_MAILBOX_URL."""
        out: dict[str, str] = {}
        for box in self.mailboxes:
            if box.address or box.queue not in out:
                out[box.queue] = box.address or out.get(box.queue) or self.support_address
        return out

    def queue_address(self, queue: str) -> str:
        """The address a queue's notices go out from (and its reply addresses are made of)."""
        return self.queues.get(queue) or self.support_address

    @property
    def smtp(self) -> SmtpURL:
        return parse_smtp_url(self.smtp_url)

    @property
    def outbox_dir(self) -> Path:
        """Where mail goes when no SMTP server is configured: one .eml file per mail."""
        return self.data_dir / "outbox"

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def hotline_dial(self) -> str:
        """The hotline as a tel: URI wants it: its digits, with the leading + if it has one."""
        return ("+" if self.hotline.startswith("+") else "") + "".join(c for c in self.hotline if c.isdigit())

    @property
    def support_address(self) -> str:
        """The first support address: the one we send from and put in Reply-To."""
        return self.support_addresses[0]

    @property
    def web_address(self) -> tuple[str, int]:
        host, sep, port = self.web_listen.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"HELPDESK_WEB_LISTEN: expected HOST:PORT, got {self.web_listen!r}")
        return host.strip("[]"), int(port)

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over https when the portal is served over https."""
        return self.base_url.startswith("https://")

    def with_(self, **changes) -> "Config":
        return replace(self, **changes)


def _read_dotenv(path: Path) -> dict:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


SCHEDULES = {  # job -> default cron expression: the Config fields schedule_<job>
    f.name.removeprefix("schedule_"): f.default for f in fields(Config) if f.name.startswith("schedule_")}


def load_config(environ: dict | None = None, dotenv: Path | None = Path(".env")) -> Config:
    """Build the Config; the process environment wins over `.env`."""
    env = {**(_read_dotenv(dotenv) if dotenv else {}), **(os.environ if environ is None else environ)}
    data_dir = Path(env.get("HELPDESK_DATA_DIR") or "./var").resolve()
    support = _split_addresses(env.get("HELPDESK_SUPPORT_ADDRESS") or DEFAULT_SUPPORT_ADDRESS)
    if not support or any("@" not in a for a in support):
        raise ConfigError("HELPDESK_SUPPORT_ADDRESS: give one or more addresses, comma-separated")
    mailbox_url = " ".join((env.get("HELPDESK_MAILBOX_URL") or f"maildir://{data_dir / 'Maildir'}").split())
    # Every mailbox's own address is ours too: mail from it is our own, replies to it are replies.
    support += tuple(a for a in dict.fromkeys(b.address for b in parse_mailbox_urls(mailbox_url))
                     if a and a not in support)
    secret = env.get("HELPDESK_SECRET_KEY") or _stored_secret(data_dir)
    mailbox_done = env.get("HELPDESK_MAILBOX_DONE") or Config.mailbox_done
    if mailbox_done != "flag" and not (mailbox_done.startswith("move:") and len(mailbox_done) > 5):
        raise ConfigError("HELPDESK_MAILBOX_DONE: use 'flag' or 'move:FolderName'")
    # Every other field: HELPDESK_<FIELD> when set and not empty, else the field's default
    # above (the one place a default is written).
    settings: dict = {}
    for f in fields(Config):
        if f.default is MISSING or f.name == "mailbox_done":
            continue
        name = f"HELPDESK_{f.name.upper()}"
        if f.name.startswith("schedule_"):
            settings[f.name] = _cron(env, name, f.default)
        elif f.type == "int" or f.type is int:
            default = _default_parsers() if f.name == "parse_workers" else f.default
            settings[f.name] = _int(env, name, default)
        else:
            settings[f.name] = env.get(name) or f.default
    settings["sla_default"] = settings["sla_default"].strip()
    settings["sla_business_hours"] = " ".join(settings["sla_business_hours"].split())
    # An empty HELPDESK_SLA_HOLIDAYS means no holidays (not the default, PL).
    settings["sla_holidays"] = env.get("HELPDESK_SLA_HOLIDAYS", Config.sla_holidays).strip().upper()
    settings["hotline"] = _hotline(settings["hotline"])
    settings["oauth"] = _oauth(env)
    settings["portal_queue_rules"] = _queue_rules(env.get("HELPDESK_PORTAL_QUEUE_RULES") or "")
    config = Config(
        data_dir=data_dir,
        database_url=env.get("HELPDESK_DATABASE_URL") or f"sqlite:///{data_dir / 'helpdesk.sqlite3'}",
        mailbox_url=mailbox_url,
        support_addresses=support,
        secret_key=secret,
        base_url=(env.get("HELPDESK_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
        mailbox_done=mailbox_done,
        **settings,
    )
    if config.max_new_participants_per_mail < 1 or config.max_participants_per_ticket < 2:
        raise ConfigError("HELPDESK_MAX_NEW_PARTICIPANTS_PER_MAIL must be 1 or more and "
                          "HELPDESK_MAX_PARTICIPANTS_PER_TICKET 2 or more")
    if config.database_prepared not in ("on", "off"):
        raise ConfigError("HELPDESK_DATABASE_PREPARED: use 'on' or 'off'")
    if config.language not in ("pl", "en"):
        raise ConfigError("HELPDESK_LANGUAGE: use 'pl' or 'en'")
    for url in ("web_address", "mailbox", "smtp"):  # validate the URLs now, with a clear message
        getattr(config, url)
    if (any(b.oauth for b in config.mailboxes) or config.smtp.oauth) and not config.oauth.name:
        raise ConfigError("HELPDESK_OAUTH_PROVIDER: a mail server URL says auth=oauth2; set the provider "
                          "(microsoft, google or custom) and HELPDESK_OAUTH_CLIENT_ID")
    _check_sla(config)
    return config


def _check_sla(config: Config) -> None:
    from helpdesk.domain.business_hours import calendar_of

    try:
        calendar_of(config.sla_business_hours, config.timezone, config.sla_holidays)
    except ValueError as exc:
        raise ConfigError(f"HELPDESK_SLA_BUSINESS_HOURS / HELPDESK_SLA_HOLIDAYS / HELPDESK_TIMEZONE: {exc}") from None


# A phone number as people write it: digits, spaces, dashes, dots, parentheses, a leading +.
HOTLINE = re.compile(r"\+?[0-9 ().-]{3,30}")


def _hotline(value: str) -> str:
    """HELPDESK_HOTLINE: "" or a phone number (shown as written, dialled by its digits)."""
    value = " ".join(value.split())
    if value and not (HOTLINE.fullmatch(value) and sum(c.isdigit() for c in value) >= 3):
        raise ConfigError(f"HELPDESK_HOTLINE: {value[:40]!r} is not a phone number; write it as people dial it, "
                          "e.g. +48 22 123 45 67 (digits, spaces, dashes, parentheses, a leading +)")
    return value


PORTAL_RULE_KEYS = ("partner",)  # who a portal queue rule can name


def _queue_rules(value: str) -> tuple[tuple[str, str], ...]:
    """HELPDESK_PORTAL_QUEUE_RULES: "partner:partnerzy" (comma-separated WHO:QUEUE pairs)."""
    rules = []
    for item in value.replace(";", ",").split(","):
        if not item.strip():
            continue
        who, sep, queue = (p.strip().lower() for p in item.partition(":"))
        if not sep or who not in PORTAL_RULE_KEYS or not QUEUE_NAME.match(queue):
            raise ConfigError(f"HELPDESK_PORTAL_QUEUE_RULES: {item.strip()!r}; write WHO:QUEUE with WHO one of "
                              f"{', '.join(PORTAL_RULE_KEYS)}, e.g. partner:partnerzy")
        rules.append((who, queue))
    return tuple(rules)



def _cron(env: dict, name: str, default: str) -> str:
    """A cron expression APScheduler accepts: five fields, or six with seconds first."""
    expr = " ".join((env.get(name) or default).split())
    try:
        cron_trigger(expr, "UTC")
    except ValueError as exc:
        raise ConfigError(f"{name}: not a cron expression we can use ({exc}): {expr!r}") from None
    return expr


# Crontab weekday numbers (0 or 7 is Sunday) as names: APScheduler 3 counts from Monday.
_WEEKDAY = re.compile(r"(?<![/\d])([0-7])(?!\d)")  # a lone digit, not a step ("*/2")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(expr: str, tz):
    """An APScheduler CronTrigger for a cron expression: five fields (minute hour day month
    weekday, weekdays as in crontab), or six with seconds first. ValueError when unusable."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ValueError("expected five fields (minute hour day month weekday) or six (seconds first)")
    second, minute, hour, day, month, weekday = fields
    weekday = _WEEKDAY.sub(lambda m: _WEEKDAYS[int(m.group(1))], weekday)
    return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=weekday,
                       timezone=tz)


def _default_parsers() -> int:
    """Parsing processes beside the writer: one per core (up to four); none on one core."""
    cores = os.cpu_count() or 1
    return 0 if cores == 1 else min(cores, 4)


def _stored_secret(data_dir: Path) -> str:
    """With no HELPDESK_SECRET_KEY, keep a random one in the data dir so tokens survive restarts."""
    path = data_dir / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key
