"""A layer's directory compared with its tar-split, entry by entry, whatever the digest says.

The digest of a rebuilt layer tar covers the contents of the files its tar had, and nothing
else: a file planted next to them, an empty file, directory or link removed, or a file removed
from an overlay2 layer while a lower layer still holds one with the same bytes, all leave it
unchanged. This pass names them. Every member of the tar-split (its type read from the tar
header that precedes it) is looked up in the layer's directory and every entry of the directory
is looked up among the members:

* a layer that holds only its own changes (overlay2, fuse-overlayfs, aufs) must hold exactly
  the tar's members, whiteouts in the driver's own form (a 0/0 character device, or the
  ``.wh.`` file aufs keeps);
* a layer that holds the whole tree (vfs, btrfs, legacy overlay's ``root/``) must hold what
  the tar-splits of its chain, applied from the base up (whiteouts and opaque markers as
  deletions), leave: a file neither its parent had nor its own tar wrote is ``added``, a file
  deleted by a whiteout is simply absent. A file it inherited is compared, byte for byte, with
  the copy of the layer that wrote it. Where an ancestor has no tar-split, the parent's
  directory as found stands for what the chain left.

Changes are ``added``, ``missing``, ``type`` and ``size``; ``content`` for files this layer's
tar wrote comes from the CRC-64 pass of :mod:`storagekit.engines.docker.verify`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from storagekit import progress
from storagekit.driver import WH_OPAQUE, WH_PREFIX, StorageDriver, Whiteout
from storagekit.entry import Entry, FileType
from storagekit.errors import FormatError, SourceError, UnsafePathError
from storagekit.formats.tarsplit import Crc64, FileEntry, Segment, entries
from storagekit.jsontext import Record
from storagekit.source import CHUNK, Source

#: Tar type flags (``archive/tar``); a hard link (``1``) is any non-directory.
TAR_TYPES: dict[bytes, FileType | None] = {
    b"0": FileType.FILE,
    b"\0": FileType.FILE,
    b"7": FileType.FILE,
    b"1": None,
    b"2": FileType.SYMLINK,
    b"3": FileType.CHARDEV,
    b"4": FileType.BLOCKDEV,
    b"5": FileType.DIR,
    b"6": FileType.FIFO,
}
#: The order in which one path's changes are reported when several apply.
RANK = {"type": 0, "missing": 1, "size": 2, "content": 3, "added": 4}


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a layer tar: its path inside the layer, type, size and CRC-64."""

    path: str
    kind: FileType | None  # None: a hard link
    size: int
    crc: bytes | None


def clean(name: str) -> str | None:
    """A tar member name as a path inside the layer (Go ``filepath.Clean``), None if escaping."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def members(source: Source, split: str) -> Iterator[Member]:
    """The members of a layer's tar-split, each typed by the header block just before it.

    Raises:
        FormatError: the tar-split is damaged.
        SourceError: it cannot be read.
    """
    tail = b""
    with source.open(split) as raw:
        for e in entries(raw, split):
            if isinstance(e, Segment):
                tail = (tail + e.data)[-512:]
                continue
            flag = tail[156:157] if len(tail) == 512 else b"0"
            path = clean(e.name)
            if flag in (b"g", b"x") or not path:
                continue  # a PAX global header, or the layer's root itself
            yield Member(path, TAR_TYPES.get(flag, FileType.FILE), e.size, e.crc)


def _split(path: str) -> tuple[str, str]:
    parent, _, name = path.rpartition("/")
    return parent, name


def _disk(source: Source, driver: StorageDriver, top: str) -> dict[str, Entry | None]:
    """The layer directory's entries by the member name the tar would give them.

    A whiteout maps to its ``.wh.`` name with ``None`` (no type to compare); aufs bookkeeping
    (``.wh..wh.aufs``, ``.wh..wh.plnk``, ``.wh..wh.orph``) is never part of a layer tar.
    """
    found: dict[str, Entry | None] = {}
    for directory, items in source.walk(top):
        rel_dir = directory[len(top) + 1 :] if directory != top else ""
        for e in items:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            kind = (
                driver.whiteout(e, dict)
                if driver.whiteout_candidate(e.name, e.type)
                else Whiteout.NONE
            )
            if kind is Whiteout.BOOKKEEPING:
                continue
            if kind is Whiteout.FILE:
                hidden = WH_PREFIX + driver.hidden_name(e)
                found[f"{rel_dir}/{hidden}" if rel_dir else hidden] = None
            elif kind is Whiteout.OPAQUE_MARKER:
                found[rel] = None
            else:
                found[rel] = e
    return found


def _type_change(want: FileType | None, have: Entry) -> bool:
    return have.is_dir if want is None else have.type is not want


def own_changes(source: Source, driver: StorageDriver, top: str, tar: list[Member]) -> list[Record]:
    """A layer that holds only its own changes, against its tar's members."""
    disk = _disk(source, driver, top)
    changes: list[Record] = []
    names = set()
    for m in tar:
        names.add(m.path)
        if m.path not in disk:
            if _split(m.path)[1] != WH_OPAQUE:  # overlay keeps opacity as an xattr
                changes.append(_change(m.path, "missing"))
            continue
        have = disk[m.path]
        if have is None or _split(m.path)[1].startswith(WH_PREFIX):
            continue
        if _type_change(m.kind, have):
            changes.append(_change(m.path, "type"))
        elif m.kind is FileType.FILE and have.size != m.size:
            changes.append(_change(m.path, "size"))
    changes += [_change(p, "added") for p in disk if p not in names]
    return changes


