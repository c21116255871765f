"""TNEF: unpack an Outlook winmail.dat (application/ms-tnef) into a body and attachments.

In: the decoded bytes of the winmail.dat part. Out: a `Tnef` (plain body, HTML
body, attachments as (filename, payload)), or None when the data is not TNEF or
is too broken to read; the caller then keeps the winmail.dat as it is. Pure:
never raises for bad data, never writes anything.
"""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

from tnefparse import TNEF

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tnef:
    text: str = ""
    html: str = ""
    attachments: tuple[tuple[str, bytes], ...] = ()


def _text(value, codepage: str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip("\x00")
    for encoding in (codepage, "utf-8", "cp1252"):
        if not encoding:
            continue
        try:
            return bytes(value).decode(encoding).strip("\x00")
        except (UnicodeDecodeError, LookupError):
            continue
    return bytes(value).decode("latin-1").strip("\x00")


def unpack(data: bytes) -> Tnef | None:
    """The body and attachments inside a winmail.dat; None when it cannot be read."""
    try:
        tnef = TNEF(data, do_checksum=False)
        attachments = []
        for attachment in tnef.attachments:
            name = attachment.long_filename()
            attachments.append((_text(name, tnef.codepage), bytes(attachment.data or b"")))
        return Tnef(
            text=_text(tnef.body, tnef.codepage),
            html=_text(tnef.htmlbody, tnef.codepage),
            attachments=tuple(attachments),
        )
    # tnefparse reports truncated or malformed data through any of these.
    except (ValueError, IndexError, KeyError, TypeError, struct.error, UnicodeError, AttributeError) as exc:
        log.info("winmail.dat not unpacked: %s", exc)
        return None
