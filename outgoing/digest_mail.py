"""Digest mails: an outbox row queued by the scheduler, rendered just before delivery.

In: an `Outbox` row whose `spec` names a digest (what `scheduler.queue_once` wrote: the
template, the recipient, and the context, times already in the reader's zone). Out: the
complete message, built by `outbox.build` from `templates/mail/<language>/<template>.*`,
with links into the portal at `config.base_url`. Pure rendering: reads nothing else.
"""
from __future__ import annotations

import datetime as dt
import json

from helpdesk.config import Config
from helpdesk.domain import i18n, outbox
from helpdesk.models import Outbox

DIGEST_HEADER = "X-Helpdesk-Digest"  # which job sent it: filters, and tests, can tell


def is_digest(spec: dict) -> bool:
    return "digest" in spec


def compose(config: Config, row: Outbox, spec: dict | None = None) -> bytes:
    spec = spec if spec is not None else json.loads(row.spec)
    language = spec["language"]
    team = i18n.gettext(language, i18n.SUPPORT_TEAM)
    subject, text, html = outbox.render(spec["template"], language, {
        **spec["context"], "name": spec["name"], "team": team, "base_url": config.base_url,
        "prefix": config.ticket_prefix,
    }, contact=outbox.Contact.of(config))
    msg = outbox.build(
        mail_from=row.mail_from, from_name=team, to=spec["to"], to_name=spec["name"], subject=subject, text=text,
        html=html, reply_to=config.support_address, message_id=row.message_id, loop_marker=config.support_address,
        now=dt.datetime.fromisoformat(spec["queued_at"]),
    )
    msg[DIGEST_HEADER] = outbox.safe(spec["digest"], "digest name")
    return msg.as_bytes(policy=outbox.SMTP_POLICY)
