"""The whole domain as Peewee models, bound at run time through `db` (a DatabaseProxy).

All times are naive UTC (`utcnow()`); pages and mails convert to the reader's zone.
Schema changes go through `migrations/` (applied by `database.migrate`), never through create_tables
on a live database.
"""
from __future__ import annotations

import datetime as dt
import enum

from peewee import (
    AutoField,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    DecimalField,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

db = DatabaseProxy()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


# --- Enumerations kept as plain strings in the database -------------------------------


class Role(str, enum.Enum):
    CUSTOMER = "customer"
    PARTNER = "partner"
    ENGINEER = "engineer"
    ADMIN = "admin"


class CompanyRole(str, enum.Enum):
    CUSTOMER = "customer"
    INSTALLER = "installer"
    INTEGRATOR = "integrator"
    ARC = "arc"  # alarm receiving centre
    RESELLER = "reseller"
    DISTRIBUTOR = "distributor"


PARTNER_ROLES = tuple(r.value for r in CompanyRole if r is not CompanyRole.CUSTOMER)
PROGRAMME_ROLES = (CompanyRole.INSTALLER.value, CompanyRole.INTEGRATOR.value, CompanyRole.ARC.value)


class Status(str, enum.Enum):
    NEW = "new"
    OPEN = "open"
    WAITING_CUSTOMER = "waiting_customer"
    WAITING_US = "waiting_us"
    CLOSED = "closed"


class MessageKind(str, enum.Enum):
    CUSTOMER = "customer"  # from the requester or a CC, by mail or portal
    STAFF = "staff"  # a public answer from an engineer
    NOTE = "note"  # internal, never mailed to customers
    SYSTEM = "system"  # recorded by the system itself (too large, bounced, ...)


class OutboxStatus(str, enum.Enum):
    PENDING = "pending"  # waiting to be sent, or to be tried again
    SENT = "sent"
    FAILED = "failed"  # refused for good, or given up on


class RequestStatus(str, enum.Enum):
    """Of what a partner asks for and staff decide: applications, role changes, levels."""

    DRAFT = "draft"  # partner applications only: the wizard is not finished
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Outcome(str, enum.Enum):
    NEW_TICKET = "new_ticket"
    REPLY = "reply"
    STAFF_REPLY = "staff_reply"
    AUTOREPLY = "autoreply"
    BOUNCE = "bounce"
    LOOP = "loop"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    QUARANTINED = "quarantined"


def choices(enum_cls) -> list[tuple[str, str]]:
    return [(m.value, m.value) for m in enum_cls]


# --- Companies, people, contracts -------------------------------------------------------


# A company, identified by its NIP (Polish tax number); customers and partners alike.
class Company(BaseModel):
    nip = CharField(max_length=10, unique=True)
    name = CharField(max_length=300)
    role = CharField(max_length=20, default=CompanyRole.CUSTOMER.value, choices=choices(CompanyRole))
    verified_at = DateTimeField(null=True)  # partner companies are verified by an admin
    partner_level = IntegerField(null=True)  # 0-5, see PartnerLevel
    subscription_seller = BooleanField(default=False)  # takes part in subscription sales (level 2's purchase)
    address = TextField(default="")
    created_at = DateTimeField(default=utcnow)


# A person who logs in or writes to us; customers are created on first mail, without a password.
class User(BaseModel):
    # Never reused (AUTOINCREMENT on SQLite, migration 012; a sequence on PostgreSQL): a
    # session cookie names its user by id.
    id = AutoField()
    email = CharField(max_length=320, unique=True)  # stored lower-case
    first_name = CharField(max_length=100, default="")
    last_name = CharField(max_length=100, default="")
    phone = CharField(max_length=9, default="")
    company = ForeignKeyField(Company, null=True, backref="users", on_delete="SET NULL")
    role = CharField(max_length=20, default=Role.CUSTOMER.value, choices=choices(Role))
    password_hash = CharField(max_length=200, null=True)  # argon2id, never clear text
    is_active = BooleanField(default=False)
    activated_at = DateTimeField(null=True)
    language = CharField(max_length=5, default="pl")
    timezone = CharField(max_length=64, default="Europe/Warsaw")
    digest_opt_in = BooleanField(default=False)
    # A partner's opt-in to a notice of every new public entry on its customers' tickets
    # (the contracts its company sold); None = off. Only entries from then on are mailed.
    customer_notices_since = DateTimeField(null=True)
    company_role = CharField(max_length=20, default="")  # asked for at partner registration, applied on activation
    session_version = IntegerField(default=0)  # bumped to end other sessions
    # An engineer's queues, comma-separated: told about those queues' tickets only; "" = every queue.
    queues = CharField(max_length=500, default="")
    created_at = DateTimeField(default=utcnow)

    # What Flask-Login asks of a signed-in user; the session holds id and session version.
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ENGINEER.value, Role.ADMIN.value)

    @classmethod
    def engineers(cls):
        return cls.select().where(cls.role.in_([Role.ENGINEER.value, Role.ADMIN.value]), cls.is_active)

    @property
    def queue_names(self) -> tuple[str, ...]:
        """The queues this engineer works; () for all of them."""
        return tuple(q for q in (s.strip() for s in self.queues.split(",")) if q)


