"""Reading a contract CSV (one row per device line) into contracts to store: pure, no database.

In: the file's bytes. Header row required; UTF-8 with or without a BOM; `,` or `;` as
the delimiter (whichever the header uses). Columns, in any order:
`contract_number,nip,customer_name,service_level,starts_on,ends_on,partner_nip,model,serial,address`
(`partner_nip`, `service_level`, `model` and `address` may be empty; dates YYYY-MM-DD).

Out: `Parsed`, the contracts in file order, each with its device lines, and every row
refused with its line number and why. A bad row never stops the file; only a file that
cannot be read at all (not UTF-8, no header, columns missing) raises `UnreadableFile`.
Whether a contract of that number is already stored for another NIP is the writer's
question (domain.contracts.store), not this module's.
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from . import validation

COLUMNS = ("contract_number", "nip", "customer_name", "service_level", "starts_on", "ends_on",
           "partner_nip", "model", "serial", "address")
REQUIRED_COLUMNS = ("contract_number", "nip", "customer_name", "starts_on", "ends_on", "serial")
CONTRACT_FIELDS = ("nip", "customer_name", "service_level", "starts_on", "ends_on", "partner_nip")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
PROGRESS_LINES = 10_000  # how often `parse` reports how far it is
MAX_LENGTH = {"customer_name": 300, "service_level": 100, "model": 200, "address": 1000}


class UnreadableFile(ValueError):
    """The file as a whole cannot be read; `str(error)` says why."""


@dataclass(frozen=True)
class Refusal:
    line: int  # the line in the file (the header is line 1)
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class Line:
    line: int
    model: str
    serial: str
    address: str


@dataclass
class ContractRow:
    """One contract as the file gives it (its fields from its first good row)."""

    number: str
    nip: str
    customer_name: str
    service_level: str
    starts_on: dt.date
    ends_on: dt.date
    partner_nip: str  # "" when none
    first_line: int
    lines: list[Line] = field(default_factory=list)

    def fields(self) -> dict:
        return {name: getattr(self, name) for name in CONTRACT_FIELDS}


@dataclass
class Parsed:
    contracts: list[ContractRow]
    refused: list[Refusal]
    rows: int  # data rows read, good and refused


def decode(data: bytes) -> str:
    """The file's text: UTF-8, a BOM dropped."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"the file is not UTF-8 text (byte {error.start} cannot be read)") from None


def delimiter_of(header: str) -> str:
    """`;` when the header line uses semicolons rather than commas, else `,`."""
    return ";" if header.count(";") > header.count(",") else ","


