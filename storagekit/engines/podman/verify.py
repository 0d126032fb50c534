"""``verify`` for podman: each image layer rebuilt from ``<id>.tar-split.gz`` and hashed.

containers-storage keeps, for every layer applied from a tar, ``<driver>-layers/<id>.tar-split.gz``
(the same tar-split format as Docker's, :mod:`storagekit.formats.tarsplit`); reassembling it with
the layer's files gives the original tar, whose SHA-256 is the layer's ``diff-digest``
(containers-storage ``layers.go``, ``Diff`` with ``uncompressedDigest``). Files are read as
containers-storage reads them: from the layer's directory, over its parents for overlay (the
``Diff`` of a layer mounts it), the layer's own copy for vfs. When the digest differs, every
file of the tar-split is checked by size and CRC-64, and (overlay) the layer's own directory is
searched for entries the tar never had, so the report names the changed, missing and added files.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from storagekit.analysis.layerfiles import clean, content_changes, rebuild, verifying
from storagekit.driver import Whiteout
from storagekit.engines.podman.inventory import Inventory
from storagekit.engines.podman.layers import Layer, tar_split_path
from storagekit.engines.podman.views import driver_for
from storagekit.errors import FormatError, SourceError, StoragekitError, UnsafePathError
from storagekit.formats.tarsplit import Segment, entries
from storagekit.jsontext import Record
from storagekit.source import CHUNK, Source, normpath
from storagekit.union.view import LayerDir, UnionView


def layer_view(inv: Inventory, layer: Layer) -> UnionView | None:
    """The layer's files (over its parents' for overlay), or ``None`` when its dir is missing."""
    driver = driver_for(layer.driver, inv.source, inv.findings)
    if driver is None or not driver.has_layer(layer.id):
        return None
    chain = inv.chain(layer.driver, layer.id, layer.meta_path)
    if driver.full_copy:
        chain = chain[:1]
    dirs = [
        LayerDir(inv.source, driver.layer_path(lid), lid, driver)
        for lid in chain
        if driver.has_layer(lid)
    ]
    return UnionView(dirs, f"layer {layer.id}")


def verify_layers(inv: Inventory, layers: list[Layer]) -> list[Record]:
    """:func:`verify_layer` of each layer, its bytes hashed shown as progress."""
    with verifying(layer.diff_size for layer in layers):
        return [verify_layer(inv, layer) for layer in layers]


def verify_layer(inv: Inventory, layer: Layer) -> Record:
    """Rebuild one layer's tar and compare its SHA-256 with ``diff-digest``."""
    record: Record = {
        "engine": "podman",
        "id": layer.id,
        "chain_id": inv.chain_id(layer.driver, layer.id),
        "diff_id": layer.diff_digest,
        "cache_id": layer.id,
        "status": "ok",
        "computed_diff_id": None,
        "files": [],
    }
    view = layer_view(inv, layer)
    if view is None:
        record["status"] = "missing-dir"
        return record
    split = tar_split_path(layer.driver, layer.id)
    if not layer.has_tar_split:
        record["status"] = "no-tar-split"
        return record
    try:
        computed, record["files"] = rebuild(view, inv.source, split)
    except (FormatError, SourceError) as exc:
        inv.findings.error("bad-tar-split", split, f"cannot rebuild the layer tar: {exc}")
        record["status"] = "unreadable"
        return record
    record["computed_diff_id"] = computed
    if computed != layer.diff_digest:
        record["status"] = "modified"
        record["files"] = _locate(inv, layer, view, split, record["files"])
    return record


def _locate(
    inv: Inventory, layer: Layer, view: UnionView, split: str, found: list[Record]
) -> list[Record]:
    names = content_changes(view, inv.source, split, found)
    driver = driver_for(layer.driver, inv.source, inv.findings)
    if driver is not None and not driver.full_copy:
        found += _added(inv.source, driver, driver.layer_path(layer.id), names)
    return sorted(found, key=lambda f: f["path"])


def _added(source: Source, driver: Any, top: str, names: set[str]) -> list[Record]:
    extra = []
    for directory, items in source.walk(top):
        rel_dir = directory[len(top) + 1 :] if directory != top else ""
        for e in items:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            kind = (
                driver.whiteout(e, dict)
                if driver.whiteout_candidate(e.name, e.type)
                else Whiteout.NONE
            )
            tar_name = (f"{rel_dir}/.wh.{e.name}" if rel_dir else f".wh.{e.name}") if (
                kind is Whiteout.FILE
            ) else rel  # fmt: skip
            if normpath(tar_name) not in names:
                extra.append({"path": "/" + rel, "change": "added"})
    return extra


def layer_tar(inv: Inventory, layer: Layer) -> Iterator[bytes]:
    """The layer's original tar, byte for byte (for ``save``).

    Raises:
        StoragekitError: it cannot be rebuilt exactly.
    """
    view = layer_view(inv, layer)
    if view is None:
        raise StoragekitError(f"layer {layer.id}: its directory is missing")
    if not layer.has_tar_split:
        raise StoragekitError(f"layer {layer.id}: no tar-split to rebuild it")
    split = tar_split_path(layer.driver, layer.id)
    with inv.source.open(split) as raw:
        for e in entries(raw, split):
            if isinstance(e, Segment):
                yield e.data
                continue
            if not e.size:
                continue
            path = clean(e.name)
            try:
                entry = view.stat(path) if path is not None else None
            except (SourceError, UnsafePathError):
                entry = None
            if entry is None or not entry.is_file or entry.size != e.size:
                raise StoragekitError(f"layer {layer.id}: /{path or e.name} is not as recorded")
            left = e.size
            with view.open(entry.path) as f:
                while left > 0 and (chunk := f.read(min(CHUNK, left))):
                    left -= len(chunk)
                    yield chunk
            if left:
                raise StoragekitError(f"layer {layer.id}: /{path} is shorter than recorded")