# A service contract sold through a partner to a customer company.
class Contract(BaseModel):
    number = CharField(max_length=7, unique=True)  # one capital letter and six digits
    company = ForeignKeyField(Company, backref="contracts", on_delete="RESTRICT")
    partner = ForeignKeyField(Company, null=True, backref="sold_contracts", on_delete="SET NULL")
    customer_name = CharField(max_length=300, default="")
    service_level = CharField(max_length=100, default="")
    starts_on = DateField()
    ends_on = DateField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("ends_on", "number"), False),)  # the dashboard: current contracts, ending soonest first

    @classmethod
    def active(cls, today: dt.date, query=None):
        """The contracts (of `query`, default all) running on this day."""
        return (query if query is not None else cls.select()).where(cls.starts_on <= today, cls.ends_on >= today)


# One device or software licence covered by a contract.
class DeviceLine(BaseModel):
    contract = ForeignKeyField(Contract, backref="lines", on_delete="CASCADE")
    model = CharField(max_length=200, default="")
    serial = CharField(max_length=200, index=True)  # or licence key, dashes kept
    address = TextField(default="")

    class Meta:
        indexes = ((("contract", "serial"), True),)  # an import run twice adds nothing


# A user who proved (NIP + number + serial) that it may see a contract.
class ContractAccess(BaseModel):
    user = ForeignKeyField(User, backref="contract_access", on_delete="CASCADE")
    contract = ForeignKeyField(Contract, backref="access", on_delete="CASCADE")
    granted_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "contract"), True),)


# --- Tickets ------------------------------------------------------------------------------


class Ticket(BaseModel):
    subject = CharField(max_length=998, default="")
    status = CharField(max_length=20, default=Status.NEW.value, choices=choices(Status), index=True)
    # requester, requester_email, contract: indexed with what the ticket lists sort and filter on (below)
    requester = ForeignKeyField(User, null=True, backref="tickets", on_delete="SET NULL", index=False)
    requester_email = CharField(max_length=320, default="")  # a user sees its mail tickets
    company = ForeignKeyField(Company, null=True, backref="tickets", on_delete="SET NULL")
    contract = ForeignKeyField(Contract, null=True, backref="tickets", on_delete="SET NULL", index=False)
    device_line = ForeignKeyField(DeviceLine, null=True, on_delete="SET NULL")
    assignee = ForeignKeyField(User, null=True, backref="assigned", on_delete="SET NULL")
    channel = CharField(max_length=10, default="mail")  # mail | portal
    queue = CharField(max_length=50, default="default", index=True)  # the mailbox's queue it came to
    created_at = DateTimeField(default=utcnow)  # indexed first in the reports' index below
    updated_at = DateTimeField(default=utcnow)
    closed_at = DateTimeField(null=True)
    # Service level (domain/sla.py, domain/service_levels.py): the policy's deadlines, each
    # with its 80% warning point; since when the clocks stand still (waiting for the customer,
    # closed); and the next deadline of a running clock (the "due soonest" queue).
    sla_policy = CharField(max_length=100, null=True)
    first_response_due = DateTimeField(null=True)
    first_response_warn = DateTimeField(null=True)
    first_response_at = DateTimeField(null=True)
    resolution_due = DateTimeField(null=True)
    resolution_warn = DateTimeField(null=True)
    sla_paused_at = DateTimeField(null=True)
    sla_next_due = DateTimeField(null=True)
    # Seconds from opening to the first answer and to closing, kept by the database whoever
    # writes the times (migration 032's triggers): the reports read numbers, not times.
    first_response_s = DoubleField(null=True)
    resolution_s = DoubleField(null=True)
    # Set when this ticket was merged into another: its mail, people and history live there now.
    merged_into = ForeignKeyField("self", null=True, backref="merged", on_delete="SET NULL", index=True)

    class Meta:
        indexes = (
            (("updated_at", "id"), False),  # every list is "most recently changed first"
            (("sla_next_due", "id"), False),  # the "due soonest" queue
            (("status", "merged_into", "queue", "assignee"), False),  # the queues' counts, from the index alone
            (("closed_at", "assignee", "merged_into"), False),  # the reports' tickets closed in a period
            # the reports' tickets opened in a period, with their clocks (migration 023: ticket_opened_report)
            (("created_at", "merged_into", "sla_policy", "first_response_at", "first_response_due", "closed_at",
              "resolution_due", "sla_paused_at", "first_response_s", "resolution_s"), False),
            (("status", "created_at", "assignee"), False),  # the reports' open tickets by age and assignee
            # who may see a ticket, each with the list's order and filters: a customer's or
            # partner's list from index entries (migration 033, domain/access.py)
            (("requester", "merged_into", "updated_at", "id", "status"), False),
            (("requester_email", "merged_into", "updated_at", "id", "status"), False),
            (("contract", "merged_into", "updated_at", "id", "status"), False),
        )

    def ref(self, prefix: str = "HD") -> str:
        return f"{prefix}-{self.id}"

    @classmethod
    def open_ones(cls, query=None):
        """The tickets (of `query`, default all) not closed."""
        return (query if query is not None else cls.select()).where(cls.status != Status.CLOSED.value)


