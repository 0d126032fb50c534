"""Archive indexes kept between runs, outside the evidence.

Reading a large archive's member list is the one expensive step every command on it shares.
The first command keeps the index in the user's cache directory (``$XDG_CACHE_HOME/storagekit``,
else ``~/.cache/storagekit``; the CLI's ``--cache-dir`` and ``--no-cache``), and later commands
on the same archive start from it:

* **Key**: the archive's size and modification time, a SHA-256 of sampled blocks (the first and
  last 64 KiB and 16 more spread evenly), the index format and the options that decide what the
  index holds (decompression limits, what is kept in memory). A changed archive gets another
  key and is indexed afresh; the evidence itself is never written to.
* **Form**: one SQLite database per archive (standard library, read a row at a time, so a later
  command reads only the records it asks for rather than loading all of them), written to a
  temporary file in the cache directory and renamed into place, read back read-only and
  immutable. The small files a compressed archive keeps in memory are kept too, so that a later
  command reads metadata without decompressing the archive.
* **Never trusted blindly**: a file that cannot be opened, or whose format, key or summary is
  wrong, is ignored and removed; every row is checked when it is read (types and ranges, a
  child's name a plain path component of its parent); on the first unsound row the archive is
  read again and the file removed. Someone who can write to the user's cache directory could
  still describe the archive falsely in a well-formed file — as they could replace storagekit
  itself; the cache is the user's own, created private (0700, files 0600).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from storagekit.source import Cut, FileType
from storagekit.sources.tarindex import Extra, MemoryIndex, Rec

FORMAT = "storagekit-tar-index-1"
_KINDS = list(FileType)
_KIND_CODE = {kind: i for i, kind in enumerate(_KINDS)}
_SAMPLE, _SAMPLES = 64 << 10, 16
_KEEP_FILES = 64  # index files kept; the least recently used beyond that are removed
_INT64 = 1 << 63
_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE member (seq INTEGER PRIMARY KEY, parent INTEGER NOT NULL, name BLOB NOT NULL,
    kind INTEGER NOT NULL, mode INTEGER, uid, gid, size, mtime, offset INTEGER, extra TEXT);
CREATE UNIQUE INDEX member_name ON member (parent, name);
CREATE TABLE link (inode BLOB PRIMARY KEY, names INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE blob (offset INTEGER PRIMARY KEY, data BLOB NOT NULL);
"""
_COLUMNS = "kind, mode, uid, gid, size, mtime, offset, extra"


@dataclass(frozen=True)
class IndexFacts:
    """What indexing found besides the records: problems, the cut, xattrs, a limit reached."""

    problems: tuple[str, ...]
    cut: Cut | None
    xattr_members: int
    limit_reached: str | None


class _Unsound(Exception):
    """A kept index does not hold what this module writes."""


def default_dir() -> str:
    """``$XDG_CACHE_HOME/storagekit``, else ``~/.cache/storagekit``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "storagekit")


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _s(raw: object) -> str:
    if not isinstance(raw, bytes):
        raise _Unsound("a path is not stored as bytes")
    return raw.decode("utf-8", "surrogateescape")


def _store_int(n: int) -> int | str:
    """SQLite integers are 64-bit; a hostile PAX record's larger number is kept as text."""
    return n if -_INT64 <= n < _INT64 else str(n)


def _int(value: object) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 4000:
        return int(value)
    raise _Unsound(f"not an integer: {value!r}")


