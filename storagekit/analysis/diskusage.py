"""Bytes a storage root really occupies on disk, per area, counted the way ``du`` counts them.

Engines' own figures (``docker system df``, ``podman system df``) are apparent sizes read from
metadata. They leave out what a host actually pays for: directory blocks, file system block
rounding, sparse files, work directories, logs, configs and everything a damaged or
interrupted engine left behind. This module measures allocation:

* every entry's ``st_blocks * 512`` (GNU ``du``'s default unit), directories' own blocks included,
  the root directory too;
* each inode once: a file with several names (``st_nlink > 1``) is counted at its first name only,
  across the whole root, as ``du`` does for one operand; directories are never deduplicated, as
  in ``du`` (``du.c``: ``hash_ins`` only for non-directories with ``st_nlink > 1``);
* links are not followed; unreadable directories count their own blocks and nothing below.

So ``total`` equals ``du -s -B1 ROOT`` for a directory root. Each path belongs to the area of
the top-level entry it is under; the engine says which top-level names make which area
(:class:`Areas`), and everything else, with the root directory's own blocks, is ``other``.

A file hard-linked into two areas is counted in the first of them in the engine's order. The
``apparent`` figures are content bytes: ``st_size`` of non-directories, each inode once (the same
for a directory and for a tar archive of it). A tar archive records no allocation, so for a tar
root the allocated figures are ``None`` and only ``apparent`` is known.

The walk is spread over the cores with :func:`storagekit.parallel.pmap`: the top of the tree is
split breadth first into enough subtrees to give every worker a share, in an order that mixes
large and small subtrees, and each worker reports the inodes with several names it met so the
parent can count each once.

One walk answers the other size questions of the same command too. A caller names ``marks``:
directories whose own figures it will ask for next (a container's writable layer, a volume, an
orphaned driver directory). The split never leaves a mark inside a subtree a worker walks
whole: it descends to each mark and stops there, or goes on below it, so every mark is a
subtree or a union of the pieces counted. Each mark's figures — hard links counted once within
the mark, exactly what walking it alone gives — are kept for the source (:func:`tally` is
computed once per source and path), so :func:`path_usage`, :func:`paths_usage` and
:func:`apparent_size` answer a mark without reading it again.
"""

from __future__ import annotations

import weakref
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from storagekit import progress
from storagekit.errors import SourceError
from storagekit.model import Findings
from storagekit.parallel import MIN_CHUNK, pmap_started, workers_for
from storagekit.source import Entry, Source

#: The area of whatever the engine does not name, and of the root directory itself.
OTHER = "other"


@dataclass(frozen=True)
class Areas:
    """How an engine divides its root: area names in attribution order, and top-level names.

    Attributes:
        order: the areas, in the order a file with names in several of them is attributed
            (:data:`OTHER` last, always present).
        top: top-level entry name -> its area.
    """

    order: tuple[str, ...]
    top: dict[str, str]

    def of(self, name: str) -> str:
        """The area of a top-level entry of the root."""
        return self.top.get(name, OTHER)


#: The top of the tree is split at most this deep to make work units.
MAX_SPLIT_DEPTH = 4

#: Inode identity -> (allocated bytes, apparent bytes) of files with several names.
Linked = dict[object, tuple[int, int]]


@dataclass(slots=True)
class Tally:
    """Allocated and apparent bytes of a set of entries; multi-named files kept apart."""

    allocated: int = 0
    apparent: int = 0
    linked: Linked = field(default_factory=dict)

    def add(self, inode: object, size: int, allocated: int | None) -> None:
        """Count one ``file_sizes`` tuple (``inode`` only for files with several names)."""
        if inode is None:
            self.allocated += allocated or 0
            self.apparent += size
        elif inode not in self.linked:
            self.linked[inode] = (allocated or 0, size)

    def add_entry(self, entry: Entry) -> None:
        """Count one entry met while splitting the tree (its own blocks only, for a dir)."""
        if entry.is_dir:
            self.add(None, 0, entry.allocated)
        else:
            self.add(entry.inode if entry.nlink > 1 else None, entry.size, entry.allocated)

    def totals(self) -> tuple[int, int]:
        """(allocated, apparent), each multi-named file counted once."""
        allocated, apparent = self.allocated, self.apparent
        for a, s in self.linked.values():
            allocated += a
            apparent += s
        return allocated, apparent

    def merge(self, other: Tally) -> None:
        """Add ``other``'s figures (a multi-named file already here is not counted again)."""
        self.allocated += other.allocated
        self.apparent += other.apparent
        linked = self.linked
        for inode, sizes in other.linked.items():
            linked.setdefault(inode, sizes)


