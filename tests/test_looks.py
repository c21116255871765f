"""Looks (issue 17, item 9): numbers in the reader's format on the pages and in the PDF
(one helper, `domain.numbers`), a space and the right plural before a device count, and
an agreement PDF whose long verification URL stays on the page and whose empty address
is left out rather than printed as "-"."""
from __future__ import annotations

import datetime as dt
import io

import pypdf
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm

from helpdesk.domain import numbers, pdfs
from helpdesk.models import Company, Contract, ContractAccess, DeviceLine, Role
from tests import world as world_mod
from tests.untranslated import visible_text

NBSP = "\xa0"


@pytest.mark.parametrize("locale, money, amount, percent, number", [
    ("pl", "10 000,00 zł", "2 500,00", "2,00%", "1,5"),
    ("en", "PLN 10,000.00", "2,500.00", "2.00%", "1.5"),
])
def test_numbers_are_written_as_the_reader_writes_them(locale, money, amount, percent, number):
    assert numbers.money(10000, locale).replace(NBSP, " ") == money
    assert numbers.amount(2500, locale).replace(NBSP, " ") == amount
    assert numbers.percent("2.00", locale) == percent
    assert numbers.number(1.5, locale) == number


def _text(page: str) -> str:
    return page.replace(NBSP, " ").replace("&nbsp;", " ")


def test_the_status_page_and_the_admins_application_show_polish_and_english_numbers(app, config):
    w = world_mod.build(app, config)
    partner = world_mod.signed_in(app, w.partner)
    page = _text(partner.text("/partner/programme/status"))
    assert "10 000,00 zł" in page and "2,00%" in page, page
    assert "10000" not in page and "2.00%" not in page
    step = _text(partner.text("/partner/programme/level"))  # approved: the step sends it on, or shows targets
    assert "10000.00" not in step
    admin = world_mod.signed_in(app, w.admin, ip="192.0.2.71")
    page = _text(admin.text(f"/admin/applications/{w.application.id}"))
    assert "10 000,00 zł" in page and "2 500,00 zł" in page and "2,00%" in page
    admin.get("/language/en")
    page = _text(admin.text(f"/admin/applications/{w.application.id}"))
    assert "PLN 10,000.00" in page and "2.00%" in page


def test_a_device_count_has_its_space_and_its_plural(app, db):
    company = Company.create(nip="5260001246", name="Firma Sp. z o.o.")
    today = dt.date.today()
    user = world_mod.person("anna@firma.example", "Anna", "Kowalska", Role.CUSTOMER, company)
    for number, count in (("K1", 1), ("K2", 2), ("K5", 5)):
        contract = Contract.create(number=number, company=company, customer_name=company.name,
                                   starts_on=today - dt.timedelta(days=1), ends_on=today + dt.timedelta(days=300))
        for i in range(count):
            DeviceLine.create(contract=contract, model="DS920+", serial=f"{number}-{i}", address="Łódź")
        ContractAccess.create(user=user, contract=contract)
    page = visible_text(world_mod.signed_in(app, user).text("/contracts"))
    for expected in ("DS920+ (1 urządzenie)", "DS920+ (2 urządzenia)", "DS920+ (5 urządzeń)"):
        assert expected in page, (expected, page)
    assert "+(" not in page


def _agreement(address: str, url: str) -> bytes:
    today = dt.date(2026, 12, 2)
    doc = pdfs.PartnerDocument(
        company_name="Instalacje Bezpieczeństwa Nowak Sp. j.", nip="9514567894", address=address, role="Instalator",
        level="Autoryzowany", terms_version="2025.1", distributors=("Dystrybutor Północ",),
        quarterly_target=numbers.money(2500, "pl"), annual_target=numbers.money(10000, "pl"),
        commission=numbers.percent(2, "pl"), approved_on=today, valid_until=today + dt.timedelta(days=365),
        verification_code="ABCD-EFGH-JKLM", verify_url=url)
    return pdfs._draw_agreement(doc)


def test_the_agreement_wraps_a_long_verification_url_and_leaves_out_an_empty_address():
    url = "https://portal-serwisowy.przyklad-bardzo-dlugiej-domeny.example/partner/weryfikacja/certyfikat/" \
          "ABCD-EFGH-JKLM?zrodlo=umowa-partnerska-pdf&wersja=2025.1"
    data = _agreement("", url)
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)
    assert "Adres" not in text and ": -" not in text
    assert url in text.replace("\n", ""), text
    assert "10 000,00 zł" in text.replace(NBSP, " ") and "2,00%" in text
    width = A4[0]
    for line in pdfs.wrapped(url, "DejaVuSans", 10, width - 40 * mm):
        assert pdfs.pdfmetrics.stringWidth(line, "DejaVuSans", 10) <= width - 40 * mm
    assert "".join(pdfs.wrapped(url, "DejaVuSans", 10, width - 40 * mm)) == url
    with_address = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(_agreement("ul. Długa 5, Kraków", url))).pages)
    assert "Adres:" in with_address and "ul. Długa 5, Kraków" in with_address


def test_a_long_line_is_wrapped_at_spaces_first():
    pdfs._fonts()
    lines = pdfs.wrapped("Ważność umowy i certyfikatu można sprawdzić pod adresem podanym poniżej w portalu",
                         "DejaVuSans", 10, 60 * mm)
    assert len(lines) > 1 and all(not line.startswith(" ") for line in lines)
    assert " ".join(lines) == "Ważność umowy i certyfikatu można sprawdzić pod adresem podanym poniżej w portalu"
