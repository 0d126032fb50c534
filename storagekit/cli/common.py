"""What every command of the command line shares: the root option's state and the output.

Results go to stdout; findings and errors go to stderr, after the results.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import IO, Any, ClassVar

import click

from storagekit.cli import render
from storagekit.engine import Engine
from storagekit.jsontext import Record, to_json

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output for people (table) or one JSON document (json).",
)


#: Exit statuses beyond click's (``cli-contract.md``): the evidence is incomplete; a layer does
#: not match (``verify``, ``audit --verify``).
INCOMPLETE = 3
MISMATCH = 4


class Context:
    """What the group passes to its commands.

    Attributes:
        status: the exit status the command asked for (0, or :data:`MISMATCH`).
        current: the context of the command running now (the entry point reads its status).
    """

    current: ClassVar[Context | None] = None

    def __init__(self, root_path: str, containerd_root: str | None) -> None:
        self.root_path = root_path
        self.containerd_root = containerd_root
        self._engines: list[Engine] | None = None
        self.status = 0
        self.incomplete: str | None = None
        Context.current = self

    def exit_status(self) -> int:
        """Incomplete evidence first (every answer is partial), then what the command asked."""
        return INCOMPLETE if self.incomplete else self.status

    def root(self) -> Engine:
        """Open the evidence once; the engine whose storage it holds."""
        if self._engines is None:
            from storagekit.evidence import open_engines

            self._engines = open_engines(self.root_path)
            # Said first, before any result or finding: whatever follows is partial.
            self.incomplete = self._engines[0].incomplete()
            if self.incomplete:
                click.echo(render.display(self.incomplete), err=True)
        return self._engines[0]

    def close(self) -> None:
        """Release the evidence."""
        for engine in self._engines or ():
            engine.close()


def emit(root: Engine, fmt: str, data: Any, as_table: Callable[[], str]) -> None:
    """Print ``data`` as JSON or as the table ``as_table`` makes, then the findings."""
    text = to_json(data) if fmt == "json" else as_table()
    if text:
        click.echo(text)
    emit_findings(root)


def emit_findings(root: Engine) -> None:
    """Print the root's findings to stderr, one line each, in their deterministic order.

    On incomplete evidence, the findings the missing part explains are marked as its
    consequences and come last (:meth:`Engine.settle`).
    """
    root.settle()
    for finding in root.findings.sorted():
        click.echo(render.display(render.finding_line(finding.record())), err=True)


def listing(root: Engine, fmt: str, records: Sequence[Record], columns: Any) -> None:
    """Print a list of records as JSON or as a table of ``columns``, then the findings."""
    emit(root, fmt, list(records), lambda: render.table(records, columns))


def state(ctx: click.Context) -> Context:
    """The group's :class:`Context`, which every command is given."""
    found = ctx.obj
    assert isinstance(found, Context)
    return found


class BinaryToTerminal(click.ClickException):
    """Binary output asked for on a terminal: refused, as ``docker export`` does (usage, 2)."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        """One line, the hint included."""
        click.echo(f"storagekit: error: {self.format_message()}", err=True)


def binary_stdout(what: str, hint: str) -> IO[bytes]:
    """Standard output for binary data; refused when it is a terminal.

    Raises:
        BinaryToTerminal: stdout is a terminal (``hint`` says what to do instead).
    """
    if sys.stdout.isatty():
        raise BinaryToTerminal(f"refusing to write {what} to a terminal; {hint}")
    return sys.stdout.buffer
