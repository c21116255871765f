"""WTForms' own messages (web/forms.PortalForm) come in the reader's language, from a
catalogue kept per language: Polish for one request, English for the next, Polish again."""
from __future__ import annotations

from flask import request, session

from helpdesk.web import forms


def test_wtforms_own_messages_are_in_each_readers_language(app):
    for language, expected in (("pl", "Nieprawidłowa data"), ("en", "Not a valid date value."),
                               ("pl", "Nieprawidłowa data")):
        with app.test_request_context("/staff/reports?start=2026-13-45"):
            session["lang"] = language
            form = forms.ReportPeriodForm(request.args)
            assert not form.validate()
            assert form.start.errors == [expected]


def test_every_portal_form_takes_its_messages_from_the_kept_catalogues(app):
    found = [f for f in vars(forms).values()
             if isinstance(f, type) and issubclass(f, forms.FlaskForm) and f is not forms.FlaskForm]
    assert len(found) > 30
    assert all(issubclass(f, forms.PortalForm) for f in found)
    with app.test_request_context("/"):
        for form_class in found:
            form = form_class()
            assert form.meta.get_translations(form) is forms.WTFORMS_MESSAGES, form_class
