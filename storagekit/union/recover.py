"""Recovering files: listing a view, and extracting it to a new directory or a tar archive.

Extraction never writes outside its output and never follows a link: every file is created
relative to a descriptor of its parent directory (itself opened with ``O_NOFOLLOW``), symlinks
are recreated verbatim and never resolved, and names are single path components from the view.
A JSON-lines manifest records every entry with the SHA-256 of every regular file, including
what could not be recreated (device nodes without root, set-id bits unless asked for).
"""

from __future__ import annotations

import hashlib
import os
import stat as st
import tarfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeGuard

from storagekit import progress
from storagekit.errors import SourceError, StoragekitError
from storagekit.jsontext import stream_json
from storagekit.source import CHUNK, Entry, FileType, Source
from storagekit.union import stream
from storagekit.union.members import (
    TAR_TYPES,
    Extraction,
    entry_record,
    manifest_line,
    tar_data,
)
from storagekit.union.tarheader import header
from storagekit.union.view import UnionView

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _name_key(entry: Entry) -> bytes:
    return entry.name.encode("utf-8", "surrogateescape")


def preorder(view: Source, top: str = "") -> Iterator[Entry]:
    """Every entry below ``top``, in Go's ``filepath.Walk`` order (``docker export``'s).

    A directory's entry comes right before its contents; names sort by their bytes. Only the
    directories on the current path are held open (one listing each).
    """
    stack = [iter(sorted(view.scandir(top), key=_name_key))]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        yield entry
        if entry.is_dir:
            try:
                stack.append(iter(sorted(view.scandir(entry.path), key=_name_key)))
            except SourceError:
                continue


def _union_dir(view: Source, top: str) -> TypeGuard[UnionView]:
    """Whether ``top`` is a directory of a union view (:mod:`.stream`'s to write)."""
    return isinstance(view, UnionView) and view.stat(top).is_dir


def list_json(
    view: Any, top: str, recursive: bool, deleted: bool, write: Callable[[str], object]
) -> None:
    """Write :func:`list_view`'s records as one JSON array, streamed (memory stays flat).

    A directory of a union view takes the faster path of :mod:`storagekit.union.stream`, which
    writes the same bytes.
    """
    if _union_dir(view, top):
        stream.list_json(view, top, recursive, deleted, write)
        return
    stream_json(list_view(view, top, recursive, deleted), write)


def list_table(
    view: Any,
    top: str,
    recursive: bool,
    deleted: bool,
    write: Callable[[str], object],
    generic: Callable[[Iterator[dict[str, Any]]], None],
) -> None:
    """Write ``ls`` as a table, a union view's directory by :mod:`.lstable`'s fast path.

    Anything else goes to ``generic`` as :func:`list_view`'s records.
    """
    if _union_dir(view, top):
        from storagekit.union.lstable import list_table as union_table

        union_table(view, top, recursive, deleted, write)
        return
    generic(list_view(view, top, recursive, deleted))


def list_view(view: Any, top: str, recursive: bool, deleted: bool) -> Iterator[dict[str, Any]]:
    """``ls`` records for the directory ``top`` of a union view (or ``top`` itself if not one).

    With ``deleted``, each directory's hidden entries follow its visible ones, marked.
    """
    entry = view.stat(top)
    if not entry.is_dir:
        yield entry_record(entry, view.layer_of(top), deleted=False)
        return
    pending = [top]
    while pending:
        current = pending.pop()
        entries = sorted(view.scandir_layers(current), key=lambda pair: pair[0].name)
        progress.count("entries", len(entries))
        for e, layer in entries:
            yield entry_record(e, layer, deleted=False)
        if deleted:
            for e, layer in view.deleted(current):
                yield entry_record(e, layer, deleted=True)
        if recursive:
            pending.extend(e.path for e, _ in reversed(entries) if e.is_dir)


class _Manifest:
    def __init__(self, out: IO[str] | None) -> None:
        self.out = out

    def write(self, record: dict[str, Any]) -> None:
        if self.out is not None:
            self.out.write(manifest_line(record))


