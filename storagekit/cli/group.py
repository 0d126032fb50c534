"""The command group: where the global options may be given, and how its help lists commands.

``-r/--root`` is accepted after the subcommand too (``storagekit containers -r ROOT``), as users
type it; each command's summary is shown whole in ``--help``, wrapped rather than cut.
"""

from __future__ import annotations

import importlib

import click


class RootAnywhere(click.Group):
    """The group, taking ``-r/--root ROOT`` after the subcommand as well as before it.

    Commands named in :attr:`lazy` (name -> ``module:attribute``) are imported when they run
    or their help is shown: every run pays for the imports of the commands it does not run,
    and the inventory commands are meant to answer in a fraction of a second.
    """

    lazy: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, those not imported yet included."""
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, imported now if it is a lazy one."""
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Move a ``-r ROOT`` given after the subcommand (up to ``--``) in front of it."""
        front: list[str] = []
        rest: list[str] = []
        i = 0
        seen_command = False
        while i < len(args):
            arg = args[i]
            if arg == "--":
                rest += args[i:]
                break
            if arg in ("-r", "--root") and i + 1 < len(args) and (seen_command or arg == "-r"):
                # As --root: click tries every option as a long one first, and the error it
                # builds for "-r" imports difflib to suggest names (1 ms of every run's start).
                (front if seen_command else rest).extend(("--root", args[i + 1]))
                i += 2
                continue
            if seen_command and arg.startswith("--root="):
                front.append(arg)
            else:
                seen_command = seen_command or arg in self.commands or arg in self.lazy
                rest.append(arg)
            i += 1
        return super().parse_args(ctx, front + rest)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command's summary in full (wrapped, not cut with "...")."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
