"""The recovery commands: ls, cat, extract, diff, verify, save, export and logs.

Each works on the merged view of a container or an image (the engine's ``view``),
imported when the command runs. Each long step is a step of the command's progress on a
terminal (:mod:`storagekit.progress`): entries listed or compared, bytes written or read.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

import click

from storagekit import progress
from storagekit.cli import render
from storagekit.cli.common import (
    FORMAT,
    MISMATCH,
    binary_stdout,
    emit,
    emit_findings,
    state,
    tagged,
)
from storagekit.engine import Engine
from storagekit.errors import SourceNotFoundError, StoragekitError, UnknownReferenceError
from storagekit.model import Container, Image
from storagekit.refs import resolve_in

#: ``verify``'s exit status when a layer does not match (as ``sha256sum -c`` fails).
VERIFY_FAILED = 4

if TYPE_CHECKING:
    from storagekit.union.mounted import RecoveryView


def _view(ctx: click.Context, ref: str, with_mounts: bool = False) -> tuple[Engine, RecoveryView]:
    """The engine and the merged view of a container or image reference."""
    root, obj = resolve_in(state(ctx).engines(), ref)
    if with_mounts and not isinstance(obj, Container):
        raise click.UsageError("--with-mounts applies to containers, not images")
    return root, root.view(obj, with_mounts=with_mounts)


WITH_MOUNTS = click.option(
    "--with-mounts",
    is_flag=True,
    help="Show the container's volumes and /etc/hostname, hosts, resolv.conf where it saw them.",
)


def _container(ctx: click.Context, ref: str) -> tuple[Engine, Container]:
    """The root and the container a reference names (images are not accepted)."""
    root, obj = resolve_in(state(ctx).engines(), ref, images=False)
    assert isinstance(obj, Container)
    return root, obj


def _mount_hint(ctx: click.Context, ref: str, path: str) -> str:
    """The hint for a path missing from a container's own filesystem but under one of its mounts.

    Docker mounts the volume over the layers: the data is there with ``--with-mounts``.
    """
    _, obj = resolve_in(state(ctx).engines(), ref)
    if not isinstance(obj, Container):
        return ""
    wanted = "/" + path.strip("/")
    for m in obj.mounts:
        top = "/" + m.destination.strip("/")
        if wanted == top or wanted.startswith(top.rstrip("/") + "/"):
            what = f"volume {m.name}" if m.name else f"{m.type} mount"
            return f" ({top} is a {what} of the container: add --with-mounts to read it)"
    return ""


def _inside(view: RecoveryView, path: str, *, follow: bool) -> str:
    """A path inside the view, symlinks resolved with chroot semantics when ``follow``."""
    return view.resolve(path) if follow else view.stat(path).path


@click.command()
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
    from storagekit.union import recover

    root, view = _view(ctx, ref, with_mounts)
    top = _inside(view, path, follow=True)
    with progress.step("listing", noun="entries"):
        if fmt == "json":  # streamed: memory stays flat however large the tree
            recover.list_json(view, top, recursive, deleted, _write)
        else:  # streamed too: the first rows print before the walk ends (cli/tables.py)
            from storagekit.cli.tables import write_table

            recover.list_table(
                view,
                top,
                recursive,
                deleted,
                _write,
                lambda records: write_table(render.LS_COLUMNS, records, _write),
            )
    emit_findings(root)


def _write(text: str) -> None:
    """A piece of a streamed listing to stdout, never over the progress line."""
    progress.before_output()
    sys.stdout.write(text)
    if progress.shares_stdout():
        sys.stdout.flush()  # on the bar's terminal: out before the bar may come back
    progress.after_output()


@click.command()
@click.argument("ref")
@click.argument("path")
@WITH_MOUNTS
@click.pass_context
def cat(ctx: click.Context, ref: str, path: str, with_mounts: bool) -> None:
    """Write a file of a container or image to stdout (links resolved inside it)."""
    out = binary_stdout("a file's bytes", "redirect them: storagekit cat REF PATH > FILE")
    root, view = _view(ctx, ref, with_mounts)
    try:
        inner = _inside(view, path, follow=True)
        file = view.open(inner)
    except SourceNotFoundError as exc:
        hint = "" if with_mounts else _mount_hint(ctx, ref, path)
        raise StoragekitError(f"{exc}{hint}") from None
    with progress.step("reading the file", total=view.stat(inner).size) as bar, file as f:
        while chunk := f.read(1 << 20):
            out.write(chunk)
            bar.advance(len(chunk))
    out.flush()
    emit_findings(root)


@click.command()
@click.argument("ref")
@click.argument("path", default="/")
@click.option(
    "-o", "--output", "output", metavar="DIR", help="A new (or empty) directory to write into."
)
@click.option("--tar", "tar_file", metavar="FILE", help="A tar archive to write (- for stdout).")
@click.option(
    "--manifest", metavar="FILE", help="JSON-lines manifest with the SHA-256 of every file."
)
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
    from storagekit.union import recover

    if (output is None) == (tar_file is None):
        raise click.UsageError("give exactly one of -o DIR and --tar FILE")
    if tar_file == "-":
        binary_stdout("a tar archive", "give --tar FILE (or -o DIR), or redirect stdout")
    root, view = _view(ctx, ref, with_mounts)
    top = _inside(view, path, follow=False)
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(manifest, "x", encoding="utf-8")) if manifest else None
        stack.enter_context(progress.step("extracting"))  # file bytes copied, or tar written
        if output is not None:
            result = recover.extract_dir(
                view, top, output, log, layer_of=view.layer_of, devices=devices, setid=keep_setid
            )
        else:
            assert tar_file is not None
            out = (
                sys.stdout.buffer if tar_file == "-" else stack.enter_context(open(tar_file, "xb"))
            )
            result = recover.extract_tar(
                view, top, progress.counted(out), log, layer_of=view.layer_of
            )
    progress.finish()
    click.echo(
        f"extracted {result.files} files, {result.bytes} bytes"
        + (
            f"; {len(result.skipped)} entries not recreated (see the manifest)"
            if result.skipped
            else ""
        ),
        err=True,
    )
    emit_findings(root)


@click.command()
@click.argument("container")
@FORMAT
@click.pass_context
def diff(ctx: click.Context, container: str, fmt: str) -> None:
    """The container's changes against its image, as docker diff prints them."""
    root, obj = _container(ctx, container)
    with progress.step("comparing with the image", noun="entries"):
        found = root.changes(obj)
    records = [{"kind": c.kind, "path": c.path} for c in found]
    emit(
        root,
        fmt,
        records,
        lambda: "\n".join(f"{c.kind} {render.display(c.path)}" for c in found),
    )


