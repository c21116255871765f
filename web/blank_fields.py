"""A form field's HTML kept for when it is blank: no data, nothing typed, no error; and a
form's CSRF field without the form (a page's small forms need nothing else on a GET).

Then what the `field` macro (templates/_forms.html) prints is a function of the form's class,
the field's name, its label and hint as translated, and the attributes the template passes:
the key. WTForms formats every attribute through `html_params` and `Markup.format` on every
page (the staff ticket's eight blank fields were ~1 ms of its 13). A field with data, typed
text or an error, a select (its choices are set per page) or a CSRF token is rendered each time.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from flask import current_app
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

# Field types whose blank HTML depends on nothing but the key (not selects, not hidden values).
KEPT_TYPES = frozenset({"StringField", "TextAreaField", "IntegerField", "BooleanField", "EmailField",
                        "FileField", "MultipleFileField"})
MAX_KEPT = 1024  # a few forms x languages x attributes; past it, rendered as before

_kept: dict[tuple, Markup] = {}
_lock = threading.Lock()


def blank_field(render: Callable[..., Markup], field, **attrs) -> Markup:
    """`render(field, **attrs)` (the `field` macro), kept per key while the field is blank."""
    data = field.data
    blank = data is None or data is False or data == "" or data == []  # not 0: an IntegerField prints it
    if field.type not in KEPT_TYPES or field.errors or getattr(field, "raw_data", None) or not blank:
        return render(field, **attrs)
    key = (type(getattr(field, "_form", None)), field.name, field.type, str(field.label.text),
           str(field.description or ""), _attributes(attrs))
    return _kept_or_rendered(key, lambda: render(field, **attrs))


def blank_form_field(render: Callable[..., Markup], form_class: type, name: str, prefix: str = "",
                     **attrs) -> Markup:
    """`render(form_class(prefix=prefix).<name>, **attrs)` for a form shown blank (not built
    from a request's data): kept per form class, field, language and attributes, so the form
    is built only the first time (building one costs ~0.2 ms, a ticket page had five)."""
    key = (form_class, prefix, name, str(get_locale()), _attributes(attrs))
    return _kept_or_rendered(
        key, lambda: render(form_class(formdata=None, prefix=prefix, meta={"csrf": False})[name], **attrs))


def _attributes(attrs: dict) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in attrs.items()))


def _kept_or_rendered(key: tuple, render: Callable[[], Markup]) -> Markup:
    """The HTML kept for `key`, else `render()`'s, kept while there is room."""
    html = _kept.get(key)
    if html is None:
        html = Markup(render())
        if len(_kept) < MAX_KEPT:
            with _lock:
                _kept[key] = html
    return html


def csrf_input(prefix: str = "") -> Markup:
    """The hidden CSRF field a FlaskForm with this prefix renders (the token is the request's,
    the same for every form of it); nothing when CSRF is off, as the forms then render."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return Markup("")
    return Markup('<input id="{0}csrf_token" name="{0}csrf_token" type="hidden" value="{1}">').format(
        f"{prefix}-" if prefix else "", generate_csrf())
