"""The engineer's #commands in a reply by mail: they live in `domain.commands` (the
migration that strips them from stored mail uses them too)."""
from helpdesk.domain.commands import Commands, commands_of, html_has_commands, html_without_commands

__all__ = ["Commands", "commands_of", "html_has_commands", "html_without_commands"]
