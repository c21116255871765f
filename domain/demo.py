"""Demo data for a newcomer (`helpdesk demo`): a few companies, contracts and devices, the
authorised distributors partners choose in the programme, and a customer who can log in at
once and has one more contract left to verify.

Safe to run again: what exists is left as it is (contracts are matched by number,
companies by NIP, the user by address); only the demo user's password is new each run,
since the old one was never stored and cannot be shown again.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from peewee import IntegrityError
from stdnum.pl import nip as stdnum_nip

from helpdesk.models import Company, CompanyRole, Contract, ContractAccess, Distributor, Role, User, db, utcnow

from . import contracts, passwords
from .contract_csv import ContractRow, Line

NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
DEMO_EMAIL = "ewa.demo@apteka-pod-lipami.example"


def nip_of(base: str) -> str:
    """A valid NIP from its first nine digits (a base whose check digit would be 10 has none)."""
    digit = sum(w * int(d) for w, d in zip(NIP_WEIGHTS, base)) % 11
    number = base + str(digit)
    if digit == 10 or not stdnum_nip.is_valid(number):
        raise ValueError(f"{base}: no valid NIP starts with these digits")
    return number


PHARMACY = ("Apteka Pod Lipami Sp. z o.o.", nip_of("525123456"))
HOTEL = ("Hotel Wawel Residence Sp. z o.o.", nip_of("677234567"))
WAREHOUSE = ("Logistyka Bałtycka S.A.", nip_of("727345678"))
INSTALLER = ("Instalacje Bezpieczeństwa Nowak Sp. j.", nip_of("951456789"))

WARSAW_1 = "ul. Marszałkowska 84/92, 00-514 Warszawa"
WARSAW_2 = "ul. Grójecka 122, 02-367 Warszawa"
KRAKOW_1 = "ul. Floriańska 15, 31-019 Kraków"
KRAKOW_2 = "ul. Grodzka 40, 31-044 Kraków"
LODZ = "ul. Piotrkowska 120, 90-006 Łódź"

# number, customer, service level, (start, end) in days from today, [(model, serial, address)]
CONTRACTS = [
    ("D100101", PHARMACY, "Gold 24/7, reakcja 4 h", (-120, 245), [
        ("Hikvision DS-7716NI-K4 (rejestrator NVR)", "DS-7716NI-K41620230815CCRR", WARSAW_1),
        ("Hikvision DS-2CD2143G2-I (kamera IP)", "DS-2CD2143G2-I20230901AAWR", WARSAW_1),
    ]),
    ("D100102", PHARMACY, "Silver 8x5, reakcja NBD", (-30, 335), [
        ("Fortinet FortiGate 60F", "FGT60FTK21001234", WARSAW_2),
        ("Fortinet FortiGate 60F, licencja UTP 1 rok", "FGVMUL-4K2P-9XHD-QM3T", WARSAW_2),
    ]),
    ("D100103", PHARMACY, "Standard 8x5", (-800, -35), [
        ("Satel INTEGRA 64 Plus (centrala alarmowa)", "INT64P-0042197", WARSAW_1),
        ("Satel ETHM-1 Plus (moduł Ethernet)", "ETHM1P-0113579", WARSAW_1),
    ]),
    ("D200201", HOTEL, "Gold 24/7, reakcja 4 h", (-200, 165), [
        ("Satel INTEGRA 128-WRL (centrala alarmowa)", "I128W-0098765", KRAKOW_1),
        ("Hikvision DS-7732NI-K4 (rejestrator NVR)", "DS-7732NI-K41620220310CCRR", KRAKOW_1),
    ]),
    ("D200202", HOTEL, "Silver 8x5, reakcja NBD", (-60, 305), [
        ("Fortinet FortiGate 100F", "FG100FTK22004567", KRAKOW_2),
        ("Fortinet FortiAP 231F", "FP231FTF22011223", KRAKOW_2),
    ]),
    ("D300301", WAREHOUSE, "Standard 8x5", (-10, 355), [
        ("Hikvision DS-9632NI-I8 (rejestrator NVR)", "DS-9632NI-I81620221201CCRR", LODZ),
        ("Satel INTEGRA 256 Plus (centrala alarmowa)", "I256P-0077001", LODZ),
    ]),
]
# Authorised distributors partners choose in the programme (without one the step cannot be finished).
DISTRIBUTORS = [
    ("Dystrybucja Zabezpieczeń Delta Sp. z o.o.", nip_of("526345678")),
    ("Hurtownia Elektroniki Północ S.A.", nip_of("583456789")),
    ("Systemy Alarmowe Sigma Sp. z o.o.", nip_of("679567891")),
]
GRANTED = ("D100101", "D100103")  # the demo user sees these from the start (one active, one expired)
TO_VERIFY = ("D100102", "FGVMUL-4K2P-9XHD-QM3T")  # and verifies this one itself


@dataclass(frozen=True)
class Demo:
    email: str
    password: str
    verify_number: str
    verify_serial: str
    contracts_created: int
    companies_created: int
    user_created: bool
    distributors_created: int = 0


def _company(name: str, nip: str, role: CompanyRole) -> tuple[Company, bool]:
    try:
        with db.atomic():
            return Company.create(name=name, nip=nip, role=role.value), True
    except IntegrityError:
        return Company.get(Company.nip == nip), False


def create(*, now: dt.datetime | None = None) -> Demo:
    """The demo companies, contracts and user (created when missing); a new password for the user."""
    now = now or utcnow()
    today = now.date()
    with db.atomic():
        companies_created = 0
        for (name, nip), role in [(PHARMACY, CompanyRole.CUSTOMER), (HOTEL, CompanyRole.CUSTOMER),
                                  (WAREHOUSE, CompanyRole.CUSTOMER), (INSTALLER, CompanyRole.INSTALLER)]:
            companies_created += _company(name, nip, role)[1]
        existing = set(Contract.select(Contract.number).where(
            Contract.number.in_([c[0] for c in CONTRACTS])).tuples().execute())
        rows = [ContractRow(number=number, nip=nip, customer_name=name, service_level=level,
                            starts_on=today + dt.timedelta(days=start), ends_on=today + dt.timedelta(days=end),
                            partner_nip=INSTALLER[1], first_line=0,
                            lines=[Line(0, model, serial, address) for model, serial, address in lines])
                for number, (name, nip), level, (start, end), lines in CONTRACTS if (number,) not in existing]
        report = contracts.store(rows, now=now)
        known = {nip for (nip,) in Distributor.select(Distributor.nip).tuples()}
        fresh = [{"name": name, "nip": nip} for name, nip in DISTRIBUTORS if nip not in known]
        if fresh:
            Distributor.insert_many(fresh).on_conflict_ignore().execute()
        password = secrets.token_urlsafe(12)
        user = User.get_or_none(User.email == DEMO_EMAIL)
        fields = dict(first_name="Ewa", last_name="Demo", phone="601000000", role=Role.CUSTOMER.value,
                      company=Company.get(Company.nip == PHARMACY[1]), is_active=True, language="pl",
                      password_hash=passwords.hash_password(password))
        user_created = user is None
        if user_created:
            user = User.create(email=DEMO_EMAIL, activated_at=now, **fields)
        else:
            User.update(session_version=User.session_version + 1, activated_at=user.activated_at or now,
                        **fields).where(User.id == user.id).execute()
        ContractAccess.insert_many(
            [{"user": user.id, "contract": contract_id, "granted_at": now}
             for (contract_id,) in Contract.select(Contract.id).where(Contract.number.in_(GRANTED)).tuples()]
        ).on_conflict_ignore().execute()
    return Demo(email=DEMO_EMAIL, password=password, verify_number=TO_VERIFY[0], verify_serial=TO_VERIFY[1],
                contracts_created=report.contracts_created, companies_created=companies_created,
                user_created=user_created, distributors_created=len(fresh))
