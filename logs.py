"""Log lines for operators: plain text or JSON, with the message and ticket they are about.

`configure(level, fmt)` is called once by the CLI (HELPDESK_LOG_FORMAT=text|json,
HELPDESK_LOG_LEVEL). A line about a message carries `extra={"message_id": ...,
"ticket": ...}`; the text format appends them as `message_id=<...> ticket=HD-12`, the
JSON format as fields, so a grep or a log shipper finds every line about one message.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys

FIELDS = ("message_id", "ticket", "uid", "mailbox", "outcome", "recipient")


def about(message_id: str | None = None, ticket: int | None = None, **more) -> dict:
    """`extra=` for a log call about one message (and its ticket)."""
    return {"message_id": message_id, "ticket": ticket, **more}


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = [f"{name}={_quoted(getattr(record, name))}" for name in FIELDS
                 if getattr(record, name, None) not in (None, "")]
        if not pairs:
            return line
        head, sep, rest = line.partition("\n")  # a traceback stays below the line
        return f"{head} {' '.join(pairs)}{sep}{rest}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for name in FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                entry[name] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _quoted(value) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (not text or any(c in text for c in ' "=')) else text


def configure(level: int, fmt: str = "text", stream=None) -> None:
    if fmt not in ("text", "json"):
        raise ValueError(f"HELPDESK_LOG_FORMAT: use 'text' or 'json', not {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
