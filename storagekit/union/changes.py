"""Docker's naive change detection (``ChangesDirs``) between two full filesystem trees.

This is what ``docker diff`` and ``docker ps -s`` use for full-copy drivers (vfs, btrfs, zfs) and,
over merged views, for overlay2. Rules (``go-archive/changes.go`` ``addChanges``,
``statDifferent``):

* a path in NEW only is ``A`` (and so is everything below an added directory);
* a path in both is ``C`` when mode (type and permissions), uid, gid, rdev or the
  ``security.capability`` xattr differ, or, for non-directories, the size, or the mtime (equal
  when identical, or same second with either nanosecond part zero);
* a path in OLD only is ``D`` (only the top of a deleted subtree);
* a directory with changes inside that is not itself ``A``/``C`` gets a ``C`` line before them;
  the root is never reported.

Lines come out in an order Docker's own walk can produce: a directory's line, then its
children's blocks (by name), then the ``D`` lines of its direct children.
"""

from __future__ import annotations

import contextlib
import fnmatch
import posixpath
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from storagekit import progress
from storagekit.errors import SourceError, StoragekitError
from storagekit.source import Entry, Source, join

MAX_DEPTH = 4096


@dataclass(frozen=True, slots=True)
class Change:
    """One line of ``docker diff``: ``kind`` is ``A``, ``C`` or ``D``; ``path`` is absolute."""

    kind: str
    path: str


@dataclass(frozen=True, slots=True)
class Tree:
    """A full filesystem tree: a directory ``top`` of a source."""

    source: Source
    top: str

    def children(self, rel: str) -> dict[str, Entry]:
        """Entries of the directory ``rel`` (relative to ``top``) by name; empty if unreadable."""
        path = "/".join(p for p in (self.top, rel) if p)
        try:
            found = {e.name: e for e in self.source.scandir(path)}
        except SourceError:
            return {}
        progress.count("entries", len(found))  # a step comparing trees counts entries read
        return found

    def capability(self, entry: Entry) -> bytes | None:
        """The ``security.capability`` xattr of an entry (files only have one)."""
        if not entry.is_file:
            return None
        try:
            return self.source.xattrs(entry.path).get("security.capability")
        except SourceError:
            return None


def _same_mtime(a: int, b: int) -> bool:
    sa, na = divmod(a, 1_000_000_000)
    sb, nb = divmod(b, 1_000_000_000)
    return sa == sb and (na == nb or na == 0 or nb == 0)


def stat_different(old: Entry, new: Entry) -> bool:
    """Docker's ``statDifferent``: type, mode, owner, rdev; size and mtime for non-dirs."""
    if (old.type, old.mode, old.uid, old.gid, old.rdev) != (
        new.type,
        new.mode,
        new.uid,
        new.gid,
        new.rdev,
    ):
        return True
    if new.is_dir:
        return False
    return old.size != new.size or not _same_mtime(old.mtime_ns, new.mtime_ns)


def _walk(new: Tree, old: Tree | None, rel: str, depth: int, out: list[Change]) -> None:
    """Append the changes below directory ``rel`` (present in NEW; in OLD when ``old``)."""
    if depth > MAX_DEPTH:
        raise TooDeepError(f"/{rel}: more than {MAX_DEPTH} nested directories")
    old_children = old.children(rel) if old is not None else {}
    for name, child in sorted(new.children(rel).items()):
        child_rel = f"{rel}/{name}" if rel else name
        before = old_children.pop(name, None)
        at = len(out)
        added = False
        if before is None:
            out.append(Change("A", "/" + child_rel))
            added = True
        elif stat_different(before, child) or (
            old is not None and new.capability(child) != old.capability(before)
        ):
            out.append(Change("C", "/" + child_rel))
            added = True
        if child.is_dir:
            sub_old = old if before is not None and before.is_dir else None
            _walk(new, sub_old, child_rel, depth + 1, out)
            if len(out) > at and not added:
                out.insert(at, Change("C", "/" + child_rel))
    for name in sorted(old_children):
        out.append(Change("D", "/" + (f"{rel}/{name}" if rel else name)))


