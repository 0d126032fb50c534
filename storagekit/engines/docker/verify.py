"""Verifying image layers against their diff IDs: tamper detection an examiner can cite.

Each image layer's tar is rebuilt from its driver directory with ``tar-split.json.gz``
(:mod:`storagekit.formats.tarsplit`) and hashed; the layer is intact when the SHA-256 equals its
diff ID. When it does not, every file of the tar-split is checked against its recorded size and
CRC-64, and the layer's own directory is searched for entries the tar never had, so the report
names exactly the files that were changed, removed or added.

Files are read as Docker reads them (``docker-root-format.md`` §7.4): from the layer's own
directory, and for overlay-style drivers through the layers below it when absent there.
"""

from __future__ import annotations

from collections.abc import Iterator

from storagekit.analysis.integrity import integrity as integrity_record
from storagekit.analysis.layerfiles import (
    Expected,
    apply_tar,
    clean,
    content_changes,
    full_tree_changes,
    members,
    merge,
    own_changes,
    rebuild,
    tree_of,
    verifying,
)
from storagekit.driver import StorageDriver
from storagekit.engines.docker.chains import walk_parents
from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import FormatError, SourceError, StoragekitError, UnsafePathError
from storagekit.formats.tarsplit import FileEntry, Segment, entries
from storagekit.jsontext import Record
from storagekit.model import Layer
from storagekit.source import CHUNK
from storagekit.union.view import LayerDir, UnionView


def _branches(
    root: DockerRoot, layer: Layer, driver: StorageDriver
) -> tuple[list[str | None], bool]:
    """The cache IDs of the layer's union (top first), and whether it holds only its changes.

    A layer's directory holds only its own changes when its union keeps every level below it:
    not for full copies (vfs) nor for legacy overlay, whose ``root/`` is the whole tree.
    """
    store = root.stores[layer.driver]
    ids = [lay.cache_id for lay in walk_parents(store, layer.chain_id).layers]
    branches = driver.union_branches(ids, 0)
    return branches, not driver.full_copy and len(branches) == len(ids)


def layer_view(root: DockerRoot, layer: Layer, driver: StorageDriver) -> UnionView:
    """The layer's files over its parents', as Docker's tar-split reassembly reads them."""
    dirs = []
    for cache_id in _branches(root, layer, driver)[0]:
        if cache_id and driver.has_layer(cache_id):
            dirs.append(LayerDir(root.source, driver.layer_path(cache_id), cache_id, driver))
    return UnionView(dirs, f"layer {layer.chain_id}")


def verify_layer(root: DockerRoot, layer: Layer) -> Record:
    """Rebuild one layer's tar and compare it with the diff ID."""
    record: Record = {
        "chain_id": layer.chain_id,
        "diff_id": layer.diff_id,
        "cache_id": layer.cache_id,
        "status": "ok",
        "computed_diff_id": None,
        "files": [],
    }
    driver = root.driver(layer.driver)
    if driver is None or layer.cache_id is None or not driver.has_layer(layer.cache_id):
        record["status"] = "missing-dir"
        return record
    if not layer.has_tar_split:
        record["status"] = "no-tar-split"
        return record
    view = layer_view(root, layer, driver)
    split = _split_path(layer)
    try:
        computed, record["files"] = rebuild(view, root.source, split)
    except (FormatError, SourceError) as exc:
        root.findings.error("bad-tar-split", split, f"cannot rebuild the layer tar: {exc}")
        record["status"] = "unreadable"
        return record
    record["computed_diff_id"] = computed
    if computed != layer.diff_id:
        # Sizes and presence are known; contents by CRC-64 (entries the tar never had: below).
        content_changes(view, root.source, split, record["files"])
    try:
        record["files"] = merge(record["files"], structure(root, layer, driver))
    except (FormatError, SourceError) as exc:
        root.findings.error("bad-tar-split", split, f"cannot compare the layer's files: {exc}")
    # Without a diff ID (graph/ layout) the CRC-64 of every file and the entry-by-entry pass
    # are the whole check.
    if (layer.diff_id is not None and computed != layer.diff_id) or record["files"]:
        record["status"] = "modified"
    return record


