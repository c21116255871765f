"""What a Polish reader must never see, and how to find it in a page or a mail.

`offences(text)` names every internal name (a status, role, kind, audit action, ... from
`domain.labels`, or any snake_case word) and every English message of the catalogue
(a msgid whose Polish differs) in a text; `visible_text(html)` is what a reader sees of a
page: its text and the attributes read aloud or shown (title, placeholder, aria-label, alt,
button values), without scripts, styles, what is marked in another language (lang="en"), <code>/<pre>/<kbd>/<samp> (commands, raw mail and
identifiers shown as such) and anything marked translate="no" (a person's own words).
"""
from __future__ import annotations

import functools
import re
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.pofile import read_po

from helpdesk.domain import i18n, labels

CATALOGUE = Path(__file__).resolve().parent.parent / "web" / "translations" / "pl" / "LC_MESSAGES" / "messages.po"
SKIPPED = {"script", "style", "code", "pre", "kbd", "samp", "template", "textarea"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SHOWN_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
# Internal names that are Polish words too (or names nobody translates).
POLISH_TOO = {"partner", "portal", "system", "premium", "mail", "webhook", "api", "status", "none",
              "pl", "en"}  # language codes are shown as codes (canned answers' languages)
SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
URLS_AND_ADDRESSES = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+|\S+@\S+|(?<!\w)/[\w/.?=&%-]+", re.IGNORECASE)
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|%%")


class _Visible(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[bool] = []  # per open element: hidden from the check

    def _hidden(self) -> bool:
        return bool(self.stack) and self.stack[-1]

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        hidden = (self._hidden() or tag in SKIPPED or values.get("translate") == "no"
                  or (tag != "html" and not (values.get("lang") or "pl").startswith("pl")))  # English on purpose
        if not hidden:
            self.parts.extend(values[a] for a in SHOWN_ATTRIBUTES if values.get(a))
            if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
                self.parts.append(values["value"])
        if tag not in VOID:
            self.stack.append(hidden)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not self._hidden():
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(parser.parts).split())


@functools.lru_cache(maxsize=1)
def internal_words() -> frozenset[str]:
    """Every internal name of `domain.labels` that a Polish text cannot contain as a word."""
    words = set()
    for table in labels.KINDS.values():
        words.update(value for value, message in table.items() if value.isalpha() and value.islower()
                     and i18n.gettext("pl", message).lower() != value)  # "integrator" is Polish too
    return frozenset(words - POLISH_TOO)


@functools.lru_cache(maxsize=1)
def english_messages() -> re.Pattern:
    """One pattern for every English text of the catalogue whose Polish is different (or
    missing): its literal parts between placeholders, as whole words."""
    with open(CATALOGUE, "rb") as f:
        catalogue = read_po(f)
    parts = set()
    for message in catalogue:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in ids:
            if not msgid or msgid in strings:
                continue
            for part in PLACEHOLDER.split(msgid):
                part = " ".join(part.split()).strip(" .,:;()\"'“”-–—…?!")
                if len(part) >= 4 and re.search(r"[A-Za-z]{3}", part) and part not in POLISH_PARTS:
                    parts.add(part)
    ordered = sorted(parts, key=len, reverse=True)
    # Whole words: not inside a longer word or a dotted name (ticket.created).
    return re.compile(r"(?<![\w.-])(?:" + "|".join(re.escape(p) for p in ordered) + r")(?![\w-]|\.\w)")


# English message parts that are also what a Polish page says (names, abbreviations).
POLISH_PARTS = {"NIP", "HTML", "E-mail", "Email", "Hikvision", "Satel", "Fortinet", "Synology", "Markdown", "Chromium"}


def offences(text: str) -> list[str]:
    """What in the text is an internal name or an English message (each once)."""
    plain = URLS_AND_ADDRESSES.sub(" ", text)
    found = []
    for token in re.findall(r"[\w'.-]+", plain):
        token = token.strip("'.-")
        if "." in token:
            continue  # a dotted name (a webhook event, a file, a host) is shown as it is
        if SNAKE.fullmatch(token) or token in internal_words():
            found.append(token)
    found.extend(m.group(0) for m in english_messages().finditer(plain))
    return list(dict.fromkeys(found))


def context_of(text: str, word: str, width: int = 60) -> str:
    at = text.find(word)
    return text[max(0, at - width):at + len(word) + width] if at >= 0 else ""
