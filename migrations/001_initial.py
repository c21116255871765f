"""Peewee migrations -- 001_initial.py.

Some examples (model - class or model name)::

    > Model = migrator.orm['table_name']            # Return model in current state by name
    > Model = migrator.ModelClass                   # Return model in current state by name

    > migrator.sql(sql)                             # Run custom SQL
    > migrator.run(func, *args, **kwargs)           # Run python function with the given args
    > migrator.create_model(Model)                  # Create a model (could be used as decorator)
    > migrator.remove_model(model, cascade=True)    # Remove a model
    > migrator.add_fields(model, **fields)          # Add fields (allow_not_null=True skips default)
    > migrator.change_fields(model, **fields)       # Change fields
    > migrator.remove_fields(model, *field_names, cascade=True)
    > migrator.rename_field(model, old_field_name, new_field_name)
    > migrator.rename_table(model, new_table_name)
    > migrator.add_index(model, *col_names, unique=False)
    > migrator.add_not_null(model, *field_names)
    > migrator.add_default(model, field_name, default)
    > migrator.add_constraint(model, name, sql)
    > migrator.drop_index(model, *col_names)
    > migrator.drop_not_null(model, *field_names)
    > migrator.drop_constraints(model, *constraints)

"""

from contextlib import suppress
from decimal import ROUND_HALF_EVEN, Decimal

import peewee as pw
from peewee_migrate import Migrator

