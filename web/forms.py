"""The portal's forms (Flask-WTF: CSRF on every one). Field checks are domain.validation's;
their messages are translated here, next to the field they belong to."""
from __future__ import annotations

import functools

from babel import support
from flask_babel import get_locale, gettext, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FieldList,
    FileField,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.i18n import messages_path
from wtforms.validators import Email, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from helpdesk.domain import validation
from helpdesk.domain.passwords import MAX_LENGTH


@functools.lru_cache(maxsize=8)
def _wtforms_catalogue(locale: str) -> support.NullTranslations:
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class _WtformsMessages:
    """WTForms' own messages ("Not a valid date value.") in the reader's language, from a
    catalogue read once per language: Flask-WTF reads it from disk on every request that
    builds a form (0.6 ms)."""

    def gettext(self, string: str) -> str:
        return _wtforms_catalogue(str(get_locale())).ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return _wtforms_catalogue(str(get_locale())).ungettext(singular, plural, n)


WTFORMS_MESSAGES = _WtformsMessages()


class PortalForm(FlaskForm):
    """Every form of the portal: Flask-WTF's (CSRF), with WTForms' messages from `WTFORMS_MESSAGES`."""

    class Meta:
        def get_translations(self, form):
            return WTFORMS_MESSAGES


def translated(error: validation.Invalid) -> str:
    """A domain refusal in the reader's language."""
    return gettext(error.message, **error.params)


def checked(check):
    """A WTForms validator from a domain check: the field gets the clean value, or the
    check's message (translated) as its error."""

    def validator(form, field):
        try:
            field.data = check(field.data or "")
        except validation.Invalid as error:
            raise ValidationError(translated(error)) from None

    return validator


def _lower(value):
    return value.strip().lower() if isinstance(value, str) else value


REQUIRED = InputRequired(message=_l("This field is required."))
EMAIL = [REQUIRED, checked(validation.one_line), Length(max=254, message=_l("This is too long.")),
         Email(message=_l("This is not a valid email address."), check_deliverability=False)]
NAME = [REQUIRED, checked(validation.name)]


class RegistrationForm(PortalForm):
    first_name = StringField(_l("First name"), NAME, render_kw={"autocomplete": "given-name"})
    last_name = StringField(_l("Last name"), NAME, render_kw={"autocomplete": "family-name"})
    email = EmailField(_l("Email"), EMAIL, filters=[_lower], render_kw={"autocomplete": "email"})
    phone = TelField(_l("Phone"), [REQUIRED, checked(validation.phone)],
                     description=_l("Nine digits, without +48."), render_kw={"autocomplete": "tel-national"})
    nip = StringField(_l("NIP"), [REQUIRED, checked(validation.nip)],
                      description=_l("Ten digits, without dashes: the NIP given when the service was ordered."),
                      render_kw={"inputmode": "numeric"})
    company_name = StringField(_l("Company name"), [REQUIRED, checked(lambda v: validation.name(v, 300))],
                               render_kw={"autocomplete": "organization"})
    terms = BooleanField(_l("I accept the terms of use"),
                         [InputRequired(message=_l("Registration needs the terms accepted."))])


class EmailOnlyForm(PortalForm):
    email = EmailField(_l("Email"), EMAIL, filters=[_lower], render_kw={"autocomplete": "email"})


