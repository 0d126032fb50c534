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
    click.echo(text, nl=False)  # cells are escaped by tables.cells


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
@click.option("--since", default=None, metavar="TIME", help="Only entries at or after this time.")
@click.option("--until", default=None, metavar="TIME", help="Only entries at or before this time.")
@click.option(
    "-n", "--tail", default="all", show_default=True, metavar="N", help="Only the last N entries."
)
@click.option("--stdout/--no-stdout", "want_out", default=True, help="Print the stdout stream.")
@click.option("--stderr/--no-stderr", "want_err", default=True, help="Print the stderr stream.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["raw", "json"]),
    default="raw",
    show_default=True,
    help="The log's own bytes (raw), or one object per entry: time, stream, text (json).",
)
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
    fmt: str,
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
    if fmt == "json":
        from storagekit.timefmt import from_ns

        click.echo(
            to_json(
                [
                    {
                        "time": from_ns(e.time_ns),
                        "stream": e.stream,
                        "text": e.data.decode("utf-8", "surrogateescape").removesuffix("\n"),
                    }
                    for e in chosen
                ]
            )
        )
        emit_findings(root)
        return
    for entry in chosen:
        out.get(entry.stream, out["stdout"]).write(render_entry(entry, timestamps=timestamps))
    for stream in out.values():
        stream.flush()
    emit_findings(root)


def _mode_string(r: Record) -> str:
    """The Sleuth Kit's mode column: ``r/rrw-r--r--`` (type letter twice, then permissions)."""
    kind = {
        "file": "r",
        "dir": "d",
        "symlink": "l",
        "chardev": "c",
        "blockdev": "b",
        "fifo": "p",
        "socket": "s",
    }.get(r["type"], "-")
    mode = r["mode"]
    bits = ""
    for shift, special, lower, upper in (
        (6, 0o4000, "s", "S"),
        (3, 0o2000, "s", "S"),
        (0, 0o1000, "t", "T"),
    ):
        part = (mode >> shift) & 7
        bits += "r" if part & 4 else "-"
        bits += "w" if part & 2 else "-"
        if mode & special:
            bits += lower if part & 1 else upper
        else:
            bits += "x" if part & 1 else "-"
    return f"{kind}/{kind}{bits}"


def bodyfile_line(r: Record) -> str:
    """One line of the Sleuth Kit's bodyfile 3: MD5|name|inode|mode|UID|GID|size|a|m|c|cr."""
    name = f"{r['holder']}:{r['path']}"
    if r["link_target"] is not None:
        name += f" -> {r['link_target']}"
    if r["deleted"]:
        name += " (deleted)"
    name = render.display(name).replace("|", "%7C").replace("\n", "%0A")
    seconds = r["mtime_ns"] // 1_000_000_000
    inode = r["inode"] if r["inode"] is not None else 0
    mode = "-/----------" if r["deleted"] else _mode_string(r)
    return f"0|{name}|{inode}|{mode}|{r['uid']}|{r['gid']}|{r['size']}|0|{seconds}|0|0"


def _file_event(r: Record) -> Record:
    from storagekit.timefmt import from_ns

    return {
        "time_ns": r["mtime_ns"],
        "datetime": from_ns(r["mtime_ns"]),
        "timestamp_desc": "File Deleted" if r["deleted"] else "Content Modification Time",
        "message": f"{r['holder']}:{r['path']}" + (" (deleted)" if r["deleted"] else ""),
        **{k: v for k, v in r.items() if k != "mtime_ns"},
    }


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["bodyfile", "jsonl"]),
    default="bodyfile",
    show_default=True,
    help="bodyfile (for mactime) or JSON lines with the engine's events (for Timesketch).",
)
@click.pass_context
def timeline(ctx: click.Context, fmt: str) -> None:
    """Every file of every layer (deleted ones marked) and, with jsonl, the engine's events."""
    root = state(ctx).root()
    if fmt == "bodyfile":
        for r in root.timeline_files():
            click.echo(bodyfile_line(r))
    else:
        rows = [_file_event(r) for r in root.timeline_files()] + root.timeline_events()
        rows.sort(key=lambda e: (e["time_ns"], e["message"]))
        for row in rows:
            row = {k: v for k, v in row.items() if k != "time_ns"}
            click.echo(to_json(row))
    emit_findings(root)


COMMANDS = (inspect, history, logs, timeline)
