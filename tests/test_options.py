"""web.options: a select's options, built once per (choices, selected), are exactly what
WTForms renders for the same field (the staff ticket's status and assignee selects)."""
from __future__ import annotations

import pytest
from wtforms import Form, SelectField
from wtforms.fields.choices import SelectChoice

from helpdesk.web.options import options

CHOICES = (("", "nikt"), ("3", "Inżynier <1>"), ("4", 'Ala "& Ola'), ("x&y", ""))


@pytest.mark.parametrize("selected", ["", "3", "4", "x&y", "absent"])
def test_the_options_are_what_wtforms_renders(selected):
    class Chooser(Form):
        pick = SelectField("Pick", choices=[SelectChoice(value, label) for value, label in CHOICES])

    html = str(Chooser(data={"pick": selected}).pick())
    inner = html[html.index(">") + 1:html.rindex("</select>")]
    assert str(options(CHOICES, selected)) == inner


def test_another_selected_value_or_label_is_another_entry():
    assert 'selected value="3"' in options(CHOICES, "3") and 'selected value="4"' not in options(CHOICES, "3")
    renamed = (("", "nikt"), ("3", "Inżynier Nowy"))
    assert "Inżynier Nowy" in options(renamed, "3")
