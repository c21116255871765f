"""`Desk`: the system on a temp data dir with its Maildir inbox, driven like the CLI does."""
from __future__ import annotations

import importlib.util
import mailbox
from pathlib import Path
from types import ModuleType

from helpdesk import database
from helpdesk.inbox_worker.pipeline import Summary, Worker
from helpdesk.models import InboundMail, Message, Participant, Ticket


class Desk:
    def __init__(self, config):
        self.config = config
        self.maildir_path = Path(config.mailbox.path)
        self.maildir = mailbox.Maildir(self.maildir_path, create=True)

    def deliver(self, raw: bytes) -> str:
        """Put a raw message into the inbox, as a mail server would; returns its key."""
        return self.maildir.add(raw)

    def run(self, **kwargs) -> Summary:
        with Worker(self.config, parse_workers=kwargs.pop("parse_workers", 0)) as worker:
            return worker.run_once(**kwargs)

    def receive(self, raw: bytes) -> InboundMail:
        """Deliver one message, run the worker, and return its ledger row."""
        self.deliver(raw)
        self.run()
        return InboundMail.select().order_by(InboundMail.id.desc()).get()

    def waiting(self) -> int:
        """Messages still in the inbox (not yet marked done)."""
        return sum(1 for sub in ("new", "cur") for _ in (self.maildir_path / sub).iterdir())

    @staticmethod
    def tickets() -> list[Ticket]:
        return list(Ticket.select().order_by(Ticket.id))

    @staticmethod
    def participants(ticket_id: int) -> dict[str, str]:
        return {p.email: p.role for p in Participant.select().where(Participant.ticket == ticket_id)}

    @staticmethod
    def messages(ticket_id: int) -> list[Message]:
        return list(Message.select().where(Message.ticket == ticket_id).order_by(Message.id))


def load_migration(name: str) -> ModuleType:
    """A migration's module by its file name ("030_contract_minutes_fold"), to call its parts."""
    path = Path(database.MIGRATIONS) / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"migration_{name}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module