def structure(root: DockerRoot, layer: Layer, driver: StorageDriver) -> list[Record]:
    """The layer's directory against its tar-split (and, for a full tree, its chain's)."""
    assert layer.cache_id is not None
    source = root.source
    top = driver.layer_path(layer.cache_id)
    if _branches(root, layer, driver)[1]:
        return own_changes(source, driver, top, list(members(source, _split_path(layer))))
    chain = walk_parents(root.stores[layer.driver], layer.chain_id).layers[::-1]
    tree: dict[str, Expected] = {}
    paths: dict[str, str] = {}
    for level in chain:
        cache_id = level.cache_id
        if cache_id is None or not driver.has_layer(cache_id):
            continue
        paths[cache_id] = driver.layer_path(cache_id)
        if level.has_tar_split:
            apply_tar(tree, list(members(source, _split_path(level))), cache_id)
        else:  # what the chain left is not recorded: the directory as found stands for it
            tree = tree_of(source, paths[cache_id], cache_id)
    return full_tree_changes(source, top, tree, paths)


def _split_path(layer: Layer) -> str:
    """The layer's tar-split: ``tar-data.json.gz`` in the ``graph/`` layout of Docker <= 1.9."""
    name = "tar-data.json.gz" if layer.meta_path.startswith("graph/") else "tar-split.json.gz"
    return f"{layer.meta_path}/{name}"


def verify(root: DockerRoot, layers: list[Layer]) -> list[Record]:
    """Verify every given layer (the others are unaffected by any one's damage)."""
    with verifying(layer.size for layer in layers):
        return [verify_layer(root, layer) for layer in layers]


def integrity(root: DockerRoot, check: bool) -> Record:
    """``audit``'s ``integrity`` object: every image layer verified (with ``check``) or not."""
    layers = root.layers
    return integrity_record(verify(root, layers) if check else None, len(layers))


def layer_tar(root: DockerRoot, layer: Layer) -> Iterator[bytes]:
    """The layer's original tar stream, rebuilt byte for byte (for ``save``).

    Raises:
        StoragekitError: the layer cannot be rebuilt exactly (no tar-split, missing directory,
            a file missing or of another size, or a damaged tar-split).
    """
    driver = root.driver(layer.driver)
    if driver is None or layer.cache_id is None or not driver.has_layer(layer.cache_id):
        raise StoragekitError(f"layer {layer.chain_id}: its directory is missing")
    if not layer.has_tar_split:
        raise StoragekitError(f"layer {layer.chain_id}: no tar-split.json.gz to rebuild it")
    view = layer_view(root, layer, driver)
    split = _split_path(layer)
    with root.source.open(split) as raw:
        for e in entries(raw, split):
            if isinstance(e, Segment):
                yield e.data
            elif e.size:
                yield from _exact_file(view, layer, e)


def _exact_file(view: UnionView, layer: Layer, e: FileEntry) -> Iterator[bytes]:
    """A file's bytes in chunks (constant memory), or an error if it is not as recorded."""
    path = clean(e.name)
    try:
        entry = view.stat(path) if path is not None else None
    except (SourceError, UnsafePathError):
        entry = None
    if entry is None or not entry.is_file or entry.size != e.size:
        change = "missing" if entry is None else "type" if not entry.is_file else "size"
        raise StoragekitError(f"layer {layer.chain_id}: /{path or e.name}: {change}")
    left = e.size
    with view.open(entry.path) as f:
        while left > 0 and (chunk := f.read(min(CHUNK, left))):
            left -= len(chunk)
            yield chunk
    if left:
        raise StoragekitError(f"layer {layer.chain_id}: /{path}: shorter than recorded")