# A service level's clocks, kept by admins (`helpdesk sla set`, /staff/sla); a contract's
# `service_level` names one, and HELPDESK_SLA_DEFAULT the one of tickets without a contract.
class SlaPolicy(BaseModel):
    name = CharField(max_length=100, unique=True)
    first_response_minutes = IntegerField()
    resolution_minutes = IntegerField()
    hours = CharField(max_length=10, default="business")  # business | 24x7
    updated_at = DateTimeField(default=utcnow)


# Every status a ticket has had, with when and who: digests and response times read it.
class StatusChange(BaseModel):
    ticket = ForeignKeyField(Ticket, backref="status_changes", on_delete="CASCADE")
    old_status = CharField(max_length=20, null=True)
    new_status = CharField(max_length=20)
    changed_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    reason = CharField(max_length=300, default="")
    changed_at = DateTimeField(default=utcnow)


# The raw bytes of a mail (compressed, by SHA-256) and what came of it: the inbound ledger.
# (mailbox, uidvalidity, uid) is unique: the same server message is never processed twice.
class InboundMail(BaseModel):
    mailbox = CharField(max_length=500)
    uidvalidity = BigIntegerField()
    uid = CharField(max_length=200)  # IMAP UID as decimal, or a Maildir key
    message_id = CharField(max_length=998, index=True)  # normalised, never empty (see parse)
    raw_sha256 = CharField(max_length=64, index=True)
    # SHA-256 of what makes the mail itself (body and the headers its author wrote, without the
    # trace headers servers add): the same mail fetched twice has the same one, a different
    # mail reusing a Message-ID does not. "" on rows from before it existed.
    fingerprint = CharField(max_length=64, default="")
    size = IntegerField(default=0)
    from_addr = CharField(max_length=320, default="")
    subject = CharField(max_length=998, default="")
    outcome = CharField(max_length=20, choices=choices(Outcome), index=True)
    reason = TextField(default="")
    ticket = ForeignKeyField(Ticket, null=True, backref="inbound", on_delete="SET NULL")
    received_at = DateTimeField(default=utcnow, index=True)
    processed_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("mailbox", "uidvalidity", "uid"), True),)


# One message of a ticket's conversation: inbound mail, portal post, staff reply or note.
class Message(BaseModel):
    ticket = ForeignKeyField(Ticket, backref="messages", on_delete="CASCADE")
    kind = CharField(max_length=10, choices=choices(MessageKind))
    author = ForeignKeyField(User, null=True, on_delete="SET NULL")
    author_email = CharField(max_length=320, default="")
    author_name = CharField(max_length=300, default="")
    subject = CharField(max_length=998, default="")
    body_text = TextField(default="")  # the full text, quotes included
    body_display = TextField(default="")  # quoted history folded away; "" when that leaves it unchanged

    @property
    def display(self) -> str:
        """What to show: the text without its quoted history."""
        return self.body_display or self.body_text
    body_html = TextField(null=True)  # sanitised (nh3) at ingest, never the raw HTML
    message_id = CharField(max_length=998, null=True, index=True)
    in_reply_to = TextField(default="")
    references = TextField(default="")
    thread_rule = CharField(max_length=40, default="")  # why it joined this ticket
    inbound = ForeignKeyField(InboundMail, null=True, backref="messages", on_delete="SET NULL")
    sent_at = DateTimeField(null=True)  # the Date header, when it has one
    minutes = IntegerField(null=True)  # time an engineer spent on it (a reply or a note)
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = (
            (("ticket", "created_at", "id"), False),  # a conversation a page at a time, newest first
            (("created_at", "kind", "author"), False),  # the reports' answers per engineer, from the index
        )  # and migration 021's partial index `message_minutes_spent` (the reports' time spent)

    @classmethod
    def newest_first(cls, ticket):
        return cls.select().where(cls.ticket == ticket).order_by(cls.created_at.desc(), cls.id.desc())


