"""Addresses no person reads: mail servers' own senders, bounce handlers, no-reply boxes.

One table of local parts, read three ways: `MAIL_DAEMON` (a server's own sender, which
the mail worker's classifier checks for failure wording), `BOUNCE_SENDER` (any sender
of delivery reports, for the DSN reader) and `UNREAD` (where no acknowledgement goes,
tags allowed: noreply+x@). Pure: patterns only.
"""
from __future__ import annotations

import re

DAEMON = r"mailer[-_.]?daemon | mail[-_.]?daemon | postmaster | mdaemon | double[-_.]?bounce"  # the server itself
BOUNCE_HANDLER = r"""mail[-_.]?delivery[-_.]?(?:sub)?system | mail[-_.]?administrator
                     | bounces? | mailerd? | smtp[-_.]?gateway"""  # bounce senders by another name
NO_REPLY = r"no[-_.]?reply | do[-_.]?not[-_.]?reply"

MAIL_DAEMON = re.compile(rf"^(?:{DAEMON})@", re.VERBOSE | re.IGNORECASE)
BOUNCE_SENDER = re.compile(rf"^(?:{DAEMON} | {BOUNCE_HANDLER})(?:@|$)", re.VERBOSE | re.IGNORECASE)
UNREAD = re.compile(
    rf"""^(?:{NO_REPLY} | mailer[-_.]?daemon | postmaster | bounces?)  # the local part
         (?:[+._-][^@]*)?@                                              # tags, then the domain
    """,
    re.VERBOSE | re.IGNORECASE,
)
