"""A realistic, lived-in portal for the tests that look at every page (no English in Polish
pages, every page fits a phone): the demo's customer and contracts, a verified partner
with an approved programme application, sales, level and role requests; partners pending,
rejected and waiting; engineers and an admin; tickets by mail and portal with a history of
every kind (replies both ways, close, reopen, assign, merge, split, status changes), notes
and CCs; resources of every kind, canned answers, a webhook, security events, and an audit
entry of every action. Everything is made the way users make it (the portal's forms, the
mail worker, the domain functions the CLI calls), so the stored texts are the real ones."""
from __future__ import annotations

import datetime as dt
import io
import itertools
import re
from collections.abc import Iterator
from types import SimpleNamespace

from flask import url_for
from werkzeug.routing import AnyConverter

from helpdesk import scheduler
from helpdesk.domain import (
    audit,
    canned,
    demo,
    kb,
    labels,
    merge,
    partner_access,
    partners,
    passwords,
    security_events,
    statistics,
    tokens,
    webhooks,
)
from helpdesk.domain.conversation import Upload
from helpdesk.models import (
    ArticleFile,
    Attachment,
    AuditLog,
    CannedAnswer,
    Company,
    CompanyRole,
    Contract,
    DeviceLine,
    Distributor,
    LevelEvidence,
    Message,
    PartnerApplication,
    Role,
    Ticket,
    User,
)
from tests.harness import Desk
from tests.mailfactory import make_mail
from tests.portal import Portal

PASSWORD = "correct horse battery"
NOT_PAGES = {"static", "health.healthz", "pages.language"}  # files, a probe, the language switch
_HASH = passwords.hash_password(PASSWORD)


def person(email: str, first: str, last: str, role: Role, company=None) -> User:
    return User.create(email=email, first_name=first, last_name=last, company=company, role=role.value,
                       password_hash=_HASH, is_active=True, activated_at=dt.datetime(2026, 1, 1), language="pl")


