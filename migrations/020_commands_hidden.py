"""Issue 17 (item 4): an engineer's #commands are never shown to a customer.

Replies by mail stored before this kept the command lines (`#close`, `#assign me`, ...)
in the full text (shown folded under "Show the quoted text") and in the HTML part; only
the displayed text was without them. This takes them out of the stored engineers' mail as
the worker now does at ingest (`domain.commands`); the raw mail keeps them.
"""

import peewee as pw
from peewee_migrate import Migrator

from helpdesk.domain.commands import commands_of, html_has_commands, html_without_commands

BATCH = 500


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    if fake:
        return
    p = database.param
    last = 0
    while True:
        rows = database.execute_sql(
            "SELECT id, body_text, body_display, body_html FROM message WHERE kind IN ('staff', 'note') "
            f"AND inbound_id IS NOT NULL AND id > {p} ORDER BY id LIMIT {BATCH}", (last,)).fetchall()
        if not rows:
            return
        for id_, text, display, html in rows:
            last = id_
            found, stripped = commands_of(text or "")
            if not found.any:
                continue
            if html is not None:
                html = html_without_commands(html)
                html = None if html_has_commands(html) else html
            display = commands_of(display or "")[1] or ""
            database.execute_sql(
                f"UPDATE message SET body_text = {p}, body_display = {p}, body_html = {p} WHERE id = {p}",
                (stripped, "" if display == stripped else display, html, id_))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    pass  # the lines taken out are in the raw mail; nothing to put back
