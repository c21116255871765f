"""What a ticket is about: its contract (number, customer, service level) and the device
line the customer chose (model, serial, address), for every place a ticket is shown: the
engineers' notice mail, the staff and customer ticket pages, `helpdesk ticket show`.

In: a ticket id. Out: `Device`, or None for a ticket about no contract. Reads the database.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from peewee import JOIN

from helpdesk.models import Contract, DeviceLine, Ticket

from .prepared import prepared


@dataclass(frozen=True)
class Device:
    contract: str  # the contract's number
    customer: str  # the customer's name on the contract
    service_level: str  # the contract's service level ("" when it names none)
    model: str = ""  # the device line; all "" for a ticket on the contract as a whole
    serial: str = ""
    address: str = ""

    @property
    def has_line(self) -> bool:
        return bool(self.model or self.serial or self.address)

    def as_dict(self) -> dict:
        return asdict(self)


def of_ticket(ticket_id: int) -> Device | None:
    """The ticket's contract and device line, in one query; None when it has no contract."""
    row = _of_ticket.first(ticket_id)
    if row is None:
        return None
    return Device(contract=row["number"], customer=row["customer_name"], service_level=row["service_level"],
                  model=row["model"] or "", serial=row["serial"] or "", address=" ".join((row["address"] or "").split()))


@prepared
def _of_ticket(ticket_id: int):
    return (Ticket.select(Ticket.id, Contract.number, Contract.customer_name, Contract.service_level,
                          DeviceLine.model, DeviceLine.serial, DeviceLine.address)
            .join(Contract, on=(Ticket.contract == Contract.id))
            .switch(Ticket).join(DeviceLine, on=(Ticket.device_line == DeviceLine.id), join_type=JOIN.LEFT_OUTER)
            .where(Ticket.id == ticket_id).limit(1).dicts())
