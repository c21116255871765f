"""Who is reading the knowledge base in this request (domain.kb.Reader, once per
request), and the articles the new-ticket form suggests for a contract's devices."""
from __future__ import annotations

from flask import g
from flask_login import current_user

from helpdesk.domain import kb
from helpdesk.models import Article, DeviceLine


def reader() -> kb.Reader:
    if "kb_reader" not in g:
        g.kb_reader = kb.reader_for(current_user, g.now.date())
    return g.kb_reader


def suggestions_for(lines: list[DeviceLine]) -> tuple[list[tuple[str, list[Article]]], dict[int, str]]:
    """For the new-ticket form: (model, its articles) for each distinct model of the
    contract's lines, and which model each line is (for the script that shows only the
    chosen device's)."""
    models = list(dict.fromkeys(line.model for line in lines if line.model))[:kb.MAX_DEVICE_MODELS]
    found = kb.suggestions(reader(), models) if models else {}
    return [(m, found.get(m, [])) for m in models], {line.id: line.model for line in lines}