class IndexCache:
    """A directory of kept archive indexes (see the module's description)."""

    def __init__(self, directory: str | None = None) -> None:
        self.directory = directory or default_dir()

    def path_for(self, fd: int, info: os.stat_result, params: str) -> str:
        """Where the index of the archive open as ``fd`` is kept."""
        digest = hashlib.sha256(f"{FORMAT}|{info.st_size}|{info.st_mtime_ns}|{params}|".encode())
        size = info.st_size
        starts = {0, max(0, size - _SAMPLE)} | {size * i // _SAMPLES for i in range(1, _SAMPLES)}
        for start in sorted(starts):
            digest.update(os.pread(fd, _SAMPLE, start))
        return os.path.join(self.directory, digest.hexdigest() + ".idx")

    def load(
        self,
        fd: int,
        info: os.stat_result,
        params: str,
        rebuild: Callable[[], MemoryIndex],
    ) -> tuple[CachedIndex, IndexFacts] | None:
        """The kept index of this archive and its facts, or None (then index the archive)."""
        path = self.path_for(fd, info, params)
        if not os.path.isfile(path):
            return None
        conn: sqlite3.Connection | None = None
        try:
            uri = "file:" + urllib.parse.quote(path) + "?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("PRAGMA trusted_schema = OFF")
            meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
            if meta.get("format") != FORMAT or meta.get("key") != os.path.basename(path):
                raise _Unsound("another format or another archive")
            facts = _facts(json.loads(meta["facts"]))
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: kept when old ones are pruned
        except (sqlite3.Error, _Unsound, ValueError, KeyError, TypeError):
            if conn is not None:
                conn.close()
            _remove(path)
            return None
        return CachedIndex(conn, rebuild, lambda: _remove(path)), facts

    def save(
        self,
        fd: int,
        info: os.stat_result,
        params: str,
        index: MemoryIndex,
        facts: IndexFacts,
        *,
        background: bool = True,
    ) -> None:
        """Keep ``index`` for later runs (best effort: a failure to write is not an error).

        Writing a large index takes about as long as reading the archive did, so by default a
        forked child writes it on the second core while the command goes on (and may end
        first; the child then finishes alone). ``STORAGEKIT_CACHE_SYNC=1`` in the environment,
        or ``background=False``, writes it before returning.
        """
        path = self.path_for(fd, info, params)
        if background and os.environ.get("STORAGEKIT_CACHE_SYNC") != "1" and hasattr(os, "fork"):
            try:
                pid = os.fork()
            except OSError:
                pid = -1
            if pid > 0:
                return
            if pid == 0:  # the child: write, then leave without running the parent's exit code
                try:
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                    # Let go of the command's output: a pipe reader must not wait for the cache.
                    null = os.open(os.devnull, os.O_RDWR)
                    for fd in (0, 1, 2):
                        os.dup2(null, fd)
                    self._write_file(path, index, facts)
                finally:
                    os._exit(0)
        self._write_file(path, index, facts)

    def _write_file(self, path: str, index: MemoryIndex, facts: IndexFacts) -> None:
        tmp = None
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            handle, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".idx")
            os.close(handle)
            _write(tmp, os.path.basename(path), index, facts)
            os.replace(tmp, path)
            tmp = None
            _prune(self.directory)
        except (OSError, sqlite3.Error):
            pass
        finally:
            if tmp is not None:
                _remove(tmp)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _prune(directory: str) -> None:
    """Remove the least recently used index files beyond the first :data:`_KEEP_FILES`."""
    with os.scandir(directory) as it:
        kept = [e for e in it if e.name.endswith(".idx") and e.is_file(follow_symlinks=False)]
    kept.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime_ns, reverse=True)
    for entry in kept[_KEEP_FILES:]:
        _remove(entry.path)


def _write(tmp: str, key: str, index: MemoryIndex, facts: IndexFacts) -> None:
    conn = sqlite3.connect(tmp)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.executescript(_SCHEMA)
        record = {
            "problems": list(facts.problems),
            "cut": None if facts.cut is None else vars(facts.cut),
            "xattr_members": facts.xattr_members,
            "limit_reached": facts.limit_reached,
        }
        conn.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("format", FORMAT), ("key", key), ("facts", json.dumps(record))],
        )
        seqs: dict[str, int] = {}
        conn.executemany(
            "INSERT INTO member VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_row(seqs, seq, path, rec) for seq, (path, rec) in enumerate(index.records.items())),
        )
        conn.executemany(
            "INSERT INTO link VALUES (?, ?)", ((_b(k), n) for k, n in index.links.items())
        )
        conn.executemany("INSERT INTO blob VALUES (?, ?)", index.blobs.items())
        conn.commit()
    finally:
        conn.close()


