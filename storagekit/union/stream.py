"""``ls`` JSON and ``extract --tar`` of a union view at the speed of the directory scans.

The generic paths (:mod:`storagekit.union.recover`) build an :class:`~storagekit.source.Entry` and a
record dict per file; for a container of hundreds of thousands of files that costs more than the
``lstat`` calls behind it. These write the same bytes straight from the merged rows
(:meth:`UnionView.merge`): JSON records by string formatting (strings escaped by the ``json``
module's own encoder), tar members with :func:`.tarheader.header` and contents copied
from the layer that provides each file. The output is split into steps — the top directories,
then each subtree below :data:`SPLIT_DEPTH` — that :func:`.forkstream.stream` spreads
over the cores and writes in order.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from json.encoder import encode_basestring
from typing import IO, Any

from storagekit import progress
from storagekit.entry import R_INODE
from storagekit.jsontext import escape_surrogates
from storagekit.source import Entry, FileType, Row
from storagekit.timefmt import from_ns
from storagekit.union import forkstream
from storagekit.union.members import TAR_TYPES, Extraction, entry_record, manifest_line, tar_data
from storagekit.union.tarheader import header
from storagekit.union.view import Merged, UnionView

#: Subtrees this deep (``usr/lib/<pkg>``) are the units of work given to other processes,
#: and so is every subdirectory of a directory with at least ``FAN_OUT`` of them: each
#: directory above the units is merged here, before any other process can start.
SPLIT_DEPTH = 3
FAN_OUT = 16
#: Output is handed on in pieces of about this many characters or bytes.
BATCH = 1 << 18
#: A file larger than this is never held in a batch: the writer copies it straight to the
#: archive (a 3 GiB file, sparse or not, would otherwise be in memory whole, then twice).
BIG = 1 << 20
_FILE = FileType.FILE
_REG = tarfile.REGTYPE


def _sorted_bytes(names: Iterable[str]) -> list[str]:
    """Names in the order of their bytes (Go's ``filepath.Walk``), as :func:`recover.preorder`.

    Only names carrying undecodable bytes (surrogate escapes) sort differently from ``str``.
    """
    result = sorted(names)
    if not "".join(result).isascii():
        result.sort(key=lambda n: n.encode("utf-8", "surrogateescape"))
    return result


def _plan(
    view: UnionView,
    top: str,
    recursive: bool,
    order: Callable[[Iterable[str]], list[str]],
    emit: Any,
    *,
    preorder: bool = False,
) -> Callable[[], Iterator[forkstream.Step]]:
    """The steps for the directory ``top``.

    ``emit.directory(path, merged, names)`` renders entries of one directory, here;
    ``emit.tree(path, layers)`` a whole subtree at :data:`SPLIT_DEPTH`, anywhere. ``ls`` order
    is each directory's listing, then its subdirectories' trees; ``preorder`` (archives) puts
    each subdirectory's tree right after its own entry.
    """

    def visit(path: str, layers: Any, depth: int) -> Iterator[forkstream.Step]:
        merged = view.merge(path, layers)
        names = order(merged.names)
        prefix = f"{path}/" if path else ""
        start = 0
        if not preorder:
            yield False, partial(emit.directory, path, merged, names)
            start = len(names)
        for i, name in enumerate(names):
            sub = merged.dirs.get(name)
            if sub is None or not recursive:
                continue
            if preorder:
                yield False, partial(emit.directory, path, merged, names[start : i + 1])
                start = i + 1
            if depth + 1 >= SPLIT_DEPTH or len(merged.dirs) >= FAN_OUT:
                yield True, partial(emit.tree, prefix + name, sub)
            else:
                yield from visit(prefix + name, sub, depth + 1)
        if start < len(names):
            yield False, partial(emit.directory, path, merged, names[start:])

    return lambda: visit(top, None, top.count("/") + 1 if top else 0)


class Listing:
    """``ls`` output of merged directories, batch by batch, in ``ls -R`` order.

    A subclass formats the entries of one directory (:meth:`entries`) and says how they are
    joined (:attr:`joiner`); the walk, the hidden entries and the batching are shared.
    """

    joiner = ""

    def __init__(self, view: UnionView, deleted: bool) -> None:
        self.view = view
        self.deleted = deleted

    def entries(
        self, path: str, names: Iterable[str], rows: dict[str, tuple[Row, int]], gone: bool
    ) -> list[str]:
        """One piece of output per name of directory ``path`` (``gone``: hidden entries)."""
        raise NotImplementedError

    def _one(self, path: str, merged: Merged, names: list[str]) -> list[str]:
        out = self.entries(path, names, merged.names, False)
        if self.deleted:
            hidden = {name: (row, i) for name, row, i in self.view.hidden_rows(path, merged)}
            out += self.entries(path, hidden, hidden, True)
        progress.count("entries", len(out))
        return out

    def directory(self, path: str, merged: Any, names: list[str]) -> Iterator[list[str]]:
        """The entries of one merged directory (its subdirectories are other steps)."""
        out = self._one(path, merged, names)
        if out:
            yield [self.joiner.join(out)]

    def tree(self, path: str, layers: Any) -> Iterator[list[str]]:
        """The directory ``path`` and everything below it, in ``ls -R`` order."""
        batch: list[str] = []
        size = 0
        stack = [(path, layers)]
        while stack:
            current, dl = stack.pop()
            merged = self.view.merge(current, dl, cache=False)
            names = sorted(merged.names)
            out = self._one(current, merged, names)
            if out:
                text = self.joiner.join(out)
                batch.append(text)
                size += len(text)
                if size >= BATCH:
                    yield batch
                    batch, size = [], 0
            prefix = f"{current}/" if current else ""
            dirs = merged.dirs
            stack.extend((prefix + n, dirs[n]) for n in reversed(names) if n in dirs)
        if batch:
            yield batch


class _LsJson(Listing):
    """``ls`` records as JSON text, batch by batch."""

    joiner = ","

    def __init__(self, view: UnionView, deleted: bool) -> None:
        super().__init__(view, deleted)
        self.layers = [encode_basestring(lay.layer_id) for lay in view.layers]

    def entries(
        self, path: str, names: Iterable[str], rows: dict[str, tuple[Row, int]], gone: bool
    ) -> list[str]:
        """One JSON object per name, as ``to_json(entry_record(...))`` writes it."""
        pre = encode_basestring(f"/{path}/" if path else "/")[:-1]
        layers, mtime_of, enc = self.layers, from_ns, encode_basestring
        deleted = "true" if gone else "false"
        out: list[str] = []
        add = out.append
        for name in names:
            row, index = rows[name]
            kind, mode, uid, gid, size, mtime, _, _, _, link, _ = row
            add(
                f'{{"path":{pre}{enc(name)[1:]},"type":"{kind._value_}","size":{size},'
                f'"mode":"{mode:04o}","uid":{uid},"gid":{gid},'
                f'"mtime":"{mtime_of(mtime)}",'
                f'"link_target":{"null" if link is None else enc(link)},'
                f'"layer":{layers[index]},"deleted":{deleted}}}'
            )
        return out


def list_json(
    view: UnionView, top: str, recursive: bool, deleted: bool, write: Callable[[str], object]
) -> None:
    """Write ``ls --format json`` of the directory ``top`` of ``view``: ``[``, records, ``]``."""
    started = False

    def sink(batch: list[str]) -> None:
        nonlocal started
        text = ",".join(batch)
        text = escape_surrogates(text)  # undecodable bytes, as to_json writes them
        write(("," if started else "[") + text)
        started = True

    forkstream.stream(_plan(view, top, recursive, sorted, _LsJson(view, deleted)), sink, view)
    write("]\n" if started else "[]\n")


class _Tar:
    """``extract --tar`` members, with manifest lines when asked, batch by batch.

    Batches hold bytes and events for the writer: ``("skip", text)``, ``("count", files,
    bytes)``, ``("man", line)`` and ``("link", rel, path, row, layer)`` for a file with several
    names, which only the writer can settle (its first name in archive order carries the data,
    later ones are hard links to it, across every process's share).
    """

    def __init__(self, view: UnionView, top: str, manifest: bool) -> None:
        self.view = view
        self.cut = len(top) + 1 if top else 0
        self.manifest = manifest

    def member(
        self,
        path: str,
        row: Row,
        index: int,
        out: _Out,
        first: str | None = None,
        settled: bool = False,
    ) -> None:
        """Write one member of the archive.

        A file with several names waits for the writer to settle it: ``first`` is then the
        archive name it is a hard link to, if any.
        """
        kind, mode, uid, gid, size, mtime_ns, nlink = row[:7]
        rel = path[self.cut :]
        mtime = mtime_ns // 1_000_000_000
        if kind is _FILE and size > BIG and not out.direct and first is None and nlink == 1:
            out.event(("big", path, row, index))  # the writer streams it
            return
        if kind is _FILE and nlink == 1 and not self.manifest:  # nearly every member
            out.add(header(rel, _REG, mode, uid, gid, size, mtime))
            self._data(path, size, index, out)
            out.files += 1
            out.bytes += size
            return
        sha = None
        note: dict[str, Any] = {}
        if kind is _FILE:
            if first is not None:
                out.add(header(rel, tarfile.LNKTYPE, mode, uid, gid, 0, mtime, first))
                note["hardlink_to"] = "/" + first
                out.files += 1  # a file of the view, as a directory extraction counts it
                out.bytes += size
            elif nlink > 1 and not settled:
                out.event(("link", rel, path, row, index))
                return
            else:
                out.add(header(rel, tarfile.REGTYPE, mode, uid, gid, size, mtime))
                sha = self._data(path, size, index, out)
                out.files += 1
                out.bytes += size
        elif kind is FileType.SOCKET:
            note["skipped"] = "socket not representable in tar"
            out.event(("skip", f"/{path}: socket"))
        else:
            link, rdev = row[9] or "", row[8]
            out.add(header(rel, TAR_TYPES[kind], mode, uid, gid, 0, mtime, link, rdev))
        if self.manifest:
            layer = self.view.layers[index].layer_id
            record = entry_record(Entry(path, *row), layer, sha256=sha, **note)
            out.event(("man", manifest_line(record)))

    def _data(self, path: str, size: int, index: int, out: _Out) -> str | None:
        """The file's data from the layer that provides it (scanned as such: ``real``)."""
        view = self.view
        where = view.layer_path(index, path)
        source = view.layers[index].source
        return tar_data(source, where, size, out.add, digest=self.manifest, real=True)

    def directory(self, path: str, merged: Any, names: list[str]) -> Iterator[list[Any]]:
        out = _Out()
        prefix = f"{path}/" if path else ""
        for name in names:
            row, index = merged.names[name]
            self.member(prefix + name, row, index, out)
        yield out.batch()

    def tree(self, path: str, layers: Any) -> Iterator[list[Any]]:
        """Everything below the directory ``path``, in archive (preorder) order."""
        out = _Out()
        merged = self.view.merge(path, layers, cache=False)
        stack = [(f"{path}/", merged, iter(_sorted_bytes(merged.names)))]
        while stack:
            prefix, merged, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                continue
            row, index = merged.names[name]
            self.member(prefix + name, row, index, out)
            sub = merged.dirs.get(name)
            if sub is not None:
                child = self.view.merge(prefix + name, sub, cache=False)
                stack.append((f"{prefix}{name}/", child, iter(_sorted_bytes(child.names))))
            if out.size >= BATCH:
                yield out.batch()
        yield out.batch()


class _Out:
    """A batch being filled: runs of bytes joined, events in between, and file counts.

    The writer's own one is ``direct``: bytes go straight to the archive and events to
    ``handle``, so a member it settles (a hard-linked or a big file) streams through it.
    """

    def __init__(
        self,
        write: Callable[[bytes], object] | None = None,
        handle: Callable[[list[Any]], None] | None = None,
    ) -> None:
        self.pieces: list[Any] = []
        self.run: list[bytes] = []
        self.direct = write is not None
        self.add: Callable[[bytes], object] = write if write is not None else self.run.append
        self._handle = handle
        self.size = self.files = self.bytes = 0

    def event(self, item: tuple[Any, ...]) -> None:
        if self._handle is not None:
            self._handle([item])
            return
        self._flush()
        self.pieces.append(item)

    def _flush(self) -> None:
        if self.run:
            data = b"".join(self.run)
            self.size += len(data)
            self.pieces.append(data)
            self.run.clear()

    def batch(self) -> list[Any]:
        self._flush()
        if self.files:
            self.pieces.append(("count", self.files, self.bytes))
        pieces, self.pieces = self.pieces, []
        self.size = self.files = self.bytes = 0
        return pieces


def extract_tar(view: UnionView, top: str, out: IO[bytes], manifest: IO[str] | None) -> Extraction:
    """Write the directory ``top`` of ``view`` as :func:`recover.extract_tar` does."""
    result = Extraction()
    tar = _Tar(view, top, manifest is not None)
    links: dict[object, str] = {}

    def sink(batch: list[Any]) -> None:
        for piece in batch:
            if type(piece) is bytes:
                out.write(piece)
                continue
            what = piece[0]
            if what == "count":
                result.files += piece[1]
                result.bytes += piece[2]
            elif what == "man":
                assert manifest is not None
                manifest.write(piece[1])
            elif what == "skip":
                result.skipped.append(piece[1])
            elif what == "big":
                _, path, row, index = piece
                tar.member(path, row, index, writer, settled=True)
                sink(writer.batch())
            else:
                _, rel, path, row, index = piece
                first = links.get(row[R_INODE])
                if first is None:
                    links[row[R_INODE]] = rel
                tar.member(path, row, index, writer, first, settled=True)
                sink(writer.batch())

    writer = _Out(out.write, sink)
    forkstream.stream(_plan(view, top, True, _sorted_bytes, tar, preorder=True), sink, view)
    out.write(bytes(2 * tarfile.BLOCKSIZE))  # end of archive
    return result
