"""Delivery reports: what a bounce says about the mail we sent.

In: the parsed compat32 `Message`, its decoded header items and its text, as
`parse` has them.
Out: a `DeliveryReport` (failed recipients, permanent or delayed, status,
diagnostic, the Message-ID of our returned mail) when the mail is a bounce: an
RFC 3464 delivery-status part, a Sieve rejection notice, or an MTA's plain text
(qmail, Exim, Exchange, ...); None for any other mail, including DSNs that say
delivered and read receipts. Also the bounce wording `classify` matches on.
Never: raises for a malformed report, or does I/O.
"""
from __future__ import annotations

import re
from email.message import Message

from helpdesk.domain.senders import BOUNCE_SENDER

from .body import payload_of
from .decoding import decode_bytes, unfold
from .headers import clean_address, content_type, first_address, normalise_message_id
from .message import DeliveryReport


def _fields(text: str) -> list[dict[str, str]]:
    """RFC 3464 style field blocks ("Name: value", continuation lines, blank line between)."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
        elif line[:1] in " \t" and last:
            current[last] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            last = name.strip().lower()
            current.setdefault(last, value.strip())
    if current:
        blocks.append(current)
    return blocks


def _part_as_text(part: Message) -> str:
    payload = part.get_payload()
    if isinstance(payload, list):  # compat32 parses delivery-status into header blocks
        blocks = []
        for block in payload:
            if isinstance(block, Message):
                fields = "".join(f"{k}: {unfold(str(v))}\n" for k, v in block.raw_items())
                inner = payload_of(block).strip()  # a block some MTA base64-encoded
                blocks.append(fields + ("\n" + decode_bytes(inner) + "\n" if inner else ""))
        return "\n".join(blocks)
    return decode_bytes(payload_of(part), None)


def _address_of(field_value: str) -> str:
    value = field_value.split(";", 1)[-1]
    return clean_address(value.strip().strip("<>"))


_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_SMTP_CODE = re.compile(r"\s*([45]\d\d)\b")  # "Status: 553 ..." from MTAs that ignore RFC 3464


def _dsn_report(text: str) -> DeliveryReport | None:
    """The report in delivery-status fields; None when no recipient failed or waits."""
    recipients = [b for b in _fields(text) if "final-recipient" in b or "original-recipient" in b]
    failing = []
    for block in recipients:
        action = block.get("action", "").split()[0].lower() if block.get("action", "").split() else ""
        found = (_STATUS.search(block.get("status", "")) or _STATUS.search(block.get("diagnostic-code", ""))
                 or _SMTP_CODE.match(block.get("status", "")))
        status = found[1] if found else ""
        if action in ("delivered", "relayed", "expanded") or (not action and status[:1] not in ("4", "5")):
            continue
        if action.startswith("fail") or action not in ("delayed", ""):  # "failure", or anonymised
            action = "failed"
        failing.append((block, action or ("failed" if status.startswith("5") else "delayed"), status))
    if not failing:
        return None
    failed_ones = [f for f in failing if f[1] == "failed"] or failing
    block, action, status = failed_ones[0]
    addresses = (_address_of(b.get("final-recipient") or b.get("original-recipient", "")) for b, _, _ in failed_ones)
    return DeliveryReport(
        failed=tuple(dict.fromkeys(a for a in addresses if a)),
        permanent=status.startswith("5") or (action == "failed" and not status.startswith("4")),
        status=status,
        diagnostic=block.get("diagnostic-code", "").partition(";")[2].strip() or block.get("diagnostic-code", ""),
        action=action,
    )


BOUNCE_SUBJECT = re.compile(
    r"""undeliver|undelivered|not\s+delivered|delivery\s+(?:status|failure|failed|has\s+failed|problem|report
        |notification|error)|returned\s+mail|failure\s+notice|mail\s+delivery|non[-\s]?delivery
        |could\s+not\s+(?:be\s+)?deliver|unzustellbar|nicht\s+zustellbar|non\s+remis|returned\s+to\s+sender
        |mail\s+system\s+error|delivery\s+warning|warning:\s+could\s+not\s+send|niedostarczon
        |message\s+(?:delayed|rejected|blocked)|delayed\s+mail|failed\s+mail|mail\s+failed
        |メールエラー|未達|配信(?:不能|エラー)|传输失败|投递失败|退信|无法(?:发送|投递|送达)""", re.VERBOSE | re.IGNORECASE)
# Sentences MTAs write when a mail could not be delivered; each one is strong enough alone.
FAILURE_WORDING = re.compile(
    r"""wasn'?t\s+able\s+to\s+deliver                   # qmail
      | could\s+not\s+be\s+delivered                   # Postfix, Exim
      | following\s+address(?:\(es\)|es)?\s+failed     # Exim
      | permanent\s+fatal\s+errors?                     # Sendmail
      | delivery\s+has\s+failed\s+to\s+these          # Exchange
      | did\s+not\s+reach\s+(?:some\s+or\s+all|the\s+following)  # Exchange
      | could\s+not\s+be\s+reached                     # Exchange, older
      | delivery\s+to\s+the\s+following\s+recipients?\s+(?:failed|has\s+been\s+delayed)
      | (?:user|recipient|mailbox|host)\s+(?:unknown|not\s+found|unavailable|does\s+not\s+exist)
      | unknown\s+(?:user|recipient|local\s+part)
      | no\s+such\s+(?:user|recipient|mailbox|address)
      | (?:unable|failed)\s+to\s+deliver
      | undeliverable
      | permanent\s+error | permanently\s+rejected | message\s+rejected
      | is\s+a\s+warning\s+message\s+only | not\s+(?:yet\s+)?been\s+delivered
      | delivery\s+(?:attempts\s+will\s+continue|is\s+delayed|has\s+been\s+delayed)
      | still\s+undelivered | will\s+(?:keep|continue)\s+trying | could\s+not\s+deliver
      | returned\s+mail | mail\s+delivery\s+failed | message\s+not\s+delivered
      | nie\s+(?:może\s+zostać|został[aoy]?)\s+dostarczon   # Polish
      | unzustellbar | konnte\s+nicht\s+zugestellt         # German
      | 送信できません | 配信できません | 届きませんでした          # Japanese
      | 无法(?:发送|投递|送达) | 投递失败 | 传输失败               # Chinese
      | error\s+delivering | failed\s+addresses | not\s+a\s+valid\s+(?:user|recipient|address|mailbox)
      | recipient\s+\S{0,80}\s*(?:is|was)\s+(?:invalid|rejected|unknown) | invalid\s+(?:recipient|mailbox|address)
      | following\s+recipients?.{0,40}(?:failed|aborted|delayed|rejected)
    """,
    re.VERBOSE | re.IGNORECASE,
)
DELAY_WORDING = re.compile(
    r"""is\s+a\s+warning\s+message\s+only | not\s+yet\s+been\s+delivered | still\s+undelivered
      | delivery\s+attempts\s+will\s+continue | will\s+(?:keep|continue)\s+(?:trying|to\s+try)
      | has\s+been\s+delayed | delivery\s+is\s+delayed | \(delay\) | delayed\s+mail | temporar(?:y|ily)\s+(?:failure|error|deferred)""",
    re.VERBOSE | re.IGNORECASE,
)
# Where the returned message starts in a plain text bounce.
_RETURNED = re.compile(
    r"""^(?:-+\s*(?:original\s+message|this\s+is\s+a\s+copy|below\s+this\s+line|returned\s+mail|message\s+text)
        | (?:return-path|received|message-id|mime-version|dkim-signature):\s)""",
    re.VERBOSE | re.IGNORECASE | re.MULTILINE,
)
_RECIPIENT_LINE = re.compile(
    r"""^[ \t]*(?:[*\u2022-][ \t]*)?<?(?P<addr>[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+)>?  # an address opening the line
        [ \t]*(?::|\(|$|\.\.\.|\s+-|\s+on\s|\s+\[)                    # then a colon, reason or nothing
    """,
    re.VERBOSE | re.MULTILINE,
)
_ADDRESS_AFTER_COLON = re.compile(r":[ \t]*<?([\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+)>?[ \t.]*$", re.MULTILINE)
_SMTP_REPLY = re.compile(r"^.*\b[45]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3}\b)?.*$", re.MULTILINE)
_MESSAGE_ID_LINE = re.compile(r"^[ \t>]*Message-ID:[ \t]*(<[^>\s]+>|\S+)", re.IGNORECASE | re.MULTILINE)


def _bounce_signs(headers: tuple, from_addr: str) -> int:
    """0: nothing says bounce; 1: the sender or the subject does; 2: both do."""
    get = dict(reversed(headers)).get
    from_value = get("from", "").lower()
    sender = bool(BOUNCE_SENDER.match(from_addr) or get("x-failed-recipients")
                  or any(w in from_value for w in ("mailer-daemon", "mail delivery", "postmaster"))
                  or (not from_addr and get("return-path", "").replace(" ", "") == "<>"))
    subject = bool(BOUNCE_SUBJECT.search(get("subject", "")))
    return sender + subject


def _non_dsn_report(text: str, headers: tuple, signs: int) -> DeliveryReport | None:
    cut = _RETURNED.search(text)
    head = text[:cut.start()] if cut and cut.start() > 40 else text[:8000]
    wording = FAILURE_WORDING.search(head)
    get = dict(reversed(headers)).get
    failed_header = get("x-failed-recipients", "")
    # A daemon's name and an SMTP status in the text (qmail's "550 5.1.1 x unknown") are enough too.
    smtp_status = bool(_STATUS.search(head) or _SMTP_REPLY.search(head)) and signs >= 1
    if not wording and not failed_header and signs < 2 and not smtp_status:
        return None
    dsn = _dsn_report(head)
    if dsn is not None:
        return dsn
    after = head[wording.start():] if wording else head
    addresses = [a.strip().lower() for a in failed_header.split(",") if "@" in a]
    addresses += [m["addr"].lower() for m in _RECIPIENT_LINE.finditer(head)]
    if not addresses:  # "User mailbox exceeds allowed size: a@b.c"
        addresses = [m[1].lower() for m in _ADDRESS_AFTER_COLON.finditer(head)]
    if not addresses and wording:  # "... delivering your mail to <x@y>." in a sentence
        addresses = [a.lower() for a in re.findall(r"<([^<>\s]+@[^<>\s]+)>", after[:400])]
    found = _STATUS.search(head)
    status = found[1] if found else ""
    smtp = _SMTP_REPLY.search(after)
    delayed = bool(DELAY_WORDING.search(head)) and not status.startswith("5")
    return DeliveryReport(
        failed=tuple(dict.fromkeys(a for a in addresses if clean_address(a)))[:50],
        permanent=not delayed and not status.startswith("4"),
        status=status,
        diagnostic=" ".join(smtp[0].split())[:500] if smtp else "",
        action="delayed" if delayed else "failed",
    )


def _returned_message_id(msg: Message, text: str) -> str:
    for part in msg.walk():
        ctype = content_type(part)
        if ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and inner[0].get("message-id"):
                return normalise_message_id(str(inner[0].get("message-id")))
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            m = _MESSAGE_ID_LINE.search(decode_bytes(payload_of(part)))
            if m:
                return normalise_message_id(m[1])
    m = _MESSAGE_ID_LINE.search(text)
    return normalise_message_id(m[1]) if m else ""


def _rejection_mdn(msg: Message, text: str) -> DeliveryReport | None:
    """A disposition notification a mail server sent when it refused the mail (Sieve reject)."""
    for part in msg.walk():
        if content_type(part) != "message/disposition-notification":
            continue
        for block in _fields(_part_as_text(part)):
            disposition = block.get("disposition", "").lower()
            if "automatic-action" in disposition and re.search(r"\b(?:deleted|failed|error)\b", disposition):
                if re.search(r"\brejected\b", text, re.IGNORECASE):
                    recipient = _address_of(block.get("final-recipient", ""))
                    return DeliveryReport(failed=(recipient,) if recipient else (), permanent=True,
                                          diagnostic=" ".join(text.split())[:500], action="failed")
    return None


def report_of(msg: Message, headers: tuple, text: str) -> DeliveryReport | None:
    """The delivery report a bounce carries: RFC 3464 fields, or an MTA's plain text."""
    top_type = content_type(msg)
    report_type = str(msg.get_param("report-type") or "").lower() if top_type == "multipart/report" else ""
    if report_type in ("feedback-report", "disposition-notification"):
        return _rejection_mdn(msg, text)  # spam feedback and read receipts are not bounces
    report = None
    dsn_parts = [p for p in msg.walk()
                 if content_type(p) in ("message/delivery-status", "message/global-delivery-status")]
    dsn_texts = [_part_as_text(part) for part in dsn_parts]
    for dsn_text in dsn_texts:
        report = _dsn_report(dsn_text)
        if report is not None:
            break
    if report is None and re.search(r"^(?:final|original)-recipient:", "\n".join(dsn_texts), re.I | re.M):
        return None  # a DSN that says delivered, relayed or expanded
    if report is None:
        pair = first_address(msg, "from")
        signs = _bounce_signs(headers, pair[1] if pair else "")
        if not signs:
            return None
        report = _non_dsn_report(text, headers, signs)
    if report is None:
        return None
    original = _returned_message_id(msg, text)
    return DeliveryReport(report.failed, report.permanent, report.status, report.diagnostic, original, report.action)