# Every Message-ID we have stored or sent, so replies thread by In-Reply-To/References.
class KnownMessageId(BaseModel):
    message_id = CharField(max_length=998, unique=True)
    ticket = ForeignKeyField(Ticket, backref="known_ids", on_delete="CASCADE")
    message = ForeignKeyField(Message, null=True, column_name="message_pk", on_delete="SET NULL")
    outgoing = BooleanField(default=False)
    recipient = CharField(max_length=320, default="")  # for outgoing: who it went to


# An address that receives the ticket's public messages: requester and CCs.
class Participant(BaseModel):
    ticket = ForeignKeyField(Ticket, backref="participants", on_delete="CASCADE")
    email = CharField(max_length=320)
    name = CharField(max_length=300, default="")
    role = CharField(max_length=10, default="cc")  # requester | cc
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    added_at = DateTimeField(default=utcnow)
    added_by = CharField(max_length=40, default="mail")  # mail | portal | staff

    class Meta:
        indexes = ((("ticket", "email"), True), (("email",), False))  # and: the tickets an address is on


# A file kept once by its SHA-256 under the data dir (outside any web root).
class Blob(BaseModel):
    sha256 = CharField(max_length=64, unique=True)
    size = BigIntegerField()
    created_at = DateTimeField(default=utcnow)


class Attachment(BaseModel):
    message = ForeignKeyField(Message, backref="attachments", on_delete="CASCADE")
    blob = ForeignKeyField(Blob, null=True, on_delete="RESTRICT")  # null when over the limit
    filename = CharField(max_length=255)
    content_type = CharField(max_length=255, default="application/octet-stream")
    size = BigIntegerField(default=0)
    inline = BooleanField(default=False)
    content_id = CharField(max_length=998, null=True)
    skipped_reason = CharField(max_length=300, default="")  # e.g. over the size limit


# A message that could not be processed: its error, kept with the raw bytes for re-processing.
class Quarantine(BaseModel):
    inbound = ForeignKeyField(InboundMail, backref="quarantine", on_delete="CASCADE", unique=True)
    error = TextField()
    detail = TextField(default="")  # the traceback
    attempts = IntegerField(default=1)
    created_at = DateTimeField(default=utcnow)
    resolved_at = DateTimeField(null=True)

    @classmethod
    def pending(cls):
        return cls.select().where(cls.resolved_at.is_null())


# A worker's claim on one server message while it fetches, parses and writes it, so that
# several workers on one mailbox share the work instead of doing it twice (the ledger's
# unique index stays the last guard). Deleted after the commit; a claim whose worker died
# runs out at `until`.
class InboundClaim(BaseModel):
    mailbox = CharField(max_length=500)
    uidvalidity = BigIntegerField()
    uid = CharField(max_length=200)
    owner = CharField(max_length=100)
    until = DateTimeField()

    class Meta:
        indexes = ((("mailbox", "uidvalidity", "uid"), True),)


# When each mailbox was last fetched, and what went wrong (for health checks).
class MailboxState(BaseModel):
    mailbox = CharField(max_length=500, unique=True)
    uidvalidity = BigIntegerField(default=0)
    last_fetch_at = DateTimeField(null=True)
    last_message_at = DateTimeField(null=True)
    last_error = TextField(default="")


# An OAuth2 grant for a mail server account: the refresh token (encrypted with the secret
# key), the current access token (encrypted too, shared by every process), and whether the
# refresh token has stopped working (`dead_since`; the admins are told once, by the scheduler).
class OAuthToken(BaseModel):
    account = CharField(max_length=320, unique=True)  # the mail server user name, lower-case
    refresh_token = TextField(default="")  # Fernet token
    seed_sha256 = CharField(max_length=64, default="")  # of HELPDESK_OAUTH_REFRESH_TOKEN when it came from there
    access_token = TextField(default="")  # Fernet token
    expires_at = DateTimeField(null=True)
    updated_at = DateTimeField(default=utcnow)
    dead_since = DateTimeField(null=True)
    last_error = TextField(default="")

    class Meta:
        table_name = "oauth_token"


# A fault of a place we write to (the file store, the database), open until it is over:
# one open row per component; the admins are told once when it starts and once when it ends.
class FaultRecord(BaseModel):
    component = CharField(max_length=20)  # store | database
    kind = CharField(max_length=20)  # read-only | full | locked | unavailable
    detail = CharField(max_length=500)
    since = DateTimeField()
    last_seen_at = DateTimeField()
    cleared_at = DateTimeField(null=True)

    class Meta:
        table_name = "fault"


