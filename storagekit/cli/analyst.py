"""The analyst's commands: ``inspect``, ``history``, ``logs``, ``timeline``.

Each asks the engine for its own record (:class:`storagekit.engine.Engine`); an engine that
cannot answer one says so in one line (exit status 1).
"""

from __future__ import annotations

import json

import click

from storagekit.cli.common import emit_findings, state
from storagekit.jsontext import escape_surrogates
from storagekit.model import Container, Image
from storagekit.refs import resolve


@click.command()
@click.argument("refs", metavar="REF...", nargs=-1, required=True)
@click.option(
    "--type",
    "kind",
    type=click.Choice(["container", "image"]),
    default=None,
    help="Look REF up among containers or images only.",
)
@click.option("-s", "--size", is_flag=True, help="Measure containers' writable layers.")
@click.pass_context
def inspect(ctx: click.Context, refs: tuple[str, ...], kind: str | None, size: bool) -> None:
    """Containers' and images' records as docker inspect prints them (a JSON list)."""
    root = state(ctx).root()
    found: list[Container | Image] = [
        resolve(root, ref, containers=kind != "image", images=kind != "container") for ref in refs
    ]
    records = [root.inspect_record(obj, size=size) for obj in found]
    text = json.dumps(records, ensure_ascii=False, indent=4)
    click.echo(escape_surrogates(text))
    emit_findings(root)


COMMANDS = (inspect,)
