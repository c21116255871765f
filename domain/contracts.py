"""Contracts in the portal (SPEC W4-W6): who sees which, verification, search, and writing
contracts with their device lines (CSV import, demo data).

Visibility is per user: a customer sees a contract once it has verified it itself (its
company's NIP, the contract number and the serial of one of its lines, all on the same
contract); another user of the same company verifies on its own. Staff see every
contract. Every page goes through `visible_contracts`, so an id typed into the address
bar shows nothing that the list would not.

Search is a full-text index (`contract_search`, one document per contract: FTS5 on
SQLite, a tsvector GIN index on PostgreSQL; see `domain.search`), rewritten by `reindex`
whenever `store` writes a contract or its lines. Text is folded (lower case, no
diacritics, ł -> l) in Python on both sides, so "lodz" finds "Łódź". A customer's few
contracts, and staff's pages of a word many contracts have, are read with those
documents and matched in Python by the index's rule (`few_matches`, `first_matches`).
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from peewee import SQL, Select, fn

from helpdesk import database
from helpdesk.models import Company, CompanyRole, Contract, ContractAccess, DeviceLine, User, db, utcnow

from . import contract_csv, contract_order, ratelimit, search as full_text
from .contract_csv import ContractRow, Refusal
from .prepared import prepared, slices
from .search import fold, search_tokens  # noqa: F401 (part of this module's interface)

log = logging.getLogger(__name__)
CHUNK = 500  # contracts per transaction, and values per IN (...) list
INSERT_CHUNK = 100  # rows per INSERT: well under SQLite's parameter limit


class VerifyRefused(Exception):
    """The details match no contract of the user's company, or too many attempts; says
    nothing about which part was wrong. `limited` only adds "try again later"."""

    def __init__(self, limited: bool = False):
        super().__init__("verification refused")
        self.limited = limited


# --- who sees what ----------------------------------------------------------------------


def visible_contracts(user: User):
    """The contracts the user may see: staff all, a customer those it has verified (and
    only while it belongs to the contract's company)."""
    query = Contract.select()
    if user.is_staff:
        return query
    return query.where(_granted(user.id, user.company_id))


def _granted(user_id: int, company_id: int | None):
    granted = ContractAccess.select(ContractAccess.contract).where(ContractAccess.user == user_id)
    return Contract.id.in_(granted) & (Contract.company == company_id)


def granted_contracts(user_id: int, company_id: int | None):
    """The ids of the contracts a customer sees (a subquery), from its id and company alone:
    the rule of `visible_contracts`, for queries prepared once (`domain.prepared`)."""
    return Contract.select(Contract.id).where(_granted(user_id, company_id))


def visible_contract(user: User, contract_id: int) -> Contract | None:
    return visible_contracts(user).where(Contract.id == contract_id).first()


def openable_contract(user: User, contract_id, today: dt.date) -> Contract | None:
    """A contract the user may open a ticket on: one it sees, in force today."""
    if not isinstance(contract_id, int):
        return None
    return visible_contracts(user).where(Contract.id == contract_id, Contract.starts_on <= today,
                                         Contract.ends_on >= today).first()


def current(query, today: dt.date):
    """Contracts not yet expired (including those that start later)."""
    return query.where(Contract.ends_on >= today)


def expired(query, today: dt.date):
    return query.where(Contract.ends_on < today)


def listing(user: User, today: dt.date, *, archive: bool = False, text: str = "", plan: str = full_text.LIST):
    """The contracts of the user's list (current, or the expired ones), searched (read as
    `plan` says: `search_plan`)."""
    query = visible_contracts(user)
    query = expired(query, today) if archive else current(query, today)
    return search(query, text, plan=plan)


def search_plan(user: User, *, archive: bool, many: bool) -> str:
    """How a search of the user's list is read (`domain.search`). Staff see every contract:
    the full-text index drives the count and a page of few matches, and the first pages of
    many current matches walk the index on number. A customer's few verified contracts:
    the planner's choice."""
    if not user.is_staff:
        return full_text.LIST
    return full_text.QUERY_ORDER if many and not archive else full_text.INDEX_ORDER


def models_by_contract(contract_ids: list[int]) -> dict[int, list[str]]:
    """Each contract's lines' models, in line order (what the lists show of the lines)."""
    found: dict[int, list[str]] = {i: [] for i in contract_ids}
    for ids in slices(contract_ids):  # a page's 50, or a partner's every contract
        # the rows as the driver gives them (an int and a text): Peewee's conversion of each
        # was 0.35 of the 0.57 ms a page's 150 lines took
        for contract_id, model in _models.cursor((ids,))[1].fetchall():
            found[contract_id].append(model)
    return found


@prepared
def _models(contract_ids: list[int]):
    return (DeviceLine.select(DeviceLine.contract, DeviceLine.model).where(DeviceLine.contract.in_(contract_ids))
            .order_by(DeviceLine.id).tuples())


# --- the portal's lists, their SQL built once (`domain.prepared`) -------------------------------

LISTED = (Contract.id, Contract.number, Contract.customer_name, Contract.service_level, Contract.starts_on,
          Contract.ends_on)  # what a list shows of a contract (`web.rows.contract_rows`), as tuples


def viewer(user: User) -> tuple[int | None, int | None]:
    """What `visible_contracts` depends on, as values: (None, None) for staff (every
    contract), else the customer's id and company."""
    return (None, None) if user.is_staff else (user.id, user.company_id)


def _seen(user_id: int | None, company_id: int | None):
    query = Contract.select()
    return query if user_id is None else query.where(_granted(user_id, company_id))


def _counting(query, limit: int):
    """SELECT COUNT(1) over at most `limit` rows of `query` (what Peewee's count() sends)."""
    return Select([query.order_by().select(SQL("1")).limit(limit).alias("_wrapped")], [fn.COUNT(SQL("1"))])


def _unsearched(user_id: int | None, company_id: int | None, today: dt.date, archive: bool, from_cursor: bool = False):
    query = _seen(user_id, company_id)
    if archive and from_cursor:
        # `+ends_on` on SQLite: the cursor's bound on ends_on is the index range, not today's (with
        # both, it took today's and read every contract ended since: 4 ms at page 600, not 0.1)
        return query.where(database.unindexed(Contract.ends_on) < today)
    return expired(query, today) if archive else current(query, today)


@prepared
def _page(user_id: int | None, company_id: int | None, today: dt.date, archive: bool, soonest: bool, backward: bool,
          ends_on: dt.date | None, number: str | None, limit: int):
    query = _unsearched(user_id, company_id, today, archive, number is not None).select(*LISTED)
    if soonest:  # the dashboard's: those ending soonest (its one page)
        return query.order_by(Contract.ends_on, Contract.number).limit(limit).tuples()
    return contract_order.in_order(query, archive, backward, ends_on, number).limit(limit).tuples()


@prepared
def _count(user_id: int | None, company_id: int | None, today: dt.date, archive: bool, limit: int):
    return _counting(_unsearched(user_id, company_id, today, archive), limit)


def unsearched_rows(user: User, today: dt.date, *, archive: bool = False, soonest: bool = False,
                    cursor: contract_order.Cursor | None = None, backward: bool = False, limit: int) -> list[tuple]:
    """Up to `limit` rows of `listing` without a search (`LISTED` tuples: current contracts by
    number, expired ones latest ended first, or `soonest` ending first) after the cursor, or
    before it nearest first (`backward`); each shape built into SQL once."""
    return _page(*viewer(user), today, archive, soonest, backward, *contract_order.values(cursor), limit)


def unsearched_count(user: User, today: dt.date, *, archive: bool = False, upto: int) -> int:
    """How many contracts the list has, counted up to `upto` + 1 (an index range, not every one)."""
    return _count.scalar(*viewer(user), today, archive, upto + 1)


# --- a search read with the documents, matched in Python (`domain.search.document_matcher`) ----------

FEW = 1000  # a customer's visible contracts (of the list searched) read whole and matched in Python; more: the index
SCAN_ROWS = 1000  # staff's first page of a common word: contracts read along the number index, at most
CHECK_EVERY = 100  # rows between two looks at whether SCAN_ROWS will be enough


@prepared
def _documents(user_id: int | None, company_id: int | None, today: dt.date, archive: bool, backward: bool,
               ends_on: dt.date | None, number: str | None, limit: int):
    query = _unsearched(user_id, company_id, today, archive, number is not None).select(
        *LISTED, full_text.contract_document())
    return contract_order.in_order(query, archive, backward, ends_on, number).limit(limit).tuples()


def _listed(row) -> tuple:
    """A raw row of `_documents` as the `LISTED` tuple Peewee would give (dates parsed)."""
    return tuple(f.python_value(v) for f, v in zip(LISTED, row))


def _matching(user: User, today: dt.date, archive: bool, tokens: list[str], read: int, enough: int, *,
              cursor: contract_order.Cursor | None = None, backward: bool = False, give_up: bool = False):
    """The rows of the user's list (`_documents`, in its order from the cursor, at most `read`) whose documents
    have every token, up to `enough` of them, and how many rows were read. `give_up`: stop as
    soon as the matches so far say `enough` will not be found in `read` rows (checked every
    CHECK_EVERY rows: a word in 2% of contracts costs 100 rows, not SCAN_ROWS, before the index)."""
    matches = full_text.document_matcher(tokens)
    _, rows_read = _documents.cursor((*viewer(user), today, archive, backward, *contract_order.values(cursor), read))
    found: list[tuple] = []
    rows = 0
    try:
        for rows, row in enumerate(rows_read, 1):  # SQLite steps as it is read: stopping early reads no further
            if matches(row[-1]):
                found.append(row)
                if len(found) >= enough:
                    break
            if give_up and rows % CHECK_EVERY == 0 and len(found) * read < enough * rows:
                break
    finally:
        rows_read.close()
    return found, rows


def few_matches(user: User, today: dt.date, *, archive: bool, tokens: list[str]) -> list[tuple] | None:
    """Every match of a customer's searched list (`LISTED` tuples, in the list's order), from its
    visible contracts read with their documents and matched in Python; None when it sees more
    than FEW of them (`listing` then asks the index). The index would expand a common prefix's
    every match first: 'lodz', 25,000 of 100,000 contracts, 12 ms of SQL for 8."""
    found, rows = _matching(user, today, archive, tokens, FEW + 1, FEW + 1)
    if rows > FEW:
        return None
    return [_listed(row) for row in found]


def first_matches(user: User, today: dt.date, *, archive: bool, tokens: list[str],
                  cursor: contract_order.Cursor | None, backward: bool, limit: int) -> list[tuple] | None:
    """Up to `limit` rows of the user's list matching every token after the cursor, or before it
    nearest first (`LISTED` tuples), read along the list's index (number; the archive's ends_on,
    number) with their documents while at least one in SCAN_ROWS / `limit` matches: for a word
    many contracts have, where listing the index's matches (8 ms for 25,000) costs more than
    reading a few hundred contracts; None when SCAN_ROWS rows do not fill it (it may still end
    the list: the index says), and on PostgreSQL."""
    if limit > SCAN_ROWS or not full_text.reads_row_by_row():
        return None  # PostgreSQL would send all SCAN_ROWS (9 ms at 40,000 contracts, where its planner's plan took 1.5)
    found, _ = _matching(user, today, archive, tokens, SCAN_ROWS, limit, cursor=cursor, backward=backward,
                         give_up=True)
    if len(found) < limit:
        return None
    return [_listed(row) for row in found]


def lines_by_contract(contract_ids: list[int]) -> dict[int, list[DeviceLine]]:
    found: dict[int, list[DeviceLine]] = {i: [] for i in contract_ids}
    if contract_ids:
        for line in DeviceLine.select().where(DeviceLine.contract.in_(contract_ids)).order_by(DeviceLine.id):
            found[line.contract_id].append(line)
    return found


# --- verification (W4) ----------------------------------------------------------------------


def verify(user: User, number: str, serial: str, *, ip: str, now: dt.datetime | None = None) -> Contract:
    """Grant the user the contract whose number is `number`, which belongs to the user's
    company and has a line with this serial (case aside, dashes as stored). Every attempt
    is recorded and limited per user, per NIP and per client address; a refusal is one
    `VerifyRefused` whatever was wrong."""
    now = now or utcnow()
    company = Company.get_or_none(Company.id == user.company_id) if user.company_id else None
    keys = {"user": str(user.id), "nip": company.nip if company else "none", "ip": ip}
    with db.atomic():  # the attempt is recorded whatever the answer: no raising in here
        limited = ratelimit.blocked("verify", ratelimit.VERIFY, keys, now)
        contract = None
        if not limited and company is not None:
            contract = (Contract.select().join(DeviceLine)
                        .where(Contract.number == number, Contract.company == company.id,
                               fn.UPPER(DeviceLine.serial) == serial.upper())
                        .first())
        detail = "over the limit" if limited else f"{number}: {'granted' if contract else 'no match'}"
        ratelimit.record("verify", keys, ok=contract is not None, now=now, detail=detail)
        if contract is not None:
            ContractAccess.insert(user=user.id, contract=contract.id, granted_at=now).on_conflict_ignore().execute()
    if contract is None:
        log.info("contract verification refused for user %s (%s)", user.id, detail)
        raise VerifyRefused(limited=limited)
    log.info("user %s verified contract %s", user.id, contract.number)
    return contract


# --- search (W6) ------------------------------------------------------------------------------


def match_expression(tokens: list[str]) -> str:
    """The FTS5 query for these tokens (`domain.search`)."""
    return full_text.fts5_match(tokens)


def search(query, text: str, *, fts: bool = True, plan: str = full_text.LIST):
    """`query` (of contracts) narrowed to those matching every word of `text`; unchanged
    when `text` has no words. Full-text on either database (`domain.search`, read as `plan`
    says); `fts=False` is the LIKE scan over the same columns, kept to check the index against."""
    tokens = search_tokens(text)
    if not tokens:
        return query
    if fts:
        return full_text.contracts_matching(query, tokens, plan)
    for token in tokens:  # a scan over every column, one token at a time, case aside
        lines = DeviceLine.select(DeviceLine.contract).where(
            full_text.like_any([DeviceLine.model, DeviceLine.serial, DeviceLine.address], token))
        companies = Company.select(Company.id).where(full_text.like_any([Company.name, Company.nip], token))
        query = query.where(full_text.like_any([Contract.number, Contract.customer_name], token)
                            | Contract.id.in_(lines) | Contract.company.in_(companies))
    return query


def search_body(number: str, customer_name: str, company_name: str, nip: str, lines) -> str:
    """The document indexed for one contract: number (also its digits alone), customer,
    company and NIP, and every line's model, serial and address; folded."""
    parts = [number, number[1:], customer_name, company_name, nip]
    for model, serial, address in lines:
        parts += [model, serial, address]
    return fold(" ".join(parts))


def reindex(contract_ids) -> None:
    """Rewrite the search documents of these contracts (both databases: `domain.search`)."""
    contract_ids = list(contract_ids)
    for start in range(0, len(contract_ids), CHUNK):
        ids = contract_ids[start:start + CHUNK]
        lines: dict[int, list[tuple]] = {i: [] for i in ids}
        for contract_id, model, serial, address in (
                DeviceLine.select(DeviceLine.contract, DeviceLine.model, DeviceLine.serial, DeviceLine.address)
                .where(DeviceLine.contract.in_(ids)).order_by(DeviceLine.id).tuples()):
            lines[contract_id].append((model, serial, address))
        bodies = [(contract_id, search_body(number, customer, company, nip, lines[contract_id]))
                  for contract_id, number, customer, company, nip in (
                      Contract.select(Contract.id, Contract.number, Contract.customer_name, Company.name, Company.nip)
                      .join(Company, on=(Contract.company == Company.id)).where(Contract.id.in_(ids)).tuples())]
        with db.atomic():
            full_text.write_contracts(ids, bodies)


# --- writing contracts (import, demo) ----------------------------------------------------------


@dataclass
class ImportReport:
    rows: int = 0
    contracts_created: int = 0
    contracts_updated: int = 0
    lines_added: int = 0
    lines_updated: int = 0
    companies_created: int = 0
    refused: list[Refusal] = field(default_factory=list)
    levels_changed: list[int] = field(default_factory=list)  # contracts whose service level changed

    def summary(self) -> str:
        return (f"{self.rows} row(s) read: {self.contracts_created} contract(s) created, "
                f"{self.contracts_updated} updated, {self.lines_added} device line(s) added, "
                f"{self.lines_updated} updated, {self.companies_created} compan(y/ies) created, "
                f"{len(self.refused)} row(s) refused")

    def as_dict(self) -> dict:
        return {"rows": self.rows, "contracts_created": self.contracts_created,
                "contracts_updated": self.contracts_updated, "lines_added": self.lines_added,
                "lines_updated": self.lines_updated, "companies_created": self.companies_created,
                "refused": [{"line": r.line, "reason": r.reason} for r in self.refused]}


def import_csv(data: bytes, *, now: dt.datetime | None = None,
               progress: Callable[[str, int, int], None] | None = None) -> ImportReport:
    """Import a contract CSV (domain.contract_csv): good rows stored, bad ones reported.
    Raises `contract_csv.UnreadableFile` when the file cannot be read at all.
    `progress(phase, done, total)` now and then: "read" (lines), then "store" (contracts)."""
    parsed = contract_csv.parse(data, progress=functools.partial(progress, "read") if progress else None)
    report = store(parsed.contracts, now=now, progress=functools.partial(progress, "store") if progress else None)
    report.rows = parsed.rows
    report.refused = sorted(parsed.refused + report.refused, key=lambda r: r.line)
    log.info("contract import: %s", report.summary())
    return report


def store(contracts: list[ContractRow], *, now: dt.datetime | None = None,
          progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Create or update the contracts and add their missing lines, a chunk per transaction;
    storing the same contracts again changes nothing. A contract stored for another NIP
    is refused, every one of its rows."""
    now = now or utcnow()
    report = ImportReport()
    for start in range(0, len(contracts), CHUNK):
        with db.atomic():
            _store_chunk(contracts[start:start + CHUNK], report, now)
        if progress is not None:
            progress(min(start + CHUNK, len(contracts)), len(contracts))
    return report


def _insert(model, rows: list[dict]) -> None:
    for start in range(0, len(rows), INSERT_CHUNK):
        model.insert_many(rows[start:start + INSERT_CHUNK]).on_conflict_ignore().execute()


def _companies(contracts: list[ContractRow], report: ImportReport, now: dt.datetime) -> dict[str, int]:
    """NIP -> company id for every NIP of the chunk; missing companies are created (named
    after the customer; a partner unknown so far by its NIP)."""
    wanted: dict[str, dict] = {}
    for c in contracts:
        if c.partner_nip:
            wanted.setdefault(c.partner_nip, {"nip": c.partner_nip, "name": f"NIP {c.partner_nip}",
                                              "role": CompanyRole.RESELLER.value, "created_at": now})
        wanted[c.nip] = {"nip": c.nip, "name": c.customer_name, "role": CompanyRole.CUSTOMER.value, "created_at": now}
    ids = dict(Company.select(Company.nip, Company.id).where(Company.nip.in_(list(wanted))).tuples())
    missing = [row for nip, row in wanted.items() if nip not in ids]
    if missing:
        _insert(Company, missing)
        report.companies_created += len(missing)
        ids.update(Company.select(Company.nip, Company.id).where(
            Company.nip.in_([row["nip"] for row in missing])).tuples())
    return ids


def _store_chunk(contracts: list[ContractRow], report: ImportReport, now: dt.datetime) -> None:
    companies = _companies(contracts, report, now)
    stored = {row["number"]: row for row in (
        Contract.select(Contract.id, Contract.number, Contract.partner, Contract.customer_name,
                        Contract.service_level, Contract.starts_on, Contract.ends_on, Company.nip)
        .join(Company, on=(Contract.company == Company.id))
        .where(Contract.number.in_([c.number for c in contracts])).dicts())}
    touched: set[int] = set()
    kept: list[ContractRow] = []
    new_rows: list[dict] = []
    for c in contracts:
        values = {"customer_name": c.customer_name, "service_level": c.service_level, "starts_on": c.starts_on,
                  "ends_on": c.ends_on, "partner": companies.get(c.partner_nip)}
        old = stored.get(c.number)
        if old is None:
            new_rows.append({"number": c.number, "company": companies[c.nip], "created_at": now, **values})
        elif old["nip"] != c.nip:
            report.refused += [Refusal(line.line, f"contract {c.number} is stored for NIP {old['nip']}, not {c.nip}")
                               for line in c.lines]
            continue
        else:
            changes = {name: value for name, value in values.items() if old[name] != value}
            if changes:
                Contract.update(**changes).where(Contract.id == old["id"]).execute()
                if "service_level" in changes:
                    report.levels_changed.append(old["id"])
                report.contracts_updated += 1
                touched.add(old["id"])
        kept.append(c)
    if new_rows:
        _insert(Contract, new_rows)
        report.contracts_created += len(new_rows)
    ids = dict(Contract.select(Contract.number, Contract.id).where(
        Contract.number.in_([c.number for c in kept])).tuples())
    touched.update(ids[row["number"]] for row in new_rows)
    lines = {(line.contract_id, line.serial): line for line in (
        DeviceLine.select(DeviceLine.id, DeviceLine.contract, DeviceLine.serial, DeviceLine.model, DeviceLine.address)
        .where(DeviceLine.contract.in_([old["id"] for number, old in stored.items() if number in ids])))}
    new_lines = []
    for c in kept:
        contract_id = ids[c.number]
        for line in c.lines:
            old_line = lines.get((contract_id, line.serial))
            if old_line is None:
                new_lines.append({"contract": contract_id, "model": line.model, "serial": line.serial,
                                  "address": line.address})
                touched.add(contract_id)
            elif (old_line.model, old_line.address) != (line.model, line.address):
                DeviceLine.update(model=line.model, address=line.address).where(DeviceLine.id == old_line.id).execute()
                report.lines_updated += 1
                touched.add(contract_id)
    _insert(DeviceLine, new_lines)
    report.lines_added += len(new_lines)
    reindex(sorted(touched))