# An address that bounced permanently; we stop mailing it until it writes to us again.
class AddressStatus(BaseModel):
    email = CharField(max_length=320, unique=True)
    bounced_at = DateTimeField(null=True)
    bounce_reason = TextField(default="")
    bounce_count = IntegerField(default=0)


# --- Outbound mail ----------------------------------------------------------------------


# A mail to send, written in the same transaction as the change that caused it.
class Outbox(BaseModel):
    kind = CharField(max_length=40)  # ack | notice | staff_reply | digest ...
    ticket = ForeignKeyField(Ticket, null=True, backref="outbox", on_delete="SET NULL")
    recipient = CharField(max_length=320)
    mail_from = CharField(max_length=320)
    message_id = CharField(max_length=998, unique=True)
    # The complete RFC 5322 message; empty until the sender renders `spec` (a notice is
    # queued as what to say, so the transaction that causes it stays cheap).
    raw = BlobField(null=True)
    spec = TextField(default="")  # JSON: the notice to render (template, recipient, ...)
    status = CharField(max_length=10, default=OutboxStatus.PENDING.value, choices=choices(OutboxStatus), index=True)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow, index=True)
    last_error = TextField(default="")
    lease_owner = CharField(max_length=100, null=True)
    lease_until = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)


# When an automatic answer went to an address, for rate limiting.
class AutoReplyLog(BaseModel):
    email = CharField(max_length=320, index=True)
    sent_at = DateTimeField(default=utcnow, index=True)


# --- Partner programme and levels -------------------------------------------------------


class Distributor(BaseModel):
    name = CharField(max_length=300)
    nip = CharField(max_length=10, unique=True)
    company = ForeignKeyField(Company, null=True, on_delete="SET NULL")
    active = BooleanField(default=True)


# A version of the programme terms; the accepted version is recorded on the application.
class ProgrammeTerms(BaseModel):
    version = CharField(max_length=20, unique=True)
    text = TextField()
    published_at = DateTimeField(default=utcnow)


class PartnerApplication(BaseModel):
    company = ForeignKeyField(Company, backref="applications", on_delete="CASCADE")
    submitted_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    terms = ForeignKeyField(ProgrammeTerms, null=True, on_delete="RESTRICT")
    declared_level = CharField(max_length=50)  # e.g. "authorised"
    quarterly_target_pln = DecimalField(max_digits=12, decimal_places=2, default=0)
    annual_target_pln = DecimalField(max_digits=12, decimal_places=2, default=0)
    commission_percent = DecimalField(max_digits=5, decimal_places=2, default=0)
    status = CharField(max_length=10, default=RequestStatus.PENDING.value, choices=choices(RequestStatus), index=True)
    reason = TextField(default="")
    verification_code = CharField(max_length=40, null=True, unique=True)
    submitted_at = DateTimeField(default=utcnow)
    decided_at = DateTimeField(null=True)
    decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    # The company id while the application is a draft, pending or approved; NULL once rejected:
    # the unique index allows one open application per company, without check-then-insert.
    open_key = IntegerField(null=True, unique=True)
    created_at = DateTimeField(default=utcnow)
    terms_accepted_at = DateTimeField(null=True)
    distributors_chosen_at = DateTimeField(null=True)
    valid_until = DateField(null=True)  # the certificate's end
    agreement_blob = ForeignKeyField(Blob, null=True, on_delete="RESTRICT", column_name="agreement_blob_id")
    certificate_blob = ForeignKeyField(Blob, null=True, on_delete="RESTRICT", column_name="certificate_blob_id")


class ApplicationDistributor(BaseModel):
    application = ForeignKeyField(PartnerApplication, backref="distributors", on_delete="CASCADE")
    distributor = ForeignKeyField(Distributor, on_delete="RESTRICT")

    class Meta:
        indexes = ((("application", "distributor"), True),)


class RoleChangeRequest(BaseModel):
    company = ForeignKeyField(Company, backref="role_requests", on_delete="CASCADE")
    from_role = CharField(max_length=20, default="")  # the company's role when it asked ("" before migration 018)
    requested_role = CharField(max_length=20, choices=choices(CompanyRole))
    requested_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    status = CharField(max_length=10, default=RequestStatus.PENDING.value, choices=choices(RequestStatus), index=True)
    reason = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    decided_at = DateTimeField(null=True)
    decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL")


# Partner access levels 0-5 and their permissions, as data (seeded by a migration).
class PartnerLevel(BaseModel):
    level = IntegerField(unique=True)
    name = CharField(max_length=100)
    description = TextField(default="")
    needs_eligibility = BooleanField(default=True)