@click.command()
@click.argument("ref", required=False)
@FORMAT
@click.pass_context
def verify(ctx: click.Context, ref: str | None, fmt: str) -> None:
    """Rebuild each image layer's tar and check it against its diff ID (all, or REF's)."""
    engines = state(ctx).engines()
    chosen = [(e, None) for e in engines] if ref is None else [resolve_in(engines, ref)]
    records = []
    try:
        for root, obj in chosen:
            records += tagged(root, root.verify_records(obj))
    except UnknownReferenceError as exc:
        raise StoragekitError(f"{ref}: {exc}") from None
    bad = [r for r in records if r["status"] not in ("ok", "container-changes")]
    progress.finish()
    if bad:
        # Before the listing's findings: the verdict, as sha256sum -c gives it.
        click.echo(
            f"storagekit: {len(bad)} of {len(records)} layers do not match their diff ID "
            "or their tar-split",
            err=True,
        )
        state(ctx).status = MISMATCH
    emit(engines, fmt, records, lambda: render.verify_table(records))


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="FILE",
    help="The archive to write (must not exist; - for stdout).",
)
@click.pass_context
def save(ctx: click.Context, images: tuple[str, ...], output: str) -> None:
    """An image archive that docker load accepts, with byte-exact layer tars."""
    to_stdout = output == "-"
    if to_stdout:
        binary_stdout("an image archive", "give -o FILE, or redirect stdout")
    engines = state(ctx).engines()
    picked = [resolve_in(engines, ref, containers=False) for ref in images]
    root = picked[0][0]
    if any(e is not root for e, _ in picked):
        raise click.UsageError("save takes images of one engine at a time")
    chosen = []
    for _, obj in picked:
        assert isinstance(obj, Image)
        chosen.append(obj)
    with contextlib.ExitStack() as stack:
        out = sys.stdout.buffer if to_stdout else stack.enter_context(open(output, "xb"))
        with progress.step("saving"):  # the archive's bytes written
            manifest = root.save(chosen, progress.counted(out))
    progress.finish()
    click.echo(f"saved {len(manifest)} image(s) to {'stdout' if to_stdout else output}", err=True)
    emit_findings(root)


@click.command()
@click.argument("container")
@click.option(
    "-o", "--output", required=True, metavar="FILE", help="The tar to write (- for stdout)."
)
@click.pass_context
def export(ctx: click.Context, container: str, output: str) -> None:
    """The container's filesystem as a tar, like docker export (for docker import)."""
    from storagekit.union import recover

    if output == "-":
        binary_stdout("a tar archive", "give -o FILE, or redirect stdout")
    root, obj = _container(ctx, container)
    view = root.view(obj)
    with contextlib.ExitStack() as stack:
        out = sys.stdout.buffer if output == "-" else stack.enter_context(open(output, "xb"))
        with progress.step("exporting"):  # the tar's bytes written
            recover.extract_tar(view, "", progress.counted(out))
    emit_findings(root)


COMMANDS = (ls, cat, extract, diff, verify, save, export)
