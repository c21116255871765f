"""The API and webhooks: personal tokens, idempotency keys, webhook endpoints and deliveries."""

import datetime as dt

import peewee as pw
from peewee_migrate import Migrator


def _now():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class ApiToken(pw.Model):
        id = pw.AutoField()
        user = pw.ForeignKeyField(migrator.orm["user"], backref="api_tokens", on_delete="CASCADE")
        name = pw.CharField(max_length=100, default="")
        prefix = pw.CharField(max_length=16)
        token_hash = pw.CharField(max_length=64, unique=True)
        scopes = pw.CharField(max_length=200)
        created_at = pw.DateTimeField(default=_now)
        expires_at = pw.DateTimeField(null=True)
        revoked_at = pw.DateTimeField(null=True)
        last_used_at = pw.DateTimeField(null=True)
        last_used_ip = pw.CharField(max_length=64, default="")
        window_start = pw.DateTimeField(null=True)
        window_count = pw.IntegerField(default=0)

        class Meta:
            table_name = "api_token"

    @migrator.create_model
    class IdempotencyKey(pw.Model):
        id = pw.AutoField()
        token = pw.ForeignKeyField(migrator.orm["api_token"], on_delete="CASCADE")
        key = pw.CharField(max_length=255)
        fingerprint = pw.CharField(max_length=64)
        status = pw.IntegerField(null=True)
        response = pw.TextField(default="")
        location = pw.CharField(max_length=500, default="")
        created_at = pw.DateTimeField(default=_now, index=True)

        class Meta:
            table_name = "idempotency_key"
            indexes = ((("token", "key"), True),)

    @migrator.create_model
    class WebhookEndpoint(pw.Model):
        id = pw.AutoField()
        url = pw.CharField(max_length=2000)
        secret = pw.CharField(max_length=200)
        events = pw.CharField(max_length=500)
        allow_host = pw.CharField(max_length=255, default="")
        active = pw.BooleanField(default=True)
        created_by = pw.ForeignKeyField(migrator.orm["user"], null=True, on_delete="SET NULL")
        created_at = pw.DateTimeField(default=_now)
        consecutive_failures = pw.IntegerField(default=0)
        paused_at = pw.DateTimeField(null=True)
        pause_reason = pw.TextField(default="")

        class Meta:
            table_name = "webhook_endpoint"

    @migrator.create_model
    class WebhookDelivery(pw.Model):
        id = pw.AutoField()
        endpoint = pw.ForeignKeyField(migrator.orm["webhook_endpoint"], backref="deliveries", on_delete="CASCADE")
        event = pw.CharField(max_length=40)
        event_id = pw.CharField(max_length=40)
        payload = pw.TextField()
        status = pw.CharField(max_length=10, default="pending", index=True)
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField(default=_now, index=True)
        last_status_code = pw.IntegerField(null=True)
        last_error = pw.TextField(default="")
        lease_owner = pw.CharField(max_length=100, null=True)
        lease_until = pw.DateTimeField(null=True)
        created_at = pw.DateTimeField(default=_now)
        delivered_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "webhook_delivery"
            indexes = ((("endpoint", "event_id"), True),)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for table in ("webhook_delivery", "webhook_endpoint", "idempotency_key", "api_token"):
        migrator.remove_model(table)
