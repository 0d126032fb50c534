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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from storagekit.driver import StorageDriver, Whiteout
from storagekit.errors import NotADirectoryInSourceError, SourceError, SourceNotFoundError
from storagekit.model import Findings
from storagekit.source import Entry, FileType, Row, Source, Writer, normpath

_CACHE_DIRS = 256
_DIR = FileType.DIR


@dataclass(frozen=True)
class LayerDir:
    """One layer of a union: its directory in the Docker root and its driver."""

    source: Source
    path: str
    layer_id: str
    driver: StorageDriver


@dataclass
class Merged:
    """One merged directory.

    Attributes:
        names: each visible name with its :data:`Row` and the index of the layer providing it.
        dirs: for each visible directory, the layers it merges (top first, with their rows).
        hidden: lower entries hidden by a whiteout (the top-most of each name).
        opaque_below: the layers an opaque directory hides.
    """

    names: dict[str, tuple[Row, int]]
    dirs: dict[str, list[tuple[int, Row]]]
    hidden: dict[str, tuple[Row, int]]
    opaque_below: list[int] = field(default_factory=list)


def _candidates(driver: StorageDriver) -> Callable[[str, FileType], bool] | None:
    """The driver's cheap whiteout test on a name and type, or None when it never says yes."""
    if type(driver).whiteout_candidate is StorageDriver.whiteout_candidate:
        return None
    return driver.whiteout_candidate


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
        self.fork_safe = all(lay.source.fork_safe for lay in layers)
        self.full_copy = layers[0].driver.full_copy
        self._merged: OrderedDict[str, Merged] = OrderedDict()
        self._root_layers = [(i, lay.source.stat(lay.path).row) for i, lay in self._usable(layers)]
        self._each = [
            (lay.driver, lay.source, normpath(lay.path), _candidates(lay.driver)) for lay in layers
        ]

    def _usable(self, layers: Sequence[LayerDir]) -> Iterator[tuple[int, LayerDir]]:
        """Layers whose directory exists; a full-copy stack is its top layer alone."""
        for i, lay in enumerate(layers):
            if lay.source.is_dir(lay.path):
                yield i, lay
                if self.full_copy:
                    return

    def after_fork(self) -> None:
        """In a forked child: every layer's source reopens what it holds."""
        for source in {id(lay.source): lay.source for lay in self.layers}.values():
            source.after_fork()

    # Merging ----------------------------------------------------------------------------------

    def layer_path(self, index: int, path: str) -> str:
        """Where ``path`` of the view is inside layer ``index``'s source."""
        top = self._each[index][2]
        return f"{top}/{path}" if path else top

    def dir_layers(self, path: str) -> list[tuple[int, Row]]:
        """The layers that contribute to directory ``path``, top first (with their rows).

        Raises:
            SourceNotFoundError: nothing is there.
            NotADirectoryInSourceError: it is not a directory.
        """
        if not path:
            return self._root_layers
        head, _, name = path.rpartition("/")
        merged = self.merge(head)
        found = merged.dirs.get(name)
        if found is None:
            if name not in merged.names:
                raise SourceNotFoundError(f"{self.description}: /{path}: no such file or directory")
            raise NotADirectoryInSourceError(f"{self.description}: /{path}: not a directory")
        return found

    def merge(
        self, path: str, dir_layers: list[tuple[int, Row]] | None = None, cache: bool = True
    ) -> Merged:
        """Merge directory ``path`` across its layers (cached for a few directories).

        ``dir_layers`` may be given by a caller that already knows them (a walk of the view,
        which visits each directory once and passes ``cache=False``).
        """
        cached = self._merged.get(path)
        if cached is not None:
            self._merged.move_to_end(path)
            return cached
        merged = self._compute(path, self.dir_layers(path) if dir_layers is None else dir_layers)
        if not cache:
            return merged
        self._merged[path] = merged
        if len(self._merged) > _CACHE_DIRS:
            self._merged.popitem(last=False)
        return merged

    def _compute(self, path: str, dir_layers: list[tuple[int, Row]]) -> Merged:
        names: dict[str, tuple[Row, int]] = {}
        dirs: dict[str, list[tuple[int, Row]]] = {}
        open_dirs: set[str] = set()  # visible directories lower layers may still add to
        hidden: dict[str, tuple[Row, int]] = {}
        whited: set[str] = set()
        directory = _DIR
        for index, dir_row in dir_layers:
            drv, src, top, candidate = self._each[index]
            where = f"{top}/{path}" if path else top
            try:
                # Every directory above was seen as one in this layer (dir_layers).
                rows, attrs = src.scan_dir(where, real=True)
            except SourceError:
                continue
            # A directory's own opacity is read when it is merged, from its xattrs.
            opaque = bool(attrs) and (
                drv.whiteout(Entry.from_row(where, dir_row), attrs.copy) is Whiteout.OPAQUE_DIR
            )
            here: set[str] = set()
            for name, row in rows:
                if candidate is not None and candidate(name, row[0]):
                    kind, hides = self._kind(index, name, row, tested=True)
                    if kind is Whiteout.OPAQUE_MARKER:
                        opaque = True
                    elif kind is Whiteout.FILE:
                        here.add(hides)
                    if kind is not Whiteout.NONE and kind is not Whiteout.OPAQUE_DIR:
                        continue
                if name not in names:
                    if name in whited:
                        hidden.setdefault(name, (row, index))
                        continue
                    names[name] = (row, index)
                    if row[0] is directory:
                        dirs[name] = [(index, row)]
                        open_dirs.add(name)
                elif name in open_dirs:
                    if row[0] is directory:
                        dirs[name].append((index, row))
                    else:
                        open_dirs.discard(name)
            if here:
                open_dirs -= here
                whited |= here
            if opaque and not self.full_copy:
                below = [i for i, _ in dir_layers if i > index]
                return Merged(names, dirs, hidden, below)
        return Merged(names, dirs, hidden)

    def _kind(self, index: int, name: str, row: Row, tested: bool = False) -> tuple[Whiteout, str]:
        """How layer ``index``'s driver classifies an entry, and the name a whiteout hides.

        ``tested``: the driver already called it a candidate.
        """
        drv, _, _, candidate = self._each[index]
        if not tested and (candidate is None or not candidate(name, row[0])):
            return Whiteout.NONE, name
        e = Entry.from_row(name, row)
        kind = drv.whiteout(e, dict)
        return kind, drv.hidden_name(e) if kind is Whiteout.FILE else name

    # Source contract --------------------------------------------------------------------------

    def _find(self, path: str) -> tuple[Row, int]:
        """The row and layer index of the non-root ``path`` (normalised)."""
        head, _, name = path.rpartition("/")
        found = self.merge(head).names.get(name)
        if found is None:
            raise SourceNotFoundError(f"{self.description}: /{path}: no such file or directory")
        return found

    def stat(self, path: str) -> Entry:
        """See :meth:`Source.stat`."""
        path = normpath(path)
        row = self._root_layers[0][1] if not path else self._find(path)[0]
        return Entry.from_row(path, row)

    def layer_of(self, path: str) -> str:
        """The ID of the layer that provides ``path``."""
        path = normpath(path)
        index = self._root_layers[0][0] if not path else self._find(path)[1]
        return self.layers[index].layer_id

    def scandir(self, path: str) -> Iterator[Entry]:
        """See :meth:`Source.scandir`."""
        path = normpath(path)
        prefix = f"{path}/" if path else ""
        names = self.merge(path).names
        return iter([Entry.from_row(prefix + name, row) for name, (row, _) in names.items()])

    def scandir_layers(self, path: str) -> list[tuple[Entry, str]]:
        """The entries of directory ``path`` with the ID of the layer providing each."""
        path = normpath(path)
        prefix = f"{path}/" if path else ""
        ids = [lay.layer_id for lay in self.layers]
        names = self.merge(path).names
        return [(Entry.from_row(prefix + name, row), ids[i]) for name, (row, i) in names.items()]

    def open(self, path: str) -> BinaryIO:
        """See :meth:`Source.open`: the file of the layer that provides it."""
        path = normpath(path)
        row, index = self._file(path)
        return self.layers[index].source.open(self.layer_path(index, path))

    def _file(self, path: str) -> tuple[Row, int]:
        found = self._find(path) if path else (self._root_layers[0][1], -1)
        if found[0][0] is not FileType.FILE:
            raise SourceError(f"{self.description}: /{path}: not a regular file")
        return found

    def copy_file(self, path: str, size: int, write: Writer, *, real: bool = False) -> int:
        """See :meth:`Source.copy_file`: read from the layer that provides the file."""
        path = normpath(path)
        _, index = self._file(path)
        where = self.layer_path(index, path)
        return self.layers[index].source.copy_file(where, size, write, real=True)

    def xattrs(self, path: str) -> dict[str, bytes]:
        """See :meth:`Source.xattrs`, leaving out the driver's own (``trusted.overlay.*``)."""
        path = normpath(path)
        index = self._root_layers[0][0] if not path else self._find(path)[1]
        attrs = self.layers[index].source.xattrs(self.layer_path(index, path))
        private = self.layers[index].driver.private_xattrs
        return {k: v for k, v in attrs.items() if not (private and k.startswith(private))}

    def hidden_rows(self, path: str, merged: Merged) -> list[tuple[str, Row, int]]:
        """The hidden entries of merged directory ``path``, sorted by name (see :meth:`deleted`)."""
        result = dict(merged.hidden)
        for index in merged.opaque_below:
            layer = self.layers[index]
            try:
                rows, _ = layer.source.scan_dir(self.layer_path(index, path), real=True)
            except SourceError:
                continue
            for name, row in rows:
                if self._kind(index, name, row)[0] is not Whiteout.NONE:
                    continue
                if name not in merged.names:
                    result.setdefault(name, (row, index))
        return [(name, row, i) for name, (row, i) in sorted(result.items())]

    def deleted(self, path: str) -> list[tuple[Entry, str]]:
        """Entries of directory ``path`` hidden by a whiteout or an opaque directory.

        Each is the top-most hidden entry of its name, with the ID of the layer it lives in;
        nothing visible is ever returned.
        """
        path = normpath(path)
        prefix = f"{path}/" if path else ""
        return [
            (Entry.from_row(prefix + name, row), self.layers[i].layer_id)
            for name, row, i in self.hidden_rows(path, self.merge(path))
        ]



def check_markers(view: UnionView, source: Source, findings: Findings, where: str) -> None:
    """Say when the evidence cannot show the view's opaque-directory markers (xattrs).

    ``source`` is the evidence the layers are read from; ``where`` names the artefact the
    view was built for.
    """
    attr = view.layers[0].driver.opaque_xattr
    if view.full_copy or attr is None:
        return
    if not source.trusted_xattrs_visible:
        findings.warning(
            "xattrs-invisible",
            where,
            f"this directory evidence is read without root: {attr} markers are "
            "invisible, so files deleted with their directory may show as present",
        )
    elif source.xattrs_recorded is False:
        findings.warning(
            "xattrs-missing",
            where,
            "the archive holds no extended attributes (made without --xattrs?): "
            f"{attr.split('.')[1]} opaque directories cannot be recognised, so files deleted "
            "with their directory may show",
        )
