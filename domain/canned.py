"""Canned answers: named texts engineers insert into replies, with placeholders.

In: a body written by an engineer or admin (a Jinja template) and a ticket. Out: the text
with `{{ ticket.ref }}`, `{{ customer.first_name }}`, `{{ contract.number }}`,
`{{ engineer.name }}` ... filled in. Never: lets a body reach anything but `OFFERED`.

Two walls, each enough on its own:
1. `check_body` parses the template and accepts only placeholders (`{{ root.field }}`
   with a root and a field from `OFFERED`), a few text filters with constant arguments,
   and `{% if %}` over them: no loops, calls, item access, assignments, includes,
   macros or globals, so nothing can walk to `__class__`, read `config`, or run long.
2. Rendering runs in Jinja's `ImmutableSandboxedEnvironment` with no globals, over plain
   dicts holding only the offered values (strings), never models or the config.
"""
from __future__ import annotations

import datetime as dt
import re

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from helpdesk.models import CannedAnswer, Contract, Participant, Ticket, User, db, utcnow

from .prepared import prepared
from .validation import N_, Invalid, one_line

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # what `#canned NAME` can name
MAX_BODY = 20_000  # characters of a body
MAX_OUTPUT = 100_000  # characters of a filled-in answer (conversation.MAX_TEXT)
MAX_ANSWERS = 1000
LANGUAGES = ("pl", "en")

# What a body may name: these fields of these roots, nothing else.
OFFERED = {
    "ticket": ("ref", "number", "subject", "status"),
    "customer": ("first_name", "last_name", "name", "email", "company"),
    "contract": ("number", "customer_name", "service_level", "starts_on", "ends_on"),
    "engineer": ("name", "first_name", "last_name", "email"),
}
FILTERS = ("upper", "lower", "title", "capitalize", "trim", "default")
# Node types a body may contain; Name, Getattr and Filter are checked further below.
ALLOWED = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const, nodes.Name, nodes.Getattr, nodes.Filter,
           nodes.If, nodes.Not, nodes.And, nodes.Or, nodes.Concat)


class NotFound(LookupError):
    """No canned answer by that name."""


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()  # no range, dict, lipsum, cycler, joiner, namespace
    env.filters = {name: env.filters[name] for name in FILTERS}
    env.tests = {}
    return env


_ENV = _environment()


# --- pure ----------------------------------------------------------------------------------


def check_name(name: str) -> str:
    name = one_line(name).lower()
    if not NAME.fullmatch(name):
        raise Invalid(N_("A name is 1-64 lower-case letters, digits, dots, dashes or underscores."))
    return name


def check_body(body: str) -> str:
    """The body, when it uses only what is offered; `Invalid` says what it may not use."""
    body = (body or "").replace("\r\n", "\n")
    if len(body) > MAX_BODY:
        raise Invalid(N_("A canned answer is at most %(limit)s characters."), {"limit": MAX_BODY})
    try:
        tree = _ENV.parse(body)
    except TemplateError as error:
        raise Invalid(N_("The placeholders cannot be read: %(error)s"), {"error": str(error)[:200]}) from None
    _check_node(tree)
    return body


def _refuse(what: str):
    raise Invalid(N_("Not allowed in a canned answer: %(what)s. Use placeholders such as {{ ticket.ref }}."),
                  {"what": what[:100]})


def _check_node(node: nodes.Node) -> None:
    if not isinstance(node, ALLOWED):
        _refuse(type(node).__name__)
    if isinstance(node, nodes.Name) and (node.ctx != "load" or node.name not in OFFERED):
        _refuse(node.name)
    if isinstance(node, nodes.Getattr):
        if not isinstance(node.node, nodes.Name) or node.attr not in OFFERED.get(node.node.name, ()):
            _refuse(f"{getattr(node.node, 'name', '…')}.{node.attr}")
    if isinstance(node, nodes.Filter):
        if node.name not in FILTERS or node.kwargs or node.dyn_args or node.dyn_kwargs or node.node is None:
            _refuse(f"|{node.name}")
        if any(not isinstance(arg, nodes.Const) or not isinstance(arg.value, (str, bool)) for arg in node.args):
            _refuse(f"|{node.name}(…)")
    if isinstance(node, nodes.Const) and not isinstance(node.value, (str, bool)) and node.value is not None:
        _refuse(repr(node.value))
    for child in node.iter_child_nodes():
        _check_node(child)


def render(body: str, values: dict[str, dict[str, str]]) -> str:
    """The body filled in from `values` (see `values_for`); `Invalid` when it cannot be."""
    body = check_body(body)
    offered = {root: {field: str(values.get(root, {}).get(field, "") or "") for field in fields}
               for root, fields in OFFERED.items()}
    try:
        text = _ENV.from_string(body).render(offered)
    except TemplateError as error:
        raise Invalid(N_("The placeholders cannot be filled in: %(error)s"), {"error": str(error)[:200]}) from None
    if len(text) > MAX_OUTPUT:
        raise Invalid(N_("This is too long."))
    return text.strip("\n")


# --- reading the ticket ----------------------------------------------------------------------


