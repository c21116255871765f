"""Portal accounts (SPEC W1-W3): registration, activation, passwords, email change, deletion.

The web pages parse forms and call these; they never touch passwords or links
themselves. Mail goes out through the outbox in the same transaction as the change
that caused it (templates/mail/<lang>/<name>.*). Functions that answer an address typed
by somebody (registration, forgotten password) return the same way whether or not the
address has an account: only the mail tells, and only to the owner of the address.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from peewee import IntegrityError

from helpdesk.config import Config
from helpdesk.domain import outbox
from helpdesk.models import PARTNER_ROLES, Company, CompanyRole, Role, User, db, utcnow

from . import audit, i18n, links, partner_restart, passwords, ratelimit, security_events
from .validation import N_, Invalid

log = logging.getLogger(__name__)


class LoginRefused(Exception):
    """Wrong address or password, inactive account, or too many attempts; `limited` tells
    only whether to add "try again later"."""

    def __init__(self, limited: bool = False):
        super().__init__("login refused")
        self.limited = limited


class AlreadyPartner(Invalid):
    """The company already has a partner account: it must be deleted before registering again."""

    def __init__(self):
        super().__init__(N_("This company already has a partner account. A company must delete its existing "
                            "account before registering again."))


class WrongPassword(Invalid):
    """The current password, asked for before a change, is not right."""

    def __init__(self):
        super().__init__(N_("The current password is not right."))


class TooManyWrongPasswords(WrongPassword):
    """Too many wrong current passwords lately: the password is not even checked."""

    def __init__(self):
        Invalid.__init__(self, N_("Too many wrong passwords. Try again in 15 minutes."))


def _check_current(user: User, password: str, *, ip: str, now: dt.datetime | None) -> None:
    """The current password, asked before a change; a wrong one counts against the
    account and the client (ratelimit.CURRENT_PASSWORD), and over the limit nothing is checked."""
    now = now or utcnow()
    keys = {"user": str(user.id), "ip": ip}
    with db.atomic():
        limited = ratelimit.blocked("current_password", ratelimit.CURRENT_PASSWORD, keys, now)
        good = not limited and passwords.verify(user.password_hash, password)
        ratelimit.record("current_password", keys, ok=good, now=now, detail="over the limit" if limited else "")
    if limited:
        security_events.record("current_password_limited", f"{user.email}: too many wrong current passwords "
                               f"(password, address or deletion form); refused without checking", sender=ip, now=now)
        raise TooManyWrongPasswords()
    if not good:
        raise WrongPassword()


@dataclass(frozen=True)
class Registration:
    """A registration form, already checked field by field (domain.validation)."""

    first_name: str
    last_name: str
    email: str
    phone: str
    nip: str
    company_name: str
    language: str = "pl"


# --- mail ------------------------------------------------------------------------------


def send_mail(config: Config, name: str, to: str, language: str, context: dict, now: dt.datetime, *,
              queue: bool = True) -> None:
    """Render a mail template and queue it (in the caller's transaction); with `queue`
    False, only the work (for answers that must cost the same whether or not they mail)."""
    context = {"base_url": config.base_url, "to": to, **context}
    subject, text, html = outbox.render(name, language, context, contact=outbox.Contact.of(config))
    domain = config.support_address.split("@", 1)[1]
    message = outbox.build(
        mail_from=config.support_address, from_name=i18n.gettext(language, i18n.PORTAL_TEAM), to=to, subject=subject,
        text=text, html=html, message_id=outbox.new_message_id(domain), auto_submitted="auto-generated",
        loop_marker=domain, now=now,
    )
    if queue:
        outbox.queue(message, kind=f"account:{name}", recipient=to, now=now)
    else:  # the serialising queue() does, the most costly step, so that the time tells nothing
        outbox.safe(to, "recipient address")
        message.as_bytes(policy=outbox.SMTP_POLICY)


def _may_mail(address: str, ip: str, now: dt.datetime) -> bool:
    """Mail on request is limited per address and per client, so nobody floods an inbox."""
    keys = {"address": address, "ip": ip}
    if ratelimit.blocked("mail", ratelimit.MAIL, keys, now, count_successes=True):
        security_events.record("mail_request_limited", f"mail on request to {address} refused: over the limit "
                               f"(registration, activation, password reset or address change)", sender=ip,
                               addresses=[address], now=now)
        return False
    ratelimit.record("mail", keys, ok=True, now=now)
    return True


# --- registration and activation (W1, W2) -----------------------------------------------


def _company(nip: str, name: str) -> Company:
    """The company with this NIP; created with the given name when it is new (an existing
    company keeps its name: somebody registering does not rename it)."""
    company = Company.get_or_none(Company.nip == nip)
    if company is None:
        try:
            with db.atomic():
                company = Company.create(nip=nip, name=name, role=CompanyRole.CUSTOMER.value)
        except IntegrityError:  # registered at the same moment by somebody else
            company = Company.get(Company.nip == nip)
    return company


def register(config: Config, form: Registration, *, ip: str, now: dt.datetime | None = None,
             partner_role: str | None = None) -> None:
    """Start a registration: the activation link goes to the address, or, when the address
    already has an account, a mail saying so. The caller shows the same page either way.
    With `partner_role` (SPEC P2) the account is a partner's and the company takes that
    role on activation, unverified; a company that has an active partner account already
    is refused (`AlreadyPartner`): it must delete that account first."""
    now = now or utcnow()
    email = form.email.lower()
    if partner_role is not None and partner_role not in PARTNER_ROLES:
        raise Invalid(N_("Choose one of the listed roles."))
    with db.atomic():
        if partner_role is not None and _has_partner_account(form.nip):
            raise AlreadyPartner()
        if not _may_mail(email, ip, now):
            return
        user = User.get_or_none(User.email == email)
        if user is not None and user.activated_at is not None:
            log.info("registration for an existing account %s: told by mail", email)
            send_mail(config, "already_registered", email, user.language, {"user": user}, now)
            return
        company = _company(form.nip, form.company_name)
        fields = dict(first_name=form.first_name, last_name=form.last_name, phone=form.phone, company=company,
                      language=form.language, company_role=partner_role or "")
        if partner_role is not None:
            fields["role"] = Role.PARTNER.value
        if user is None:
            try:
                with db.atomic():
                    user = User.create(email=email, is_active=False, **{"role": Role.CUSTOMER.value, **fields})
            except IntegrityError:
                user = User.get(User.email == email)
        else:
            # Created by a mail to support, or an unfinished registration: the form fills it in.
            User.update(**fields).where(User.id == user.id).execute()
            user = User.get_by_id(user.id)
        token = links.make(config.secret_key, "activate", user)
        send_mail(config, "activation", email, user.language,
              {"user": user, "link": links.url(config.base_url, "activate", token),
               "hours": links.MAX_AGE_SECONDS // 3600}, now)


def _has_partner_account(nip: str) -> bool:
    return (User.select().join(Company, on=(User.company == Company.id))
            .where(Company.nip == nip, User.role == Role.PARTNER.value, User.activated_at.is_null(False))
            .exists())


def resend_activation(config: Config, email: str, *, ip: str, now: dt.datetime | None = None) -> None:
    """A new activation link for an account not yet activated; silent otherwise."""
    now = now or utcnow()
    email = email.strip().lower()
    with db.atomic():
        # As for a forgotten password: counted and limited, and the mail built, whether or
        # not the address has an account; only the queueing differs.
        allowed = _may_mail(email, ip, now)
        user = User.get_or_none(User.email == email)
        real = allowed and user is not None and user.company_id is not None
        if real and user.activated_at is not None:
            send_mail(config, "already_registered", email, user.language, {"user": user}, now)
            return
        stand_in = user if real else User(id=0, email=email, language=user.language if user else "pl")
        token = links.make(config.secret_key, "activate", stand_in)
        send_mail(config, "activation", email, stand_in.language,
                  {"user": stand_in, "link": links.url(config.base_url, "activate", token),
                   "hours": links.MAX_AGE_SECONDS // 3600}, now, queue=real)


def activation_user(config: Config, token: str) -> User:
    """The user an activation link is for (BadLink when it is not good)."""
    user, _ = links.open_link(config.secret_key, "activate", token)
    return user


def activate(config: Config, token: str, *, now: dt.datetime | None = None) -> User:
    """Activate the account and mail its login with a link to set the password."""
    now = now or utcnow()
    with db.atomic():
        user, _ = links.open_link(config.secret_key, "activate", token)
        User.update(is_active=True, activated_at=now).where(User.id == user.id).execute()
        if user.role == Role.PARTNER.value and user.company_role in PARTNER_ROLES and user.company_id:
            # A partner's company takes the role it registered with, and waits for an admin.
            Company.update(role=user.company_role, verified_at=None, partner_level=None).where(
                Company.id == user.company_id).execute()
            # Registered again after its partner account was deleted: no old approval, certificate
            # or request carries over (the audit trail keeps them).
            partner_restart.start_clean(user.company_id, user, now)
        user = User.get_by_id(user.id)
        _mail_set_password(config, user, "welcome", now)
    log.info("account %s activated", user.email)
    return user


def _mail_set_password(config: Config, user: User, template: str, now: dt.datetime) -> None:
    token = links.make(config.secret_key, "set_password", user)
    send_mail(config, template, user.email, user.language,
          {"user": user, "login": user.email, "link": links.url(config.base_url, "set_password", token),
           "login_url": config.base_url + "/login", "hours": links.MAX_AGE_SECONDS // 3600}, now)


# --- logging in and passwords (W3) -------------------------------------------------------


def authenticate(email: str, password: str, *, ip: str, now: dt.datetime | None = None) -> User:
    """The user for a right address and password; else `LoginRefused`, which never says
    which of the two was wrong."""
    now = now or utcnow()
    email = email.strip().lower()
    keys = {"account": email, "ip": ip}
    with db.atomic():  # the attempt is recorded whatever the answer: no raising in here
        limited = ratelimit.blocked("login", ratelimit.LOGIN, keys, now)
        user = None if limited else User.get_or_none(User.email == email)
        good = not limited and passwords.verify(user.password_hash if user else None, password) and user.is_active
        ratelimit.record("login", keys, ok=good, now=now, detail="over the limit" if limited else "")
        if good and passwords.needs_rehash(user.password_hash):
            User.update(password_hash=passwords.hash_password(password)).where(User.id == user.id).execute()
    if not good:
        raise LoginRefused(limited=limited)
    return user  # type: ignore[return-value]


def password_link(config: Config, user: User) -> str:
    """A one-time link to set the user's password (for the `helpdesk user` command)."""
    return links.url(config.base_url, "set_password", links.make(config.secret_key, "set_password", user))


def password_link_user(config: Config, token: str) -> User:
    user, _ = links.open_link(config.secret_key, "set_password", token)
    return user


def set_password_by_link(config: Config, token: str, password: str, *, now: dt.datetime | None = None) -> User:
    """Set the password from a mailed link (welcome or reset); ends every other session."""
    with db.atomic():
        user, _ = links.open_link(config.secret_key, "set_password", token)
        passwords.check_new(password, email=user.email, personal=_personal(user))
        _store_password(user, password)
    return User.get_by_id(user.id)


def change_password(user: User, current: str, new: str, *, ip: str, now: dt.datetime | None = None) -> User:
    """Change a password, knowing the current one; ends the user's other sessions."""
    _check_current(user, current, ip=ip, now=now)
    passwords.check_new(new, email=user.email, personal=_personal(user))
    with db.atomic():
        _store_password(user, new)
    return User.get_by_id(user.id)


def _personal(user: User) -> tuple[str, ...]:
    """What somebody who knows the user would guess first."""
    company = user.company.name if user.company_id else ""
    return (user.first_name, user.last_name, company, user.phone)


def end_sessions(user: User) -> None:
    """Sign the user out on the server: every session cookie issued so far stops working
    (logging out ends the account's sessions everywhere, a copied cookie included)."""
    User.update(session_version=User.session_version + 1).where(User.id == user.id).execute()


def _store_password(user: User, password: str) -> None:
    User.update(password_hash=passwords.hash_password(password),
                session_version=User.session_version + 1).where(User.id == user.id).execute()


def forgot_password(config: Config, email: str, *, ip: str, now: dt.datetime | None = None) -> None:
    """Queue a link to set a new password when the address has an active account; silent
    otherwise. Both paths do the same work (the request counted against the address and
    the client, the account looked up, the mail built) and differ only in whether the
    mail is queued, so neither the answer nor its time tells whether an address has an
    account; unknown addresses use up their limit like known ones."""
    now = now or utcnow()
    email = email.strip().lower()
    with db.atomic():
        allowed = _may_mail(email, ip, now)
        user = User.get_or_none(User.email == email)
        real = allowed and user is not None and user.is_active
        stand_in = user if real else User(id=0, email=email, language=user.language if user else "pl")
        token = links.make(config.secret_key, "set_password", stand_in)
        context = {"user": stand_in, "login": email, "link": links.url(config.base_url, "set_password", token),
                   "login_url": config.base_url + "/login", "hours": links.MAX_AGE_SECONDS // 3600}
        send_mail(config, "password_reset", email, stand_in.language, context, now, queue=real)


# --- email address and deletion -----------------------------------------------------------


def request_email_change(config: Config, user: User, password: str, new_email: str, *, ip: str,
                         now: dt.datetime | None = None) -> None:
    """Mail a confirmation link to the new address; nothing changes until it is followed."""
    now = now or utcnow()
    _check_current(user, password, ip=ip, now=now)
    new_email = new_email.strip().lower()
    with db.atomic():
        if not _may_mail(new_email, ip, now):
            return
        if User.select().where(User.email == new_email).exists():
            send_mail(config, "email_taken", new_email, user.language, {"user": user}, now)
            return
        token = links.make(config.secret_key, "change_email", user, extra=new_email)
        send_mail(config, "email_change", new_email, user.language,
              {"user": user, "new_email": new_email, "link": links.url(config.base_url, "change_email", token),
               "hours": links.MAX_AGE_SECONDS // 3600}, now)


def confirm_email_change(config: Config, token: str, *, now: dt.datetime | None = None) -> User:
    """Move the account to the new address; the old one is told. Ends other sessions."""
    now = now or utcnow()
    with db.atomic():
        user, new_email = links.open_link(config.secret_key, "change_email", token)
        old = user.email
        try:
            with db.atomic():
                User.update(email=new_email, session_version=User.session_version + 1).where(
                    User.id == user.id).execute()
        except IntegrityError:
            raise links.BadLink("address taken meanwhile") from None
        send_mail(config, "email_changed", old, user.language, {"user": user, "new_email": new_email}, now)
    log.info("account %s moved to %s", old, new_email)
    return User.get_by_id(user.id)


def delete_account(user: User, password: str, *, ip: str, now: dt.datetime | None = None) -> None:
    """Delete the account. Its tickets stay (with the address they were written from) for
    the support team's records; its contract access goes with it. Its id is never given
    to another account (migration 012), so a cookie of the deleted account stays dead."""
    _check_current(user, password, ip=ip, now=now)
    with db.atomic():
        User.delete().where(User.id == user.id).execute()
    log.info("account %s deleted by its owner", user.email)


# --- people, managed by admins (W8) ---------------------------------------------------------


def invite(config: Config, *, email: str, first_name: str, last_name: str, role: Role, by: User | None,
           now: dt.datetime | None = None) -> User:
    """An account made by an admin (an engineer, say): active at once, with a mailed link
    to set its password. An address a customer wrote from becomes that account."""
    now = now or utcnow()
    email = email.strip().lower()
    with db.atomic():
        user = User.get_or_none(User.email == email)
        if user is not None and user.activated_at is not None:
            raise Invalid(N_("This address already has an account: change its role in the list below."))
        fields = dict(first_name=first_name, last_name=last_name, role=role.value, is_active=True, activated_at=now)
        if user is None:
            user = User.create(email=email, **fields)
        else:
            User.update(**fields).where(User.id == user.id).execute()
            user = User.get_by_id(user.id)
        _mail_set_password(config, user, "invitation", now)
        _audit(by, "invite", user, role.value, now)  # type: ignore[arg-type]
    return user


def set_role(user: User, role: Role, *, by: User | None, now: dt.datetime | None = None) -> None:
    """`by`: the admin deciding; None for the `helpdesk user` command."""
    if by is not None and user.id == by.id and role is not Role.ADMIN:
        raise Invalid(N_("You cannot take away your own admin role."))
    with db.atomic():
        User.update(role=role.value, session_version=User.session_version + 1).where(User.id == user.id).execute()
        _audit(by, "set_role", user, f"{user.role} -> {role.value}", now or utcnow())  # type: ignore[arg-type]


def set_active(user: User, active: bool, *, by: User, now: dt.datetime | None = None) -> None:
    """Deactivate (signed out at once, cannot log in) or reactivate an account."""
    if user.id == by.id and not active:
        raise Invalid(N_("You cannot deactivate your own account."))
    with db.atomic():
        User.update(is_active=active, session_version=User.session_version + 1).where(User.id == user.id).execute()
        _audit(by, "activate" if active else "deactivate", user, "", now or utcnow())


def _audit(actor: User, action: str, user: User, detail: str, now: dt.datetime) -> None:
    audit.record(actor, action, "user", user.id, f"{user.email}: {detail}", now)