class Permission(BaseModel):
    code = CharField(max_length=60, unique=True)
    description = CharField(max_length=300)


class LevelPermission(BaseModel):
    level = ForeignKeyField(PartnerLevel, backref="permissions", on_delete="CASCADE")
    permission = ForeignKeyField(Permission, on_delete="CASCADE")

    class Meta:
        indexes = ((("level", "permission"), True),)


class LevelApplication(BaseModel):
    company = ForeignKeyField(Company, backref="level_applications", on_delete="CASCADE")
    level = IntegerField()
    basis = CharField(max_length=30)  # none | distributor_list | three_users | distributor_recommendation
    submitted_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    distributor = ForeignKeyField(Distributor, null=True, on_delete="SET NULL")  # who recommends
    status = CharField(max_length=10, default=RequestStatus.PENDING.value, choices=choices(RequestStatus), index=True)
    reason = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    decided_at = DateTimeField(null=True)
    decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL")


# A written recommendation (a file) behind a level application: a serviced user's, or a distributor's.
class LevelEvidence(BaseModel):
    application = ForeignKeyField(LevelApplication, backref="evidence", on_delete="CASCADE")
    nip = CharField(max_length=10, default="")  # the recommending user's company
    blob = ForeignKeyField(Blob, on_delete="RESTRICT")
    filename = CharField(max_length=255)
    content_type = CharField(max_length=255, default="application/octet-stream")


# An author's own solution (level 0 and up): submitted by the partner, read by the staff.
class Solution(BaseModel):
    company = ForeignKeyField(Company, backref="solutions", on_delete="CASCADE")
    submitted_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    title = CharField(max_length=200)
    description = TextField()
    created_at = DateTimeField(default=utcnow)


# A document, download, phone number or section, shown only with its permission.
class Resource(BaseModel):
    title = CharField(max_length=300)
    kind = CharField(max_length=20)  # document | download | phone | section
    permission = ForeignKeyField(Permission, on_delete="RESTRICT")
    body = TextField(default="")
    blob = ForeignKeyField(Blob, null=True, on_delete="RESTRICT")
    filename = CharField(max_length=255, default="")
    created_at = DateTimeField(default=utcnow)


# A login, contract verification or mail-sending request, counted for rate limits and
# kept as a log. `key` is what is limited: an address, a user id, a NIP or a client IP.
class AuthAttempt(BaseModel):
    kind = CharField(max_length=20)  # login | verify | mail
    key = CharField(max_length=320)
    ok = BooleanField(default=False)
    detail = CharField(max_length=300, default="")
    at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("kind", "key", "at"), False),)


class AuditLog(BaseModel):
    actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
    action = CharField(max_length=60)
    object_type = CharField(max_length=60)
    object_id = CharField(max_length=60)
    detail = TextField(default="")
    at = DateTimeField(default=utcnow)  # indexed with the id: (at, id), migration 039


# --- The engineers' working day ------------------------------------------------------------


# A named answer engineers insert into replies; bodies are sandboxed templates (domain/canned.py).
class CannedAnswer(BaseModel):
    name = CharField(max_length=64, unique=True)  # what `#canned NAME` names: lower case, no spaces
    title = CharField(max_length=200, default="")
    body_pl = TextField(default="")
    body_en = TextField(default="")
    updated_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    def body(self, language: str) -> str:
        """The body in that language, or in the other one when it has none."""
        first, second = (self.body_en, self.body_pl) if language == "en" else (self.body_pl, self.body_en)
        return first or second


# A free-text label on a ticket (domain/tags.py normalises and caps them).
class TicketTag(BaseModel):
    ticket = ForeignKeyField(Ticket, backref="tags", on_delete="CASCADE")
    tag = CharField(max_length=40)
    added_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("ticket", "tag"), True), (("tag",), False))


# How many tickets carry each tag, kept by domain/tags.py in the same transaction as the tags
# themselves: the suggestions read the most used from an index on (uses DESC, tag) (migration 026).
class TagUse(BaseModel):
    tag = CharField(max_length=40, primary_key=True)
    uses = IntegerField()

    class Meta:
        table_name = "tag_use"


# When an engineer last had a ticket's page open: the others are warned (domain/collisions.py).
class TicketView(BaseModel):
    ticket = ForeignKeyField(Ticket, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    seen_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("ticket", "user"), True),)