with suppress(ImportError):
    pass


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""
    
    @migrator.create_model
    class AddressStatus(pw.Model):
        id = pw.AutoField()
        email = pw.CharField(max_length=320, unique=True)
        bounced_at = pw.DateTimeField(null=True)
        bounce_reason = pw.TextField(default='')
        bounce_count = pw.IntegerField(default=0)

        class Meta:
            table_name = "address_status"

    @migrator.create_model
    class Company(pw.Model):
        id = pw.AutoField()
        nip = pw.CharField(max_length=10, unique=True)
        name = pw.CharField(max_length=300)
        role = pw.CharField(default='customer', max_length=20)
        verified_at = pw.DateTimeField(null=True)
        partner_level = pw.IntegerField(null=True)
        address = pw.TextField(default='')
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "company"

    @migrator.create_model
    class User(pw.Model):
        id = pw.AutoField()
        email = pw.CharField(max_length=320, unique=True)
        first_name = pw.CharField(default='', max_length=100)
        last_name = pw.CharField(default='', max_length=100)
        phone = pw.CharField(default='', max_length=9)
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], null=True, on_delete='SET NULL')
        role = pw.CharField(default='customer', max_length=20)
        password_hash = pw.CharField(max_length=200, null=True)
        is_active = pw.BooleanField(default=False)
        activated_at = pw.DateTimeField(null=True)
        language = pw.CharField(default='pl', max_length=5)
        timezone = pw.CharField(default='Europe/Warsaw', max_length=64)
        digest_opt_in = pw.BooleanField(default=False)
        session_version = pw.IntegerField(default=0)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "user"

    @migrator.create_model
    class ProgrammeTerms(pw.Model):
        id = pw.AutoField()
        version = pw.CharField(max_length=20, unique=True)
        text = pw.TextField()
        published_at = pw.DateTimeField()

        class Meta:
            table_name = "programme_terms"

    @migrator.create_model
    class PartnerApplication(pw.Model):
        id = pw.AutoField()
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        submitted_by = pw.ForeignKeyField(column_name='submitted_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        terms = pw.ForeignKeyField(column_name='terms_id', field='id', model=migrator.orm['programme_terms'], null=True, on_delete='RESTRICT')
        declared_level = pw.CharField(max_length=50)
        quarterly_target_pln = pw.DecimalField(auto_round=False, decimal_places=2, default=Decimal('0'), max_digits=12, rounding=ROUND_HALF_EVEN)
        annual_target_pln = pw.DecimalField(auto_round=False, decimal_places=2, default=Decimal('0'), max_digits=12, rounding=ROUND_HALF_EVEN)
        commission_percent = pw.DecimalField(auto_round=False, decimal_places=2, default=Decimal('0'), max_digits=5, rounding=ROUND_HALF_EVEN)
        status = pw.CharField(default='pending', index=True, max_length=10)
        reason = pw.TextField(default='')
        verification_code = pw.CharField(max_length=40, null=True, unique=True)
        submitted_at = pw.DateTimeField()
        decided_at = pw.DateTimeField(null=True)
        decided_by = pw.ForeignKeyField(column_name='decided_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')

        class Meta:
            table_name = "partner_application"

    @migrator.create_model
    class Distributor(pw.Model):
        id = pw.AutoField()
        name = pw.CharField(max_length=300)
        nip = pw.CharField(max_length=10, unique=True)
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], null=True, on_delete='SET NULL')
        active = pw.BooleanField(default=True)

        class Meta:
            table_name = "distributor"

    @migrator.create_model
    class ApplicationDistributor(pw.Model):
        id = pw.AutoField()
        application = pw.ForeignKeyField(column_name='application_id', field='id', model=migrator.orm['partner_application'], on_delete='CASCADE')
        distributor = pw.ForeignKeyField(column_name='distributor_id', field='id', model=migrator.orm['distributor'], on_delete='RESTRICT')

        class Meta:
            table_name = "application_distributor"
            indexes = [(('application', 'distributor'), True)]

    @migrator.create_model
    class Contract(pw.Model):
        id = pw.AutoField()
        number = pw.CharField(max_length=7, unique=True)
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='RESTRICT')
        partner = pw.ForeignKeyField(column_name='partner_id', field='id', model=migrator.orm['company'], null=True, on_delete='SET NULL')
        customer_name = pw.CharField(default='', max_length=300)
        service_level = pw.CharField(default='', max_length=100)
        starts_on = pw.DateField()
        ends_on = pw.DateField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "contract"

    @migrator.create_model
    class DeviceLine(pw.Model):
        id = pw.AutoField()
        contract = pw.ForeignKeyField(column_name='contract_id', field='id', model=migrator.orm['contract'], on_delete='CASCADE')
        model = pw.CharField(default='', max_length=200)
        serial = pw.CharField(index=True, max_length=200)
        address = pw.TextField(default='')

        class Meta:
            table_name = "device_line"

    @migrator.create_model
    class Ticket(pw.Model):
        id = pw.AutoField()
        subject = pw.CharField(default='', max_length=998)
        status = pw.CharField(default='new', index=True, max_length=20)
        requester = pw.ForeignKeyField(column_name='requester_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        requester_email = pw.CharField(default='', max_length=320)
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], null=True, on_delete='SET NULL')
        contract = pw.ForeignKeyField(column_name='contract_id', field='id', model=migrator.orm['contract'], null=True, on_delete='SET NULL')
        device_line = pw.ForeignKeyField(column_name='device_line_id', field='id', model=migrator.orm['device_line'], null=True, on_delete='SET NULL')
        assignee = pw.ForeignKeyField(column_name='assignee_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        channel = pw.CharField(default='mail', max_length=10)
        created_at = pw.DateTimeField(index=True)
        updated_at = pw.DateTimeField()
        closed_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "ticket"

    @migrator.create_model
    class InboundMail(pw.Model):
        id = pw.AutoField()
        mailbox = pw.CharField(max_length=500)
        uidvalidity = pw.BigIntegerField()
        uid = pw.CharField(max_length=200)
        message_id = pw.CharField(index=True, max_length=998)
        raw_sha256 = pw.CharField(index=True, max_length=64)
        size = pw.IntegerField(default=0)
        from_addr = pw.CharField(default='', max_length=320)
        subject = pw.CharField(default='', max_length=998)
        outcome = pw.CharField(index=True, max_length=20)
        reason = pw.TextField(default='')
        ticket = pw.ForeignKeyField(column_name='ticket_id', field='id', model=migrator.orm['ticket'], null=True, on_delete='SET NULL')
        received_at = pw.DateTimeField(index=True)
        processed_at = pw.DateTimeField()

        class Meta:
            table_name = "inbound_mail"
            indexes = [(('mailbox', 'uidvalidity', 'uid'), True)]

    @migrator.create_model
    class Message(pw.Model):
        id = pw.AutoField()
        ticket = pw.ForeignKeyField(column_name='ticket_id', field='id', model=migrator.orm['ticket'], on_delete='CASCADE')
        kind = pw.CharField(max_length=10)
        author = pw.ForeignKeyField(column_name='author_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        author_email = pw.CharField(default='', max_length=320)
        author_name = pw.CharField(default='', max_length=300)
        subject = pw.CharField(default='', max_length=998)
        body_text = pw.TextField(default='')
        body_display = pw.TextField(default='')
        body_html = pw.TextField(null=True)
        message_id = pw.CharField(index=True, max_length=998, null=True)
        in_reply_to = pw.TextField(default='')
        references = pw.TextField(default='')
        thread_rule = pw.CharField(default='', max_length=40)
        inbound = pw.ForeignKeyField(column_name='inbound_id', field='id', model=migrator.orm['inbound_mail'], null=True, on_delete='SET NULL')
        sent_at = pw.DateTimeField(null=True)
        created_at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "message"

    @migrator.create_model
    class Blob(pw.Model):
        id = pw.AutoField()
        sha256 = pw.CharField(max_length=64, unique=True)
        size = pw.BigIntegerField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "blob"

    @migrator.create_model
    class Attachment(pw.Model):
        id = pw.AutoField()
        message = pw.ForeignKeyField(column_name='message_id', field='id', model=migrator.orm['message'], on_delete='CASCADE')
        blob = pw.ForeignKeyField(column_name='blob_id', field='id', model=migrator.orm['blob'], null=True, on_delete='RESTRICT')
        filename = pw.CharField(max_length=255)
        content_type = pw.CharField(default='application/octet-stream', max_length=255)
        size = pw.BigIntegerField(default=0)
        inline = pw.BooleanField(default=False)
        content_id = pw.CharField(max_length=998, null=True)
        skipped_reason = pw.CharField(default='', max_length=300)

        class Meta:
            table_name = "attachment"

    @migrator.create_model
    class AuditLog(pw.Model):
        id = pw.AutoField()
        actor = pw.ForeignKeyField(column_name='actor_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        action = pw.CharField(max_length=60)
        object_type = pw.CharField(max_length=60)
        object_id = pw.CharField(max_length=60)
        detail = pw.TextField(default='')
        at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "audit_log"

    @migrator.create_model
    class AutoReplyLog(pw.Model):
        id = pw.AutoField()
        email = pw.CharField(index=True, max_length=320)
        sent_at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "auto_reply_log"

    @migrator.create_model
    class BaseModel(pw.Model):
        id = pw.AutoField()

        class Meta:
            table_name = "base_model"

    @migrator.create_model
    class ContractAccess(pw.Model):
        id = pw.AutoField()
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], on_delete='CASCADE')
        contract = pw.ForeignKeyField(column_name='contract_id', field='id', model=migrator.orm['contract'], on_delete='CASCADE')
        granted_at = pw.DateTimeField()

        class Meta:
            table_name = "contract_access"
            indexes = [(('user', 'contract'), True)]

    @migrator.create_model
    class DigestSent(pw.Model):
        id = pw.AutoField()
        job = pw.CharField(max_length=40)
        period = pw.CharField(max_length=40)
        recipient = pw.CharField(max_length=320)
        sent_at = pw.DateTimeField()

        class Meta:
            table_name = "digest_sent"
            indexes = [(('job', 'period', 'recipient'), True)]

    @migrator.create_model
    class KnownMessageId(pw.Model):
        id = pw.AutoField()
        message_id = pw.CharField(max_length=998, unique=True)
        ticket = pw.ForeignKeyField(column_name='ticket_id', field='id', model=migrator.orm['ticket'], on_delete='CASCADE')
        message = pw.ForeignKeyField(column_name='message_pk', field='id', model=migrator.orm['message'], null=True, on_delete='SET NULL')
        outgoing = pw.BooleanField(default=False)
        recipient = pw.CharField(default='', max_length=320)

        class Meta:
            table_name = "known_message_id"

    @migrator.create_model
    class Lease(pw.Model):
        id = pw.AutoField()
        name = pw.CharField(max_length=100, unique=True)
        owner = pw.CharField(max_length=100)
        until = pw.DateTimeField()

        class Meta:
            table_name = "lease"

    @migrator.create_model
    class LevelApplication(pw.Model):
        id = pw.AutoField()
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        level = pw.IntegerField()
        basis = pw.CharField(max_length=30)
        status = pw.CharField(default='pending', index=True, max_length=10)
        reason = pw.TextField(default='')
        created_at = pw.DateTimeField()
        decided_at = pw.DateTimeField(null=True)
        decided_by = pw.ForeignKeyField(column_name='decided_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')

        class Meta:
            table_name = "level_application"

    @migrator.create_model
    class PartnerLevel(pw.Model):
        id = pw.AutoField()
        level = pw.IntegerField(unique=True)
        name = pw.CharField(max_length=100)
        description = pw.TextField(default='')
        needs_eligibility = pw.BooleanField(default=True)

        class Meta:
            table_name = "partner_level"

    @migrator.create_model
    class Permission(pw.Model):
        id = pw.AutoField()
        code = pw.CharField(max_length=60, unique=True)
        description = pw.CharField(max_length=300)

        class Meta:
            table_name = "permission"

    @migrator.create_model
    class LevelPermission(pw.Model):
        id = pw.AutoField()
        level = pw.ForeignKeyField(column_name='level_id', field='id', model=migrator.orm['partner_level'], on_delete='CASCADE')
        permission = pw.ForeignKeyField(column_name='permission_id', field='id', model=migrator.orm['permission'], on_delete='CASCADE')

        class Meta:
            table_name = "level_permission"
            indexes = [(('level', 'permission'), True)]

    @migrator.create_model
    class MailboxState(pw.Model):
        id = pw.AutoField()
        mailbox = pw.CharField(max_length=500, unique=True)
        uidvalidity = pw.BigIntegerField(default=0)
        last_uid = pw.BigIntegerField(default=0)
        last_fetch_at = pw.DateTimeField(null=True)
        last_message_at = pw.DateTimeField(null=True)
        last_error = pw.TextField(default='')

        class Meta:
            table_name = "mailbox_state"

    @migrator.create_model
    class Outbox(pw.Model):
        id = pw.AutoField()
        kind = pw.CharField(max_length=40)
        ticket = pw.ForeignKeyField(column_name='ticket_id', field='id', model=migrator.orm['ticket'], null=True, on_delete='SET NULL')
        recipient = pw.CharField(max_length=320)
        mail_from = pw.CharField(max_length=320)
        message_id = pw.CharField(max_length=998, unique=True)
        raw = pw.BlobField()
        status = pw.CharField(default='pending', index=True, max_length=10)
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField(index=True)
        last_error = pw.TextField(default='')
        lease_owner = pw.CharField(max_length=100, null=True)
        lease_until = pw.DateTimeField(null=True)
        created_at = pw.DateTimeField()
        sent_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "outbox"

    @migrator.create_model
    class Participant(pw.Model):
        id = pw.AutoField()
        ticket = pw.ForeignKeyField(column_name='ticket_id', field='id', model=migrator.orm['ticket'], on_delete='CASCADE')
        email = pw.CharField(max_length=320)
        name = pw.CharField(default='', max_length=300)
        role = pw.CharField(default='cc', max_length=10)
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        added_at = pw.DateTimeField()
        added_by = pw.CharField(default='mail', max_length=40)

        class Meta:
            table_name = "participant"
            indexes = [(('ticket', 'email'), True)]

    @migrator.create_model
    class Quarantine(pw.Model):
        id = pw.AutoField()
        inbound = pw.ForeignKeyField(column_name='inbound_id', field='id', model=migrator.orm['inbound_mail'], on_delete='CASCADE', unique=True)
        error = pw.TextField()
        detail = pw.TextField(default='')
        attempts = pw.IntegerField(default=1)
        created_at = pw.DateTimeField()
        resolved_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "quarantine"

    @migrator.create_model
    class Resource(pw.Model):
        id = pw.AutoField()
        title = pw.CharField(max_length=300)
        kind = pw.CharField(max_length=20)
        permission = pw.ForeignKeyField(column_name='permission_id', field='id', model=migrator.orm['permission'], on_delete='RESTRICT')
        body = pw.TextField(default='')
        blob = pw.ForeignKeyField(column_name='blob_id', field='id', model=migrator.orm['blob'], null=True, on_delete='RESTRICT')

        class Meta:
            table_name = "resource"

    @migrator.create_model
    class RoleChangeRequest(pw.Model):
        id = pw.AutoField()
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        requested_role = pw.CharField(max_length=20)
        requested_by = pw.ForeignKeyField(column_name='requested_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        status = pw.CharField(default='pending', index=True, max_length=10)
        reason = pw.TextField(default='')
        created_at = pw.DateTimeField()
        decided_at = pw.DateTimeField(null=True)
        decided_by = pw.ForeignKeyField(column_name='decided_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')

        class Meta:
            table_name = "role_change_request"

    @migrator.create_model
    class StatusChange(pw.Model):
        id = pw.AutoField()
        ticket = pw.ForeignKeyField(column_name='ticket_id', field='id', model=migrator.orm['ticket'], on_delete='CASCADE')
        old_status = pw.CharField(max_length=20, null=True)
        new_status = pw.CharField(max_length=20)
        changed_by = pw.ForeignKeyField(column_name='changed_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        reason = pw.CharField(default='', max_length=300)
        changed_at = pw.DateTimeField()

        class Meta:
            table_name = "status_change"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""
    
    migrator.remove_model('status_change')

    migrator.remove_model('role_change_request')

    migrator.remove_model('resource')

    migrator.remove_model('quarantine')

    migrator.remove_model('participant')

    migrator.remove_model('outbox')

    migrator.remove_model('mailbox_state')

    migrator.remove_model('level_permission')

    migrator.remove_model('permission')

    migrator.remove_model('partner_level')

    migrator.remove_model('level_application')

    migrator.remove_model('lease')

    migrator.remove_model('known_message_id')

    migrator.remove_model('digest_sent')

    migrator.remove_model('contract_access')

    migrator.remove_model('base_model')

    migrator.remove_model('auto_reply_log')

    migrator.remove_model('audit_log')

    migrator.remove_model('attachment')

    migrator.remove_model('blob')

    migrator.remove_model('message')

    migrator.remove_model('inbound_mail')

    migrator.remove_model('ticket')

    migrator.remove_model('device_line')

    migrator.remove_model('contract')

    migrator.remove_model('application_distributor')

    migrator.remove_model('distributor')

    migrator.remove_model('partner_application')

    migrator.remove_model('programme_terms')

    migrator.remove_model('user')

    migrator.remove_model('company')

    migrator.remove_model('address_status')
