"""`make_mail(**headers)`: a small raw message for one-off test cases."""
from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


def make_mail(
    body: str = "Hello,\n\nthe printer is broken.\n",
    *,
    html: str | None = None,
    attachments: list[tuple[str, str, bytes]] = (),
    **headers: str,
) -> bytes:
    """Raw bytes of a message. Header names use underscores (In_Reply_To=...).
    Defaults: From, To support@helpdesk.localhost, Subject, Date, Message-ID."""
    msg = EmailMessage()
    defaults = {
        "From": "Jan Kowalski <jan@example.com>",
        "To": "support@helpdesk.localhost",
        "Subject": "Printer broken",
        "Date": format_datetime(dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.timezone.utc)),
        "Message_ID": make_msgid(domain="example.com"),
    }
    for name, value in {**defaults, **headers}.items():
        if value is None:
            continue
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, ctype, payload in attachments:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()
