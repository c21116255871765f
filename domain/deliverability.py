"""Deliverability: does an answer about one of our mails say its recipient's address is dead?

In: what a server said about one mail: an SMTP reply code (our own server's answer) and
its text, or a delivery report's status ("5.1.1") and diagnostic.
Out: a `Verdict`: whether the address may be marked undeliverable, and why (or why not).
Pure: no I/O, never raises.

Only a permanent failure of the address itself marks it: an unknown mailbox or domain
(5.1.x), a disabled mailbox (5.2.1), or a bare 550/551/553 that names no other cause.
Never: a temporary answer (4xx, 4.x.x), a refusal for size (552, 5.3.4, 5.2.3), a full
mailbox (5.2.2), a refusal of the content or by policy (5.7.x: spam filters, our own
relay refusing us), or a system or network error (5.3.x, 5.4.x, 5.5.x, 5.6.x): the
address still works, only this mail did not.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_CODE = re.compile(r"(?:^|\s)([245]\d\d)(?:[ -]|$)")
# Wording that says "too large" when a server gives neither 552 nor 5.3.4.
_SIZE_WORDING = re.compile(
    r"""too\s+(?:large|big|long) | size\s+(?:limit|exceeds|exceeded) | exceeds?\s+(?:the\s+)?(?:maximum\s+)?
        (?:message\s+)?size | message\s+size | maximum\s+(?:message\s+)?size | message\s+length""",
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    marks: bool  # the address may be marked undeliverable
    why: str

    @property
    def size(self) -> bool:
        return self.why.startswith("too large")


def verdict(*, code: int | None = None, status: str = "", text: str = "") -> Verdict:
    """Whether a failure (SMTP `code`, enhanced `status`, the server's `text`) marks the address."""
    found = _STATUS.search(status) or _STATUS.search(text)
    klass, subject, detail = (int(found[1]), int(found[2]), int(found[3])) if found else (None, None, None)
    if code is None:
        m = _CODE.search(text)
        code = int(m[1]) if m else None
    if (code is not None and 400 <= code < 500) or klass == 4:
        return Verdict(False, "temporary failure: the address is not marked")
    if code == 552 or (subject, detail) in ((3, 4), (2, 3)) or _SIZE_WORDING.search(text):
        return Verdict(False, "too large for the receiving server: the address is not marked")
    if klass is None and code is None:
        return Verdict(False, "no status or reply code: the address is not marked")
    if klass == 2 or (code is not None and code < 400):
        return Verdict(False, "not a failure")
    if subject == 1 or (subject, detail) == (2, 1):
        return Verdict(True, "the address does not exist or is disabled")
    if subject == 2 and detail == 2:
        return Verdict(False, "mailbox full: the address is not marked")
    if subject in (None, 0) and code in (None, 550, 551, 553):
        return Verdict(True, "permanent refusal of the recipient")
    return Verdict(False, f"refused for a reason other than the address ({klass}.{subject}.{detail}): "
                          "the address is not marked")
