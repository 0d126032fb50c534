"""``history IMAGE``: an image's layers as ``docker history`` lists them, newest first.

The engine that holds the image answers (:meth:`storagekit.engine.Engine.history_records`).
"""

from __future__ import annotations

import click

from storagekit.cli import render
from storagekit.cli.common import FORMAT, emit, state
from storagekit.errors import StoragekitError
from storagekit.ids import short
from storagekit.model import Image
from storagekit.refs import resolve

COLUMNS: list[render.Column] = [
    ("IMAGE", lambda r: short(r["id"]) if r["id"] != "<missing>" else r["id"]),
    ("CREATED", lambda r: r["created"] or "-"),
    ("CREATED BY", lambda r: render.display(r["created_by"])),
    ("SIZE", lambda r: render.human_size(r["size"])),
    ("COMMENT", lambda r: render.display(r["comment"])),
]


@click.command()
@click.argument("image")
@FORMAT
@click.pass_context
def history(ctx: click.Context, image: str, fmt: str) -> None:
    """An image's layers, newest first, as docker history lists them."""
    root = state(ctx).root()
    obj = resolve(root, image, containers=False)
    assert isinstance(obj, Image)
    try:
        records = root.history_records(obj)
    except StoragekitError as exc:
        raise StoragekitError(f"{image}: {exc}") from None
    emit(root, fmt, records, lambda: render.table(records, COLUMNS))