def _date(value: str, name: str) -> dt.date:
    if not ISO_DATE.fullmatch(value):
        raise validation.Invalid(f"{name} {value!r} is not a date as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise validation.Invalid(f"{name} {value!r} is not a real date") from None


@functools.lru_cache(maxsize=65536)
def _remembered(check_name: str, value: str, what: str) -> tuple[bool, object]:
    """A check's answer for a value (a file repeats the same NIPs and dates on every line
    of a contract, and the NIP checksum is the slow part): (True, clean) or (False, message)."""
    check = {"nip": lambda v: _checked(validation.nip, v, what), "date": lambda v: _date(v, what),
             "number": lambda v: _checked(validation.contract_number, v, what)}[check_name]
    try:
        return True, check(value)
    except validation.Invalid as error:
        return False, str(error)


def _check(check_name: str, value: str, what: str):
    ok, result = _remembered(check_name, value, what)
    if not ok:
        raise validation.Invalid(result)  # type: ignore[arg-type]
    return result


def _checked(check, value: str, what: str) -> str:
    if not value.isascii():
        odd = next(c for c in value if not c.isascii())
        raise validation.Invalid(f"{what} {value!r} has a character that is not plain ASCII: {odd!r} "
                                 f"(U+{ord(odd):04X}, e.g. a Cyrillic or full-width look-alike)")
    try:
        return check(value)
    except validation.Invalid as error:
        raise validation.Invalid(f"{what} {value!r}: {error}") from None


def row_of(record: dict[str, str], line: int) -> tuple[ContractRow, Line]:
    """One CSV record as a contract and its device line; `Invalid` says what is wrong."""
    value = {name: (record.get(name) or "").strip() for name in COLUMNS}
    # An address may come on several lines (a quoted field): one line, parts joined by commas.
    value["address"] = ", ".join(part.strip() for part in value["address"].splitlines() if part.strip())
    for name, text in value.items():
        if validation.CONTROL.search(text):
            raise validation.Invalid(f"{name} contains a line break or a control character")
    number = _check("number", value["contract_number"], "contract number")
    nip = _check("nip", value["nip"], "NIP")
    partner_nip = _check("nip", value["partner_nip"], "partner NIP") if value["partner_nip"] else ""
    if not value["customer_name"]:
        raise validation.Invalid("customer_name is missing")
    for name, limit in MAX_LENGTH.items():
        if len(value[name]) > limit:
            raise validation.Invalid(f"{name} is longer than {limit} characters")
    starts_on = _check("date", value["starts_on"], "starts_on")
    ends_on = _check("date", value["ends_on"], "ends_on")
    if ends_on < starts_on:
        raise validation.Invalid(f"ends_on {ends_on} is before starts_on {starts_on}")
    if not value["serial"]:
        raise validation.Invalid("serial is missing")
    serial = _checked(validation.serial, value["serial"], "serial")
    contract = ContractRow(number=number, nip=nip, customer_name=value["customer_name"],
                           service_level=value["service_level"], starts_on=starts_on, ends_on=ends_on,
                           partner_nip=partner_nip, first_line=line)
    return contract, Line(line=line, model=value["model"], serial=serial, address=value["address"])


def parse(data: bytes, *, progress: Callable[[int, int], None] | None = None) -> Parsed:
    """Every contract of the file with its lines, and every row refused with the reason.
    `progress(line, lines)` every PROGRESS_LINES lines and at the end."""
    text = decode(data)
    lines = text.count("\n") + (not text.endswith("\n"))
    header_line = text.split("\n", 1)[0]
    if not header_line.strip():
        raise UnreadableFile("the file is empty or its first line (the header) is blank")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(header_line))
    header = [name.strip().lower() for name in next(reader)]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise UnreadableFile(f"the header has no column {', '.join(missing)} (it must name: {','.join(COLUMNS)})")
    contracts: dict[str, ContractRow] = {}
    serials: dict[tuple[str, str], int] = {}  # (number, serial) -> the line that gave it first
    refused: list[Refusal] = []
    rows = 0
    line = reader.line_num
    for values in reader:
        start, line = line + 1, reader.line_num  # a quoted field may span lines: report the first
        if progress is not None and (start - 1) // PROGRESS_LINES != line // PROGRESS_LINES:
            progress(line, lines)
        if not any(v.strip() for v in values):
            continue  # blank lines are not rows
        rows += 1
        if len(values) > len(header):
            refused.append(Refusal(start, f"{len(values)} fields where the header has {len(header)}"))
            continue
        try:
            contract, device = row_of(dict(zip(header, values)), start)
        except validation.Invalid as error:
            refused.append(Refusal(start, str(error)))
            continue
        known = contracts.get(contract.number)
        if known is None:
            known = contracts[contract.number] = contract
        else:
            differ = [name for name in CONTRACT_FIELDS if getattr(known, name) != getattr(contract, name)]
            if differ:
                refused.append(Refusal(start, f"contract {contract.number}: {', '.join(differ)} differ(s) from "
                                              f"line {known.first_line}"))
                continue
        first = serials.setdefault((contract.number, device.serial), start)
        if first != start:
            refused.append(Refusal(start, f"serial {device.serial} is already on contract {contract.number} "
                                          f"(line {first})"))
            continue
        known.lines.append(device)
    if progress is not None:
        progress(lines, lines)
    return Parsed(contracts=list(contracts.values()), refused=refused, rows=rows)
