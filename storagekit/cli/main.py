"""The command line (click). No business logic: open the root, call report, render, exit.

Exit status: 0 success (findings included), 1 the evidence cannot be read as asked, 2 usage
(binary output to a terminal included), 3 the evidence is incomplete (the answers are partial;
the first line on stderr says so), 4 ``verify`` (or ``audit --verify``) found a layer that does
not match. An error (1) still says first that the evidence is incomplete, when it is.
Results go to stdout; findings and errors go to stderr, after the results.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence

import click

from storagekit import __version__, progress
from storagekit.cli import common, render
from storagekit.cli.common import (
    FORMAT,
    MISMATCH,
    Context,
    emit,
    emit_findings,
    gather,
    listing,
    state,
    tagged,
)
from storagekit.cli.group import RootAnywhere
from storagekit.cli.listing import COMMANDS as LISTING_COMMANDS
from storagekit.engine import Engine
from storagekit.errors import StoragekitError
from storagekit.jsontext import Record
from storagekit.refs import resolve_in

#: The commands of storagekit.cli.recover and storagekit.cli.analyst (each module's COMMANDS;
#: tests/test_cli_lazy.py checks that the names agree).
RECOVER_NAMES = ("ls", "cat", "extract", "diff", "verify", "save", "export")
ANALYST_NAMES = ("inspect", "history", "logs", "timeline")

# Commands import what only they need when they run: every run pays for the imports at the top,
# and the inventory commands are meant to answer in a fraction of a second. The recovery
# commands are in storagekit.cli.recover, what all commands share in storagekit.cli.common.


#: The option that adds a second piece of evidence holding one engine's root.
EXTRA_ROOT = "--containerd-root"


@click.group(cls=RootAnywhere, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-r",
    "--root",
    "root_path",
    envvar="STORAGEKIT_ROOT",
    default="/var/lib/docker",
    show_default=True,
    metavar="ROOT",
    help="Container storage root, or a whole host: a directory or a tar archive "
    "(.tar, .tar.gz, .tar.xz, .tar.zst). Every engine found in it is read.",
)
@click.option(
    EXTRA_ROOT,
    "extra_root",
    default=None,
    metavar="DIR",
    help="Another storage root held as separate evidence (an image store copied apart from the "
    "data root that uses it), read beside -r.",
)
@click.option(
    "--engine",
    "engine_names",
    multiple=True,
    metavar="NAME",
    help="Read only this engine (repeatable).",
)
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    metavar="NS",
    help="Read only this namespace of engines that have them (repeatable; default all).",
)
@click.option(
    "--archive-limit",
    type=click.IntRange(min=0),
    default=None,
    metavar="BYTES",
    help="Decompress a compressed archive up to this many bytes (default 1 TiB; 0: no limit).",
)
@click.option(
    "--archive-ratio",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="...and, past 1 GiB, up to N times its size (default 200; 0: no limit). A limit "
    "reached is a finding and exit status 3.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where an archive's index is kept between commands (default "
    "$XDG_CACHE_HOME/storagekit, else ~/.cache/storagekit); never beside the evidence.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Index an archive afresh and keep nothing.",
)
@click.version_option(__version__, prog_name="storagekit")
@click.pass_context
def cli(
    ctx: click.Context,
    root_path: str,
    extra_root: str | None,
    engine_names: tuple[str, ...],
    namespaces: tuple[str, ...],
    archive_limit: int | None,
    archive_ratio: int | None,
    cache_dir: str | None,
    no_cache: bool,
) -> None:
    """Offline forensics for copied container storage: nothing is ever written to it."""
    context = Context(
        root_path, extra_root, engine_names, namespaces, archive_limit, archive_ratio
    )
    context.index_cache = None if no_cache else (cache_dir or "")
    ctx.obj = context
    ctx.call_on_close(context.close)
    # One progress line per run, on stderr when it is a terminal; erased before anything else
    # is written there (the closing callbacks run before main prints an error).
    progress.start(ctx.invoked_subcommand or "storagekit")
    ctx.call_on_close(progress.stop)


def _sections(engines: list[Engine], records: list[Record], what: str) -> Record:
    """Several engines' ``audit`` or ``df`` objects: one section each, and their sums."""
    totals: Record = {}
    for rec in records:
        for key, value in (rec.get("counts") or rec.get("totals") or {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    return {"engines": [e.name for e in engines], what: totals, "sections": records}


def _tables(records: list[Record], as_table: Callable[[Record], str]) -> str:
    return "\n\n".join(
        f"=== engine {rec['engine']} ===\n{as_table(rec)}" for rec in records
    )


@cli.result_callback()
@click.pass_context
def _finished(ctx: click.Context, /, result: object, **_: object) -> None:
    """Exit status 3 when the evidence was read only up to a decompression limit."""
    if state(ctx).limit_reached():
        ctx.exit(LIMIT_REACHED)


#: Exit status of a command that answered from the evidence up to a limit (a decompression
#: bomb): the answer is partial, and a finding says which limit.
LIMIT_REACHED = 3


@cli.command()
@FORMAT
@click.option(
    "--verify",
    "check",
    is_flag=True,
    help="Also verify every image layer (exit status 4 if one does not match).",
)
@click.pass_context
def audit(ctx: click.Context, fmt: str, check: bool) -> None:
    """One report: drivers, counts, chain health, inventory, integrity and findings (per engine)."""
    engines = state(ctx).engines()
    records = [
        {"engine": e.name, **{k: v for k, v in rec.items() if k != "engine"}}
        for e in engines
        for rec in [e.audit_record(verify=check)]
    ]
    for rec, e in zip(records, engines, strict=True):
        for key in ("images", "containers", "layers", "volumes", "orphans"):
            rec[key] = tagged(e, rec[key])
    if any(
        rec.get("integrity", {}).get("checked") and not rec["integrity"].get("intact")
        for rec in records
    ):
        state(ctx).status = MISMATCH
    titles = {e.name: e.title for e in engines}

    def table(rec: Record) -> str:
        return render.audit_table(rec, titles[rec["engine"]])

    def shown() -> list[str]:  # the FINDINGS section's lines
        return [render.finding_line(f) for rec in records for f in rec["findings"]]

    if len(records) == 1:
        emit(engines, fmt, records[0], lambda: table(records[0]), shown=shown)
        return
    data = _sections(engines, records, "counts")
    emit(engines, fmt, data, lambda: _tables(records, table), shown=shown)


@cli.command()
@FORMAT
@click.pass_context
def layers(ctx: click.Context, fmt: str) -> None:
    """Layers (snapshots for containerd) and layer directories found on disk."""
    engines, names = state(ctx).engines(), state(ctx).engine_names
    records = gather(engines, lambda e: e.layer_records(), names)
    listing(engines, fmt, records, render.LAYER_COLUMNS)


@cli.command()
@FORMAT
@click.pass_context
def volumes(ctx: click.Context, fmt: str) -> None:
    """Volumes and the containers that use them."""
    engines, names = state(ctx).engines(), state(ctx).engine_names
    records = gather(engines, lambda e: e.volume_records(), names)
    listing(engines, fmt, records, render.VOLUME_COLUMNS)


@cli.command()
@click.argument("ref")
@FORMAT
@click.pass_context
def chain(ctx: click.Context, ref: str, fmt: str) -> None:
    """The layer stack of a container or image, top first."""
    engines = state(ctx).engines()
    root, obj = resolve_in(engines, ref)
    data = root.chain_record(obj)
    data = data if "engine" in data else {"engine": root.name, **data}
    emit(engines, fmt, data, lambda: render.chain_table(data))


@cli.command()
@click.option("-v", "--verbose", is_flag=True, help="Per image, container and volume items.")
@FORMAT
@click.pass_context
def df(ctx: click.Context, verbose: bool, fmt: str) -> None:
    """Docker system df, offline, plus orphaned storage and bytes measured on disk."""
    engines = state(ctx).engines()
    records = [e.df_record(verbose=verbose) for e in engines]
    if len(records) == 1:
        emit(engines, fmt, records[0], lambda: render.df_table(records[0]))
        return
    records = [{"engine": e.name, **r} for e, r in zip(engines, records, strict=True)]
    data = _sections(engines, records, "totals")
    emit(engines, fmt, data, lambda: _tables(records, render.df_table))


@cli.command()
@FORMAT
@click.pass_context
def orphans(ctx: click.Context, fmt: str) -> None:
    """Unreferenced, leaked and broken storage, with the bytes each holds."""
    engines, names = state(ctx).engines(), state(ctx).engine_names
    records = gather(engines, lambda e: e.orphan_records(), names)
    listing(engines, fmt, records, render.ORPHAN_COLUMNS)


@cli.command()
@click.option("--apply", "do_apply", is_flag=True, help="Remove now (directory roots only).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def reclaim(ctx: click.Context, do_apply: bool, yes: bool) -> None:
    """The plan to reclaim orphaned storage, as a shell script; --apply carries it out."""
    from storagekit.analysis.reclaim import apply as reclaim_apply
    from storagekit.analysis.reclaim import plan as reclaim_plan
    from storagekit.analysis.reclaim import script as reclaim_script

    context = state(ctx)
    engines = context.engines()
    if len(engines) > 1:
        raise click.UsageError(
            "the evidence holds several engines ("
            + ", ".join(e.name for e in engines)
            + "): choose one with --engine"
        )
    root = engines[0]
    found = root.orphan_records()
    commands = root.reclaim_commands(found)
    if commands is not None or not root.reclaim_applies:
        if do_apply:
            raise click.UsageError(
                f"--apply is refused for {root.name}: its storage must be reclaimed by its own "
                "tools with the daemon running; run the plan instead"
            )
        click.echo("\n".join(commands or []) + ("\n" if commands else ""), nl=False)
        emit_findings(root)
        return
    steps = reclaim_plan(found)
    if not do_apply:
        # The plan is for the root named by -r, never the path the evidence recorded (the
        # host's, which may exist on the analysis host too and hold something else).
        where = None
        if os.path.isdir(context.root_path):
            where = os.path.join(os.path.abspath(context.root_path), root.location).rstrip("/")
        note = ""
        if context.incomplete:
            note = "EVIDENCE INCOMPLETE: what references these paths may be in the missing part"
        text = reclaim_script(
            steps,
            where,
            title=root.title,
            daemon=root.daemon,
            archive=os.path.abspath(context.root_path),
            note=note,
        )
        click.echo(text, nl=False)
        emit_findings(root)
        return
    if root.location or not os.path.isdir(context.root_path):
        raise click.UsageError(f"--apply needs the {root.title} root itself as a directory")
    total = sum(s.bytes for s in steps if s.remove)
    count = sum(s.remove for s in steps)
    if not yes:
        progress.finish()
        click.confirm(f"remove {count} paths ({total} bytes) from {context.root_path}?", abort=True)
    removed, freed, failed = reclaim_apply(steps, context.root_path, lambda line: click.echo(line))
    progress.finish()
    click.echo(f"reclaimed {freed} bytes in {removed} paths", err=True)
    if failed:
        raise StoragekitError(f"{failed} paths could not be removed (see the log above)")


for _command in LISTING_COMMANDS:
    cli.add_command(_command)
# The recovery and analyst commands are imported only when they run (see RootAnywhere).
cli.lazy = {
    **{name: f"storagekit.cli.recover:{name}" for name in RECOVER_NAMES},
    **{name: f"storagekit.cli.analyst:{name}" for name in ANALYST_NAMES},
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI, turning storagekit errors into one line and exit status 1."""
    Context.current = None
    common.FREEZE_AFTER_OPEN = argv is None  # the program itself, not a call with arguments
    if argv is None:
        gc.disable()  # until the evidence is open (common.FREEZE_AFTER_OPEN)
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="storagekit",
            standalone_mode=False,
        )
    except click.exceptions.Abort:
        click.echo("storagekit: aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (StoragekitError, OSError) as exc:
        # Messages name paths and values of the evidence: shown escaped, like every line.
        click.echo(f"storagekit: error: {render.display(str(exc))}", err=True)
        # On incomplete evidence what was not found may be in the part that is missing.
        current = Context.current
        incomplete = isinstance(exc, StoragekitError) and current is not None and current.incomplete
        return 3 if incomplete else 1
    status = Context.current.exit_status() if Context.current is not None else 0
    status = status or (code if isinstance(code, int) else 0)
    if argv is None:
        _leave(status)
    return status


def _leave(status: int) -> None:
    """End the program now, without tearing the interpreter down.

    Freeing what a command built — the index of a large archive is a million objects — takes
    longer than some commands' own work, and nothing is left to do: every file storagekit
    opened is closed, the cache writer is a process of its own. The output is flushed first;
    if that fails (a closed pipe), the interpreter's own exit reports it as before.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
