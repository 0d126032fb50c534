"""What every command of the command line shares: the root option's state and the output.

Results go to stdout; findings and errors go to stderr, after the results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from storagekit.cli import render
from storagekit.engines.docker import records as report
from storagekit.engines.docker.root import DockerRoot
from storagekit.jsontext import to_json

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

    def __init__(self, root_path: str, containerd_root: str | None) -> None:
        self.root_path = root_path
        self.containerd_root = containerd_root
        self._root: DockerRoot | None = None

    def root(self) -> DockerRoot:
        """Open the evidence once."""
        if self._root is None:
            self._root = DockerRoot.open(self.root_path)
        return self._root

    def close(self) -> None:
        """Release the evidence."""
        if self._root is not None:
            self._root.close()


def emit(root: DockerRoot, fmt: str, data: Any, as_table: Callable[[], str]) -> None:
    """Print ``data`` as JSON or as the table ``as_table`` makes, then the findings."""
    text = to_json(data) if fmt == "json" else as_table()
    if text:
        click.echo(text)
    emit_findings(root)


def emit_findings(root: DockerRoot) -> None:
    """Print the root's findings to stderr, one line each, in their deterministic order."""
    for finding in root.findings.sorted():
        click.echo(render.display(render.finding_line(report.finding_record(finding))), err=True)


def listing(root: DockerRoot, fmt: str, records: Sequence[report.Record], columns: Any) -> None:
    """Print a list of records as JSON or as a table of ``columns``, then the findings."""
    emit(root, fmt, list(records), lambda: render.table(records, columns))


def state(ctx: click.Context) -> Context:
    """The group's :class:`Context`, which every command is given."""
    found = ctx.obj
    assert isinstance(found, Context)
    return found
