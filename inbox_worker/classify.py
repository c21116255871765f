"""Classify: is this mail from a person, or from a machine?

In: an `Inbound`, our support addresses, whether its Message-ID is one we sent, and
the name of our loop header. Out: a `Classification` (normal | loop | bounce |
autoreply) with a human-readable reason naming the header or rule that matched.
Pure: no I/O, never raises for any `Inbound`.

The rules are the ordered table `RULES` below; the first that returns wins. Loops
come first (our own mail must never open a ticket), bounces before auto-replies
(MTAs mark their DSNs Auto-Submitted too).
"""
from __future__ import annotations

import re

from helpdesk.domain import senders, tokens

from .dsn import BOUNCE_SUBJECT, FAILURE_WORDING
from .message import NORMAL, Classification, Inbound, MailKind

_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-reply", "x-mail-autoreply")
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply", "autoreply"}
# Out-of-office and auto-reply subjects, as mail programs write them, in English, Polish and German.
_AUTOREPLY_SUBJECT = re.compile(
    r"""^\s*(?:
          out\s+of\s+(?:the\s+)?office | automatic\s+reply | auto(?:matic)?[-\s]?(?:reply|response)
        | autoreply | auto: | vacation\s*(?:reply|message|notice)? | away\s+from\s+(?:the\s+)?office
        | odpowied[źz]\s+automatyczna | automatyczna\s+odpowied[źz] | nieobecno[śs][ćc] | poza\s+biurem
        | urlop | abwesenheitsnotiz | automatische\s+antwort | abwesend
        )""",
    re.VERBOSE | re.IGNORECASE,
)


def classify(inbound: Inbound, *, support_addresses: tuple[str, ...], own_message_id: bool = False,
             loop_header: str = "X-Helpdesk-Loop") -> Classification:
    """The kind of this mail, by the first rule in `RULES` that recognises it."""
    for rule in RULES:
        found = rule(inbound, support_addresses, own_message_id, loop_header.lower())
        if found is not None:
            return found
    return NORMAL


# --- loops: mail we sent, coming back ----------------------------------------------------

def our_loop_header(inbound, support, own_id, loop_header):
    for value in inbound.header_all(loop_header):
        if any(tokens.is_own_address(a, support) for a in re.findall(r"[^\s<>,;]+@[^\s<>,;]+", value)):
            return Classification(MailKind.LOOP, f"{loop_header} header names our address: {value}")
    for name, _ in inbound.headers:
        if name.startswith("x-helpdesk-"):
            return Classification(MailKind.LOOP, f"{name} header: we sent this mail")
    return None


def our_message_id(inbound, support, own_id, loop_header):
    if own_id:
        return Classification(MailKind.LOOP, f"Message-ID {inbound.message_id} is one we sent")
    return None


def from_ourselves(inbound, support, own_id, loop_header):
    if inbound.from_addr and tokens.is_own_address(inbound.from_addr, support):
        return Classification(MailKind.LOOP, f"From {inbound.from_addr} is our own support address")
    return None


# --- bounces -----------------------------------------------------------------------------

def delivery_report(inbound, support, own_id, loop_header):
    report = inbound.report
    if report is None:
        return None
    who = ", ".join(report.failed[:3]) or "unknown recipient"
    detail = " ".join(x for x in (report.status, report.diagnostic[:120]) if x)
    if report.action == "delayed" or not report.permanent:
        return Classification(MailKind.BOUNCE, f"delivery report: delayed or temporary failure for {who} {detail}".strip())
    return Classification(MailKind.BOUNCE, f"delivery report: permanent failure for {who} {detail}".strip())


def null_sender_report(inbound, support, own_id, loop_header):
    if inbound.return_path != "":
        return None
    if not FAILURE_WORDING.search(inbound.text[:8000]):
        return None
    if _is_dsn(inbound):
        return None  # parse read its delivery-status: nobody failed
    if BOUNCE_SUBJECT.search(inbound.subject):
        return Classification(MailKind.BOUNCE, f"null Return-Path <> and bounce subject {inbound.subject[:80]!r}")
    return None