@dataclass(frozen=True, slots=True)
class Expected:
    """An entry a full-tree layer should hold, and the layer directory that wrote it."""

    kind: FileType | None
    size: int | None
    owner: str
    crc: bytes | None = None


def apply_tar(tree: dict[str, Expected], tar: list[Member], owner: str) -> None:
    """Apply one layer's members to ``tree`` as Docker's naive ``UnpackLayer`` does."""
    for m in tar:
        parent, name = _split(m.path)
        if name == WH_OPAQUE:
            prefix = f"{parent}/" if parent else ""
            for path in [p for p, x in tree.items() if p.startswith(prefix) and x.owner != owner]:
                del tree[path]
            continue
        if name.startswith(WH_PREFIX):
            gone = f"{parent}/{name[len(WH_PREFIX) :]}" if parent else name[len(WH_PREFIX) :]
            _remove(tree, gone)
            continue
        if m.kind is not FileType.DIR:
            _remove(tree, m.path)
        size = m.size if m.kind is FileType.FILE else None
        tree[m.path] = Expected(m.kind, size, owner, m.crc)


def _remove(tree: dict[str, Expected], path: str) -> None:
    below = path + "/"
    for p in [p for p in tree if p == path or p.startswith(below)]:
        del tree[p]


def tree_of(source: Source, top: str, owner: str) -> dict[str, Expected]:
    """A layer directory as found, standing for what its chain left when a tar-split is absent."""
    tree: dict[str, Expected] = {}
    for _directory, items in source.walk(top):
        for e in items:
            size = e.size if e.type is FileType.FILE else None
            tree[e.path[len(top) + 1 :]] = Expected(e.type, size, owner)
    return tree


def full_tree_changes(
    source: Source, top: str, tree: dict[str, Expected], paths: dict[str, str]
) -> list[Record]:
    """A full-tree layer at ``top`` against what its chain left (``paths``: owner -> directory)."""
    changes: list[Record] = []
    seen = set()
    for _directory, items in source.walk(top):
        for e in items:
            rel = e.path[len(top) + 1 :]
            want = tree.get(rel)
            if want is None:
                changes.append(_change(rel, "added"))
                continue
            seen.add(rel)
            if _type_change(want.kind, e):
                changes.append(_change(rel, "type"))
            elif want.size is not None and want.size != e.size:
                changes.append(_change(rel, "size"))
            elif want.kind is FileType.FILE and want.owner in paths:
                other = f"{paths[want.owner]}/{rel}"
                if other != e.path and not _same(source, e, other) and not _crc_ok(source, e, want):
                    changes.append(_change(rel, "content"))
    changes += [_change(p, "missing") for p in tree if p not in seen]
    return changes


