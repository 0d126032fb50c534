"""The analyst's commands: ``inspect``, ``history``, ``logs``, ``timeline``.

Each asks the engine for its own record (:class:`storagekit.engine.Engine`); an engine that
cannot answer one says so in one line (exit status 1).
"""

from __future__ import annotations

import json
import sys
from typing import BinaryIO, cast

import click

from storagekit.cli import render, tables
from storagekit.cli.common import FORMAT, emit_findings, state
from storagekit.ids import short
from storagekit.jsontext import Record, escape_surrogates, to_json
from storagekit.model import Container, Image
from storagekit.refs import resolve


def _out(text: str) -> None:
    click.echo(render.display(text), nl=False)


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


def _short_id(value: str) -> str:
    return value if value.startswith("<") else short(value.removeprefix("sha256:"))


def _seconds(value: str | None) -> str:
    return value[:19] + "Z" if value else "N/A"


def history_columns(trunc: bool) -> list[tables.Column]:
    """``docker history``'s columns (``--human=false``: times as RFC 3339 in UTC)."""

    def created_by(r: Record) -> str:
        text = r["created_by"].replace("\t", " ")
        return tables.ellipsis(text, 45) if trunc else text

    return [
        ("IMAGE", lambda r: _short_id(r["id"]) if trunc else r["id"]),
        ("CREATED", lambda r: _seconds(r["created"])),
        ("CREATED BY", created_by),
        ("SIZE", lambda r: tables.human_size(r["size"])),
        ("COMMENT", lambda r: r["comment"]),
    ]


@click.command()
@click.argument("image")
@click.option("--no-trunc", is_flag=True, help="Do not truncate IDs and commands.")
@click.option("-q", "--quiet", is_flag=True, help="Only image IDs.")
@FORMAT
@click.pass_context
def history(ctx: click.Context, image: str, no_trunc: bool, quiet: bool, fmt: str) -> None:
    """An image's build steps, newest first, as docker history shows them."""
    root = state(ctx).root()
    obj = resolve(root, image, containers=False)
    assert isinstance(obj, Image)
    records = root.history_records(obj)
    if fmt == "json":
        click.echo(to_json(records))
    elif quiet:
        for r in records:
            click.echo(r["id"] if no_trunc else _short_id(r["id"]))
    else:
        tables.write_table(history_columns(not no_trunc), records, _out, batch=1 << 30)
    emit_findings(root)


def _binary(stream: object) -> BinaryIO:
    """The byte stream under a text stream (log lines are bytes, whatever their encoding)."""
    return cast(BinaryIO, getattr(stream, "buffer", stream))


@click.command()
@click.argument("container")
@click.option("-t", "--timestamps", is_flag=True, help="Prefix each line with its time.")
@click.option("--since", default=None, help="Only entries at or after this time.")
@click.option("--until", default=None, help="Only entries at or before this time.")
@click.option("-n", "--tail", default="all", show_default=True, help="Only the last N entries.")
@click.option("--stdout/--no-stdout", "want_out", default=True, help="Print the stdout stream.")
@click.option("--stderr/--no-stderr", "want_err", default=True, help="Print the stderr stream.")
@click.pass_context
def logs(
    ctx: click.Context,
    container: str,
    timestamps: bool,
    since: str | None,
    until: str | None,
    tail: str,
    want_out: bool,
    want_err: bool,
) -> None:
    """A container's log as its engine's logs command prints it (stdout and stderr)."""
    from storagekit.logs import parse_time, render_entry, select

    try:
        since_ns = parse_time(since) if since else None
        until_ns = parse_time(until) if until else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if tail != "all" and not (tail.isdigit() or tail.startswith("-")):
        raise click.BadParameter(f"--tail {tail!r}: expected a number or 'all'")
    count = None if tail == "all" or tail.startswith("-") else int(tail)
    root = state(ctx).root()
    obj = resolve(root, container, images=False)
    assert isinstance(obj, Container)
    streams = tuple(s for s, on in (("stdout", want_out), ("stderr", want_err)) if on)
    out = {"stdout": _binary(sys.stdout), "stderr": _binary(sys.stderr)}
    chosen = select(
        root.log_entries(obj), streams=streams, since_ns=since_ns, until_ns=until_ns, tail=count
    )
    for entry in chosen:
        out.get(entry.stream, out["stdout"]).write(render_entry(entry, timestamps=timestamps))
    for stream in out.values():
        stream.flush()
    emit_findings(root)


COMMANDS = (inspect, history, logs)