# A refused or flagged attempt (a forged reply address, a participant cap reached, a
# reused Message-ID, a refused report, ...): what admins read on /staff/security and with
# `helpdesk security log`. Written by `domain.security_events.record`.
class SecurityEvent(BaseModel):
    at = DateTimeField(default=utcnow, index=True)
    # What happened, e.g. forged_reply_address (see domain/security_events.py); indexed with the id (migration 040).
    kind = CharField(max_length=40)
    sender = CharField(max_length=320, default="")  # the address (or client) it came from
    # The three links are indexed where set only (partial indexes, migration 043): most events have none.
    ticket = ForeignKeyField(Ticket, null=True, backref="security_events", on_delete="SET NULL", index=False)
    message = ForeignKeyField(Message, null=True, backref="security_events", on_delete="SET NULL", index=False)
    inbound = ForeignKeyField(InboundMail, null=True, on_delete="SET NULL", index=False)  # the mail, in `helpdesk mail log`
    reason = TextField(default="")  # in words, for people
    addresses = TextField(default="")  # the addresses concerned (not added, refused), space-separated


# --- Knowledge base (issue 17, item 6) ------------------------------------------------------


class ArticleAudience(str, enum.Enum):
    PUBLIC = "public"  # anyone, signed in or not
    CUSTOMERS = "customers"  # users with an active contract (and the partners that sold one)
    PARTNERS = "partners"  # verified partners from `min_level` up


# A technical article written by staff, in Markdown (rendered and sanitised when shown,
# domain/kb_render.py). A draft (`published_at` NULL) is for staff only.
class Article(BaseModel):
    title = CharField(max_length=300)
    body = TextField(default="")  # Markdown
    language = CharField(max_length=5, default="pl")
    audience = CharField(max_length=20, default=ArticleAudience.PUBLIC.value, choices=choices(ArticleAudience))
    min_level = IntegerField(default=0)  # for the partners' audience: the lowest partner level
    author = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    published_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("published_at", "id"), False),)  # the lists: newest published first, keyset


# A manufacturer or device model an article is about; `value` folded (domain.search.fold),
# compared with the folded model of a customer's device lines.
class ArticleTag(BaseModel):
    article = ForeignKeyField(Article, backref="tags", on_delete="CASCADE")
    kind = CharField(max_length=20)  # manufacturer | model
    value = CharField(max_length=200)
    label = CharField(max_length=200)  # as staff wrote it

    class Meta:
        indexes = ((("article", "kind", "value"), True), (("value", "article"), False))  # a device's tags


class ArticleFile(BaseModel):
    article = ForeignKeyField(Article, backref="files", on_delete="CASCADE")
    blob = ForeignKeyField(Blob, on_delete="RESTRICT")
    filename = CharField(max_length=255)
    content_type = CharField(max_length=255, default="application/octet-stream")
    size = BigIntegerField(default=0)
    added_at = DateTimeField(default=utcnow)


# --- Scheduler ----------------------------------------------------------------------------


# One row per digest, period and recipient: the unique index makes "send once" hold.
class DigestSent(BaseModel):
    job = CharField(max_length=40)
    period = CharField(max_length=40)
    recipient = CharField(max_length=320)
    sent_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("job", "period", "recipient"), True),)


class Lease(BaseModel):
    name = CharField(max_length=100, unique=True)
    owner = CharField(max_length=100)
    until = DateTimeField()

# --- API and webhooks ---------------------------------------------------------------------


# A personal API token (`Authorization: Bearer ...`): only its SHA-256 is kept; it acts as
# its user, within its scopes. `window_*` count its requests for the rate limit.
class ApiToken(BaseModel):
    user = ForeignKeyField(User, backref="api_tokens", on_delete="CASCADE")
    name = CharField(max_length=100, default="")
    prefix = CharField(max_length=16)  # the start of the token, to tell tokens apart in lists
    token_hash = CharField(max_length=64, unique=True)
    scopes = CharField(max_length=200)  # space-separated
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)
    last_used_at = DateTimeField(null=True)
    last_used_ip = CharField(max_length=64, default="")
    window_start = DateTimeField(null=True)
    window_count = IntegerField(default=0)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


# An `Idempotency-Key` of a POST and the answer it got, so a retried request makes one ticket.
class IdempotencyKey(BaseModel):
    token = ForeignKeyField(ApiToken, on_delete="CASCADE")
    key = CharField(max_length=255)
    fingerprint = CharField(max_length=64)  # SHA-256 of method, path and body
    status = IntegerField(null=True)  # null while the first request runs
    response = TextField(default="")
    location = CharField(max_length=500, default="")
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("token", "key"), True),)


# Where events are posted, signed with `secret`; paused after repeated failures.
class WebhookEndpoint(BaseModel):
    url = CharField(max_length=2000)
    secret = CharField(max_length=200)
    events = CharField(max_length=500)  # space-separated
    allow_host = CharField(max_length=255, default="")  # a host the admin allowed outside the rules
    active = BooleanField(default=True)  # False once removed (its log stays)
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    consecutive_failures = IntegerField(default=0)
    paused_at = DateTimeField(null=True)
    pause_reason = TextField(default="")

    @property
    def event_set(self) -> frozenset[str]:
        return frozenset(self.events.split())


