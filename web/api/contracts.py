"""Contracts through the API: the list and one contract as the portal shows them
(`domain.contracts.visible_contracts`), and verification with its limits (SPEC W4, W6)."""
from __future__ import annotations

from flask import g, request

from helpdesk.domain import contracts, validation
from helpdesk.domain.validation import Invalid
from helpdesk.models import Company, Contract

from .core import Problem, body, bp, config, idempotent, invalid, needs
from .tickets import decode_cursor, encode_cursor, page_size


def contract_json(contract: Contract, lines: list | None = None) -> dict:
    today = g.now.date()
    out = {"id": contract.id, "number": contract.number, "customer_name": contract.customer_name,
           "service_level": contract.service_level, "starts_on": contract.starts_on.isoformat(),
           "ends_on": contract.ends_on.isoformat(), "active": contract.starts_on <= today <= contract.ends_on,
           "url": f"{config().base_url}/contracts/{contract.id}"}
    if lines is not None:
        out["device_lines"] = [{"id": x.id, "model": x.model, "serial": x.serial, "address": x.address}
                               for x in lines]
    return out


@bp.get("/contracts")
@needs("contracts:read")
def list_contracts():
    size = page_size()
    archive = request.args.get("archive", "false")
    if archive not in ("true", "false"):
        raise Problem(400, "Bad Request", "archive: true or false.", kind="bad-parameter")
    query = contracts.listing(g.api_user, g.now.date(), archive=archive == "true",
                              text=request.args.get("q", "")[:200])
    cursor = request.args.get("cursor")
    if cursor:
        (last,) = decode_cursor(cursor, (int,))
        query = query.where(Contract.id < last)
    rows = list(query.order_by(Contract.id.desc()).limit(size + 1))
    more = len(rows) > size
    rows = rows[:size]
    lines = contracts.lines_by_contract([c.id for c in rows])
    return {"items": [contract_json(c, lines[c.id]) for c in rows],
            "next_cursor": encode_cursor(rows[-1].id) if more else None}


@bp.get("/contracts/<int:contract_id>")
@needs("contracts:read")
def show_contract(contract_id: int):
    contract = contracts.visible_contract(g.api_user, contract_id)
    if contract is None:
        raise Problem(404, "Not Found")
    company = Company.get_by_id(contract.company_id)
    return {**contract_json(contract, contracts.lines_by_contract([contract.id])[contract.id]),
            "company": {"name": company.name, "nip": company.nip}}


@bp.post("/contracts/verify")
@needs("contracts:read")
@idempotent
def verify_contract():
    data = body()
    values = {}
    for field, check in (("number", validation.contract_number), ("serial", validation.serial)):
        value = data.get(field)
        try:
            values[field] = check(value if isinstance(value, str) else "")
        except Invalid as error:
            raise invalid(error, field) from None
    try:
        contract = contracts.verify(g.api_user, values["number"], values["serial"], ip=request.remote_addr or "",
                                    now=g.now)
    except contracts.VerifyRefused as refused:
        if refused.limited:
            raise Problem(429, "Too Many Requests", "Too many verification attempts; try again later.",
                          kind="verification-limited") from None
        raise Problem(422, "Unprocessable Content", "These details match no contract of your company.",
                      kind="verification-refused") from None
    return contract_json(contract, contracts.lines_by_contract([contract.id])[contract.id])