class _OutDirs:
    """Descriptors of the output's directories: a few kept, any other reopened on demand.

    A directory is reached from the deepest one still open, one ``O_NOFOLLOW`` component at a
    time: never by a full path (a deep tree's paths pass PATH_MAX), and never with a
    descriptor held per pending directory (1,100 subdirectories would pass ``ulimit -n``).
    """

    _KEEP = 32

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self._fds: OrderedDict[str, int] = OrderedDict()

    def fd(self, rel: str) -> int:
        """A descriptor of the output directory ``rel`` ("" for the top); do not close it."""
        if not rel:
            return self.root_fd
        fds = self._fds
        got = fds.get(rel)
        if got is not None:
            fds.move_to_end(rel)
            return got
        parts = rel.split("/")
        depth = len(parts) - 1
        while depth and "/".join(parts[:depth]) not in fds:
            depth -= 1
        base = fds["/".join(parts[:depth])] if depth else self.root_fd
        fd = base
        for name in parts[depth:]:
            nfd = os.open(name, _DIR, dir_fd=fd)
            if fd != base:
                os.close(fd)
            fd = nfd
        fds[rel] = fd
        if len(fds) > self._KEEP:
            os.close(fds.popitem(last=False)[1])
        return fd

    def close(self) -> None:
        """Close every kept descriptor (not the top's)."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def _copy(view: Source, entry: Entry, write: Any) -> str:
    """Stream a regular file from the view into ``write``; returns its SHA-256."""
    digest = hashlib.sha256()
    bar = progress.current().top
    with view.open(entry.path) as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            write(chunk)
            bar.advance(len(chunk))
    return digest.hexdigest()


def extract_dir(
    view: Source,
    top: str,
    dest: str,
    manifest: IO[str] | None = None,
    *,
    layer_of: Any = None,
    devices: bool = False,
    setid: bool = False,
) -> Extraction:
    """Write the view (or its subtree ``top``) into the new or empty directory ``dest``.

    Raises:
        StoragekitError: ``dest`` exists and is not an empty directory.
    """
    if os.path.lexists(dest) and (not os.path.isdir(dest) or os.listdir(dest)):
        raise StoragekitError(f"{dest}: output must be a new or empty directory")
    os.makedirs(dest, exist_ok=True)
    root_uid = os.geteuid() == 0
    result = Extraction()
    log = _Manifest(manifest)
    root_fd = os.open(dest, _DIR)
    out = _OutDirs(root_fd)
    dirs: list[tuple[str, Entry]] = []
    links: dict[object, str] = {}
    prefix = len(top) + 1 if top else 0
    try:
        for parent, entries in view.walk(top):
            for e in entries:
                pfd = out.fd(parent[prefix:])  # the cache may have closed it: ask each time
                note = _write_entry(
                    view, e, pfd, e.name, links, e.path[prefix:], devices, setid, root_uid, out
                )
                sha = note.pop("sha256", None)
                if e.is_dir:
                    dirs.append((e.path, e))
                elif e.is_file:
                    result.files += 1
                    result.bytes += e.size
                if note.get("skipped"):
                    result.skipped.append(f"/{e.path}: {note['skipped']}")
                layer = layer_of(e.path) if layer_of else None
                log.write(entry_record(e, layer, sha256=sha, **note))
        # Directory metadata last: writing into a directory would change its mtime.
        for path, e in reversed(dirs):
            head, _, name = path[prefix:].rpartition("/")
            _apply_meta(out.fd(head), name, e, root_uid, setid, {})
    finally:
        out.close()
        os.close(root_fd)
    return result


def _write_entry(
    view: Source,
    e: Entry,
    pfd: int,
    name: str,
    links: dict[object, str],
    rel: str,
    devices: bool,
    setid: bool,
    root_uid: bool,
    outdirs: _OutDirs,
) -> dict[str, Any]:
    note: dict[str, Any] = {}
    if e.is_dir:
        os.mkdir(name, 0o700, dir_fd=pfd)
        return note
    if e.type is FileType.SYMLINK:
        os.symlink(e.link_target or "", name, dir_fd=pfd)
    elif e.is_file:
        first = links.get(e.inode) if e.nlink > 1 else None
        if first is not None:
            # Every component of ``first`` is a directory this extraction created.
            head, _, base = first.rpartition("/")
            src = outdirs.fd(head)
            pfd = outdirs.fd(rel.rpartition("/")[0])  # reopened if ``src`` pushed it out
            os.link(base, name, src_dir_fd=src, dst_dir_fd=pfd, follow_symlinks=False)
            note["hardlink_to"] = "/" + first
            return note
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=pfd)
        with os.fdopen(fd, "wb") as out:
            note["sha256"] = _copy(view, e, out.write)
        if e.nlink > 1:
            links[e.inode] = rel
    elif e.type is FileType.FIFO:
        os.mkfifo(name, 0o600, dir_fd=pfd)
    elif e.type in (FileType.CHARDEV, FileType.BLOCKDEV) and devices and root_uid and e.rdev:
        kind = st.S_IFCHR if e.type is FileType.CHARDEV else st.S_IFBLK
        os.mknod(name, kind | 0o600, os.makedev(*e.rdev), dir_fd=pfd)
    else:
        note["skipped"] = f"{e.type.value} not recreated" + (
            "" if devices else " (use --devices, as root)"
        )
        return note
    _apply_meta(pfd, name, e, root_uid, setid, note)
    return note


def _apply_meta(
    pfd: int, name: str, e: Entry, root_uid: bool, setid: bool, note: dict[str, Any]
) -> None:
    follow = False
    if root_uid:
        os.chown(name, e.uid, e.gid, dir_fd=pfd, follow_symlinks=follow)
    elif (e.uid, e.gid) != (os.geteuid(), os.getegid()):
        note["owner_not_set"] = True
    if e.type is not FileType.SYMLINK:
        mode = e.mode
        if mode & 0o6000 and not (setid and root_uid):
            note["setid_removed"] = True
            mode &= ~0o6000
        os.chmod(name, mode, dir_fd=pfd, follow_symlinks=follow)
    os.utime(name, ns=(e.mtime_ns, e.mtime_ns), dir_fd=pfd, follow_symlinks=follow)


def extract_tar(
    view: Source,
    top: str,
    out: IO[bytes],
    manifest: IO[str] | None = None,
    *,
    layer_of: Any = None,
) -> Extraction:
    """Write the view (or its subtree ``top``) as a PAX tar, as ``docker export`` would.

    Headers are written straight to the stream (:func:`storagekit.union.tarheader.header`): no
    member list is kept, so memory does not grow with the tree. A directory of a union view
    takes the faster path of :mod:`storagekit.union.stream`, which writes the same bytes.
    """
    if _union_dir(view, top):
        return stream.extract_tar(view, top, out, manifest)
    result = Extraction()
    log = _Manifest(manifest)
    links: dict[object, str] = {}
    prefix = len(top) + 1 if top else 0
    for e in preorder(view, top):
        rel = e.path[prefix:]
        kind = TAR_TYPES.get(e.type, tarfile.REGTYPE)
        mtime = e.mtime_ns // 1_000_000_000
        sha = None
        note: dict[str, Any] = {}
        first = links.get(e.inode) if e.is_file and e.nlink > 1 else None
        if e.type is FileType.SOCKET:
            note["skipped"] = "socket not representable in tar"
            result.skipped.append(f"/{e.path}: socket")
        elif first is not None:
            out.write(header(rel, tarfile.LNKTYPE, e.mode, e.uid, e.gid, 0, mtime, first))
            note["hardlink_to"] = "/" + first
            result.files += 1  # a file of the view, as a directory extraction counts it
            result.bytes += e.size
        elif e.is_file:
            if e.nlink > 1:
                links[e.inode] = rel
            out.write(header(rel, kind, e.mode, e.uid, e.gid, e.size, mtime))
            sha = tar_data(view, e.path, e.size, out.write, digest=manifest is not None)
            result.files += 1
            result.bytes += e.size
        else:
            link = (e.link_target or "") if e.type is FileType.SYMLINK else ""
            out.write(header(rel, kind, e.mode, e.uid, e.gid, 0, mtime, link, e.rdev))
        if manifest is not None:
            layer = layer_of(e.path) if layer_of else None
            log.write(entry_record(e, layer, sha256=sha, **note))
    out.write(b"\0" * (2 * tarfile.BLOCKSIZE))  # end of archive
    return result
