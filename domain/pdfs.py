"""The partner agreement and certificate as PDF files (SPEC P1): drawn with reportlab, in
DejaVu Sans (Debian's fonts-dejavu-core, embedded, so Polish letters render anywhere), and
signed with pyHanko: a real PDF signature by the portal's own key and self-signed
certificate, made once with `cryptography` into `<data dir>/signing/` (readers show the
signature as made by an unknown signer until they trust that certificate).

`agreement` and `certificate` return the bytes; the caller stores them (BlobStore) before
the commit that refers to them. Nothing here reads the database.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import io
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

log = logging.getLogger(__name__)
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
SIGNER_NAME = "Portal serwisowy - podpis elektroniczny"


@dataclass(frozen=True)
class PartnerDocument:
    """What both documents say about the partner."""

    company_name: str
    nip: str
    address: str
    role: str  # as shown: "Instalator"
    level: str  # as shown: "Autoryzowany"
    terms_version: str
    distributors: tuple[str, ...]
    quarterly_target: str  # formatted PLN amounts
    annual_target: str
    commission: str
    approved_on: dt.date
    valid_until: dt.date
    verification_code: str
    verify_url: str


class FontMissing(RuntimeError):
    """DejaVu Sans is not installed (apt-get install fonts-dejavu-core)."""


def _fonts() -> tuple[str, str]:
    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        for folder in FONT_DIRS:
            regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
            if regular.is_file() and bold.is_file():
                pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
                pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
                break
        else:
            raise FontMissing("DejaVu Sans is missing: apt-get install fonts-dejavu-core")
    return "DejaVuSans", "DejaVuSans-Bold"


def _date(day: dt.date) -> str:
    return day.strftime("%d.%m.%Y")


def wrapped(text: str, font: str, size: float, width: float) -> list[str]:
    """The text in lines that fit `width` points: broken at spaces, and a word longer than
    the line (a URL) broken where it must."""
    lines = []
    for line in simpleSplit(text, font, size, width) or [""]:
        while pdfmetrics.stringWidth(line, font, size) > width:
            cut = len(line)
            while cut > 1 and pdfmetrics.stringWidth(line[:cut], font, size) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines


def _lines(c: canvas.Canvas, x: float, y: float, rows: list[tuple[str, str]], font: str, bold: str,
           size: float = 11, gap: float = 7 * mm, right: float = A4[0] - 20 * mm) -> float:
    """Label and value rows; a long value continues on the next lines, within `right`."""
    for label, value in rows:
        c.setFont(bold, size)
        c.drawString(x, y, label)
        c.setFont(font, size)
        extra = 0.0
        for i, line in enumerate(wrapped(value, font, size, right - x - 62 * mm)):
            c.drawString(x + 62 * mm, y - i * size * 1.3, line)
            extra = i * size * 1.3
        y -= gap + extra
    return y


def _draw_agreement(doc: PartnerDocument) -> bytes:
    font, bold = _fonts()
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4, invariant=True)
    c.setTitle(f"Umowa partnerska {doc.verification_code}")
    c.setAuthor("Portal serwisowy")
    width, height = A4
    c.setFont(bold, 18)
    c.drawString(20 * mm, height - 30 * mm, "Umowa partnerska")
    c.setFont(font, 11)
    c.drawString(20 * mm, height - 38 * mm, f"Program Partnerski, warunki w wersji {doc.terms_version}")
    rows = [
        ("Partner:", doc.company_name),
        ("NIP:", doc.nip),
        ("Adres:", doc.address),  # a row without a value is left out
        ("Rola:", doc.role),
        ("Poziom partnerstwa:", doc.level),
        ("Dystrybutorzy:", ", ".join(doc.distributors)),
        ("Cel kwartalny:", doc.quarterly_target),
        ("Cel roczny:", doc.annual_target),
        ("Prowizja:", doc.commission),
        ("Data zawarcia:", _date(doc.approved_on)),
        ("Obowiązuje do:", _date(doc.valid_until)),
        ("Kod weryfikacyjny:", doc.verification_code),
    ]
    y = _lines(c, 20 * mm, height - 55 * mm, [(label, value) for label, value in rows if value.strip()], font, bold)
    c.setFont(font, 10)
    text = c.beginText(20 * mm, y - 6 * mm)
    body = (f"Strony zawierają umowę o udziale Partnera w Programie Partnerskim na warunkach w wersji "
            f"{doc.terms_version}, zaakceptowanych przez Partnera w portalu. Partner zobowiązuje się do realizacji "
            "zadeklarowanych celów; prowizja jest naliczana od sprzedaży u wskazanych dystrybutorów.")
    for paragraph in (body, "Ważność umowy i certyfikatu można sprawdzić pod adresem:", doc.verify_url):
        for line in wrapped(paragraph, font, 10, width - 40 * mm):
            text.textLine(line)
    c.drawText(text)
    c.setFont(font, 9)
    c.drawString(20 * mm, 30 * mm, f"Dokument podpisany elektronicznie ({SIGNER_NAME}).")
    c.showPage()
    c.save()
    return out.getvalue()


def _draw_certificate(doc: PartnerDocument) -> bytes:
    font, bold = _fonts()
    out = io.BytesIO()
    size = landscape(A4)
    c = canvas.Canvas(out, pagesize=size, invariant=True)
    c.setTitle(f"Certyfikat partnera {doc.verification_code}")
    c.setAuthor("Portal serwisowy")
    width, height = size
    c.setLineWidth(3)
    c.rect(12 * mm, 12 * mm, width - 24 * mm, height - 24 * mm)
    c.setFont(bold, 30)
    c.drawCentredString(width / 2, height - 45 * mm, "Certyfikat Partnera")
    c.setFont(font, 14)
    c.drawCentredString(width / 2, height - 60 * mm, "Zaświadcza się, że firma")
    c.setFont(bold, 22)
    c.drawCentredString(width / 2, height - 75 * mm, doc.company_name)
    c.setFont(font, 13)
    c.drawCentredString(width / 2, height - 85 * mm, f"NIP {doc.nip} · {doc.role}")
    c.drawCentredString(width / 2, height - 100 * mm, "jest uczestnikiem Programu Partnerskiego na poziomie")
    c.setFont(bold, 20)
    c.drawCentredString(width / 2, height - 113 * mm, doc.level)
    c.setFont(font, 12)
    c.drawCentredString(width / 2, height - 128 * mm,
                        f"Ważny od {_date(doc.approved_on)} do {_date(doc.valid_until)}")
    c.drawCentredString(width / 2, height - 138 * mm, f"Kod weryfikacyjny: {doc.verification_code}")
    c.setFont(font, 10)
    for i, line in enumerate(wrapped(f"Sprawdź ważność: {doc.verify_url}", font, 10, width - 40 * mm)):
        c.drawCentredString(width / 2, height - (146 + 5 * i) * mm, line)
    c.drawCentredString(width / 2, 22 * mm, f"Dokument podpisany elektronicznie ({SIGNER_NAME}).")
    c.showPage()
    c.save()
    return out.getvalue()


# --- signing ---------------------------------------------------------------------------


def signing_identity(data_dir: Path) -> Path:
    """The PEM file holding the portal's signing key and certificate; made on first use.
    Written to a temporary file and linked into place, so two processes starting at
    once end up with one identity, never a half-written one."""
    path = Path(data_dir) / "signing" / "portal-signer.pem"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = _new_identity()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # fails when another process made it first: theirs wins
            log.info("made the PDF signing key and certificate in %s", path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return path


def _new_identity() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SIGNER_NAME),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Portal serwisowy")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
            + cert.public_bytes(serialization.Encoding.PEM))


def sign(pdf: bytes, data_dir: Path, *, reason: str) -> bytes:
    """The PDF with a PAdES signature by the portal's key (an incremental update)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    identity = signing_identity(data_dir)
    signer = signers.SimpleSigner.load(str(identity), str(identity))
    if signer is None:
        raise RuntimeError(f"cannot load the signing identity {identity}")
    meta = signers.PdfSignatureMetadata(field_name="Podpis", reason=reason, name=SIGNER_NAME)

    async def signed():
        out = await signers.async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer)
        return out.getvalue()

    # pyHanko signs with asyncio; its own event loop, in a thread of its own, so that a
    # caller already inside an event loop (a Playwright-driven test, an async server) works.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(signed())).result()


def agreement(doc: PartnerDocument, data_dir: Path) -> bytes:
    return sign(_draw_agreement(doc), data_dir, reason=f"Umowa partnerska {doc.verification_code}")


def certificate(doc: PartnerDocument, data_dir: Path) -> bytes:
    return sign(_draw_certificate(doc), data_dir, reason=f"Certyfikat partnera {doc.verification_code}")
