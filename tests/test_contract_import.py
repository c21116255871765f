"""Contracts coming in: the CSV reader (pure), storing what it read (idempotent, indexed for
search), `helpdesk contracts import` and `helpdesk demo` as an operator runs them.

The command exits 0 when the file was read, even with rows refused (they are listed
with their line and reason); 1 only when the file cannot be read at all.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from helpdesk.domain import contract_csv, contracts
from helpdesk.models import Company, Contract, ContractAccess, DeviceLine, Distributor, User
from tests.conftest import REPO
from tests.portal import Portal

HEADER = "contract_number,nip,customer_name,service_level,starts_on,ends_on,partner_nip,model,serial,address"
GOOD = [
    "K123456,5260001246,Apteka Pod Lipami,Gold 24/7,2025-01-01,2027-12-31,9514567894,Hikvision DS-7716NI-K4,"
    "DS-7716-0001,\"ul. Piotrkowska 1, Łódź\"",
    "K123456,5260001246,Apteka Pod Lipami,Gold 24/7,2025-01-01,2027-12-31,9514567894,FortiGate 60F licencja,"
    "FGVM-4K2P-9XHD,\"ul. Piotrkowska 1, Łódź\"",
    "B654321,7273456783,Hotel Bałtyk S.A.,Silver,2024-03-01,2026-02-28,,Satel INTEGRA 128,I128-0042,Gdańsk",
]


def csv_bytes(*rows: str, header: str = HEADER, delimiter: str = ",", bom: bool = False) -> bytes:
    text = "\n".join([header, *rows]) + "\n"
    if delimiter != ",":
        text = text.replace(",", delimiter)
    return ("\ufeff" if bom else "").encode() + text.encode("utf-8")


def reasons(parsed) -> dict[int, str]:
    return {r.line: r.reason for r in parsed.refused}


# --- reading the file (pure) -------------------------------------------------------------------


@pytest.mark.parametrize("delimiter, bom", [(",", False), (";", False), (",", True), (";", True)])
def test_a_good_file_in_either_delimiter_with_or_without_a_bom(delimiter, bom):
    rows = [row.replace('"ul. Piotrkowska 1, Łódź"', "ul. Piotrkowska 1 Łódź") for row in GOOD]
    parsed = contract_csv.parse(csv_bytes(*rows, delimiter=delimiter, bom=bom))
    assert parsed.refused == [] and parsed.rows == 3
    first, second = parsed.contracts
    assert (first.number, first.nip, first.customer_name, first.partner_nip) == \
        ("K123456", "5260001246", "Apteka Pod Lipami", "9514567894")
    assert [line.serial for line in first.lines] == ["DS-7716-0001", "FGVM-4K2P-9XHD"]
    assert [line.line for line in first.lines] == [2, 3]
    assert str(first.ends_on) == "2027-12-31" and second.partner_nip == ""


def test_quoted_fields_keep_their_commas_and_columns_may_come_in_any_order():
    header = "serial,model,address,contract_number,nip,customer_name,starts_on,ends_on"
    parsed = contract_csv.parse(csv_bytes('SN-1,"NVR, 16 kanałów","ul. Długa 5, Kraków",K000001,5260001246,'
                                          'Firma,2025-01-01,2025-12-31', header=header))
    [c] = parsed.contracts
    assert c.lines[0].model == "NVR, 16 kanałów" and c.lines[0].address == "ul. Długa 5, Kraków"
    assert c.service_level == "" and c.partner_nip == ""


BAD = [
    ("К123456,5260001246,Firma,Gold,2025-01-01,2027-12-31,,NVR,SN-1,Warszawa", "contract number", "Cyrillic"),
    ("k123456,5260001246,Firma,Gold,2025-01-01,2027-12-31,,NVR,SN-1,Warszawa", "contract number", "capital"),
    ("K1234567,5260001246,Firma,Gold,2025-01-01,2027-12-31,,NVR,SN-1,Warszawa", "contract number", "six digits"),
    ("K123456,5260001245,Firma,Gold,2025-01-01,2027-12-31,,NVR,SN-1,Warszawa", "NIP", "check digit"),
    ("K123456,526-000-12-46,Firma,Gold,2025-01-01,2027-12-31,,NVR,SN-1,Warszawa", "NIP", "dashes"),
    ("K123456,5260001246,Firma,Gold,2025-01-01,2027-12-31,5260001245,NVR,SN-1,Warszawa", "partner NIP", "check"),
    ("K123456,5260001246,Firma,Gold,2025-02-30,2027-12-31,,NVR,SN-1,Warszawa", "starts_on", "not a real date"),
    ("K123456,5260001246,Firma,Gold,01.02.2025,2027-12-31,,NVR,SN-1,Warszawa", "starts_on", "YYYY-MM-DD"),
    ("K123456,5260001246,Firma,Gold,2025-01-01,,,NVR,SN-1,Warszawa", "ends_on", "YYYY-MM-DD"),
    ("K123456,5260001246,Firma,Gold,2025-01-01,2024-12-31,,NVR,SN-1,Warszawa", "ends_on", "before starts_on"),
    ("K123456,5260001246,Firma,Gold,2025-01-01,2027-12-31,,NVR,,Warszawa", "serial", "missing"),
    ("K123456,5260001246,Firma,Gold,2025-01-01,2027-12-31,,NVR,  ,Warszawa", "serial", "missing"),
    ("K123456,5260001246,Firma,Gold,2025-01-01,2027-12-31,,NVR,SN 1,Warszawa", "serial", "dashes included"),
    ("K123456,5260001246,,Gold,2025-01-01,2027-12-31,,NVR,SN-1,Warszawa", "customer_name", "missing"),
    ("K123456,5260001246,Firma,Gold,2025-01-01,2027-12-31,,NVR,SN-1,Warszawa,extra", "fields", "header has 10"),
]


@pytest.mark.parametrize("row, what, why", BAD)
def test_a_bad_row_is_refused_with_its_line_and_reason_and_the_rest_is_read(row, what, why):
    parsed = contract_csv.parse(csv_bytes(GOOD[0], row, GOOD[2]))
    assert list(reasons(parsed)) == [3]
    assert what in reasons(parsed)[3] and why in reasons(parsed)[3]
    assert [c.number for c in parsed.contracts] == ["K123456", "B654321"]
    assert len(parsed.contracts[0].lines) == 1 and parsed.rows == 3


def test_rows_that_disagree_about_their_contract_or_repeat_a_serial_are_refused():
    other_dates = GOOD[1].replace("2027-12-31", "2028-12-31")
    other_nip = GOOD[1].replace("5260001246", "7273456783")
    repeated = GOOD[0].replace("Hikvision DS-7716NI-K4", "Hikvision (again)")
    parsed = contract_csv.parse(csv_bytes(GOOD[0], other_dates, other_nip, repeated, GOOD[1]))
    assert reasons(parsed) == {
        3: "contract K123456: ends_on differ(s) from line 2",
        4: "contract K123456: nip differ(s) from line 2",
        5: "serial DS-7716-0001 is already on contract K123456 (line 2)",
    }
    assert [line.line for line in parsed.contracts[0].lines] == [2, 6]


def test_line_numbers_count_blank_lines_and_quoted_line_breaks():
    multiline = GOOD[2].replace("Gdańsk", '"Gdańsk\nul. Morska 3"')
    parsed = contract_csv.parse(csv_bytes(GOOD[0], "", multiline, BAD[0][0]))
    assert reasons(parsed).keys() == {6}
    assert parsed.contracts[1].lines[0].line == 4 and parsed.contracts[1].lines[0].address == "Gdańsk, ul. Morska 3"


@pytest.mark.parametrize("data, why", [
    (b"", "empty"),
    (b"\n" + csv_bytes(GOOD[0]), "empty"),
    (csv_bytes(GOOD[0], header="number,nip,customer_name,starts_on,ends_on,serial"), "contract_number"),
    (csv_bytes(GOOD[0])[:-20] + "Łódź".encode("iso-8859-2"), "not UTF-8"),
])
def test_a_file_that_cannot_be_read_at_all(data, why):
    with pytest.raises(contract_csv.UnreadableFile, match=why):
        contract_csv.parse(data)


# --- storing (database) ----------------------------------------------------------------------


def counts() -> tuple[int, ...]:
    return Company.select().count(), Contract.select().count(), DeviceLine.select().count()


def test_importing_creates_companies_contracts_and_lines_and_a_second_time_nothing(db):
    first = contracts.import_csv(csv_bytes(*GOOD, BAD[0][0]))
    assert (first.contracts_created, first.contracts_updated, first.lines_added, first.companies_created) == \
        (2, 0, 3, 3)
    assert [r.line for r in first.refused] == [5] and first.rows == 4
    assert counts() == (3, 2, 3)
    company = Company.get(Company.nip == "5260001246")
    assert company.name == "Apteka Pod Lipami"
    contract = Contract.get(Contract.number == "K123456")
    assert contract.company == company and contract.partner.nip == "9514567894"
    assert contract.service_level == "Gold 24/7" and str(contract.starts_on) == "2025-01-01"

    again = contracts.import_csv(csv_bytes(*GOOD, BAD[0][0]))
    assert (again.contracts_created, again.contracts_updated, again.lines_added, again.lines_updated,
            again.companies_created) == (0, 0, 0, 0, 0)
    assert "0 contract(s) created" in again.summary() and counts() == (3, 2, 3)


def test_a_later_file_updates_a_contract_and_adds_lines(db):
    contracts.import_csv(csv_bytes(*GOOD))
    later = [GOOD[0].replace("2027-12-31", "2028-12-31"),
             "K123456,5260001246,Apteka Pod Lipami,Gold 24/7,2025-01-01,2028-12-31,9514567894,Satel ETHM-1,"
             "ETHM-77,Łódź"]
    report = contracts.import_csv(csv_bytes(*later))
    assert (report.contracts_created, report.contracts_updated, report.lines_added) == (0, 1, 1)
    contract = Contract.get(Contract.number == "K123456")
    assert str(contract.ends_on) == "2028-12-31" and len(contract.lines) == 3
    assert {c.number for c in contracts.search(Contract.select(), "ethm")} == {"K123456"}


def test_a_contract_stored_for_another_nip_is_refused(db):
    contracts.import_csv(csv_bytes(*GOOD))
    hijack = GOOD[0].replace("5260001246", "7273456783").replace("DS-7716-0001", "MINE-1")
    report = contracts.import_csv(csv_bytes(GOOD[2], hijack))
    assert [(r.line, r.reason) for r in report.refused] == [
        (3, "contract K123456 is stored for NIP 5260001246, not 7273456783")]
    assert not DeviceLine.select().where(DeviceLine.serial == "MINE-1").exists()


def test_imported_contracts_are_found_by_search(db):
    contracts.import_csv(csv_bytes(*GOOD))
    for text, found in [("lodz piotrkowska", {"K123456"}), ("FGVM-4K2P-9XHD", {"K123456"}),
                        ("Bałtyk", {"B654321"}), ("baltyk satel", {"B654321"}), ("5260001246", {"K123456"})]:
        assert {c.number for c in contracts.search(Contract.select(), text)} == found, text


def test_a_large_import_is_chunked_and_quick(db):
    rows = [f"K{n:06d},5260001246,Firma {n},Gold,2025-01-01,2027-12-31,,Hikvision NVR {n % 7},SN-{n}-{k},"
            f'"ul. Długa {n % 300}, Kraków"' for n in range(3000) for k in range(3)]
    started = time.monotonic()
    report = contracts.import_csv(csv_bytes(*rows))
    elapsed = time.monotonic() - started
    assert (report.contracts_created, report.lines_added, report.refused) == (3000, 9000, [])
    assert elapsed < 30, f"9,000 lines took {elapsed:.1f} s"
    assert {c.number for c in contracts.search(Contract.select(), "SN-2999-2")} == {"K002999"}
    again = contracts.import_csv(csv_bytes(*rows))
    assert (again.contracts_created, again.lines_added) == (0, 0)


# --- the commands ---------------------------------------------------------------------------------


@pytest.fixture
def helpdesk(tmp_path, database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_DATABASE_URL=database_url, PYTHONPATH=str(REPO))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "helpdesk.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    return run


def test_the_import_command_reports_refusals_and_exits_0(helpdesk, tmp_path):
    path = tmp_path / "umowy.csv"
    path.write_bytes(csv_bytes(*GOOD, BAD[0][0], BAD[3][0], delimiter=";", bom=True))
    done = helpdesk("contracts", "import", str(path))
    assert done.returncode == 0, done.stderr
    assert f"{path}:5: refused: contract number 'К123456'" in done.stdout
    assert f"{path}:6: refused: NIP '5260001245'" in done.stdout
    assert "5 row(s) read: 2 contract(s) created" in done.stdout and "2 row(s) refused" in done.stdout
    again = helpdesk("contracts", "import", str(path), "--json")
    assert again.returncode == 0 and '"contracts_created": 0' in again.stdout and '"lines_added": 0' in again.stdout


def test_the_import_command_fails_on_a_file_it_cannot_read(helpdesk, tmp_path):
    path = tmp_path / "zle.csv"
    path.write_bytes("numer;nip\nK123456;5260001246\n".encode())
    done = helpdesk("contracts", "import", str(path))
    assert done.returncode == 1 and "contract_number" in done.stderr
    missing = helpdesk("contracts", "import", str(tmp_path / "none.csv"))
    assert missing.returncode == 1 and "none.csv" in missing.stderr


def test_demo_twice_creates_nothing_more_and_its_login_works(helpdesk, app, db):
    first = helpdesk("demo")
    assert first.returncode == 0, first.stderr
    assert "3 distributor(s) created" in first.stdout  # the programme's distributor step is no dead end
    assert Distributor.select().where(Distributor.active).count() == 3
    before = counts(), User.select().count(), ContractAccess.select().count()
    assert before[0][1] >= 6
    second = helpdesk("demo")
    assert second.returncode == 0, second.stderr
    assert "0 compan(y/ies), 0 contract(s) and 0 distributor(s) created" in second.stdout
    assert (counts(), User.select().count(), ContractAccess.select().count()) == before

    login = re.search(r"log in as:\s+(\S+)", second.stdout).group(1)
    password = re.search(r"password:\s+(\S+)", second.stdout).group(1)
    number, serial = re.search(r"verify contract (\S+) with the serial number (\S+)", second.stdout).groups()
    portal = Portal(app)
    assert portal.post("/login", {"email": login, "password": password}).status_code == 302
    assert "D100101" in portal.text("/contracts") and number not in portal.text("/contracts")
    assert portal.post("/contracts/verify", {"number": number, "serial": serial}).status_code == 302
    assert number in portal.text("/contracts")
    assert "Satel" in portal.text("/contracts/archive")  # the expired demo contract
