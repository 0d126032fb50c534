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
from collections.abc import Callable
from typing import TYPE_CHECKING

from storagekit.sources.indexrows import IndexFacts, Unsound, facts_of, row_of, to_bytes
from storagekit.sources.tarindex import MemoryIndex

if TYPE_CHECKING:
    import sqlite3

    from storagekit.sources.cachedindex import CachedIndex

FORMAT = "storagekit-tar-index-1"
_SAMPLE, _SAMPLES = 64 << 10, 16
_KEEP_FILES = 64  # index files kept; the least recently used beyond that are removed
_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE member (seq INTEGER PRIMARY KEY, parent INTEGER NOT NULL, name BLOB NOT NULL,
    kind INTEGER NOT NULL, mode INTEGER, uid, gid, size, mtime, offset INTEGER, extra TEXT);
CREATE UNIQUE INDEX member_name ON member (parent, name);
CREATE TABLE link (inode BLOB PRIMARY KEY, names INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE blob (offset INTEGER PRIMARY KEY, data BLOB NOT NULL);
"""


def default_dir() -> str | None:
    """``$XDG_CACHE_HOME/storagekit``, else ``~/.cache/storagekit``.

    None when neither is an absolute path (no home directory known, a relative
    ``XDG_CACHE_HOME``, which the XDG specification says to ignore): a relative one would put
    the cache in the current directory, perhaps beside the evidence.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "storagekit") if os.path.isabs(base) else None


class IndexCache:
    """A directory of kept archive indexes (see the module's description)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def path_for(self, fd: int, info: os.stat_result, params: str) -> str:
        """Where the index of the archive open as ``fd`` is kept."""
        digest = hashlib.sha256(f"{FORMAT}|{info.st_size}|{info.st_mtime_ns}|{params}|".encode())
        size = info.st_size
        starts = {0, max(0, size - _SAMPLE)} | {size * i // _SAMPLES for i in range(1, _SAMPLES)}
        for start in sorted(starts):
            digest.update(os.pread(fd, _SAMPLE, start))
        return os.path.join(self.directory, digest.hexdigest() + ".idx")

    def load(
        self, path: str, rebuild: Callable[[], MemoryIndex]
    ) -> tuple[CachedIndex, IndexFacts] | None:
        """The index kept at ``path`` (:meth:`path_for`) and its facts.

        None when there is none or it is unsound: then the archive is indexed.
        """
        if not os.path.isfile(path):
            return None
        # Imported here: a first command on an archive finds no kept index and needs neither.
        import sqlite3
        import urllib.parse

        from storagekit.sources.cachedindex import CachedIndex, connect

        conn: sqlite3.Connection | None = None
        try:
            uri = "file:" + urllib.parse.quote(path) + "?mode=ro&immutable=1"
            conn = connect(uri)
            meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
            if meta.get("format") != FORMAT or meta.get("key") != os.path.basename(path):
                raise Unsound("another format or another archive")
            facts = facts_of(json.loads(meta["facts"]))
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: kept when old ones are pruned
        except (sqlite3.Error, Unsound, ValueError, KeyError, TypeError):
            if conn is not None:
                conn.close()
            _remove(path)
            return None
        return CachedIndex(conn, uri, rebuild, lambda: _remove(path)), facts

    def save(
        self, path: str, index: MemoryIndex, facts: IndexFacts, *, background: bool = True
    ) -> None:
        """Keep ``index`` at ``path`` (:meth:`path_for`) for later runs.

        Best effort: a failure to write is not an error.

        Writing a large index takes about as long as reading the archive did, so by default a
        forked child writes it on the second core while the command goes on (and may end
        first; the child then finishes alone). ``STORAGEKIT_CACHE_SYNC=1`` in the environment,
        or ``background=False``, writes it before returning.
        """
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
        import sqlite3  # here: mostly in the writer, a process of its own
        import tempfile

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
    import sqlite3

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
            (row_of(seqs, seq, path, rec) for seq, (path, rec) in enumerate(index.records.items())),
        )
        conn.executemany(
            "INSERT INTO link VALUES (?, ?)", ((to_bytes(k), n) for k, n in index.links.items())
        )
        conn.executemany("INSERT INTO blob VALUES (?, ?)", index.blobs.items())
        conn.commit()
    finally:
        conn.close()