def signed_in(app, user: User, ip: str = "192.0.2.30") -> Portal:
    portal = Portal(app, ip=ip)
    response = portal.post("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return portal


def _partner_company(name: str, nip_base: str, role: CompanyRole, *, verified: bool, level=None) -> Company:
    return Company.create(nip=demo.nip_of(nip_base), name=name, role=role.value, partner_level=level,
                          verified_at=dt.datetime(2026, 1, 2) if verified else None,
                          address="ul. Piotrkowska 12, 90-001 Łódź")


def _enrol(portal: Portal, distributors, level: str = "authorised") -> None:
    """The programme's steps as a partner goes through them."""
    assert portal.post("/partner/programme/start", page="/partner/programme").status_code == 302
    page = portal.text("/partner/programme/terms")
    terms_id = re.search(r'name="terms_id" type="hidden" value="(\d+)"', page).group(1)
    portal.post("/partner/programme/terms", {"terms_id": terms_id, "accept": "y"})
    portal.post("/partner/programme/distributors", {"distributors": [str(d.id) for d in distributors]})
    assert portal.post("/partner/programme/level", {"level": level}).status_code == 302


def _open_in_portal(portal: Portal, contract: Contract, title: str, text: str, ccs: str = ""):
    line = contract.lines.order_by(DeviceLine.id).first()
    response = portal.post(f"/tickets/new?contract={contract.id}",
                           {"line": str(line.id), "title": title, "description": text, "ccs": ccs,
                            "attachments": [(io.BytesIO(b"log: brak zapisu od 02:00\n"), "dziennik.txt")]},
                           content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return Ticket.select().order_by(Ticket.id.desc()).get()


def build(app, config) -> SimpleNamespace:
    """The world; returns its people, tickets and ids (for the URL map's arguments)."""
    now = dt.datetime.utcnow().replace(microsecond=0)
    made = demo.create(now=now)
    w = SimpleNamespace(customer=User.get(User.email == made.email))
    User.update(password_hash=_HASH).where(User.id == w.customer.id).execute()
    w.admin = person("anna.admin@helpdesk.example", "Anna", "Wiśniewska", Role.ADMIN)
    w.engineer = person("piotr.serwis@helpdesk.example", "Piotr", "Zieliński", Role.ENGINEER)
    w.north = Distributor.create(name="Dystrybutor Północ Sp. z o.o.", nip=demo.nip_of("583111111"))
    w.south = Distributor.create(name="Hurtownia Południe S.A.", nip=demo.nip_of("676222222"))
    installer = Company.get(Company.nip == demo.INSTALLER[1])
    Company.update(verified_at=dt.datetime(2026, 1, 2), partner_level=4,
                   address="ul. Długa 5, 31-147 Kraków").where(Company.id == installer.id).execute()
    w.partner = person("jan.nowak@instalacje-nowak.example", "Jan", "Nowak", Role.PARTNER, installer)
    w.integrator = person("ola@integrator.example", "Ola", "Kowalczyk", Role.PARTNER,
                          _partner_company("Integrator Systemów Sp. z o.o.", "526000124", CompanyRole.INTEGRATOR,
                                           verified=True, level=1))
    w.arc = person("dyzurny@cma.example", "Marek", "Dyżurny", Role.PARTNER,
                   _partner_company("Centrum Monitorowania Alarmów", "779000001", CompanyRole.ARC, verified=False))
    w.reseller = person("sklep@sprzedawca.example", "Ewa", "Sklep", Role.PARTNER,
                        _partner_company("Sklep Zabezpieczeń Sp. z o.o.", "951000002", CompanyRole.RESELLER,
                                         verified=True, level=2))

    admin = signed_in(app, w.admin, ip="192.0.2.31")
    engineer = signed_in(app, w.engineer, ip="192.0.2.32")
    customer = signed_in(app, w.customer, ip="192.0.2.33")
    partner = signed_in(app, w.partner, ip="192.0.2.34")

    # The programme: one approved (agreement and certificate), one rejected, one waiting.
    _enrol(partner, [w.north, w.south])
    application = PartnerApplication.get(PartnerApplication.company == installer.id)
    admin.post(f"/admin/applications/{application.id}", {"decision": "approve", "reason": ""})
    w.application = PartnerApplication.get_by_id(application.id)
    _enrol(signed_in(app, w.integrator, ip="192.0.2.35"), [w.north], level="premium")
    rejected = PartnerApplication.get(PartnerApplication.company == w.integrator.company_id)
    admin.post(f"/admin/applications/{rejected.id}", {"decision": "reject", "reason": "Brak certyfikatów"})
    partners.verify_company(config, w.arc.company_id, by=w.admin, now=now)
    _enrol(signed_in(app, w.arc, ip="192.0.2.36"), [w.south])
    w.pending_application = PartnerApplication.get(PartnerApplication.company == w.arc.company_id)
    w.waiting = person("biuro@nowy-instalator.example", "Tomasz", "Nowicki", Role.PARTNER,
                       _partner_company("Nowy Instalator Sp. j.", "113000003", CompanyRole.INSTALLER, verified=False))

    # Role changes and level applications, decided both ways and waiting.
    for user, role, decision in ((w.integrator, "installer", True), (w.reseller, "distributor", False),
                                 (w.partner, "integrator", None)):
        request = partners.request_role_change(user, role, now=now)
        if decision is not None:
            partners.decide_role_change(config, request.id, decision, "" if decision else "Za mało danych",
                                        by=w.admin, now=now)
    for user in (w.integrator, w.reseller, w.partner):  # a basis they can show: the distributor list
        Distributor.create(name=user.company.name, nip=user.company.nip)
    for user, level, decision in ((w.integrator, 1, True), (w.reseller, 1, False), (w.partner, 5, None)):
        applied = partner_access.apply_for_level(config, user, level, "distributor_list" if level else "none",
                                                 now=now)
        if decision is not None:
            partner_access.decide_level_application(config, applied.id, decision,
                                                    "" if decision else "Brak rekomendacji", by=w.admin, now=now)
    partner_access.set_level(w.reseller.company_id, 2, "Umowa handlowa", by=w.admin, now=now)
    titles = {"document": "Instrukcja serwisowa", "download": "Aktualizacja oprogramowania",
              "phone": "Numer wsparcia technicznego", "section": "Sekcja dla partnerów"}
    for kind in partner_access.RESOURCE_KINDS:
        partner_access.add_resource(config, title=titles.get(kind, "Materiał"), kind=kind, upload=None,
                                    permission_code="materials.technical", body="Treść materiału dla partnerów.",
                                    by=w.admin, now=now)
    w.resource = partner_access.add_resource(config, title="Stara instrukcja", kind="document",
                                             permission_code="materials.technical", body="Nieaktualna.", upload=None,
                                             by=w.admin, now=now)
    partner_access.delete_resource(w.resource.id, by=w.admin, now=now)
    w.resource = partner_access.resources_for(w.partner)[0][0]
    partner_access.submit_solution(w.partner, "Integracja central z chmurą", "Opis rozwiązania.", now=now)
    w.sale = partners.register_sale(config, w.partner, partners.Sale(
        nip=demo.WAREHOUSE[1], customer_name=demo.WAREHOUSE[0], service_level="Standard 8x5",
        starts_on=now.date(), ends_on=now.date() + dt.timedelta(days=365),
        lines=(partners.SaleLine("Synology DS920+", "2040PDN123456", "ul. Piotrkowska 120, 90-006 Łódź"),
               partners.SaleLine("Synology DS920+", "2040PDN654321", "ul. Piotrkowska 120, 90-006 Łódź"))),
        now=now)

    # Tickets: in the portal, by mail, answered both ways, closed, reopened, assigned, merged, split.
    contract = Contract.get(Contract.number == "D100101")
    w.contract = contract
    w.ticket = _open_in_portal(customer, contract, "Rejestrator nie nagrywa", "Od wczoraj brak zapisu z kamer.",
                               ccs="kierownik@apteka-pod-lipami.example")
    engineer.post(f"/staff/tickets/{w.ticket.id}/reply", {"text": "Proszę o zdjęcie ekranu błędu."},
                  page=f"/staff/tickets/{w.ticket.id}")
    customer.post(f"/tickets/{w.ticket.id}/reply", {"text": "Zdjęcie w załączniku."}, page=f"/tickets/{w.ticket.id}")
    engineer.post(f"/staff/tickets/{w.ticket.id}/reply", {"text": "Klient ma stary firmware.", "internal": "y"},
                  page=f"/staff/tickets/{w.ticket.id}")
    engineer.post(f"/staff/tickets/{w.ticket.id}/reply", {"text": "Zaktualizowaliśmy firmware.", "close": "y"},
                  page=f"/staff/tickets/{w.ticket.id}")
    customer.post(f"/tickets/{w.ticket.id}/reopen", page=f"/tickets/{w.ticket.id}")
    engineer.post(f"/staff/tickets/{w.ticket.id}/assign", {"as-engineer": "me"}, page=f"/staff/tickets/{w.ticket.id}")
    engineer.post(f"/staff/tickets/{w.ticket.id}/status", {"st-status": "waiting_us"},
                  page=f"/staff/tickets/{w.ticket.id}")

    desk = Desk(config)
    desk.receive(make_mail("Dzień dobry,\n\ncentrala alarmowa zgłasza sabotaż.\n\nEwa Demo\n",
                           html="<p>Dzień dobry,</p><p>centrala alarmowa zgłasza <b>sabotaż</b>.</p>",
                           From=f"Ewa Demo <{w.customer.email}>", Subject="Sabotaż centrali",
                           Cc="ochrona@apteka-pod-lipami.example"))
    w.mail_ticket = Ticket.select().order_by(Ticket.id.desc()).get()
    w.mail_message = Message.select().where(Message.ticket == w.mail_ticket.id).order_by(Message.id).first()
    reply_to = tokens.reply_address(config.support_addresses[0], config.secret_key, w.mail_ticket.id,
                                    f"u{w.engineer.id}")
    desk.receive(make_mail("Sprawdzimy czujnik na miejscu.\n", From=f"Piotr <{w.engineer.email}>",
                           To=reply_to, Subject=f"Re: [HD-{w.mail_ticket.id}] Sabotaż centrali"))
    desk.receive(make_mail("Dziękuję, czekam.\n", From=f"Ewa Demo <{w.customer.email}>",
                           Subject=f"Re: [HD-{w.mail_ticket.id}] Sabotaż centrali"))
    desk.receive(make_mail("#close\n\nCzujnik wymieniony.\n", From=f"Piotr <{w.engineer.email}>", To=reply_to,
                           Subject=f"Re: [HD-{w.mail_ticket.id}] Sabotaż centrali"))
    desk.receive(make_mail("Jednak znowu alarm.\n", From=f"Ewa Demo <{w.customer.email}>",
                           Subject=f"Re: [HD-{w.mail_ticket.id}] Sabotaż centrali"))
    desk.receive(make_mail("#wait\n\nProszę o potwierdzenie po weekendzie.\n", From=f"Piotr <{w.engineer.email}>",
                           To=reply_to, Subject=f"Re: [HD-{w.mail_ticket.id}] Sabotaż centrali"))
    # A stranger's mail naming new addresses on a customer's thread: flagged, a security event.
    desk.receive(make_mail("Dopisuję kolegę.\n", From="obcy@example.org", Cc="kolega@example.org",
                           Subject=f"Re: [HD-{w.mail_ticket.id}] Sabotaż centrali"))
    security_events.record("mail_request_limited", "ponad limit", sender="ktos@example.org", now=now)

    duplicate = _open_in_portal(customer, contract, "Kamera 2 nie działa", "Brak obrazu z kamery 2.")
    merge.merge(duplicate.id, w.ticket.id, w.engineer, confirmed=True, now=now)
    split_from = _open_in_portal(customer, contract, "Dwie sprawy", "Pierwsza sprawa.")
    customer.post(f"/tickets/{split_from.id}/reply", {"text": "Druga sprawa, osobno."}, page=f"/tickets/{split_from.id}")
    later = Message.select().where(Message.ticket == split_from.id).order_by(Message.id.desc()).get()
    w.split = merge.split(later.id, w.engineer, now=now)
    w.split_from = split_from
    w.message = Message.select().where(Message.ticket == w.ticket.id).order_by(Message.id).first()
    w.html_message = w.message

    for title, audience, models in (("Jak zresetować rejestrator Hikvision", "public", ["Hikvision DS-7716NI-K4"]),
                                    ("Aktualizacja central Satel", "customers", ["Satel INTEGRA 64 Plus"]),
                                    ("Konfiguracja VPN na FortiGate", "partners", ["Fortinet FortiGate 60F"])):
        w.article = kb.save(config, kb.Draft(title=title, body="## Kroki\n\n1. Wyłącz zasilanie.\n2. Przytrzymaj **reset**.",
                                             audience=audience, min_level=1, models=models, manufacturers=["Hikvision"]),
                            uploads=[Upload("instrukcja.txt", "text/plain", b"Instrukcja krok po kroku.\n")],
                            by=w.admin, now=now)
    w.article = kb.save(config, kb.Draft(title=w.article.title, body=w.article.body, audience="public"),
                        article_id=w.article.id, by=w.admin, now=now)
    canned.save("firmware", title="Aktualizacja firmware", body_pl="Proszę zaktualizować firmware.",
                body_en="Please update the firmware.", by=w.admin, now=now)
    endpoint = webhooks.add_endpoint("https://hooks.apteka-pod-lipami.example/helpdesk", "sekret-pierwszy-0123456789",
                                     ["ticket.created"], allow_host="hooks.apteka-pod-lipami.example",
                                     by=w.admin, now=now)
    webhooks.resume(endpoint.id, by=w.admin, now=now)
    second = webhooks.add_endpoint("https://stary.apteka-pod-lipami.example/hook", "sekret-drugi-0123456789",
                                   ["ticket.created"], allow_host="stary.apteka-pod-lipami.example",
                                   by=w.admin, now=now)
    webhooks.remove(second.id, by=w.admin, now=now)
    admin.post("/staff/users", {"new-email": "nowy.inzynier@helpdesk.example", "new-first_name": "Adam",
                                "new-last_name": "Nowy", "new-role": "engineer"})
    _every_audit_action(w, now)
    # The scheduled mail: digests (everyone opted in) and contract reminders, a day later.
    User.update(digest_opt_in=True).execute()
    for job in ("engineer_digest", "customer_digest", "contract_reminders", "admin_digest", "sla_escalations"):
        scheduler.run_job(config, job, now + dt.timedelta(days=1, hours=8))
    return w


def arguments(w) -> dict:
    """A value (or several) for each URL argument, by its name."""
    attachment = Attachment.select().order_by(Attachment.id).first()
    article_file = ArticleFile.select().where(ArticleFile.article == w.article.id).first()
    evidence = LevelEvidence.select().first()
    return {
        "ticket_id": [w.ticket.id, w.mail_ticket.id, w.split.id],
        "message_id": [w.message.id, w.mail_message.id],
        "application_id": [w.application.id, w.pending_application.id],
        "contract_id": [w.contract.id],
        "attachment_id": [attachment.id],
        "filename": [attachment.filename, article_file.filename],
        "evidence_id": [evidence.id if evidence else 1],
        "resource_id": [w.resource.id],
        "answer_id": [CannedAnswer.select().first().id],
        "name": list(statistics.REPORTS),
        "code": [w.application.verification_code, "XXXX-XXXX-XXXX"],
        "token": ["nie-ma-takiego-linku"],
        "article_id": [w.article.id],
        "file_id": [article_file.id],
    }


def page_urls(app, w) -> Iterator[tuple[str, str]]:
    """(endpoint, URL) of every GET rule of the portal (not the API, files or the language
    switch), with each combination of its arguments' values from the world."""
    values = arguments(w)
    unknown = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NOT_PAGES or rule.rule.startswith("/api/"):
            continue
        choices = {}
        for name in rule.arguments:
            converter = rule._converters.get(name)
            if isinstance(converter, AnyConverter):
                choices[name] = sorted(converter.items)
            elif name in values:
                choices[name] = values[name]
            else:
                unknown.append(f"{rule.rule} <{name}>")
        if unknown:
            continue
        names = sorted(choices)
        for combination in itertools.product(*(choices[n] for n in names)):
            with app.test_request_context():
                yield rule.endpoint, url_for(rule.endpoint, **dict(zip(names, combination)))
    assert not unknown, ("no value for these URL arguments: add one to arguments() in "
                         f"tests/world.py: {unknown}")


def _every_audit_action(w, now: dt.datetime) -> None:
    """An audit entry of every action the labels know, as the code writes them, for those the
    flows above did not make (account activation, distributors, a message moved, ...)."""
    made = {a for (a,) in AuditLog.select(AuditLog.action).distinct().tuples()}
    samples = {
        "invite": ("user", w.engineer.id, f"{w.engineer.email}: engineer"),
        "set_role": ("user", w.engineer.id, f"{w.engineer.email}: engineer -> admin"),
        "activate": ("user", w.engineer.id, f"{w.engineer.email}: "),
        "deactivate": ("user", w.engineer.id, f"{w.engineer.email}: "),
        "verify_company": ("company", w.arc.company_id, f"{w.arc.company.nip} {w.arc.company.name} (arc)"),
        "activate_distributor": ("distributor", w.north.id, w.north.name),
        "deactivate_distributor": ("distributor", w.north.id, w.north.name),
        "add_distributor": ("distributor", w.north.id, w.north.name),
        "register_sale": ("contract", w.sale.id, f"{w.sale.number} for NIP {w.sale.company.nip}"),
        "merge": ("ticket", w.ticket.id, f"HD-99 merged into HD-{w.ticket.id}: 2 message(s)"),
        "split": ("ticket", w.split.id, f"1 message(s) from HD-{w.split_from.id}"),
        "add_cc": ("ticket", w.ticket.id, "kierownik@apteka-pod-lipami.example"),
        "remove_cc": ("ticket", w.ticket.id, "kierownik@apteka-pod-lipami.example"),
        "assign": ("ticket", w.ticket.id, "nobody"),
        "move_message": ("ticket", w.ticket.id, f"message {w.message.id} from ticket {w.split_from.id}"),
    }
    for action in labels.AUDIT_ACTION:
        if action in made:
            continue
        object_type, object_id, detail = samples.get(action, ("ticket", w.ticket.id, ""))
        audit.record(w.admin, action, object_type, object_id, detail, now)