def _row(seqs: dict[str, int], seq: int, path: str, rec: Rec) -> tuple[object, ...]:
    """The row of ``path``: its number, its parent's, its name and its record.

    A parent comes before its children in the index; the top is its own parent.
    """
    kind, mode, uid, gid, size, mtime, offset, extra = rec
    parent, _, name = path.rpartition("/")
    seqs[path] = seq
    return (
        seq,
        seqs[parent] if path else seq,
        _b(name),
        _KIND_CODE[kind],
        mode,
        _store_int(uid),
        _store_int(gid),
        _store_int(size),
        _store_int(mtime),
        offset,
        None if extra is None else json.dumps(_extra_record(extra)),
    )


def _extra_record(extra: Extra) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if extra.link_target is not None:
        out["t"] = extra.link_target
    if extra.rdev is not None:
        out["r"] = list(extra.rdev)
    if extra.xattrs is not None:
        out["x"] = {k: v.decode("latin-1") for k, v in extra.xattrs.items()}
    if extra.inode is not None:
        out["i"] = extra.inode
    if extra.chunks is not None:
        out["c"] = [list(c) for c in extra.chunks]
    if extra.damage is not None:
        out["d"] = extra.damage
    return out


def _extra(text: object) -> Extra | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise _Unsound("extra is not text")
    raw = json.loads(text)
    if not isinstance(raw, dict) or not set(raw) <= set("trxicd"):
        raise _Unsound("unknown extra")
    for key in ("t", "i", "d"):
        if key in raw and not isinstance(raw[key], str):
            raise _Unsound(f"extra {key} is not text")
    rdev: tuple[int, int] | None = None
    if "r" in raw:
        numbers = raw["r"]
        if not isinstance(numbers, list) or len(numbers) != 2:
            raise _Unsound("bad device numbers")
        rdev = (_int(numbers[0]), _int(numbers[1]))
    xattrs = raw.get("x")
    if xattrs is not None:
        if not isinstance(xattrs, dict) or not all(isinstance(v, str) for v in xattrs.values()):
            raise _Unsound("bad xattrs")
        xattrs = {k: v.encode("latin-1") for k, v in xattrs.items()}
    chunks = raw.get("c")
    if chunks is not None:
        if not isinstance(chunks, list) or not all(
            isinstance(c, list) and len(c) == 3 and all(type(n) is int and n >= 0 for n in c)
            for c in chunks
        ):
            raise _Unsound("bad sparse map")
        chunks = tuple((c[0], c[1], c[2]) for c in chunks)
    return Extra(raw.get("t"), rdev, xattrs, raw.get("i"), chunks, raw.get("d"))


def _facts(raw: object) -> IndexFacts:
    if not isinstance(raw, dict):
        raise _Unsound("facts")
    problems, cut, members, limit = (
        raw["problems"],
        raw["cut"],
        raw["xattr_members"],
        raw["limit_reached"],
    )
    if not isinstance(problems, list) or not all(isinstance(p, str) for p in problems):
        raise _Unsound("problems")
    if type(members) is not int or not (limit is None or isinstance(limit, str)):
        raise _Unsound("facts")
    if cut is not None:
        if not isinstance(cut, dict):
            raise _Unsound("cut")
        cut = Cut(**cut)
        if not (
            isinstance(cut.why, str)
            and type(cut.archive_bytes) is int
            and type(cut.tar_bytes) is int
            and (cut.last is None or isinstance(cut.last, str))
            and isinstance(cut.truncated_member, bool)
        ):
            raise _Unsound("cut")
    return IndexFacts(tuple(problems), cut, members, limit)


def _rec(row: tuple[Any, ...]) -> Rec:
    kind, mode, uid, gid, size, mtime, offset, extra = row
    if type(kind) is not int or not 0 <= kind < len(_KINDS):
        raise _Unsound("kind")
    if type(mode) is not int or not 0 <= mode <= 0o7777:
        raise _Unsound("mode")
    if type(offset) is not int or offset < 0:
        raise _Unsound("offset")
    numbers = (_int(uid), _int(gid), _int(size), _int(mtime))
    return (_KINDS[kind], mode, *numbers, offset, _extra(extra))