def walk_tally(source: Source, path: str) -> Tally:
    """Everything below the directory ``path`` and the directory itself (nothing if absent)."""
    t = Tally()
    add = t.add
    for inode, size, allocated in source.file_sizes(path, dirs=True, linked_only=True):
        add(inode, size, allocated)
    progress.advance(t.apparent)  # measured: the step's progress, one subtree at a time
    return t


class _Kept:
    """Tallies kept per source and path, for as long as the source lives.

    A source is held by identity: it need not be hashable (a ``SubSource`` is a dataclass).
    """

    def __init__(self) -> None:
        self._by_source: dict[int, dict[str, Tally]] = {}

    def table(self, source: Source) -> dict[str, Tally]:
        """The tallies kept for ``source`` (a new table, dropped when the source is gone)."""
        key = id(source)
        table = self._by_source.get(key)
        if table is None:
            table = {}
            try:
                weakref.finalize(source, self._by_source.pop, key, None)
            except TypeError:  # cannot be referenced weakly: keep nothing for it
                return table
            self._by_source[key] = table
        return table


_KEPT = _Kept()


def tally(source: Source, path: str) -> Tally:
    """:func:`walk_tally`, once per source and path.

    A mark of :func:`measure` is not walked again. The result is shared: never change it.
    """
    table = _KEPT.table(source)
    key = path.strip("/")
    found = table.get(key)
    if found is None:
        found = table[key] = walk_tally(source, path)
    return found


def apparent_size(source: Source, path: str) -> int:
    """Docker's ``directory.Size`` of ``path``.

    Apparent sizes of non-directories, each inode once (0 if ``path`` is not a directory).
    """
    return tally(source, path).totals()[1]


def path_usage(source: Source, path: str) -> tuple[int | None, int]:
    """(allocated, apparent) bytes of a file or a directory tree; (0, 0) if absent.

    ``allocated`` is ``None`` where the source records no allocation (a tar archive).
    """
    try:
        entry = source.stat(path)
    except SourceError:
        return 0, 0
    if entry.allocated is None:
        return None, tally(source, path).totals()[1] if entry.is_dir else entry.size
    if entry.is_dir:
        return tally(source, path).totals()
    return entry.allocated, entry.size


def paths_usage(source: Source, paths: list[str]) -> tuple[int | None, int]:
    """(allocated, apparent) of several paths together, each multi-named file once."""
    t = Tally()
    known = True
    for path in paths:
        try:
            entry = source.stat(path)
        except SourceError:
            continue
        known = known and entry.allocated is not None
        if entry.is_dir:
            t.merge(tally(source, path))
        else:
            t.add_entry(entry)
    allocated, apparent = t.totals()
    return (allocated if known else None), apparent


def _owners(path: str, marks: frozenset[str]) -> list[str]:
    """The marks ``path`` is in (itself included)."""
    if not marks:
        return []
    parts = path.split("/")
    return [m for i in range(1, len(parts) + 1) if (m := "/".join(parts[:i])) in marks]


def _ancestors(marks: frozenset[str]) -> frozenset[str]:
    """Every directory strictly above a mark (the root excepted)."""
    above: set[str] = set()
    for mark in marks:
        parts = mark.split("/")
        above.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(above)


@dataclass
class _Split:
    """The top of the tree: entries counted per area and per mark, subtrees left to walk.

    No subtree left for the workers holds a mark below its top.
    """

    tallies: dict[str, Tally]
    units: list[tuple[str, str]]  # (area, directory)
    marks: frozenset[str]
    marked: dict[str, Tally] = field(default_factory=dict)  # mark -> what is counted so far

    def count(self, area: str, entry: Entry) -> None:
        """Count an entry met while splitting, in its area and in the marks it is in."""
        self.tallies[area].add_entry(entry)
        for mark in _owners(entry.path, self.marks):
            if entry.is_dir or mark != entry.path:  # a mark that is a file is walked alone
                self.marked.setdefault(mark, Tally()).add_entry(entry)

    def add(self, area: str, path: str, walked: Tally) -> None:
        """Count a subtree a worker walked."""
        self.tallies[area].merge(walked)
        for mark in _owners(path, self.marks):
            self.marked.setdefault(mark, Tally()).merge(walked)

    def expand(self, source: Source, area: str, path: str) -> list[Entry] | None:
        """Count the directory ``path`` and its non-directories; return its subdirectories.

        ``None`` when it cannot be listed: then it is walked as one subtree.
        """
        try:
            here = source.stat(path)
            children = list(source.scandir(path))
        except SourceError:
            return None
        self.count(area, here)
        subdirs = []
        for entry in children:
            if entry.is_dir:
                subdirs.append(entry)
            else:
                self.count(area, entry)
        return subdirs