class LoginForm(PortalForm):
    email = EmailField(_l("Email"), [REQUIRED, Length(max=254)], filters=[_lower],
                       render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), [REQUIRED, Length(max=MAX_LENGTH)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class ConfirmForm(PortalForm):
    """A button that POSTs: links in mail only show a page, they never change anything."""


def _same_as(other: str):
    def validator(form, field):
        if field.data != form[other].data:
            raise ValidationError(gettext("The two passwords differ."))

    return validator


class SetPasswordForm(PortalForm):
    password = PasswordField(_l("New password"), [REQUIRED], description=_l("At least 10 characters, and hard to guess: four unrelated words, say."),
                             render_kw={"autocomplete": "new-password"})
    repeat = PasswordField(_l("New password again"), [REQUIRED, _same_as("password")],
                           render_kw={"autocomplete": "new-password"})


class ChangePasswordForm(SetPasswordForm):
    current = PasswordField(_l("Current password"), [REQUIRED], render_kw={"autocomplete": "current-password"})


class ChangeEmailForm(PortalForm):
    email = EmailField(_l("New email"), EMAIL, filters=[_lower], render_kw={"autocomplete": "email"})
    current = PasswordField(_l("Current password"), [REQUIRED], render_kw={"autocomplete": "current-password"})


class DeleteAccountForm(PortalForm):
    current = PasswordField(_l("Current password"), [REQUIRED], render_kw={"autocomplete": "current-password"})
    confirm = BooleanField(_l("Yes, delete my account"),
                           [InputRequired(message=_l("Tick the box to confirm."))])


class PreferencesForm(PortalForm):
    digest_opt_in = BooleanField(_l("Send me a weekly summary of my open tickets"))
    language = SelectField(_l("Language of my mail and pages"), choices=[], validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = [("pl", "Polski"), ("en", "English")]


class VerifyContractForm(PortalForm):
    number = StringField(_l("Contract number"), [REQUIRED, checked(validation.contract_number)],
                         description=_l("One capital letter and six digits, e.g. K123456."),
                         render_kw={"autocomplete": "off", "spellcheck": "false"})
    serial = StringField(_l("Serial number or licence key"), [REQUIRED, checked(validation.serial)],
                         description=_l("Of any device on the contract; for software the licence key, dashes included."),  # noqa: E501
                         render_kw={"autocomplete": "off", "spellcheck": "false"})


# --- tickets (W7, W8) ---------------------------------------------------------------------

TITLE = [REQUIRED, checked(lambda v: validation.name(v, 200))]


class NewTicketForm(PortalForm):
    line = RadioField(_l("Device"), coerce=int, validate_choice=True,
                      validators=[InputRequired(message=_l("Choose the device the ticket is about."))])
    title = StringField(_l("Title"), TITLE)
    description = TextAreaField(_l("Description"), [REQUIRED], description=_l(
        "Describe the problem as precisely as you can: what happens, since when, what you have tried."))
    attachments = MultipleFileField(_l("Attachments"), description=_l(
        "Configuration files, screenshots, logs; up to 10 files."))
    ccs = TextAreaField(_l("Extra addresses (CC)"), description=_l(
        "They will receive every message of the ticket. Separate them with commas."))


class ReplyForm(PortalForm):
    text = TextAreaField(_l("Your message"), [REQUIRED])
    attachments = MultipleFileField(_l("Attachments"))


class StaffReplyForm(ReplyForm):
    internal = BooleanField(_l("Internal note (never sent to the customer)"))
    close = BooleanField(_l("Close the ticket with this answer"))
    minutes = StringField(_l("Time spent"), description=_l("Optional: 15, 15m, 1h or 1h30m."))
    # Canned answers, inserted by re-rendering the form (no JavaScript): see web/desk.py.
    canned = SelectField(_l("Canned answer"), choices=[], validate_choice=False)
    canned_language = SelectField(_l("Language"), choices=[], validate_choice=False)
    seen = HiddenField()  # the newest message id the form was shown with (collisions)
    anyway = HiddenField()  # "1": send although someone else's message arrived meanwhile


class SlaPolicyForm(PortalForm):
    name = StringField(_l("Service level"), [REQUIRED, Length(max=100)],
                       description=_l("The name contracts give as their service level."))
    first_response = StringField(_l("First response within"), [REQUIRED], description=_l("e.g. 30m, 4h, 1d"))
    resolution = StringField(_l("Resolution within"), [REQUIRED], description=_l("e.g. 8h, 2d"))
    hours = SelectField(_l("Counted in"), choices=[])  # set by the view: business hours or 24x7


class ReportPeriodForm(PortalForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    start = DateField(_l("From"), [Optional()])
    end = DateField(_l("To"), [Optional()])


# --- the engineers' working day: canned answers, tags, merge, split ----------------------------


class CannedForm(PortalForm):
    name = StringField(_l("Name"), [REQUIRED], description=_l(
        "What engineers write after #canned in a mail: lower-case letters, digits, dots, dashes."))
    title = StringField(_l("Title"))
    body_pl = TextAreaField(_l("Polish text"), description=_l(
        "Placeholders: {{ ticket.ref }}, {{ ticket.subject }}, {{ customer.first_name }}, {{ customer.name }}, "
        "{{ contract.number }}, {{ engineer.name }}."))
    body_en = TextAreaField(_l("English text"))


class TagForm(PortalForm):
    tags = StringField(_l("Add tags"), [REQUIRED], description=_l("Separate them with commas."),
                       render_kw={"list": "tag-suggestions", "autocomplete": "off"})


class MergeForm(PortalForm):
    target = IntegerField(_l("Merge into ticket number"), [InputRequired(message=_l("Give a ticket number."))])
    confirmed = HiddenField()


class SplitForm(PortalForm):
    with_later = BooleanField(_l("And every later message"))


class CcForm(PortalForm):
    addresses = StringField(_l("Add a CC"), [REQUIRED], description=_l("One or more addresses, comma-separated."))


class MoveForm(PortalForm):
    target = IntegerField(_l("Move to ticket number"), [InputRequired(message=_l("Give a ticket number."))])


class UserForm(PortalForm):
    email = EmailField(_l("Email"), EMAIL, filters=[_lower])
    first_name = StringField(_l("First name"), NAME)
    last_name = StringField(_l("Last name"), NAME)
    role = SelectField(_l("Role"), choices=[])


class RoleForm(PortalForm):
    role = SelectField(_l("Role"), choices=[])


# --- partners (P1-P3, L1-L3) ----------------------------------------------------------------

PARTNER_ROLE_LABELS = {
    "installer": _l("Installer"), "integrator": _l("Integrator"), "arc": _l("ARC (alarm receiving centre)"),
    "reseller": _l("Reseller"), "distributor": _l("Distributor"),
}
COMPANY_ROLE_LABELS = {"customer": _l("Customer"), **PARTNER_ROLE_LABELS}


class PartnerRegistrationForm(RegistrationForm):
    company_role = RadioField(_l("Your company's role"), choices=[],
                              validators=[InputRequired(message=_l("Choose your company's role."))])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.company_role.choices = list(PARTNER_ROLE_LABELS.items())


class RoleChangeForm(PortalForm):
    role = RadioField(_l("New role"), choices=[], validators=[InputRequired(message=_l("Choose the new role."))])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = list(PARTNER_ROLE_LABELS.items())


class TermsForm(PortalForm):
    terms_id = HiddenField()
    accept = BooleanField(_l("I have read and accept the programme terms"),
                          [InputRequired(message=_l("Registration needs the terms accepted."))])


class DistributorsForm(PortalForm):
    distributors = SelectMultipleField(_l("Authorised distributors you buy from"), coerce=int, choices=[],
                                       option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False),
                                       validators=[InputRequired(message=_l("Choose at least one distributor."))])


class DeclaredLevelForm(PortalForm):
    level = RadioField(_l("Partnership level"), choices=[],
                       validators=[InputRequired(message=_l("Choose the partnership level."))])


class DecisionForm(PortalForm):
    reason = TextAreaField(_l("Reason (required for a rejection)"))


class SaleLineForm(Form):
    model = StringField(_l("Device model or software"))
    serial = StringField(_l("Serial number or licence key"))
    address = StringField(_l("Installation address"))


class SaleForm(PortalForm):
    nip = StringField(_l("Customer's NIP"), [REQUIRED, checked(validation.nip)], render_kw={"inputmode": "numeric"})
    customer_name = StringField(_l("Customer's name"), [REQUIRED, checked(lambda v: validation.name(v, 300))])
    service_level = SelectField(_l("Service level"), choices=[])
    starts_on = DateField(_l("Starts on"), [InputRequired(message=_l("Give a date."))])
    ends_on = DateField(_l("Ends on"), [InputRequired(message=_l("Give a date."))])
    lines = FieldList(FormField(SaleLineForm), min_entries=5, max_entries=20)


class LevelApplicationForm(PortalForm):
    level = SelectField(_l("Level"), coerce=int, choices=[])
    basis = RadioField(_l("Eligibility"), choices=[], validators=[InputRequired(message=_l("Choose one."))])
    distributor = SelectField(_l("Recommending distributor"), coerce=int, choices=[], validate_choice=False)
    nips = TextAreaField(_l("NIPs of the users you service"),
                         description=_l("One NIP per line, in the order of the recommendation files below."))
    files = MultipleFileField(_l("Written recommendations"))


class SolutionForm(PortalForm):
    title = StringField(_l("Title"), TITLE)
    description = TextAreaField(_l("Description"), [REQUIRED])


class SupportQueryForm(PortalForm):
    title = StringField(_l("Subject"), TITLE)
    description = TextAreaField(_l("Your question"), [REQUIRED])


class DistributorForm(PortalForm):
    name = StringField(_l("Distributor's name"), [REQUIRED, checked(lambda v: validation.name(v, 300))])
    nip = StringField(_l("NIP"), [REQUIRED, checked(validation.nip)])


class SetLevelForm(PortalForm):
    level = SelectField(_l("Level"), choices=[])
    reason = StringField(_l("Reason"))


class ResourceForm(PortalForm):
    title = StringField(_l("Title"), TITLE)
    kind = SelectField(_l("Kind"), choices=[])
    permission = SelectField(_l("Permission needed"), choices=[])
    body = TextAreaField(_l("Text (a phone number, a description, the section's content)"))
    file = FileField(_l("File (for a download)"))


class TermsVersionForm(PortalForm):
    version = StringField(_l("Version"), [REQUIRED, checked(lambda v: validation.name(v, 20))])
    text = TextAreaField(_l("Text"), [REQUIRED])


class SubscriptionForm(PortalForm):
    subscription_seller = BooleanField(_l("Takes part in subscription sales"))


# --- API tokens and webhooks ----------------------------------------------------------------

SCOPE_LABELS = {"tickets:read": _l("Read tickets"), "tickets:write": _l("Open, answer and change tickets"),
                "contracts:read": _l("Read and verify contracts"), "admin": _l("Administration (webhooks)")}


class TokenForm(PortalForm):
    name = StringField(_l("Name"), [Length(max=100, message=_l("This is too long."))],
                       description=_l("What the token is for, e.g. monitoring."))
    scopes = SelectMultipleField(_l("Scopes"), choices=[], option_widget=CheckboxInput(),
                                 widget=ListWidget(prefix_label=False),
                                 validators=[InputRequired(message=_l("Choose at least one scope."))])
    days = IntegerField(_l("Valid for (days)"), [InputRequired(message=_l("This field is required."))], default=365)


class WebhookForm(PortalForm):
    url = StringField(_l("URL"), [REQUIRED], description=_l("https:// to a public address."))
    secret = PasswordField(_l("Secret"), [REQUIRED], description=_l(
        "At least 16 characters; the receiver checks the signature with it."))
    events = SelectMultipleField(_l("Events"), choices=[], option_widget=CheckboxInput(),
                                 widget=ListWidget(prefix_label=False),
                                 validators=[InputRequired(message=_l("Choose at least one event."))])
    allow_host = StringField(_l("Allowed host"), description=_l(
        "Only to post to a host on a private network or over http: its name, exactly as in the URL."))


# --- issue 17: a partner's customers, the knowledge base -------------------------------------------


class CustomerNoticesForm(PortalForm):
    notices = BooleanField(_l("Mail me every new entry on my customers' tickets"),
                           description=_l("From now on: what was written before is not mailed. Internal notes of "
                                          "our engineers are never sent."))
    digest = BooleanField(_l("Send me a weekly summary of my customers' tickets"))


class ArticleForm(PortalForm):
    title = StringField(_l("Title"), validators=[InputRequired(), Length(max=300)])
    body = TextAreaField(_l("Text (Markdown)"), validators=[InputRequired()],
                         description=_l("Markdown: # headings, **bold**, lists, tables, [links](https://…). "
                                        "HTML is shown as text."))
    language = SelectField(_l("Language"), choices=[])
    audience = SelectField(_l("Who may read it"), choices=[])
    min_level = SelectField(_l("Partner level from"), choices=[],
                            description=_l("For partners only: the lowest partner level that reads it."))
    models = StringField(_l("Device models"), validators=[Length(max=6000)],
                         description=_l("Comma-separated, e.g. DS-7716NI-K4, FortiGate 60F."))
    manufacturers = StringField(_l("Manufacturers"), validators=[Length(max=6000)],
                                description=_l("Comma-separated, e.g. Hikvision, Satel."))
    publish = BooleanField(_l("Published"), description=_l("Unpublished articles are seen by staff only."))
    files = MultipleFileField(_l("Add files"))
    remove_files = SelectMultipleField(_l("Remove files"), choices=[], coerce=int, validate_choice=False,
                                       option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = [("pl", "Polski"), ("en", "English")]
        self.min_level.choices = [(str(n), str(n)) for n in range(6)]
        self.audience.choices = [("public", gettext("everyone (public)")),
                                 ("customers", gettext("customers with an active contract")),
                                 ("partners", gettext("partners from a level"))]
