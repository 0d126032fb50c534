"""The command line (click). No business logic: open the root, call report, render, exit.

Exit status: 0 success (findings included), 1 the evidence cannot be read as asked, 2 usage.
Results go to stdout; findings and errors go to stderr, after the results.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from storagekit import __version__, render, report
from storagekit.dockerroot import DockerRoot
from storagekit.errors import StoragekitError
from storagekit.model import Container, Image
from storagekit.refs import resolve

if TYPE_CHECKING:
    from storagekit.union import UnionView
    from storagekit.views import MountedView

# Commands import what only they need when they run: every run pays for the imports at the top,
# and the inventory commands are meant to answer in a fraction of a second.

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


def _emit(root: DockerRoot, fmt: str, data: Any, as_table: Callable[[], str]) -> None:
    text = render.to_json(data) if fmt == "json" else as_table()
    if text:
        click.echo(text)
    _emit_findings(root)


def _emit_findings(root: DockerRoot) -> None:
    for finding in root.findings.sorted():
        click.echo(render.display(render.finding_line(report.finding_record(finding))), err=True)


def _listing(root: DockerRoot, fmt: str, records: Sequence[report.Record], columns: Any) -> None:
    _emit(root, fmt, list(records), lambda: render.table(records, columns))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-r",
    "--root",
    "root_path",
    envvar="STORAGEKIT_ROOT",
    default="/var/lib/docker",
    show_default=True,
    help="Docker data root: a directory or a tar archive (.tar, .tar.gz, .tar.xz, .tar.zst).",
)
@click.option(
    "--containerd-root",
    default=None,
    help="containerd root for Docker's containerd image store (not read yet).",
)
@click.version_option(__version__, prog_name="storagekit")
@click.pass_context
def cli(ctx: click.Context, root_path: str, containerd_root: str | None) -> None:
    """Offline forensics for a copied Docker data root: nothing is ever written to it."""
    state = Context(root_path, containerd_root)
    ctx.obj = state
    ctx.call_on_close(state.close)


def _state(ctx: click.Context) -> Context:
    state = ctx.obj
    assert isinstance(state, Context)
    return state


@cli.command()
@FORMAT
@click.pass_context
def audit(ctx: click.Context, fmt: str) -> None:
    """One report: drivers, counts, chain health, inventory and findings."""
    root = _state(ctx).root()
    data = report.audit_record(root)
    _emit(root, fmt, data, lambda: render.audit_table(data))


@cli.command()
@FORMAT
@click.option("--no-size", is_flag=True, help="Skip measuring each read-write layer.")
@click.pass_context
def containers(ctx: click.Context, fmt: str, no_size: bool) -> None:
    """Containers, with their layer directories and mounts."""
    root = _state(ctx).root()
    if fmt == "json":
        click.echo(report.container_records_json(root, sizes=not no_size))
        _emit_findings(root)
        return
    records = report.container_records(root, sizes=not no_size, adopt=False)
    _listing(root, fmt, records, render.CONTAINER_COLUMNS)


@cli.command()
@FORMAT
@click.pass_context
def images(ctx: click.Context, fmt: str) -> None:
    """Images of the image store, with layers and sizes."""
    root = _state(ctx).root()
    _listing(root, fmt, report.image_records(root), render.IMAGE_COLUMNS)


@cli.command()
@FORMAT
@click.pass_context
def layers(ctx: click.Context, fmt: str) -> None:
    """Layers of the layer store and driver directories found on disk."""
    root = _state(ctx).root()
    _listing(root, fmt, report.layer_records(root), render.LAYER_COLUMNS)


@cli.command()
@FORMAT
@click.pass_context
def volumes(ctx: click.Context, fmt: str) -> None:
    """Volumes and the containers that use them."""
    root = _state(ctx).root()
    _listing(root, fmt, report.volume_records(root), render.VOLUME_COLUMNS)


@cli.command()
@click.argument("ref")
@FORMAT
@click.pass_context
def chain(ctx: click.Context, ref: str, fmt: str) -> None:
    """The layer stack of a container or image, top first."""
    root = _state(ctx).root()
    data = report.chain_record(root, resolve(root, ref))
    _emit(root, fmt, data, lambda: render.chain_table(data))


def _view(root: DockerRoot, ref: str, with_mounts: bool = False) -> UnionView | MountedView:
    """The merged view of a container or image reference."""
    from storagekit.views import container_view, image_view, mounted_view

    obj = resolve(root, ref)
    if isinstance(obj, Container):
        return mounted_view(root, obj) if with_mounts else container_view(root, obj)
    if with_mounts:
        raise click.UsageError("--with-mounts applies to containers, not images")
    return image_view(root, obj)


WITH_MOUNTS = click.option(
    "--with-mounts",
    is_flag=True,
    help="Show the container's volumes and /etc/hostname, hosts, resolv.conf where it saw them.",
)


def _inside(view: UnionView | MountedView, path: str, *, follow: bool) -> str:
    """A path inside the view, symlinks resolved with chroot semantics when ``follow``."""
    return view.resolve(path) if follow else view.stat(path).path


@cli.command()
@click.argument("ref")
@click.argument("path", default="/")
@click.option("-R", "--recursive", is_flag=True, help="List the whole tree below PATH.")
@click.option("--deleted", is_flag=True, help="Also list entries hidden by whiteouts.")
@WITH_MOUNTS
@FORMAT
@click.pass_context
def ls(
    ctx: click.Context,
    ref: str,
    path: str,
    recursive: bool,
    deleted: bool,
    with_mounts: bool,
    fmt: str,
) -> None:
    """List the merged view of a container or image at PATH (default /)."""
    from storagekit import recover

    root = _state(ctx).root()
    view = _view(root, ref, with_mounts)
    top = _inside(view, path, follow=True)
    if fmt == "json":  # streamed: memory stays flat however large the tree
        recover.list_json(view, top, recursive, deleted, sys.stdout.write)
        _emit_findings(root)
    else:
        records = list(recover.list_view(view, top, recursive, deleted))
        _listing(root, fmt, records, render.LS_COLUMNS)


@cli.command()
@click.argument("ref")
@click.argument("path")
@WITH_MOUNTS
@click.pass_context
def cat(ctx: click.Context, ref: str, path: str, with_mounts: bool) -> None:
    """Write a file of a container or image to stdout (links resolved inside it)."""
    root = _state(ctx).root()
    view = _view(root, ref, with_mounts)
    inner = _inside(view, path, follow=True)
    out = sys.stdout.buffer
    with view.open(inner) as f:
        while chunk := f.read(1 << 20):
            out.write(chunk)
    out.flush()
    _emit_findings(root)


@cli.command()
@click.argument("ref")
@click.argument("path", default="/")
@click.option("-o", "--output", "output", help="A new (or empty) directory to write into.")
@click.option("--tar", "tar_file", help="A tar archive to write (- for stdout).")
@click.option("--manifest", help="JSON-lines manifest with the SHA-256 of every file.")
@click.option("--devices", is_flag=True, help="Recreate device nodes (needs root).")
@click.option("--keep-setid", is_flag=True, help="Keep set-user/group-ID bits (needs root).")
@WITH_MOUNTS
@click.pass_context
def extract(
    ctx: click.Context,
    ref: str,
    path: str,
    output: str | None,
    tar_file: str | None,
    manifest: str | None,
    devices: bool,
    keep_setid: bool,
    with_mounts: bool,
) -> None:
    """Recover the merged view (or the subtree at PATH) to a directory or a tar archive.

    Without --with-mounts the result is what docker export writes: the container's own
    filesystem, volumes not included.
    """
    from storagekit import recover

    if (output is None) == (tar_file is None):
        raise click.UsageError("give exactly one of -o DIR and --tar FILE")
    root = _state(ctx).root()
    view = _view(root, ref, with_mounts)
    top = _inside(view, path, follow=False)
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(manifest, "x", encoding="utf-8")) if manifest else None
        if output is not None:
            result = recover.extract_dir(
                view, top, output, log, layer_of=view.layer_of, devices=devices, setid=keep_setid
            )
        else:
            assert tar_file is not None
            out = (
                sys.stdout.buffer if tar_file == "-" else stack.enter_context(open(tar_file, "xb"))
            )
            result = recover.extract_tar(view, top, out, log, layer_of=view.layer_of)
    click.echo(
        f"extracted {result.files} files, {result.bytes} bytes"
        + (
            f"; {len(result.skipped)} entries not recreated (see the manifest)"
            if result.skipped
            else ""
        ),
        err=True,
    )
    _emit_findings(root)


@cli.command()
@click.argument("container")
@FORMAT
@click.pass_context
def diff(ctx: click.Context, container: str, fmt: str) -> None:
    """The container's changes against its image, as docker diff prints them."""
    from storagekit.views import container_changes

    root = _state(ctx).root()
    obj = resolve(root, container, images=False)
    assert isinstance(obj, Container)
    found = container_changes(root, obj)
    records = [{"kind": c.kind, "path": c.path} for c in found]
    _emit(
        root,
        fmt,
        records,
        lambda: "\n".join(f"{c.kind} {render.display(c.path)}" for c in found),
    )