def daemon_sender(inbound, support, own_id, loop_header):
    if not senders.MAIL_DAEMON.match(inbound.from_addr) or _is_dsn(inbound):
        return None  # a DSN without a delivery report says every recipient got the mail
    if BOUNCE_SUBJECT.search(inbound.subject) or FAILURE_WORDING.search(inbound.text[:8000]):
        return Classification(MailKind.BOUNCE, f"From {inbound.from_addr} with delivery-failure wording")
    return None


# A mailing-list manager refusing a mail from a non-member (fml, ezmlm, Mailman): the mail
# we sent was not delivered, so it is a bounce, not a person writing.
_LIST_MANAGER_HEADERS = ("x-mlserver", "x-ml-info", "mailing-list", "x-mailman-version", "x-ml-name")
_NOT_A_MEMBER = re.compile(
    r"""\b(?:are|is)\s+not\s+(?:a\s+)?member | not\s+a\s+(?:subscriber|member)\s+of
      | non[-\s]?member\s+(?:post|submission)s?\s+(?:are\s+)?(?:not\s+allowed|rejected|refused)
      | posting\s+(?:to\s+this\s+list\s+)?(?:is\s+)?restricted\s+to\s+(?:list\s+)?members""",
    re.VERBOSE | re.IGNORECASE,
)


def list_rejection(inbound, support, own_id, loop_header):
    if not any(inbound.header(name) is not None for name in _LIST_MANAGER_HEADERS):
        return None
    if _NOT_A_MEMBER.search(inbound.subject) or _NOT_A_MEMBER.search(inbound.text[:4000]):
        return Classification("bounce", "a mailing list refused our mail: its sender is not a member")
    return None


# --- auto-replies ------------------------------------------------------------------------

def auto_submitted(inbound, support, own_id, loop_header):
    value = (inbound.header("auto-submitted") or "").strip().lower()
    if value and not value.startswith("no"):
        return Classification(MailKind.AUTOREPLY, f"Auto-Submitted: {value}")
    return None


def autoreply_headers(inbound, support, own_id, loop_header):
    for name in _AUTO_HEADERS:
        if inbound.header(name) is not None:
            return Classification(MailKind.AUTOREPLY, f"{name} header present")
    return None


def machine_report(inbound, support, own_id, loop_header):
    """Read receipts, spam feedback (ARF) and DSNs that say delivered are not people writing."""
    if inbound.content_type != "multipart/report":
        return None
    kind = _report_type(inbound) or "unknown"
    return Classification(MailKind.AUTOREPLY, f"multipart/report; report-type={kind}")


def bulk_precedence(inbound, support, own_id, loop_header):
    value = (inbound.header("precedence") or "").strip().lower()
    if value in _BULK_PRECEDENCE:
        return Classification(MailKind.AUTOREPLY, f"Precedence: {value}")
    return None


def mailing_list(inbound, support, own_id, loop_header):
    value = inbound.header("list-id")
    if value is not None:
        return Classification(MailKind.AUTOREPLY, f"List-Id: {value[:80]}")
    return None


def out_of_office_subject(inbound, support, own_id, loop_header):
    if _AUTOREPLY_SUBJECT.search(inbound.subject):
        return Classification(MailKind.AUTOREPLY, f"out-of-office subject {inbound.subject[:80]!r}")
    return None


def _is_dsn(inbound: Inbound) -> bool:
    return inbound.content_type == "multipart/report" and "delivery-status" in _report_type(inbound)


def _report_type(inbound: Inbound) -> str:
    m = re.search(r"report-type\s*=\s*\"?([\w-]+)", inbound.header("content-type") or "", re.IGNORECASE)
    return m[1].lower() if m else ""


RULES = (
    our_loop_header, our_message_id, from_ourselves,
    delivery_report, null_sender_report, daemon_sender, list_rejection,
    auto_submitted, autoreply_headers, machine_report, bulk_precedence, mailing_list, out_of_office_subject,
)
