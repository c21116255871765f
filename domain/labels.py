"""What a person reads for an internal name: one table per kind of name (ticket statuses,
roles, request states, resource kinds, audit actions, ...), and the ticket history's
reasons, which are stored as English sentences.

In: a kind, the stored value, and a `gettext` (str -> str) in the reader's language (the
portal's request catalogue, `domain.i18n.gettext` bound to a mail's language, or the
identity for English). Out: the label. A value no table knows comes back as it is
(tests/test_untranslated.py fails on it). Pages (`label` in every template), mail
(`label` in every mail template) and the CLI's text output read these tables only.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from .validation import N_

Gettext = Callable[[str], str]

STATUS = {
    "new": N_("New"),
    "open": N_("Open"),
    "waiting_customer": N_("Waiting for the customer"),
    "waiting_us": N_("Waiting for us"),
    "closed": N_("Closed"),
}
# A ticket's status as its customer reads it in mail (it is "you" who is waited for).
CUSTOMER_STATUS = {
    "new": N_("received"),
    "open": N_("in progress"),
    "waiting_customer": N_("waiting for your answer"),
    "waiting_us": N_("in progress"),
    "closed": N_("closed"),
}
USER_ROLE = {
    "customer": N_("Customer"),
    "partner": N_("Partner"),
    "engineer": N_("Engineer"),
    "admin": N_("Administrator"),
}
COMPANY_ROLE = {
    "customer": N_("Customer"),
    "installer": N_("Installer"),
    "integrator": N_("Integrator"),
    "arc": N_("ARC (alarm receiving centre)"),
    "reseller": N_("Reseller"),
    "distributor": N_("Distributor"),
}
# Partner applications, role changes, level applications.
REQUEST_STATUS = {
    "draft": N_("not sent yet"),
    "pending": N_("waiting for a decision"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
}
PARTICIPANT_ROLE = {"requester": N_("requester"), "cc": N_("in copy")}
# How a participant joined, or a ticket came in (`added_by`, `channel`).
SOURCE = {
    "mail": N_("by mail"),
    "portal": N_("in the portal"),
    "staff": N_("by the staff"),
    "api": N_("through the API"),
}
THREAD_RULE = {
    "new": N_("opened the ticket"),
    "portal": N_("written in the portal"),
    "staff page": N_("written on the staff page"),
    "limits": N_("the system's note on sizes"),
    "bounce": N_("delivery report"),
    "reply_token": N_("signed reply address"),
    "in_reply_to": N_("In-Reply-To header"),
    "references": N_("References header"),
    "subject_tag": N_("ticket number in the subject"),
}
MESSAGE_KIND = {
    "customer": N_("Customer"),
    "staff": N_("Support"),
    "note": N_("Internal note"),
    "system": N_("System"),
}
RESOURCE_KIND = {
    "document": N_("Document"),
    "download": N_("Download"),
    "phone": N_("Support number"),
    "section": N_("Section"),
}
OUTBOX_STATUS = {"pending": N_("waiting"), "sent": N_("sent"), "failed": N_("failed")}
DELIVERY_STATUS = {"pending": N_("waiting"), "delivered": N_("delivered"), "failed": N_("failed")}
MAIL_OUTCOME = {
    "new_ticket": N_("new ticket"),
    "reply": N_("reply"),
    "staff_reply": N_("engineer's reply"),
    "autoreply": N_("automatic reply"),
    "bounce": N_("delivery report"),
    "loop": N_("mail loop"),
    "duplicate": N_("duplicate"),
    "ignored": N_("ignored"),
    "quarantined": N_("quarantined"),
}
SECURITY_EVENT = {
    "forged_reply_address": N_("someone else's reply address"),
    "stale_reply_address": N_("reply address no longer valid"),
    "unsigned_participants": N_("addresses not added (no signed reply address)"),
    "participant_cap": N_("addresses over the limit"),
    "message_id_reused": N_("Message-ID reused"),
    "staff_impersonation": N_("staff address without a signed reply address"),
    "bounce_refused": N_("delivery report refused"),
    "current_password_limited": N_("too many wrong passwords"),
    "mail_request_limited": N_("too many mail requests"),
}
AUDIT_ACTION = {
    "invite": N_("account created"),
    "set_role": N_("role changed"),
    "activate": N_("account activated"),
    "deactivate": N_("account deactivated"),
    "verify_company": N_("company verified"),
    "role_change_approved": N_("role change approved"),
    "role_change_rejected": N_("role change rejected"),
    "application_approved": N_("application approved"),
    "application_rejected": N_("application rejected"),
    "level_application_approved": N_("level application approved"),
    "level_application_rejected": N_("level application rejected"),
    "set_level": N_("partnership level set"),
    "register_sale": N_("sale registered"),
    "add_resource": N_("material added"),
    "delete_resource": N_("material deleted"),
    "activate_distributor": N_("distributor activated"),
    "deactivate_distributor": N_("distributor deactivated"),
    "add_distributor": N_("distributor added"),
    "merge": N_("tickets merged"),
    "split": N_("ticket split"),
    "add_cc": N_("people added to a ticket"),
    "remove_cc": N_("person removed from a ticket"),
    "assign": N_("ticket assigned"),
    "move_message": N_("message moved"),
    "webhook_added": N_("webhook added"),
    "webhook_resumed": N_("webhook resumed"),
    "webhook_removed": N_("webhook removed"),
    "kb_article_added": N_("article added"),
    "kb_article_changed": N_("article changed"),
}
AUDIT_OBJECT = {
    "user": N_("account"),
    "company": N_("company"),
    "partner_application": N_("application"),
    "contract": N_("contract"),
    "ticket": N_("ticket"),
    "resource": N_("material"),
    "distributor": N_("distributor"),
    "webhook": N_("webhook"),
    "article": N_("article"),
}
KB_AUDIENCE = {"public": N_("everyone"), "customers": N_("customers with a contract"), "partners": N_("partners")}
LANGUAGE = {"pl": N_("in Polish"), "en": N_("in English")}

PROGRAMME_LEVEL = {"authorised": N_("Authorised"), "premium": N_("Premium")}
LEVEL_BASIS = {
    "none": N_("none needed"),
    "distributor_list": N_("on the distributor list"),
    "three_users": N_("three recommendations"),
    "distributor_recommendation": N_("the distributor's recommendation"),
}

KINDS: dict[str, dict[str, str]] = {
    "status": STATUS,
    "customer_status": CUSTOMER_STATUS,
    "user_role": USER_ROLE,
    "company_role": COMPANY_ROLE,
    "request_status": REQUEST_STATUS,
    "participant_role": PARTICIPANT_ROLE,
    "source": SOURCE,
    "thread_rule": THREAD_RULE,
    "message_kind": MESSAGE_KIND,
    "resource_kind": RESOURCE_KIND,
    "outbox_status": OUTBOX_STATUS,
    "delivery_status": DELIVERY_STATUS,
    "mail_outcome": MAIL_OUTCOME,
    "security_event": SECURITY_EVENT,
    "audit_action": AUDIT_ACTION,
    "audit_object": AUDIT_OBJECT,
    "programme_level": PROGRAMME_LEVEL,
    "kb_audience": KB_AUDIENCE,
    "language": LANGUAGE,
    "level_basis": LEVEL_BASIS,
    "no_level": {"None": "—"},  # a company without a partnership level, as Python wrote it
}


def label(kind: str, value: str | None, gettext: Gettext) -> str:
    """The value's label in the reader's language; an unknown value as it is."""
    if value is None:
        return ""
    message = KINDS[kind].get(value)
    if message:
        return gettext(message)
    return _said(value, VALUE_PHRASES.get(kind, ()), gettext)


def english(message: str) -> str:
    """The `gettext` of English text: the message ids are English."""
    return message


# --- sentences the code stores in English (a ticket's history, audit details): shown in the reader's words --


class Phrase:
    """A stored sentence with values in it: its pattern (named groups), the message that
    says it (the same names as %(name)s), and which groups are internal names of a kind."""

    def __init__(self, pattern: str, message: str, kinds: dict[str, str] | None = None):
        self.pattern = re.compile(pattern)
        self.message = message
        self.kinds = kinds or {}

    def said(self, text: str, gettext: Gettext) -> str | None:
        found = self.pattern.fullmatch(text)
        if found is None:
            return None
        values = {name: label(self.kinds[name], value, gettext) if name in self.kinds else (value or "")
                  for name, value in found.groupdict().items()}
        return gettext(self.message) % values


def _said(text: str, phrases: tuple[Phrase, ...], gettext: Gettext) -> str:
    for phrase in phrases:
        said = phrase.said(text, gettext)
        if said is not None:
            return said
    return text


# Values of a kind that carry data (domain/conversation.py writes this thread rule).
VALUE_PHRASES: dict[str, tuple[Phrase, ...]] = {
    "thread_rule": (Phrase(r"moved from #(?P<ticket>\d+) by (?P<who>\S+)", N_("moved from ticket %(ticket)s by %(who)s")),),
}
REASON = r"(?P<reason>(?:; .*)?)"  # an admin's own words after the facts, as they wrote them
# What domain/accounts.py, partners.py, partner_access.py, merge.py, conversation.py write.
AUDIT_DETAIL: dict[str, tuple[Phrase, ...]] = {
    "invite": (Phrase(r"(?P<email>[^ ]+): (?P<role>\w+)", N_("%(email)s: %(role)s"), {"role": "user_role"}),),
    "set_role": (Phrase(r"(?P<email>[^ ]+): (?P<old>\w+) -> (?P<new>\w+)", N_("%(email)s: %(old)s → %(new)s"),
                        {"old": "user_role", "new": "user_role"}),),
    "verify_company": (Phrase(r"(?P<company>.*) \((?P<role>\w+)\)", N_("%(company)s (%(role)s)"),
                              {"role": "company_role"}),),
    "role_change_approved": (Phrase(r"(?P<nip>\d+): (?P<old>\w+) -> (?P<new>\w+)" + REASON,
                                    N_("NIP %(nip)s: %(old)s → %(new)s%(reason)s"),
                                    {"old": "company_role", "new": "company_role"}),),
    "application_approved": (Phrase(r"(?P<company>.*): (?P<level>\w+)" + REASON, N_("%(company)s: level %(level)s%(reason)s"),
                                    {"level": "programme_level"}),),
    "level_application_approved": (Phrase(r"(?P<nip>\d+): level (?P<level>\d+) \((?P<basis>\w+)\)" + REASON,
                                          N_("NIP %(nip)s: level %(level)s (%(basis)s)%(reason)s"),
                                          {"basis": "level_basis"}),),
    "set_level": (Phrase(r"(?P<nip>\d+): (?P<old>\w+) -> (?P<new>\w+)" + REASON,
                         N_("NIP %(nip)s: level %(old)s → %(new)s%(reason)s"), {"old": "no_level", "new": "no_level"}),),
    "register_sale": (Phrase(r"(?P<number>\S+) for NIP (?P<nip>\d+)", N_("%(number)s for NIP %(nip)s")),),
    "merge": (Phrase(r"(?P<source>\S+) merged into (?P<target>\S+): (?P<count>\d+) message\(s\)",
                     N_("%(source)s merged into %(target)s, messages moved: %(count)s")),),
    "split": (Phrase(r"(?P<count>\d+) message\(s\) from (?P<source>\S+)",
                     N_("messages taken from %(source)s: %(count)s")),),
    "add_resource": (Phrase(r"(?P<title>.*) \((?P<kind>\w+), (?P<permission>[\w.]+)\)", N_("%(title)s (%(kind)s)"),
                            {"kind": "resource_kind"}),),
    "assign": (Phrase(r"nobody", N_("nobody")),),
    "kb_article_added": (Phrase(r"(?P<title>.*) \((?P<audience>\w+), (?P<language>\w+)\)", N_("%(title)s (%(audience)s, %(language)s)"),
                                {"audience": "kb_audience", "language": "language"}),),
    "move_message": (Phrase(r"message (?P<message>\d+) from ticket (?P<ticket>\d+)",
                            N_("message %(message)s from ticket %(ticket)s")),),
}
AUDIT_DETAIL["kb_article_changed"] = AUDIT_DETAIL["kb_article_added"]
for _decided in ("role_change", "application", "level_application"):
    AUDIT_DETAIL[f"{_decided}_rejected"] = AUDIT_DETAIL[f"{_decided}_approved"]


def audit_detail(action: str, detail: str, gettext: Gettext) -> str:
    """An audit entry's detail in the reader's words (the data in it as it was)."""
    return _said(detail, AUDIT_DETAIL.get(action, ()), gettext)


# --- the ticket history's reasons: stored as English sentences, shown in the reader's words --

# Whole sentences the code writes (domain/tickets.py, domain/conversation.py, inbox_worker).
HISTORY = {
    "opened by mail": N_("opened by mail"),
    "opened by portal": N_("opened in the portal"),
    "opened by api": N_("opened through the API"),
    "customer replied": N_("the customer replied by mail"),
    "reopened by a customer reply": N_("reopened by the customer's reply"),
    "customer replied in the portal": N_("the customer replied in the portal"),
    "closed with the engineer's answer": N_("closed with the engineer's answer"),
    "engineer replied": N_("the engineer replied"),
    "engineer replied by mail": N_("the engineer replied by mail"),
    "closed by the engineer's #close": N_("closed by the engineer's #close"),
    "reopened in the portal": N_("reopened in the portal"),
    "changed on the staff pages": N_("changed by an engineer"),
}
HISTORY_PHRASES = (
    Phrase(r"assigned to (?P<engineer>\S+)", N_("assigned to %(engineer)s")),
    Phrase(r"merged into (?P<ticket>\S+)", N_("merged into %(ticket)s")),
    Phrase(r"split from (?P<ticket>\S+)", N_("split from %(ticket)s")),
    Phrase(r"set by the engineer's #(?P<status>\w+)", N_("set by the engineer's command (%(status)s)"),
           {"status": "status"}),
)


def history_reason(reason: str, gettext: Gettext) -> str:
    """A status change's reason in the reader's words; one the code no longer writes (or a
    person's own words) as it is."""
    message = HISTORY.get(reason)
    return gettext(message) if message else _said(reason, HISTORY_PHRASES, gettext)