def _day(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def values_for(ticket: Ticket, engineer: User | None, *, prefix: str = "HD") -> dict[str, dict[str, str]]:
    """The offered values for a ticket, as plain strings."""
    requester = User.get_or_none(User.id == ticket.requester_id) if ticket.requester_id else None
    contract = Contract.get_or_none(Contract.id == ticket.contract_id) if ticket.contract_id else None
    company = ""
    if requester is not None and requester.company_id:
        company = requester.company.name
    elif contract is not None:
        company = contract.customer_name
    if requester is not None:
        first, last, name = requester.first_name, requester.last_name, requester.name
    else:  # someone who only writes by mail: the name their mail gave
        row = Participant.get_or_none(Participant.ticket == ticket.id, Participant.email == ticket.requester_email)
        name = row.name.strip() if row else ""
        first, _, last = name.partition(" ")
    customer = {"first_name": first, "last_name": last, "name": name or ticket.requester_email,
                "email": ticket.requester_email, "company": company}
    return {
        "ticket": {"ref": ticket.ref(prefix), "number": str(ticket.id), "subject": ticket.subject,
                   "status": ticket.status},
        "customer": customer,
        "contract": {"number": contract.number, "customer_name": contract.customer_name,
                     "service_level": contract.service_level, "starts_on": _day(contract.starts_on),
                     "ends_on": _day(contract.ends_on)} if contract else {},
        "engineer": {"name": engineer.name, "first_name": engineer.first_name, "last_name": engineer.last_name,
                     "email": engineer.email} if engineer else {},
    }


def language_of(ticket: Ticket, default: str = "pl") -> str:
    """The language the ticket's requester reads (the default for mail-only requesters)."""
    if ticket.requester_id:
        requester = User.get_or_none(User.id == ticket.requester_id)
        if requester is not None and requester.language in LANGUAGES:
            return requester.language
    return default


def get(name: str) -> CannedAnswer:
    answer = CannedAnswer.get_or_none(CannedAnswer.name == (name or "").strip().lower()[:64])
    if answer is None:
        raise NotFound(name)
    return answer


def fill(name: str, ticket_id: int, engineer: User | None, *, language: str | None = None,
         prefix: str = "HD") -> str:
    """The named answer filled in for a ticket, in `language` (default: the requester's)."""
    answer = get(name)
    ticket = Ticket.get_by_id(ticket_id)
    language = language if language in LANGUAGES else language_of(ticket)
    return render(answer.body(language), values_for(ticket, engineer, prefix=prefix))


# --- keeping them --------------------------------------------------------------------------


def all_answers() -> list[CannedAnswer]:
    return list(CannedAnswer.select().order_by(CannedAnswer.name))


@prepared
def titles():
    """(name, title) of every answer, by name: a reply form's choices, without the bodies."""
    return CannedAnswer.select(CannedAnswer.name, CannedAnswer.title).order_by(CannedAnswer.name).tuples()


def save(name: str, *, title: str, body_pl: str, body_en: str, by: User | None,
         answer_id: int | None = None, now: dt.datetime | None = None) -> CannedAnswer:
    """Create (no `answer_id`) or change a canned answer; `Invalid` names what is wrong."""
    now = now or utcnow()
    name = check_name(name)
    title = one_line(title)[:200] or name
    body_pl, body_en = check_body(body_pl), check_body(body_en)
    if not (body_pl.strip() or body_en.strip()):
        raise Invalid(N_("Write the answer in at least one language."))
    with db.atomic():
        clash = CannedAnswer.get_or_none(CannedAnswer.name == name)
        if clash is not None and clash.id != answer_id:
            raise Invalid(N_("A canned answer named %(name)s exists already."), {"name": name})
        fields = dict(name=name, title=title, body_pl=body_pl, body_en=body_en, updated_by=by, updated_at=now)
        if answer_id is None:
            if CannedAnswer.select().count() >= MAX_ANSWERS:
                raise Invalid(N_("There are %(limit)s canned answers already."), {"limit": MAX_ANSWERS})
            return CannedAnswer.create(created_at=now, **fields)
        if not CannedAnswer.update(**fields).where(CannedAnswer.id == answer_id).execute():
            raise NotFound(answer_id)
        return CannedAnswer.get_by_id(answer_id)


def set_body(name: str, body: str, *, language: str = "pl", title: str = "", by: User | None = None,
             now: dt.datetime | None = None) -> tuple[CannedAnswer, bool]:
    """Set one language's body of the named answer, creating it when new: (answer, created)."""
    if language not in LANGUAGES:
        raise Invalid(N_("The language is pl or en."))
    name = check_name(name)
    existing = CannedAnswer.get_or_none(CannedAnswer.name == name)
    bodies = {"pl": existing.body_pl, "en": existing.body_en} if existing else {"pl": "", "en": ""}
    bodies[language] = body
    answer = save(name, title=title or (existing.title if existing else name), body_pl=bodies["pl"],
                  body_en=bodies["en"], by=by, answer_id=existing.id if existing else None, now=now)
    return answer, existing is None


def delete(answer_id: int) -> None:
    with db.atomic():
        CannedAnswer.delete().where(CannedAnswer.id == answer_id).execute()


def as_rows() -> list[dict]:
    return [{"name": a.name, "title": a.title, "languages": [lang for lang in LANGUAGES if a.body(lang) and
                                                              getattr(a, f"body_{lang}")],
             "body_pl": a.body_pl, "body_en": a.body_en, "updated_at": a.updated_at} for a in all_answers()]
