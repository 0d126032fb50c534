"""What every command of the command line shares: the root option's state and the output.

Results go to stdout; findings and errors go to stderr, after the results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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


class Context:
    """What the group passes to its commands."""

    def __init__(
        self,
        root_path: str,
        containerd_root: str | None,
        archive_limit: int | None = None,
        archive_ratio: int | None = None,
    ) -> None:
        self.root_path = root_path
        self.containerd_root = containerd_root
        self.archive_limits = (archive_limit, archive_ratio)  # None: the default, 0: none
        self._engines: list[Engine] | None = None

    def root(self) -> Engine:
        """Open the evidence once; the engine whose storage it holds."""
        if self._engines is None:
            from storagekit.evidence import open_engines
            from storagekit.sources.tarstream import ArchiveLimits

            size, ratio = self.archive_limits
            default = ArchiveLimits()
            limits = ArchiveLimits(
                size=default.size if size is None else size or None,
                ratio=default.ratio if ratio is None else ratio or None,
            )
            self._engines = open_engines(self.root_path, limits)
        return self._engines[0]

    def limit_reached(self) -> bool:
        """Whether reading the evidence stopped at a limit (exit status 3)."""
        return any(
            f.code == "archive-limit" for engine in self._engines or () for f in engine.findings
        )

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
    """Print the root's findings to stderr, one line each, in their deterministic order."""
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
