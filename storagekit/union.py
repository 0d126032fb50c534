"""The merged view of a layer stack, in userspace: itself a read-only :class:`Source`.

What the kernel's overlay or aufs mount would show, computed one directory at a time from the
layer directories, top layer first, asking the driver only how to classify each entry
(:class:`~storagekit.driver.Whiteout`):

* the first layer that has a name wins;
* a whiteout (overlay: a 0/0 character device; aufs: ``.wh.<name>``) hides the name in every
  lower layer;
* a directory merges with same-named directories below it until one of them is opaque (overlay:
  ``trusted.overlay.opaque=y``; aufs: a ``.wh..wh..opq`` file inside), or a lower layer has a
  whiteout or a non-directory there;
* driver bookkeeping (``.wh..wh.aufs``, ``.wh..wh.plnk``, ``.wh..wh.orph``) is never shown.

Full-copy drivers (vfs) need no merge: the top layer is the whole view. Memory is bounded by the
entries of the directories being merged (a small LRU), never by the size of the tree. Hidden
entries that still exist in lower layers — often the evidence — are available through
:meth:`UnionView.deleted`.

References: Linux ``Documentation/filesystems/overlayfs.rst``; moby ``go-archive/whiteouts.go``,
``daemon/graphdriver/overlay2/overlay.go``, ``v23.0.0:daemon/graphdriver/aufs/aufs.go``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import BinaryIO

from storagekit.driver import StorageDriver, Whiteout
from storagekit.errors import NotADirectoryInSourceError, SourceError, SourceNotFoundError
from storagekit.source import Entry, Source, join, normpath

_CACHE_DIRS = 256


@dataclass(frozen=True)
class LayerDir:
    """One layer of a union: its directory in the Docker root and its driver."""

    source: Source
    path: str
    layer_id: str
    driver: StorageDriver


@dataclass
class _Node:
    """A name of a merged directory: the winning entry and, for a directory, its layers."""

    entry: Entry
    layer: int
    dir_layers: list[tuple[int, Entry]] = field(default_factory=list)
    open: bool = True  # lower layers may still add to this directory


@dataclass
class _Merged:
    names: dict[str, _Node]
    hidden: dict[str, tuple[Entry, int]]  # lower entries hidden by a whiteout
    opaque_below: list[int] = field(default_factory=list)  # layers an opaque dir hides


class UnionView(Source):
    """The files of a layer stack as the container (or image) saw them.

    Args:
        layers: the layer directories, top first.
        description: a name for messages (``container <id>``).
    """

    def __init__(self, layers: Sequence[LayerDir], description: str = "<union>") -> None:
        if not layers:
            raise SourceError(f"{description}: no layers to merge")
        self.layers = list(layers)
        self.description = description
        base = layers[0].source
        self.trusted_xattrs_visible = base.trusted_xattrs_visible
        self.full_copy = layers[0].driver.full_copy
        self._merged: OrderedDict[str, _Merged] = OrderedDict()
        self._root_layers = [(i, lay.source.stat(lay.path)) for i, lay in self._usable(layers)]

    def _usable(self, layers: Sequence[LayerDir]) -> Iterator[tuple[int, LayerDir]]:
        """Layers whose directory exists; a full-copy stack is its top layer alone."""
        for i, lay in enumerate(layers):
            if lay.source.is_dir(lay.path):
                yield i, lay
                if self.full_copy:
                    return

    # Merging ----------------------------------------------------------------------------------

    def _layer_path(self, index: int, path: str) -> str:
        return join(self.layers[index].path, path)

    def _dir_layers(self, path: str) -> list[tuple[int, Entry]]:
        """The layers that contribute to directory ``path``, top first (with their entries).

        Raises:
            SourceNotFoundError: nothing is there.
            NotADirectoryInSourceError: it is not a directory.
        """
        if not path:
            return self._root_layers
        head, _, name = path.rpartition("/")
        node = self._merge(head).names.get(name)
        if node is None:
            raise SourceNotFoundError(f"{self.description}: /{path}: no such file or directory")
        if not node.entry.is_dir:
            raise NotADirectoryInSourceError(f"{self.description}: /{path}: not a directory")
        return node.dir_layers

    def _merge(self, path: str) -> _Merged:
        """Merge directory ``path`` across its layers (cached for a few directories)."""
        cached = self._merged.get(path)
        if cached is not None:
            self._merged.move_to_end(path)
            return cached
        merged = self._compute(path, self._dir_layers(path))
        self._merged[path] = merged
        if len(self._merged) > _CACHE_DIRS:
            self._merged.popitem(last=False)
        return merged

    def _compute(self, path: str, dir_layers: list[tuple[int, Entry]]) -> _Merged:
        names: dict[str, _Node] = {}
        hidden: dict[str, tuple[Entry, int]] = {}
        whited: set[str] = set()
        for index, dir_entry in dir_layers:
            layer = self.layers[index]
            drv, src = layer.driver, layer.source
            where = self._layer_path(index, path)
            opaque = drv.whiteout(dir_entry, partial(src.xattrs, where)) is Whiteout.OPAQUE_DIR
            try:
                entries = list(src.scandir(where))
            except SourceError:
                continue
            here: set[str] = set()
            for e in entries:
                # A directory's own opacity is read when it is merged.
                kind = drv.whiteout(e, dict) if drv.whiteout_candidate(e) else Whiteout.NONE
                if kind is Whiteout.OPAQUE_MARKER:
                    opaque = True
                    continue
                if kind is Whiteout.BOOKKEEPING:
                    continue
                if kind is Whiteout.FILE:
                    here.add(drv.hidden_name(e))
                    continue
                self._place(names, hidden, whited, e, index, path)
            for name in here:
                node = names.get(name)
                if node is not None:
                    node.open = False
            whited |= here
            if opaque and not self.full_copy:
                for node in names.values():
                    node.open = False
                below = [i for i, _ in dir_layers if i > index]
                return _Merged(names, hidden, below)
        return _Merged(names, hidden)

    def _place(
        self,
        names: dict[str, _Node],
        hidden: dict[str, tuple[Entry, int]],
        whited: set[str],
        e: Entry,
        index: int,
        path: str,
    ) -> None:
        name = e.name
        node = names.get(name)
        if node is None:
            if name in whited:
                hidden.setdefault(name, (e, index))
                return
            node = _Node(self._rebase(e, path), index)
            names[name] = node
            if e.is_dir:
                node.dir_layers.append((index, e))
            return
        if node.open and node.entry.is_dir and e.is_dir:
            node.dir_layers.append((index, e))
        else:
            node.open = False

    def _rebase(self, e: Entry, path: str) -> Entry:
        return e.moved(f"{path}/{e.name}" if path else e.name)

    # Source contract --------------------------------------------------------------------------

    def _node(self, path: str) -> _Node:
        path = normpath(path)
        head, _, name = path.rpartition("/")
        node = self._merge(head).names.get(name)
        if node is None:
            raise SourceNotFoundError(f"{self.description}: /{path}: no such file or directory")
        return node

    def stat(self, path: str) -> Entry:
        """See :meth:`Source.stat`."""
        path = normpath(path)
        if not path:
            index, entry = self._root_layers[0]
            return entry.moved("")
        return self._node(path).entry

    def layer_of(self, path: str) -> str:
        """The ID of the layer that provides ``path``."""
        path = normpath(path)
        index = self._root_layers[0][0] if not path else self._node(path).layer
        return self.layers[index].layer_id

    def scandir(self, path: str) -> Iterator[Entry]:
        """See :meth:`Source.scandir`."""
        path = normpath(path)
        merged = self._merge(path)
        return iter([node.entry for node in merged.names.values()])

    def scandir_layers(self, path: str) -> list[tuple[Entry, str]]:
        """The entries of directory ``path`` with the ID of the layer providing each."""
        merged = self._merge(normpath(path))
        ids = [lay.layer_id for lay in self.layers]
        return [(node.entry, ids[node.layer]) for node in merged.names.values()]

    def open(self, path: str) -> BinaryIO:
        """See :meth:`Source.open`: the file of the layer that provides it."""
        node = self._node(path)
        if not node.entry.is_file:
            raise SourceError(f"{self.description}: /{normpath(path)}: not a regular file")
        layer = self.layers[node.layer]
        return layer.source.open(self._layer_path(node.layer, normpath(path)))

    def xattrs(self, path: str) -> dict[str, bytes]:
        """See :meth:`Source.xattrs`; overlay's own ``trusted.overlay.*`` are not the file's."""
        path = normpath(path)
        index = self._root_layers[0][0] if not path else self._node(path).layer
        attrs = self.layers[index].source.xattrs(self._layer_path(index, path))
        return {k: v for k, v in attrs.items() if not k.startswith(_OVERLAY_PRIVATE)}

    def deleted(self, path: str) -> list[tuple[Entry, str]]:
        """Entries of directory ``path`` hidden by a whiteout or an opaque directory.

        Each is the top-most hidden entry of its name, with the ID of the layer it lives in;
        nothing visible is ever returned.
        """
        path = normpath(path)
        merged = self._merge(path)
        result = dict(merged.hidden)
        for index in merged.opaque_below:
            layer = self.layers[index]
            try:
                entries = list(layer.source.scandir(self._layer_path(index, path)))
            except SourceError:
                continue
            for e in entries:
                kind = (
                    layer.driver.whiteout(e, dict)
                    if layer.driver.whiteout_candidate(e)
                    else Whiteout.NONE
                )
                if kind is Whiteout.NONE and e.name not in merged.names:
                    result.setdefault(e.name, (e, index))
        return [
            (self._rebase(e, path), self.layers[i].layer_id) for _, (e, i) in sorted(result.items())
        ]


_OVERLAY_PRIVATE = ("trusted.overlay.", "user.overlay.")