# One event for one endpoint, queued in the transaction of the change (like the outbox).
class WebhookDelivery(BaseModel):
    endpoint = ForeignKeyField(WebhookEndpoint, backref="deliveries", on_delete="CASCADE")
    event = CharField(max_length=40)
    event_id = CharField(max_length=40)  # the same for every endpoint of one event
    payload = TextField()  # the JSON body, as it will be signed and sent
    status = CharField(max_length=10, default="pending")  # pending | delivered | failed; indexed with the id (040)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow, index=True)
    last_status_code = IntegerField(null=True)
    last_error = TextField(default="")
    lease_owner = CharField(max_length=100, null=True)
    lease_until = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    delivered_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("endpoint", "event_id"), True),)  # an event reaches an endpoint once


# The reports' sums per local day of what messages carry (domain/rollups.py): answers per
# engineer, minutes per engineer's address and per contract. Written by the transaction that
# writes or moves the messages, so a period's report reads a row per day and key, not every
# message. The days are local days in RollupZone's one row (the zone they were built for).
class RollupZone(BaseModel):
    zone = CharField(max_length=64)


class AnswerDay(BaseModel):
    day = DateField()
    author = ForeignKeyField(User, on_delete="CASCADE")  # the message's author_id (staff messages)
    answers = IntegerField(default=0)

    class Meta:
        indexes = ((("day", "author"), True),)


class MinutesDay(BaseModel):
    day = DateField()
    author_email = CharField(max_length=320)  # as on the messages (time spent is summed by address)
    messages = IntegerField(default=0)
    minutes = IntegerField(default=0)

    class Meta:
        indexes = ((("day", "author_email"), True),)


class TicketDay(BaseModel):
    day = DateField(unique=True)
    opened = IntegerField(default=0)  # tickets (not merged into another) opened that day
    closed = IntegerField(default=0)  # and closed that day (their closed_at)


class ContractMinutesDay(BaseModel):
    day = DateField()
    # the ticket's contract_id, 0 for none; no foreign key: the report joins the contract as it is.
    # A contract deleted has its rows added to 0's (a trigger, migration 030), as its tickets lose it.
    contract_id = IntegerField()
    messages = IntegerField(default=0)
    minutes = IntegerField(default=0)

    class Meta:
        # unique: the upserts' key; the other: a period's sums from the index alone
        indexes = ((("day", "contract_id"), True), (("day", "contract_id", "minutes", "messages"), False))


class ContractMinutesMonth(BaseModel):
    """ContractMinutesDay's rows summed per month (the first day's date), kept by the database
    in the statement that writes a day's row (triggers, migration 036)."""
    month = DateField()
    contract_id = IntegerField()
    messages = IntegerField(default=0)
    minutes = IntegerField(default=0)

    class Meta:
        indexes = ((("month", "contract_id"), True), (("month", "contract_id", "minutes", "messages"), False))


class ReportMonth(BaseModel):
    """A whole local month's figures for two reports, kept (domain/report_months.py); the
    database deletes the row when one of its tickets changes (triggers, migration 035)."""
    zone = CharField(max_length=64)
    since = DateTimeField()  # the month's first instant in the zone, as a stored (naive UTC) time
    until = DateTimeField()  # the next month's
    figures = TextField()  # JSON: report_months.Figures
    computed_at = DateTimeField()  # the clock they were worked out at
    valid_until = DateTimeField(null=True)  # the first deadline still running then: the clock may change them

    class Meta:
        indexes = ((("zone", "since"), True), (("since", "until"), False))


ALL_MODELS = [
    Company, User, Contract, DeviceLine, ContractAccess, Ticket, StatusChange, InboundMail,
    Message, KnownMessageId, Participant, Blob, Attachment, Quarantine, MailboxState,
    AddressStatus, OAuthToken, Outbox, AutoReplyLog, InboundClaim, Distributor, ProgrammeTerms, PartnerApplication,
    ApplicationDistributor, RoleChangeRequest, PartnerLevel, Permission, LevelPermission,
    LevelApplication, LevelEvidence, Solution, Resource, AuthAttempt, AuditLog, DigestSent, Lease,
    CannedAnswer, TicketTag, TagUse, TicketView,
    SecurityEvent, FaultRecord,
    ApiToken, IdempotencyKey, WebhookEndpoint, WebhookDelivery,
    Article, ArticleTag, ArticleFile,
    RollupZone, AnswerDay, MinutesDay, ContractMinutesDay, TicketDay, ContractMinutesMonth, ReportMonth,
]  # fmt: skip
