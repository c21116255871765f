"""A select's <option>s as WTForms writes them, built once per set of choices and selected
value: WTForms formats every option through `html_params` and `Markup` on every page (the
staff ticket's status and assignee selects were ~10% of its CPU). The key is the exact
input, labels as translated, so another language or an engineer renamed is another entry."""
from __future__ import annotations

import functools

from markupsafe import Markup, escape


@functools.lru_cache(maxsize=512)
def options(choices: tuple[tuple[str, str], ...], selected: str) -> Markup:
    """`<option value="v">label</option>` for each (value, label); `selected` marks its value's."""
    return Markup("".join(
        f'<option selected value="{escape(value)}">{escape(label or value)}</option>' if value == selected else
        f'<option value="{escape(value)}">{escape(label or value)}</option>' for value, label in choices))