@cli.command()
@click.option("-v", "--verbose", is_flag=True, help="Per image, container and volume items.")
@FORMAT
@click.pass_context
def df(ctx: click.Context, verbose: bool, fmt: str) -> None:
    """Docker system df, offline, plus orphaned storage and bytes measured on disk."""
    root = _state(ctx).root()
    data = report.df_record(root, verbose=verbose)
    _emit(root, fmt, data, lambda: render.df_table(data))


@cli.command()
@FORMAT
@click.pass_context
def orphans(ctx: click.Context, fmt: str) -> None:
    """Unreferenced, leaked and broken storage, with the bytes each holds."""
    from storagekit.analysis.orphans import find_orphans

    root = _state(ctx).root()
    _listing(root, fmt, find_orphans(root), render.ORPHAN_COLUMNS)


@cli.command()
@click.option("--apply", "do_apply", is_flag=True, help="Remove now (directory roots only).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def reclaim(ctx: click.Context, do_apply: bool, yes: bool) -> None:
    """The plan to reclaim orphaned storage, as a shell script; --apply carries it out."""
    from storagekit.analysis.orphans import find_orphans
    from storagekit.reclaim import apply as reclaim_apply
    from storagekit.reclaim import plan as reclaim_plan
    from storagekit.reclaim import script as reclaim_script

    state = _state(ctx)
    root = state.root()
    steps = reclaim_plan(find_orphans(root))
    where = root.original_path if not do_apply else state.root_path
    if not do_apply:
        click.echo(reclaim_script(steps, where), nl=False)
        _emit_findings(root)
        return
    if root.location or not os.path.isdir(state.root_path):
        raise click.UsageError("--apply needs the Docker root itself as a directory")
    total = sum(s.bytes for s in steps if s.remove)
    count = sum(s.remove for s in steps)
    if not yes:
        click.confirm(f"remove {count} paths ({total} bytes) from {state.root_path}?", abort=True)
    removed, freed = reclaim_apply(steps, state.root_path, lambda line: click.echo(line))
    click.echo(f"reclaimed {freed} bytes in {removed} paths", err=True)


@cli.command()
@click.argument("ref", required=False)
@FORMAT
@click.pass_context
def verify(ctx: click.Context, ref: str | None, fmt: str) -> None:
    """Rebuild each image layer's tar and check it against its diff ID (all, or REF's)."""
    from storagekit.analysis.verify import verify as verify_layers
    from storagekit.ids import chain_ids
    from storagekit.views import container_changes

    root = _state(ctx).root()
    if ref is None:
        layers = root.layers
    else:
        obj = resolve(root, ref)
        image: Container | Image | None = obj
        if isinstance(obj, Container):
            store_of = root.store_for(obj)
            image = store_of.images.get(obj.image_id) if store_of else None
        if not isinstance(image, Image):
            raise StoragekitError(f"{ref}: its image is not in this root")
        store = root.stores[image.driver]
        layers = [lay for c in chain_ids(image.diff_ids) if (lay := store.layers.get(c))]
    records = verify_layers(root, layers)
    if ref is not None and isinstance(obj, Container):
        # A read-write layer has no tar-split: what it holds is the container's changes.
        rw = root.rw_layer(obj)
        records.append(
            {
                "chain_id": None,
                "diff_id": None,
                "cache_id": rw.mount_id if rw else None,
                "status": "container-changes",
                "computed_diff_id": None,
                "files": [
                    {
                        "path": c.path,
                        "change": {"A": "added", "C": "changed", "D": "deleted"}[c.kind],
                    }
                    for c in container_changes(root, obj)
                ],
            }
        )
    _listing(root, fmt, records, render.VERIFY_COLUMNS)


@cli.command()
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="The archive to write (must not exist).")
@click.pass_context
def save(ctx: click.Context, images: tuple[str, ...], output: str) -> None:
    """An image archive that docker load accepts, with byte-exact layer tars."""
    from storagekit.save import save as save_images

    root = _state(ctx).root()
    chosen = []
    for ref in images:
        obj = resolve(root, ref, containers=False)
        assert isinstance(obj, Image)
        chosen.append(obj)
    with open(output, "xb") as out:
        manifest = save_images(root, chosen, out)
    click.echo(f"saved {len(manifest)} image(s) to {output}", err=True)
    _emit_findings(root)


@cli.command()
@click.argument("container")
@click.option("-o", "--output", required=True, help="The tar to write (- for stdout).")
@click.pass_context
def export(ctx: click.Context, container: str, output: str) -> None:
    """The container's filesystem as a tar, like docker export (for docker import)."""
    from storagekit import recover
    from storagekit.views import container_view

    root = _state(ctx).root()
    obj = resolve(root, container, images=False)
    assert isinstance(obj, Container)
    view = container_view(root, obj)
    with contextlib.ExitStack() as stack:
        out = sys.stdout.buffer if output == "-" else stack.enter_context(open(output, "xb"))
        recover.extract_tar(view, "", out)
    _emit_findings(root)


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
