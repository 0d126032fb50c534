"""The command line (click). No business logic: open the root, call report, render, exit.

Exit status: 0 success (findings included), 1 the evidence cannot be read as asked, 2 usage.
Results go to stdout; findings and errors go to stderr, after the results.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from storagekit import __version__
from storagekit.cli import render
from storagekit.cli.analyst import COMMANDS as ANALYST_COMMANDS
from storagekit.cli.common import FORMAT, Context, emit, emit_findings, listing, state
from storagekit.cli.listing import COMMANDS as LISTING_COMMANDS
from storagekit.cli.recover import COMMANDS
from storagekit.errors import StoragekitError
from storagekit.refs import resolve

# Commands import what only they need when they run: every run pays for the imports at the top,
# and the inventory commands are meant to answer in a fraction of a second. The recovery
# commands are in storagekit.cli.recover, what all commands share in storagekit.cli.common.


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-r",
    "--root",
    "root_path",
    envvar="STORAGEKIT_ROOT",
    default="/var/lib/docker",
    show_default=True,
    help="The storage root as found on the evidence: a directory or a tar archive "
    "(.tar, .tar.gz, .tar.xz, .tar.zst).",
)
@click.option(
    "--containerd-root",
    default=None,
    help="containerd root for Docker's containerd image store (not read yet).",
)
@click.version_option(__version__, prog_name="storagekit")
@click.pass_context
def cli(ctx: click.Context, root_path: str, containerd_root: str | None) -> None:
    """Offline forensics for copied container storage: nothing is ever written to it."""
    context = Context(root_path, containerd_root)
    ctx.obj = context
    ctx.call_on_close(context.close)


@cli.command()
@FORMAT
@click.pass_context
def audit(ctx: click.Context, fmt: str) -> None:
    """One report: drivers, counts, chain health, inventory and findings."""
    root = state(ctx).root()
    data = root.audit_record()
    emit(root, fmt, data, lambda: render.audit_table(data, root.title))


@cli.command()
@FORMAT
@click.pass_context
def layers(ctx: click.Context, fmt: str) -> None:
    """Layers of the layer store and driver directories found on disk."""
    root = state(ctx).root()
    listing(root, fmt, root.layer_records(), render.LAYER_COLUMNS)


@cli.command()
@FORMAT
@click.pass_context
def volumes(ctx: click.Context, fmt: str) -> None:
    """Volumes and the containers that use them."""
    root = state(ctx).root()
    listing(root, fmt, root.volume_records(), render.VOLUME_COLUMNS)


@cli.command()
@click.argument("ref")
@FORMAT
@click.pass_context
def chain(ctx: click.Context, ref: str, fmt: str) -> None:
    """The layer stack of a container or image, top first."""
    root = state(ctx).root()
    data = root.chain_record(resolve(root, ref))
    emit(root, fmt, data, lambda: render.chain_table(data))


@cli.command()
@click.option("-v", "--verbose", is_flag=True, help="Per image, container and volume items.")
@FORMAT
@click.pass_context
def df(ctx: click.Context, verbose: bool, fmt: str) -> None:
    """Docker system df, offline, plus orphaned storage and bytes measured on disk."""
    root = state(ctx).root()
    data = root.df_record(verbose=verbose)
    emit(root, fmt, data, lambda: render.df_table(data))


@cli.command()
@FORMAT
@click.pass_context
def orphans(ctx: click.Context, fmt: str) -> None:
    """Unreferenced, leaked and broken storage, with the bytes each holds."""
    root = state(ctx).root()
    listing(root, fmt, root.orphan_records(), render.ORPHAN_COLUMNS)


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
    root = context.root()
    steps = reclaim_plan(root.orphan_records())
    where = root.recorded_path if not do_apply else context.root_path
    if not do_apply:
        click.echo(reclaim_script(steps, where, title=root.title, daemon=root.daemon), nl=False)
        emit_findings(root)
        return
    if root.location or not os.path.isdir(context.root_path):
        raise click.UsageError(f"--apply needs the {root.title} root itself as a directory")
    total = sum(s.bytes for s in steps if s.remove)
    count = sum(s.remove for s in steps)
    if not yes:
        click.confirm(f"remove {count} paths ({total} bytes) from {context.root_path}?", abort=True)
    removed, freed = reclaim_apply(steps, context.root_path, lambda line: click.echo(line))
    click.echo(f"reclaimed {freed} bytes in {removed} paths", err=True)


for _command in (*LISTING_COMMANDS, *COMMANDS, *ANALYST_COMMANDS):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI, turning storagekit errors into one line and exit status 1."""
    try:
        cli.main(
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
    except StoragekitError as exc:
        click.echo(f"storagekit: error: {exc}", err=True)
        return 1
    except OSError as exc:
        click.echo(f"storagekit: error: {exc}", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
