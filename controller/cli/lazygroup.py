"""A click group that imports a command's module only when the command is used.

`enictl validate` should not pay for the planner, the executor, the providers or a
cloud SDK: each command module imports what its command needs, and the group imports
the module only when click asks for one of its commands (`get_command`: running or
completing it; `list_commands` + `get_command` for each: `--help`). The group knows
each command's name and module; the module still exports `COMMANDS`, and every
command in it joins the group when it is first imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    """A group whose commands live in modules named by `lazy` (command name -> module)."""

    def __init__(self, *args: Any, lazy: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.load(self.lazy[cmd_name])
        return self.commands.get(cmd_name)

    def load(self, module_name: str) -> None:
        """Import `module_name` and add its `COMMANDS`; a module not there adds nothing."""
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return
            raise
        for command in module.COMMANDS:
            self.add_command(command)
