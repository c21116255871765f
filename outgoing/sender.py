"""Sender: delivers the outbox, over SMTP or into the local outbox folder (SPEC E11).

In: `Outbox` rows that are due. Out: each row `sent`, rescheduled with exponential
backoff (the server is down, or answered 4xx), or `failed` with the server's answer (a
permanent 5xx, or too many attempts). A permanent refusal of the address itself (5.1.x,
not a size, content or policy refusal: `domain.deliverability`) marks it undeliverable,
and mail to a marked address is not sent; a notice refused as too large is sent once more
without its files. Each mail's envelope sender is a signed return path naming its row. Rows are claimed with a lease,
so several senders can share the outbox; each row's result is committed the moment the
server has answered, so a restart neither resends what was sent nor drops what was not.
Never builds mail: `domain/outbox.py` and `compose.py` do. With `?auth=oauth2` on
HELPDESK_SMTP_URL the transport logs in with SASL XOAUTH2 (or OAUTHBEARER) and an access
token from domain/oauth.py; a 535 answer gets the token refreshed and the login tried once more.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import smtplib
import ssl
import tempfile
import threading
from collections import Counter
from email.errors import MessageError
from pathlib import Path

from helpdesk import database
from helpdesk.config import Config, SmtpURL, is_loopback
from helpdesk.domain import deliverability, oauth, owners, tokens
from helpdesk.logs import about
from helpdesk.models import AddressStatus, Message, MessageKind, Outbox, OutboxStatus, db, utcnow

from .compose import compose

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)  # a sender that died lets its claimed mail go after this
MAX_ATTEMPTS = 16  # with the backoff below: about two days of trying
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 4 * 3600


class TransportDown(Exception):
    """The server cannot be reached or refuses us: every mail waits, none is at fault."""


class Refused(Exception):
    """The server refused this one mail; `permanent` for a 5xx answer."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code} {message}")
        self.code = code
        self.permanent = 500 <= code < 600


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the n-th failed attempt: 30 s, 1 min, 2 min, ... at most 4 h."""
    return dt.timedelta(seconds=min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1)))


# --- transports ---------------------------------------------------------------------------


class SmtpTransport:
    def __init__(self, url: SmtpURL, *, timeout: float = 30.0, tokens: oauth.AccessTokens | None = None):
        if url.oauth and tokens is None:
            raise ValueError(f"HELPDESK_SMTP_URL: auth={url.auth} needs an OAuth2 token source")
        self.url = url
        self.timeout = timeout
        self.tokens = tokens
        self._smtp: smtplib.SMTP | None = None

    def open(self) -> None:
        url = self.url
        try:
            if url.scheme == "smtps":
                smtp = smtplib.SMTP_SSL(url.host, url.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(url.host, url.port, timeout=self.timeout)  # type: ignore[assignment]
                smtp.ehlo()
                if url.starttls and smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                elif not is_loopback(url.host):
                    smtp.close()
                    raise TransportDown(f"{url.host}:{url.port} offers no STARTTLS; clear text is allowed only "
                                        "on loopback: use smtps:// or a server with STARTTLS")
            try:
                if url.oauth:
                    self._oauth_login(smtp)
                elif url.username:
                    smtp.login(url.username, url.password)
            except (OSError, smtplib.SMTPException, TransportDown):
                smtp.close()  # logged in or not, the connection is of no more use
                raise
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportDown(f"cannot use SMTP server {url.host}:{url.port}: {exc}") from exc
        self._smtp = smtp

    def _oauth_login(self, smtp: smtplib.SMTP) -> None:
        """AUTH XOAUTH2 (or OAUTHBEARER) with the account's access token; on 535 (the token
        expired early, or was revoked) once more with a fresh one."""
        url = self.url
        mechanism = "OAUTHBEARER" if url.auth == "oauthbearer" or (
            url.auth == "oauth2" and "xoauth2" not in smtp.esmtp_features.get("auth", "").lower().split()
            and "oauthbearer" in smtp.esmtp_features.get("auth", "").lower().split()) else "XOAUTH2"
        for force in (False, True):
            try:
                token = self.tokens.get(url.username, force=force)
            except oauth.OAuthUnavailable as exc:
                raise TransportDown(str(exc)) from exc
            response = (oauth.oauthbearer(url.username, token, url.host, url.port) if mechanism == "OAUTHBEARER"
                        else oauth.xoauth2(url.username, token))
            answers = iter([response])
            try:
                # After a refusal the server sends a 334 with its reasons; the answer is an empty line.
                smtp.auth(mechanism, lambda challenge=None, answers=answers: next(answers, ""), initial_response_ok=True)
                return
            except smtplib.SMTPAuthenticationError as exc:
                if exc.smtp_code != 535 or force:
                    raise
                log.warning("SMTP %s:%s refused the OAuth2 token (%s); refreshing it", url.host, url.port,
                            exc.smtp_error.decode(errors="replace"))

    def send(self, mail_from: str, recipient: str, raw: bytes, message_id: str = "") -> None:
        if self._smtp is None:
            self.open()
        try:
            self._smtp.sendmail(mail_from, [recipient], raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code, message = exc.recipients[recipient]
            raise Refused(code, message.decode(errors="replace")) from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise Refused(exc.smtp_code, exc.smtp_error.decode(errors="replace")) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise TransportDown(f"SMTP connection lost: {exc}") from exc

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


class FolderTransport:
    """The embedded default: each mail becomes an .eml file in the outbox folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, mail_from: str, recipient: str, raw: bytes, message_id: str = "") -> None:
        """`message_id`: the outbox row's (the mail's own), which names the file."""
        name = "".join(c if c.isalnum() or c in ".-_@" else "_"
                       for c in f"{recipient}--{message_id or 'no-message-id'}")
        path = self.folder / f"{name[:200]}.eml"
        if path.exists():  # delivered before a crash kept us from recording it
            return
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(f"X-Envelope-From: {mail_from}\r\nX-Envelope-To: {recipient}\r\n".encode() + raw)
        os.replace(tmp, path)

    def close(self) -> None:
        pass


