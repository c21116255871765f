"""web.blank_fields: a blank field's HTML is kept per (form, field, label and hint as
translated, attributes) and is exactly what the `field` macro prints; a field with data,
typed text or an error is rendered each time (never another reader's text)."""
from __future__ import annotations

from flask import session

from helpdesk.models import Ticket
from helpdesk.web import blank_fields, forms
from tests.test_portal_tickets import open_ticket, signed_in, world  # noqa: F401 (a fixture)

KEPT = '{% from "_forms.html" import field %}{{ blank_field(field, f, rows=3) }}'
PLAIN = '{% from "_forms.html" import field %}{{ field(f, rows=3) }}'


def render(app, source: str, f) -> str:
    return app.jinja_env.from_string(source).render(f=f)


def test_a_blank_field_is_kept_and_equals_the_macro(app):
    blank_fields._kept.clear()
    with app.test_request_context():
        form = forms.CcForm(prefix="cc", meta={"csrf": False})
        first = render(app, KEPT, form.addresses)
        assert first == render(app, PLAIN, form.addresses) and 'id="cc-addresses"' in first
        assert len(blank_fields._kept) == 1
        assert render(app, KEPT, forms.CcForm(prefix="cc", meta={"csrf": False}).addresses) == first
        assert len(blank_fields._kept) == 1  # the same key: kept, not rendered again
        # Other attributes are another entry.
        other = app.jinja_env.from_string('{% from "_forms.html" import field %}{{ blank_field(field, f) }}')
        assert 'rows="3"' not in other.render(f=form.addresses) and len(blank_fields._kept) == 2


def test_typed_text_and_errors_are_never_kept(app):
    blank_fields._kept.clear()
    with app.test_request_context():
        form = forms.CcForm(prefix="cc", meta={"csrf": False})
        form.addresses.data = "szef@firma.example"
        assert 'value="szef@firma.example"' in render(app, KEPT, form.addresses)
        blank = forms.CcForm(prefix="cc", meta={"csrf": False})
        blank.addresses.errors = ["Podaj adres."]
        assert "Podaj adres." in render(app, KEPT, blank.addresses)
        assert blank_fields._kept == {}
        assert 'value="szef@firma.example"' not in render(app, KEPT, forms.CcForm(prefix="cc", meta={"csrf": False})
                                                          .addresses)


def test_each_language_has_its_own_entry(app):
    blank_fields._kept.clear()
    with app.test_request_context():
        session["lang"] = "pl"
        polish = render(app, KEPT, forms.CcForm(prefix="cc", meta={"csrf": False}).addresses)
    with app.test_request_context():
        session["lang"] = "en"
        english = render(app, KEPT, forms.CcForm(prefix="cc", meta={"csrf": False}).addresses)
    assert "Add a CC" in english and "Add a CC" not in polish and len(blank_fields._kept) == 2


def test_a_blank_forms_field_and_csrf_are_what_the_form_renders(app, monkeypatch):
    blank_fields._kept.clear()
    kept = '{% from "_forms.html" import field %}{{ csrf_input("tag") }}{{ blank_form_field(field, f, "tags", "tag") }}'
    plain = '{% from "_forms.html" import field %}{{ form.csrf_token }}{{ field(form.tags) }}'
    with app.test_request_context():
        expected = app.jinja_env.from_string(plain).render(form=forms.TagForm(prefix="tag"))
        assert app.jinja_env.from_string(kept).render(f=forms.TagForm) == expected
        built = []
        monkeypatch.setattr(forms.TagForm, "__init__", lambda *a, **k: built.append(1) or None)
        assert app.jinja_env.from_string(kept).render(f=forms.TagForm) == expected and built == []  # kept
        assert str(blank_fields.csrf_input()).startswith('<input id="csrf_token" name="csrf_token" type="hidden"')
        assert forms.ConfirmForm().csrf_token() == blank_fields.csrf_input()


def test_a_form_sent_back_with_an_error_keeps_its_text_and_the_next_page_is_blank(app, world):  # noqa: F811
    alice = signed_in(app, world.alice)
    open_ticket(alice, world.contract_a)
    page = f"/tickets/{Ticket.get().id}"
    alice.text(page)  # the blank CC field kept
    bad = alice.post(f"{page}/cc", {"cc-addresses": "to-nie-adres"}, page=page)
    assert bad.status_code == 422 and 'value="to-nie-adres"' in bad.get_data(as_text=True)
    html = alice.text(page)
    assert "to-nie-adres" not in html and 'id="cc-addresses"' in html and 'name="cc-csrf_token"' in html