def _split(source: Source, areas: Areas, target: int, marks: frozenset[str]) -> _Split:
    """Count the top of the tree breadth first until ``target`` subtrees remain to walk.

    Then go down to every mark, so that no subtree holds one below its top.
    """
    split = _Split({area: Tally() for area in areas.order}, [], marks)
    split.tallies[OTHER].add_entry(source.stat(""))
    pending: deque[tuple[str, str, int]] = deque()
    done: list[tuple[str, str]] = []
    try:
        top = list(source.scandir(""))
    except SourceError:
        top = []
    for entry in top:
        area = areas.of(entry.name)
        if entry.is_dir:
            pending.append((area, entry.path, 1))
        else:
            split.count(area, entry)
    while pending and len(pending) + len(done) < target:
        area, path, depth = pending.popleft()
        subdirs = None if depth >= MAX_SPLIT_DEPTH else split.expand(source, area, path)
        if subdirs is None:
            done.append((area, path))  # let the walk count what it can
            continue
        pending.extend((area, entry.path, depth + 1) for entry in subdirs)
    units = done + [(area, path) for area, path, _ in pending]
    above = _ancestors(marks)
    down = [unit for unit in units if unit[1] in above]
    units = [unit for unit in units if unit[1] not in above]
    while down:
        area, path = down.pop()
        subdirs = split.expand(source, area, path)
        if subdirs is None:
            units.append((area, path))
            continue
        for entry in subdirs:
            (down if entry.path in above else units).append((area, entry.path))
    # Neighbouring subtrees are alike (all layers of one driver): mix them so each worker's
    # contiguous share holds large and small ones.
    units.sort(key=lambda unit: (zlib.crc32(unit[1].encode("utf-8", "surrogateescape")), unit))
    split.units = units
    return split


def measure(
    source: Source, areas: Areas, findings: Findings, marks: Iterable[str] = ()
) -> dict[str, Any]:
    """Bytes allocated on disk and apparent bytes per area, and for the whole root.

    ``marks``: directories whose own figures are kept on the way (see the module docstring).

    Returns a JSON-ready dict: ``allocation_known``, one key per area of ``areas`` and
    ``total`` (allocated bytes, ``None`` for a tar root), and ``apparent`` with the same keys.
    """
    return measure_started(source, areas, findings, marks)()


def measure_started(
    source: Source, areas: Areas, findings: Findings, marks: Iterable[str] = ()
) -> Callable[[], dict[str, Any]]:
    """:func:`measure` with the walk's workers started now; the call it returns gives the result.

    The caller reads what it needs meanwhile (the walk's marks must be named now: directories
    it names later are walked again when asked for).
    """
    wanted = frozenset(
        m for m in (mark.strip("/") for mark in marks) if m and m not in _KEPT.table(source)
    )
    workers = workers_for(1 << 62, source)
    split = _split(source, areas, MIN_CHUNK * workers if workers > 1 else 0, wanted)
    walked = pmap_started(
        lambda unit: walk_tally(source, unit[1]),
        split.units,
        source=source,
        findings=findings,
        label="measuring disk usage",
    )
    return lambda: _figures(source, areas, split, walked())


def _figures(
    source: Source, areas: Areas, split: _Split, results: list[Tally]
) -> dict[str, Any]:
    """:func:`measure`'s dict from the split and the walked subtrees' tallies."""
    for (area, path), result in zip(split.units, results, strict=True):
        split.add(area, path, result)
    _KEPT.table(source).update(split.marked)
    known = source.stat("").allocated is not None
    allocated: dict[str, int | None] = {}
    apparent: dict[str, int] = {}
    seen: set[object] = set()
    for area in areas.order:
        t = split.tallies[area]
        for inode in [i for i in t.linked if i in seen]:
            del t.linked[inode]
        seen.update(t.linked)
        a, s = t.totals()
        allocated[area] = a if known else None
        apparent[area] = s
    allocated["total"] = sum(v or 0 for v in allocated.values()) if known else None
    apparent["total"] = sum(apparent.values())
    return {"allocation_known": known, **allocated, "apparent": apparent}