def transport_for(config: Config):
    smtp = config.smtp
    if not smtp.scheme:
        return FolderTransport(config.outbox_dir)
    return SmtpTransport(smtp, tokens=oauth.AccessTokens(config) if smtp.oauth else None)


# --- the sender ---------------------------------------------------------------------------


class Sender:
    def __init__(self, config: Config, transport=None, *, owner: str | None = None):
        self.config = config
        self.transport = transport or transport_for(config)
        self.owner = owner or owners.owner_name(f"{id(self):x}")
        self._undeliverable: dict[str, AddressStatus] = {}  # among the claimed mail's recipients

    def send_due(self, *, now: dt.datetime | None = None, limit: int = 100) -> Counter:
        """Deliver what is due now (at most `limit` mails); returns what happened, counted."""
        now = now or utcnow()
        claimed = self._claim(now, limit)
        done: Counter = Counter()
        if not claimed:
            return done
        try:
            self.transport.open()
        except TransportDown as exc:
            log.warning("outbox: %s; %d mail(s) wait", exc, len(claimed))
            for i, row in enumerate(claimed):  # noqa: B007 (i is read after a failure)
                done[self._retry(row, str(exc), now)] += 1
            return done
        try:
            for i, row in enumerate(claimed):  # noqa: B007 (i is read after a failure)
                done[self._deliver(row, now)] += 1
        except TransportDown as exc:
            log.warning("outbox: %s; the rest wait", exc)
            for row in claimed[i:]:
                done[self._retry(row, str(exc), now)] += 1
        finally:
            self.transport.close()
        return done

    def run(self, stop: threading.Event, *, poll_seconds: float = 5.0) -> None:
        from .webhook_sender import WebhookSender  # webhooks go out from the same process

        webhooks = WebhookSender(self.config)
        while not stop.is_set():
            try:
                if sum(self.send_due().values()) + sum(webhooks.deliver_due().values()) == 0:
                    stop.wait(poll_seconds)
            except Exception:  # the database, most likely: try again later
                log.exception("outbox: sending failed; trying again in %s s", poll_seconds)
                stop.wait(poll_seconds)

    def release_dead(self, now: dt.datetime) -> int:
        """Let go of mail claimed by senders on this machine whose process is gone (killed,
        crashed), rather than waiting for their leases to run out."""
        pending = Outbox.status == OutboxStatus.PENDING.value
        released = owners.release_dead(Outbox.lease_owner, lambda owner: Outbox.update(
            lease_owner=None, lease_until=None).where(Outbox.lease_owner == owner, pending).execute(),
            pending, Outbox.lease_until > now)
        if released:
            log.warning("outbox: released %d mail(s) claimed by senders that died", released)
        return released

    def _claim(self, now: dt.datetime, limit: int) -> list[Outbox]:
        self.release_dead(now)
        free = (Outbox.lease_until.is_null()) | (Outbox.lease_until < now)
        until = now + LEASE
        with db.atomic():
            pending = Outbox.status == OutboxStatus.PENDING.value
            select = Outbox.select(Outbox.id).where(pending, Outbox.next_attempt_at <= now, free).order_by(
                Outbox.next_attempt_at, Outbox.id).limit(limit)
            if not database.is_sqlite(db.obj):
                # Rows another sender is claiming right now are skipped, not waited for.
                select = select.for_update("FOR UPDATE SKIP LOCKED")
            due = [r.id for r in select]
            if not due:
                return []
            # Conditional: of two senders, only one gets each row; then read back what we got.
            Outbox.update(lease_owner=self.owner, lease_until=until).where(
                Outbox.id.in_(due), Outbox.status == OutboxStatus.PENDING.value, free).execute()
        claimed = list(Outbox.select().where(Outbox.id.in_(due), Outbox.lease_owner == self.owner,
                                             Outbox.lease_until == until).order_by(Outbox.next_attempt_at, Outbox.id))
        self._undeliverable = {a.email: a for a in AddressStatus.select().where(
            AddressStatus.email.in_({r.recipient for r in claimed}), AddressStatus.bounced_at.is_null(False))}
        return claimed

    def _deliver(self, row: Outbox, now: dt.datetime) -> str:
        bounced = self._undeliverable.get(row.recipient)
        if bounced is not None:
            return self._finish(row, OutboxStatus.FAILED.value, f"not sent: {row.recipient} is marked undeliverable "
                                               f"since {bounced.bounced_at:%Y-%m-%d} ({bounced.bounce_reason})")
        if row.raw is None:  # a notice: rendered now, and kept, so a retry sends the same bytes
            try:
                row.raw = compose(self.config, row)
            except (ValueError, MessageError) as exc:
                return self._finish(row, OutboxStatus.FAILED.value, f"cannot build this mail: {exc}")
            Outbox.update(raw=row.raw).where(Outbox.id == row.id).execute()
        try:
            self._send(row)
        except Refused as exc:
            if not exc.permanent:
                return self._retry(row, str(exc), now)
            judged = deliverability.verdict(code=exc.code, text=str(exc))
            if judged.size and row.spec and self._send_smaller(row, now):
                return self._finish(row, OutboxStatus.SENT.value, f"sent without its files: {exc}", sent_at=utcnow())
            if not judged.marks:  # this mail failed; the address stays in use
                self._tell_ticket(row, f"Mail to {row.recipient} was refused: {exc}. The address stays in use "
                                       f"({judged.why}).", now)
                return self._finish(row, OutboxStatus.FAILED.value, f"{exc} ({judged.why})")
            self._mark_undeliverable(row.recipient, str(exc), now)
            self._undeliverable[row.recipient] = AddressStatus(email=row.recipient, bounced_at=now,
                                                               bounce_reason=str(exc))
            self._tell_ticket(row, f"Mail to {row.recipient} was refused: {exc}. No more mail goes to this address.",
                              now)
            return self._finish(row, OutboxStatus.FAILED.value, str(exc))
        log.info("outbox: sent %s to %s", row.message_id, row.recipient,
                 extra=about(row.message_id, row.ticket_id, recipient=row.recipient, outcome=OutboxStatus.SENT.value))
        return self._finish(row, OutboxStatus.SENT.value, "", sent_at=utcnow())

    def _send(self, row: Outbox) -> None:
        """Hand the mail to the transport, with a signed return path naming this row as its
        envelope sender when it is sent from a support address (a delivery report that comes
        back on it proves which mail failed: inbox_worker.lookup.bounce_proof)."""
        mail_from = row.mail_from
        if tokens.is_own_address(mail_from, self.config.support_addresses) and "+" not in mail_from:
            mail_from = tokens.return_path(mail_from, self.config.secret_key, row.id)
        self.transport.send(mail_from, row.recipient, bytes(row.raw), row.message_id)

    def _send_smaller(self, row: Outbox, now: dt.datetime) -> bool:
        """A notice the server refused as too large, once more without its files (listed, with
        the link to the ticket, instead). True when the server took it."""
        try:
            smaller = compose(self.config, row, files=False)
        except (ValueError, MessageError):
            return False
        if len(smaller) >= len(bytes(row.raw)):
            return False
        row.raw = smaller
        Outbox.update(raw=smaller).where(Outbox.id == row.id).execute()
        try:
            self._send(row)
        except Refused:
            return False
        return True

    @staticmethod
    def _tell_ticket(row: Outbox, text: str, now: dt.datetime) -> None:
        """The ticket shows why a participant did not get a mail."""
        if row.ticket_id:
            Message.create(ticket=row.ticket_id, kind=MessageKind.SYSTEM.value, author_email="",
                           subject="", body_text=text, thread_rule="delivery", created_at=now)

    def _finish(self, row: Outbox, status: str, error: str, *, sent_at=None) -> str:
        Outbox.update(status=status, last_error=error[:2000], sent_at=sent_at, attempts=Outbox.attempts + 1,
                      lease_owner=None, lease_until=None).where(Outbox.id == row.id).execute()
        if status == OutboxStatus.FAILED.value:
            log.warning("outbox: mail %s to %s failed: %s", row.message_id, row.recipient, error,
                        extra=about(row.message_id, row.ticket_id, recipient=row.recipient, outcome=status))
        return status

    def _retry(self, row: Outbox, error: str, now: dt.datetime) -> str:
        attempts = row.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            return self._finish(row, OutboxStatus.FAILED.value, f"gave up after {attempts} attempts: {error}")
        Outbox.update(attempts=attempts, last_error=error[:2000], next_attempt_at=now + backoff(attempts),
                      lease_owner=None, lease_until=None).where(Outbox.id == row.id).execute()
        return "retry"

    @staticmethod
    def _mark_undeliverable(address: str, reason: str, now: dt.datetime) -> None:
        with db.atomic():
            status, _ = AddressStatus.get_or_create(email=address)
            AddressStatus.update(bounced_at=now, bounce_reason=reason[:2000],
                                 bounce_count=AddressStatus.bounce_count + 1).where(
                AddressStatus.id == status.id).execute()