def changes(new: Tree, old: Tree) -> list[Change]:
    """The changes from ``old`` to ``new``, as ``docker diff`` reports them.

    Raises:
        TooDeepError: the tree nests deeper than ``MAX_DEPTH`` directories.
    """
    out: list[Change] = []
    with _deep_recursion():
        _walk(new, old, "", 0, out)
    return out


class TooDeepError(StoragekitError):
    """A directory tree nests deeper than storagekit follows (hostile or broken evidence)."""


@contextlib.contextmanager
def _deep_recursion() -> Iterator[None]:
    """Allow one Python frame per directory level (3.11+ frames do not use the C stack)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, MAX_DEPTH * 2 + 200))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def changes_size(new: Tree, found: list[Change]) -> int:
    """Docker's ``ChangesSize``: lstat sizes of added/changed non-directories, links once."""
    total = 0
    seen: set[object] = set()
    for change in found:
        if change.kind == "D":
            continue
        try:
            entry = new.source.stat(f"{new.top}{change.path}")
        except SourceError:
            continue
        if entry.is_dir:
            continue
        if entry.nlink > 1:
            if entry.inode in seen:
                continue
            seen.add(entry.inode)
        total += entry.size
    return total


def directory_size(source: Source, top: str) -> int:
    """Docker's ``directory.Size``: apparent sizes of non-directories, each inode once."""
    total = 0
    seen: set[object] = set()
    for inode, size, _ in source.file_sizes(top, linked_only=True):
        if inode is None:
            total += size  # files with one name, summed by the source
        elif inode not in seen:
            seen.add(inode)
            total += size
    return total


def _walk_lexical(tree: Tree, rel: str, depth: int = 0) -> Iterator[tuple[str, Entry]]:
    """Go's ``filepath.Walk`` order: pre-order, names in byte order."""
    if depth > MAX_DEPTH:
        raise TooDeepError(f"/{rel}: more than {MAX_DEPTH} nested directories")
    children = tree.children(rel)
    for name in sorted(children, key=lambda n: n.encode("utf-8", "surrogateescape")):
        entry = children[name]
        child = f"{rel}/{name}" if rel else name
        yield child, entry
        if entry.is_dir:
            yield from _walk_lexical(tree, child, depth + 1)


def branch_changes(rw: Tree, parents: Sequence[Tree]) -> list[Change]:
    """A change list by walking the read-write branch (*moby pkg/archive.Changes*; aufs).

    ``.wh.<name>`` is ``D``; anything else is ``A`` unless a parent branch (the init layer
    first) has the path, then ``C`` — except a directory whose size, mode and mtime equal the
    parent's, which is skipped. The parent of an ``A`` or ``D`` gets a ``C`` first, once.
    Root-level ``.wh..wh.*`` bookkeeping is skipped (its contents are not, as in Docker).
    """
    out: list[Change] = []
    changed_dirs: set[str] = set()
    with _deep_recursion():
        walked = list(_walk_lexical(rw, ""))
    for rel, entry in walked:
        path = "/" + rel
        if "/" not in rel and fnmatch.fnmatchcase(rel, ".wh..wh.*"):
            continue
        kind = "A"
        if entry.name.startswith(".wh."):
            kind, path = "D", posixpath.join(posixpath.dirname(path), entry.name[4:])
        else:
            for parent in parents:
                try:
                    before = parent.source.stat(join(parent.top, rel))
                except SourceError:
                    continue
                if (
                    before.is_dir
                    and entry.is_dir
                    and (before.size, before.mode) == (entry.size, entry.mode)
                    and _same_mtime(before.mtime_ns, entry.mtime_ns)
                ):
                    kind = ""
                kind = kind and "C"
                break
        if not kind:
            continue
        if entry.is_dir:
            changed_dirs.add(path)
        if kind in ("A", "D"):
            parent_dir = posixpath.dirname(path)
            if parent_dir not in changed_dirs and parent_dir != "/":
                out.append(Change("C", parent_dir))
                changed_dirs.add(parent_dir)
        out.append(Change(kind, path))
    return out