def _same(source: Source, entry: Entry, other: str) -> bool:
    """Whether a file holds the same bytes as ``other`` (True when ``other`` cannot be read)."""
    try:
        found = source.stat(other)
        if found.inode == entry.inode and entry.inode is not None:
            return True
        if not found.is_file or found.size != entry.size:
            return True  # the owner's own check names its damage
        with source.open(entry.path) as a, source.open(other) as b:
            while True:
                chunk = a.read(CHUNK)
                if chunk != b.read(CHUNK):
                    return False
                if not chunk:
                    return True
    except (SourceError, UnsafePathError, FormatError):
        return True


def _crc_ok(source: Source, entry: Entry, want: Expected) -> bool:
    """Whether a file differing from its writer's copy still holds what the writer's tar had.

    Then the writer's copy is the damaged one, and its own check names it.
    """
    if want.crc is None:
        return False
    crc = Crc64()
    try:
        with source.open(entry.path) as f:
            while chunk := f.read(CHUNK):
                crc.update(chunk)
    except (SourceError, UnsafePathError):
        return False
    return crc.digest() == want.crc


def _change(path: str, change: str) -> Record:
    return {"path": "/" + path, "change": change}


def merge(*groups: list[Record]) -> list[Record]:
    """One change per path (the most telling), sorted by path."""
    best: dict[str, Record] = {}
    for group in groups:
        for record in group:
            known = best.get(record["path"])
            if known is None or RANK[record["change"]] < RANK[known["change"]]:
                best[record["path"]] = record
    return sorted(best.values(), key=lambda r: r["path"])


def stream(view: Source, path: str, size: int, sink: Callable[[bytes], object]) -> str | None:
    """Feed a file of a layer to ``sink``; the change if it is not the expected regular file.

    ``missing``, ``type`` (not a regular file) or ``size`` (its size differs from ``size``).
    """
    try:
        entry = view.stat(path)
    except (SourceError, UnsafePathError):
        return "missing"
    if not entry.is_file:
        return "type"
    with view.open(path) as f:
        while chunk := f.read(CHUNK):
            sink(chunk)
    return "size" if entry.size != size else None


def verifying(sizes: Iterable[int | None]) -> progress.Bar:
    """The progress step of rebuilding layers whose recorded content sizes are ``sizes``.

    A layer's file bytes, hashed by :func:`rebuild`, add up to its recorded size (Docker's
    ``size`` file, containers-storage's ``diff-size``); a size not recorded counts nothing.
    """
    return progress.step("verifying layers", total=sum(size or 0 for size in sizes))


def rebuild(view: Source, source: Source, split: str) -> tuple[str, list[Record]]:
    """Rebuild a layer's tar from its tar-split (in ``source``) over the layer's files (``view``).

    Returns the tar's digest (``sha256:…``) and the files that are missing, of another type or
    of another size than the tar-split records.

    Raises:
        FormatError: the tar-split is damaged.
        SourceError: it cannot be read.
    """
    digest = hashlib.sha256()
    files: list[Record] = []
    bar = progress.current().top

    def hashed(chunk: bytes) -> None:  # the file bytes hashed are the step's progress
        digest.update(chunk)
        bar.advance(len(chunk))

    with source.open(split) as raw:
        for e in entries(raw, split):
            if isinstance(e, Segment):
                digest.update(e.data)
            elif e.size:
                path = clean(e.name)
                change = "missing" if path is None else stream(view, path, e.size, hashed)
                if change:
                    files.append({"path": "/" + (path or e.name), "change": change})
    return "sha256:" + digest.hexdigest(), files


def content_changes(view: Source, source: Source, split: str, found: list[Record]) -> set[str]:
    """Add the files whose CRC-64 differs from the tar-split's to ``found``; every member name.

    Files already in ``found`` (missing, of another type or size) are not read again.
    """
    known = {f["path"] for f in found}
    names: set[str] = set()
    with source.open(split) as raw:
        for e in entries(raw, split):
            if not isinstance(e, FileEntry):
                continue
            path = clean(e.name)
            if path is None:
                continue
            names.add(path)
            if not e.size or "/" + path in known or e.crc is None:
                continue
            crc = Crc64()
            if stream(view, path, e.size, crc.update) is None and crc.digest() != e.crc:
                found.append({"path": "/" + path, "change": "content"})
    return names
