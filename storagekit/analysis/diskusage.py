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
"""

from __future__ import annotations

import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from storagekit import progress
from storagekit.errors import SourceError
from storagekit.model import Findings
from storagekit.parallel import MIN_CHUNK, pmap, workers_for
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


def tally(source: Source, path: str) -> Tally:
    """Everything below the directory ``path`` and the directory itself (nothing if absent)."""
    t = Tally()
    add = t.add
    for inode, size, allocated in source.file_sizes(path, dirs=True, linked_only=True):
        add(inode, size, allocated)
    progress.advance(t.apparent)  # measured: the step's progress, one subtree at a time
    return t


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
            sub = tally(source, path)
            t.allocated += sub.allocated
            t.apparent += sub.apparent
            for inode, sizes in sub.linked.items():
                t.linked.setdefault(inode, sizes)
        else:
            t.add_entry(entry)
    allocated, apparent = t.totals()
    return (allocated if known else None), apparent


@dataclass
class _Split:
    """The top of the tree: counted entries per area, and subtrees left for the workers."""

    tallies: dict[str, Tally]
    units: list[tuple[str, str]]  # (area, directory)


def _split(source: Source, areas: Areas, target: int) -> _Split:
    """Count the top of the tree breadth first until ``target`` subtrees remain to walk."""
    tallies = {area: Tally() for area in areas.order}
    tallies[OTHER].add_entry(source.stat(""))
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
            tallies[area].add_entry(entry)
    while pending and len(pending) + len(done) < target:
        area, path, depth = pending.popleft()
        if depth >= MAX_SPLIT_DEPTH:
            done.append((area, path))
            continue
        try:
            here = source.stat(path)
            children = list(source.scandir(path))
        except SourceError:
            done.append((area, path))  # let the walk count what it can
            continue
        tallies[area].add_entry(here)
        for entry in children:
            if entry.is_dir:
                pending.append((area, entry.path, depth + 1))
            else:
                tallies[area].add_entry(entry)
    units = done + [(area, path) for area, path, _ in pending]
    # Neighbouring subtrees are alike (all layers of one driver): mix them so each worker's
    # contiguous share holds large and small ones.
    units.sort(key=lambda unit: (zlib.crc32(unit[1].encode("utf-8", "surrogateescape")), unit))
    return _Split(tallies, units)


def measure(source: Source, areas: Areas, findings: Findings) -> dict[str, Any]:
    """Bytes allocated on disk and apparent bytes per area, and for the whole root.

    Returns a JSON-ready dict: ``allocation_known``, one key per area of ``areas`` and
    ``total`` (allocated bytes, ``None`` for a tar root), and ``apparent`` with the same keys.
    """
    workers = workers_for(1 << 62, source)
    split = _split(source, areas, MIN_CHUNK * workers if workers > 1 else 0)
    results = pmap(
        lambda unit: tally(source, unit[1]),
        split.units,
        source=source,
        findings=findings,
        label="measuring disk usage",
    )
    for (area, _), result in zip(split.units, results, strict=True):
        t = split.tallies[area]
        t.allocated += result.allocated
        t.apparent += result.apparent
        for inode, sizes in result.linked.items():
            t.linked.setdefault(inode, sizes)
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