class CachedIndex:
    """A kept index, read a row at a time; on the first unsound row, the archive is read again.

    ``rebuild`` reads the archive into a fresh :class:`MemoryIndex` (which then answers), and
    ``discard`` removes the unsound file.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        rebuild: Callable[[], MemoryIndex],
        discard: Callable[[], None],
    ) -> None:
        self._conn, self._rebuild, self._discard = conn, rebuild, discard
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
                "SELECT seq FROM member WHERE parent = ? AND name = ?", (above, _b(name))
            ).fetchone()
            if row is None:
                return None
            seq = self._seqs[path] = row[0]
        return seq

    def get(self, path: str) -> Rec | None:
        """See :meth:`storagekit.sources.tarindex.Index.get`."""
        if self._memory is None:
            try:
                known = self._recs.get(path)
                if known is not None:
                    return known
                seq = self._seq(path)
                if seq is None:
                    return None
                row = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM member WHERE seq = ?", (seq,)
                ).fetchone()
                return _rec(row)
            except (sqlite3.Error, _Unsound, ValueError, TypeError, UnicodeError):
                pass
        return self._fallback().get(path)

    def listing(self, path: str) -> list[tuple[str, Rec]]:
        """See :meth:`storagekit.sources.tarindex.Index.listing`."""
        if self._memory is None:
            try:
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
                    name = _s(row[1])
                    if not name or "/" in name or "\0" in name or name in (".", ".."):
                        raise _Unsound("child name")
                    child = prefix + name
                    self._seqs[child] = row[0]
                    rec = self._recs[child] = _rec(row[2:])
                    out.append((child, rec))
                return out
            except (sqlite3.Error, _Unsound, ValueError, TypeError, UnicodeError):
                pass
        return self._fallback().listing(path)

    def children(self, path: str) -> list[str]:
        """See :meth:`storagekit.sources.tarindex.Index.children`."""
        return [child for child, _ in self.listing(path)]

    def nlink(self, inode: str) -> int:
        """See :meth:`storagekit.sources.tarindex.Index.nlink`."""
        if self._memory is None:
            try:
                if self._links is None:
                    links = {}
                    for key, names in self._conn.execute("SELECT inode, names FROM link"):
                        if type(names) is not int or names < 1:
                            raise _Unsound("names")
                        links[_s(key)] = names
                    self._links = links
                return self._links.get(inode, 1)
            except (sqlite3.Error, _Unsound, ValueError, TypeError, UnicodeError):
                pass
        return self._fallback().nlink(inode)

    def data(self, offset: int) -> bytes | None:
        """See :meth:`storagekit.sources.tarindex.Index.data`."""
        if self._memory is None:
            try:
                row = self._conn.execute(
                    "SELECT data FROM blob WHERE offset = ?", (offset,)
                ).fetchone()
                if row is None or isinstance(row[0], bytes):
                    return None if row is None else row[0]
            except sqlite3.Error:
                pass
        return self._fallback().data(offset)

    def paths(self) -> Iterator[str]:
        """See :meth:`storagekit.sources.tarindex.Index.paths`."""
        if self._memory is None:
            try:
                paths: dict[int, str] = {}
                for seq, parent, name in self._conn.execute(
                    "SELECT seq, parent, name FROM member ORDER BY seq"
                ):
                    if seq == 0:
                        paths[0] = ""
                        continue
                    above, text = paths[parent], _s(name)  # a parent comes first: KeyError if not
                    if not text or "/" in text or "\0" in text or text in (".", ".."):
                        raise _Unsound("name")
                    paths[seq] = f"{above}/{text}" if above else text
                return iter(list(paths.values()))
            except (sqlite3.Error, _Unsound, KeyError, UnicodeError):
                pass
        return self._fallback().paths()

    def close(self) -> None:
        """Close the database."""
        if self._memory is None:
            self._conn.close()
