"""A kept archive index, read back a row at a time (see :mod:`.indexcache`).

Every row is checked as it is read (:mod:`.indexrows`); on the first unsound one the kept file
is removed and the archive is read again, which then answers.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterator
from typing import Concatenate, ParamSpec, TypeVar, cast

from storagekit.sources.indexrows import Unsound, name_of, rec_of, to_bytes, to_text
from storagekit.sources.tarindex import MemoryIndex, Rec

_COLUMNS = "kind, mode, uid, gid, size, mtime, offset, extra"
P = ParamSpec("P")
T = TypeVar("T")


def connect(uri: str) -> sqlite3.Connection:
    """A read-only connection to a kept index (``uri``: ``mode=ro&immutable=1``)."""
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.execute("PRAGMA trusted_schema = OFF")
    # SQLite's default page cache is 2 MB: a walk of a large index would read its pages again
    # and again. Up to 64 MB are kept (allocated only as pages are read).
    conn.execute("PRAGMA cache_size = -65536")
    return conn



#: What reading an unsound kept index can raise (a hostile or damaged file).
_UNSOUND = (sqlite3.Error, Unsound, ValueError, TypeError, KeyError, UnicodeError)


def _kept(
    method: Callable[Concatenate[CachedIndex, P], T],
) -> Callable[Concatenate[CachedIndex, P], T]:
    """Answer from the kept index; after its first unsound row, from the archive read again."""

    @functools.wraps(method)
    def answer(index: CachedIndex, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if index._memory is None:
            try:
                return method(index, *args, **kwargs)
            except _UNSOUND:
                pass
        return cast(T, getattr(index._fallback(), method.__name__)(*args, **kwargs))

    return answer


class CachedIndex:
    """A kept index, read a row at a time; on the first unsound row, the archive is read again.

    ``rebuild`` reads the archive into a fresh :class:`MemoryIndex` (which then answers), and
    ``discard`` removes the unsound file.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        uri: str,
        rebuild: Callable[[], MemoryIndex],
        discard: Callable[[], None],
    ) -> None:
        self._conn, self._uri, self._rebuild, self._discard = conn, uri, rebuild, discard
        self._memory: MemoryIndex | None = None
        self._links: dict[str, int] | None = None
        self._seqs: dict[str, int] = {"": 0}
        self._recs: dict[str, Rec] = {}  # records already read (a walk lists, then stats)

    def _fallback(self) -> MemoryIndex:
        if self._memory is None:
            self._discard()
            self._conn.close()
            self._memory = self._rebuild()
        return self._memory

    def _seq(self, path: str) -> int | None:
        """The row number of the directory or file at ``path`` (None: not in the index)."""
        seq = self._seqs.get(path)
        if seq is None and path:
            parent, _, name = path.rpartition("/")
            above = self._seq(parent)
            if above is None:
                return None
            row = self._conn.execute(
                "SELECT seq FROM member WHERE parent = ? AND name = ?", (above, to_bytes(name))
            ).fetchone()
            if row is None:
                return None
            seq = self._seqs[path] = row[0]
        return seq

    @_kept
    def get(self, path: str) -> Rec | None:
        """See :meth:`storagekit.sources.tarindex.Index.get`."""
        known = self._recs.get(path)
        if known is not None:
            return known
        args: tuple[object, ...] = ()
        if not path:
            query = f"SELECT seq, {_COLUMNS} FROM member WHERE seq = 0"
        else:  # the record with its number, in one query once the parent's is known
            parent, _, name = path.rpartition("/")
            above = self._seq(parent)
            if above is None:
                return None
            query = f"SELECT seq, {_COLUMNS} FROM member WHERE parent = ? AND name = ?"
            args = (above, to_bytes(name))
        row = self._conn.execute(query, args).fetchone()
        if row is None:
            return None
        self._seqs[path] = row[0]
        rec = self._recs[path] = rec_of(row[1:])
        return rec

    @_kept
    def listing(self, path: str) -> list[tuple[str, Rec]]:
        """See :meth:`storagekit.sources.tarindex.Index.listing`."""
        seq = self._seq(path)
        if seq is None:
            return []
        prefix = path + "/" if path else ""
        out = []
        for row in self._conn.execute(
            f"SELECT seq, name, {_COLUMNS} FROM member WHERE parent = ? ORDER BY seq",
            (seq,),
        ):
            if row[0] == seq:
                continue  # the top is its own parent
            name = name_of(row[1])
            child = prefix + name
            self._seqs[child] = row[0]
            rec = self._recs[child] = rec_of(row[2:])
            out.append((child, rec))
        return out

    def children(self, path: str) -> list[str]:
        """See :meth:`storagekit.sources.tarindex.Index.children`."""
        return [child for child, _ in self.listing(path)]

    @_kept
    def nlink(self, inode: str) -> int:
        """See :meth:`storagekit.sources.tarindex.Index.nlink`."""
        if self._links is None:
            links = {}
            for key, names in self._conn.execute("SELECT inode, names FROM link"):
                if type(names) is not int or names < 1:
                    raise Unsound("names")
                links[to_text(key)] = names
            self._links = links
        return self._links.get(inode, 1)

    @_kept
    def data(self, offset: int) -> bytes | None:
        """See :meth:`storagekit.sources.tarindex.Index.data`."""
        row = self._conn.execute("SELECT data FROM blob WHERE offset = ?", (offset,)).fetchone()
        if row is None or isinstance(row[0], bytes):
            return None if row is None else row[0]
        raise Unsound("kept contents are not bytes")

    @_kept
    def paths(self) -> Iterator[str]:
        """See :meth:`storagekit.sources.tarindex.Index.paths`."""
        paths: dict[int, str] = {}
        for seq, parent, name in self._conn.execute(
            "SELECT seq, parent, name FROM member ORDER BY seq"
        ):
            if seq == 0:
                paths[0] = ""
                continue
            above, text = paths[parent], name_of(name)  # parents come first (else KeyError)
            paths[seq] = f"{above}/{text}" if above else text
        return iter(list(paths.values()))

    def close(self) -> None:
        """Close the database."""
        if self._memory is None:
            self._conn.close()

    def after_fork(self) -> None:
        """Open the database anew: a connection is never used by two processes."""
        if self._memory is None:
            try:
                self._conn = connect(self._uri)
            except sqlite3.Error:
                self._fallback()
