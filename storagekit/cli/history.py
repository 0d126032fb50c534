"""``history IMAGE``: an image's layers as ``docker history`` lists them, newest first.

Read for images of the ``graph/`` layout (Docker <= 1.9), where each layer is a v1 image whose
JSON records when and by what command it was made; the store that holds the image answers.
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
    """An image's layers, newest first, as docker history lists them (graph/ layout)."""
    root = state(ctx).root()
    obj = resolve(root, image, containers=False)
    assert isinstance(obj, Image)
    store = root.stores[obj.driver]
    read = getattr(store, "history", None)
    if read is None:
        raise StoragekitError(
            f"{image}: history is read for images of the graph/ layout (Docker <= 1.9) only"
        )
    records = read(obj.id)
    emit(root, fmt, records, lambda: render.table(records, COLUMNS))
