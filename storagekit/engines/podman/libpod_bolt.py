"""libpod's BoltDB state: ``<graphroot>/libpod/bolt_state.db`` (podman < 4.8, and later).

Older installations keep it after upgrades; podman 5 still reads it when no ``db.sql`` exists.

Buckets (podman ``libpod/boltdb_state.go``, ``boltdb_state_internal.go``)::

    all-ctrs/<id> = name                  allPods/<id> = name        allVolumes/<name> = name
    ctr/<id>/{config, state, pod-id?, dependencies/, netns?, networks/?}
    exit-code/<id> = decimal text         exit-code-time-stamp/<id> = RFC 3339 text
    pod/<id>/{config, state, containers/<ctr-id> = name}
    vol/<name>/{config, state, vol-dependencies/<ctr-id>}
    id-registry, name-registry, ns-registry, volume-ctrs, exec
    runtime-config/{graph-driver-name, graph-root, run-root, static-dir, tmp-dir, volume-path, os}

``config`` and ``state`` values are the JSON documents :mod:`.libpod` describes. A copy of a
live host may be torn: :mod:`storagekit.formats.bolt` falls back to the other meta page, and a
damaged page becomes a finding while the readable buckets are still read.
"""

from __future__ import annotations

import io
import mmap
import os
import stat
from collections.abc import Callable
from functools import partial
from typing import BinaryIO, TypeVar, cast

from storagekit import timefmt
from storagekit.engines.podman.common import safe_id
from storagekit.engines.podman.libpod import (
    BOLT_PATH,
    LibpodState,
    LibpodVolume,
    Pod,
    RawContainer,
    RuntimeConfig,
    make_pod,
    make_volume,
    parse_doc,
)
from storagekit.errors import FormatError, SourceError
from storagekit.formats.bolt import BoltBucket, BoltDB
from storagekit.model import Findings
from storagekit.source import Source

PATH = BOLT_PATH
#: Largest state file whose containers are read from memory (else paged: :class:`BoltContainers`).
IN_MEMORY = 64 << 20
#: From this size a state file read whole is mapped (:func:`map_file`), or else goes to memory
#: advised to use huge pages.
HUGE_FROM = 4 << 20

T = TypeVar("T")


def _text(value: bytes | BoltBucket | None) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _guard(findings: Findings, where: str, fn: Callable[[], T], default: T) -> T:
    """Run ``fn``; a damaged page inside it is a finding and gives ``default``."""
    try:
        return fn()
    except FormatError as exc:
        findings.error("bad-libpod-state", where, f"damaged BoltDB page: {exc.message}")
        return default


def _names(bucket: BoltBucket | None) -> dict[str, str]:
    """Keys and values as text (a key that is not UTF-8 is left out, such a value is ``""``).

    A loop of its own, without :func:`_text`: the container listing reads three such buckets
    of one key a container before any is decoded.
    """
    out: dict[str, str] = {}
    for key, value in bucket.items() if bucket is not None else ():
        try:
            k = key.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if isinstance(value, bytes):
            try:
                out[k] = value.decode("utf-8")
            except UnicodeDecodeError:
                out[k] = ""
        else:
            out[k] = ""
    return out


def _key_texts(bucket: BoltBucket | None) -> set[str]:
    """The keys of ``bucket`` that are UTF-8, as text (the keys :func:`_names` gives)."""
    out = set()
    for key in bucket.keys() if bucket is not None else ():
        try:
            out.add(key.decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return out


def _sub(bucket: BoltBucket | None, *names: bytes) -> BoltBucket | None:
    for name in names:
        if bucket is None:
            return None
        bucket = bucket.bucket(name)
    return bucket


def _ctr_values(
    ctr: BoltBucket | None, key: bytes
) -> tuple[bytes | None, bytes | None, str | None] | None:
    """``config``, ``state`` and ``pod-id`` of ``ctr/<key>``, ``None`` without that bucket.

    The bucket is read once and not kept (:meth:`~storagekit.formats.bolt.BoltBucket.read_once`):
    its values are decoded and dropped.
    """
    b = _sub(ctr, key)
    if b is None:
        return None
    entries = b.read_once()
    config, state, pod = entries.get(b"config"), entries.get(b"state"), entries.get(b"pod-id")
    return (
        config if isinstance(config, bytes) else None,
        state if isinstance(state, bytes) else None,
        _text(pod),
    )


def read_whole(file: BinaryIO, size: int) -> bytes | mmap.mmap:
    """The ``size`` bytes of ``file`` (fewer if it ends first), read-only.

    Source.read_bytes' chunked reads took 30 ms for 17 MB. A file of the operating system
    (a directory's evidence: the reader's raw stream is an ``io.FileIO``, at offset 0) is
    mapped (:func:`map_file`): the kernel's cached pages themselves, no copy, and each page
    costs only when a reader touches it (listing 1,000 containers of a 17 MB file: 4 ms
    against 12 ms read). Any other reader (an archive's member) goes to an anonymous private
    map advised to use 2 MiB pages where the kernel has them (``MADV_HUGEPAGE``): fresh memory
    costs a page fault per 4 KiB page touched (some 2 us each on this project's VM: 9 ms of
    the 10 ms a 17 MB read took; 4 ms so). Where neither can be done (no ``madvise``, a file
    object without ``readinto``), one ``read``.

    Raises:
        OSError: the read failed.
    """
    advise = getattr(mmap, "MADV_HUGEPAGE", None)
    readinto = getattr(file, "readinto", None)
    if size < HUGE_FROM:
        return file.read(size)
    mapped = map_file(file, size)
    if mapped is not None:
        return mapped
    if advise is None or readinto is None:
        return file.read(size)
    buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    buf.madvise(advise)
    done = 0
    while done < size:
        with memoryview(buf) as view:
            n = readinto(view[done:])
        if not n:
            return buf[:done]  # the file ended first: what was there
        done += n
    return buf


def map_file(file: BinaryIO, size: int) -> mmap.mmap | None:
    """The first ``size`` bytes (fewer if it is shorter) of an OS file, mapped read-only.

    Only for a buffered reader over an ``io.FileIO`` of a regular file at offset 0: an
    archive's member is a window on the archive, never an ``io.FileIO``, so the descriptor
    is the evidence file itself. The map is ``PROT_READ`` and private: nothing is ever
    written to the file, and a forked process shares its pages. ``None`` where the file is
    not such a file (or cannot be mapped): the caller reads it.

    A file that shrinks while it is mapped makes a read past its new end fail with SIGBUS;
    evidence is a copy that does not change under the reader.
    """
    raw = getattr(file, "raw", None)
    if not isinstance(raw, io.FileIO) or raw.closed:
        return None
    try:
        if file.tell() != 0:
            return None
        st = os.fstat(raw.fileno())
        length = min(size, st.st_size)
        if not stat.S_ISREG(st.st_mode) or length <= 0:
            return None
        return mmap.mmap(raw.fileno(), length, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
    except (OSError, ValueError):
        return None


class BoltContainers:
    """libpod's containers in ``bolt_state.db``: listed once, then each read by ID.

    :meth:`ids` lists them (``all-ctrs`` and ``ctr`` keys, and the exit-code buckets); a
    damaged page there loses every container (one finding). :meth:`fetch` reads one
    container's ``ctr/<id>`` bucket; a damaged page below it loses that container only.
    """

    def __init__(self, source: Source, path: str = PATH) -> None:
        self.source, self.path = source, path
        self._names: dict[str, str] = {}
        self._codes: dict[str, str] = {}
        self._times: dict[str, str] = {}
        self._file: BinaryIO | None = None
        self._opened: BoltDB | None = None
        self._map: mmap.mmap | None = None

    def _db(self) -> BoltDB:
        """The database, opened on first use.

        A file of at most :data:`IN_MEMORY` bytes is read whole, once (:func:`read_whole`:
        mapped, where it is a file of the operating system): the containers' pages lie
        anywhere in it (bbolt reuses freed pages), and slicing bytes is cheaper than paging.
        A bigger one (bbolt files keep their free pages) is paged through the file.

        Raises:
            SourceError: the file cannot be opened.
            FormatError: it is not a usable BoltDB file.
        """
        if self._opened is not None:
            return self._opened
        size = self.source.stat(self.path).size
        file = self.source.open(self.path)
        if size <= IN_MEMORY:
            try:
                with file:
                    data = read_whole(file, size)
            except OSError as exc:
                raise SourceError(f"{self.path}: {exc}") from exc
            if isinstance(data, mmap.mmap):
                self._map = data  # unmapped when closed (BoltDB and its buckets hold a cycle)
            self._opened = BoltDB.from_bytes(cast(bytes, data), self.path)  # only sliced
            return self._opened
        try:
            self._opened = BoltDB.from_file(file, size, self.path)
        except (FormatError, SourceError):
            file.close()
            raise
        self._file = file
        return self._opened

    def ids(self, findings: Findings) -> list[str]:
        """Every container ID (``all-ctrs`` and ``ctr``), sorted; unsafe ones are findings."""
        try:
            return _guard(findings, self.path, partial(self._list, findings), [])
        except SourceError:
            return []  # read_bolt_state read it a moment ago: not expected

    def _list(self, findings: Findings) -> list[str]:
        db = self._db()
        ctr = db.bucket(b"ctr")
        self._codes = _names(db.bucket(b"exit-code"))
        self._times = _names(db.bucket(b"exit-code-time-stamp"))
        self._names = _names(db.bucket(b"all-ctrs"))
        found = sorted(_key_texts(ctr).union(self._names))
        ids = [safe_id(x, findings, PATH, "libpod container ID") for x in found]
        return [x for x in ids if x is not None]

    def fetch(self, cid: str, findings: Findings) -> RawContainer:
        """One container's undecoded records (a missing or damaged bucket is a finding)."""
        where = f"{PATH}:ctr/{cid}"
        damaged: tuple[bytes | None, bytes | None, str | None] | None = (None, None, None)
        try:
            raw = _guard(findings, where, partial(self._values, cid), damaged)
        except SourceError as exc:
            findings.error("bad-libpod-state", where, f"cannot read: {exc}")
            raw = damaged
        if raw is None:
            findings.error("missing-record", where, "listed in all-ctrs but has no ctr bucket")
        code = self._codes.get(cid)
        return RawContainer(
            cid,
            raw is not None and raw is not damaged,
            raw[0] if raw else None,
            raw[1] if raw else None,
            f"{where}/config",
            f"{where}/state",
            name=self._names.get(cid) or None,
            pod=raw[2] if raw else None,
            exit_code=int(code) if code is not None and code.lstrip("-").isdigit() else None,
            exit_time=timefmt.normalize(self._times.get(cid)),
        )

    def _values(self, cid: str) -> tuple[bytes | None, bytes | None, str | None] | None:
        return _ctr_values(self._db().bucket(b"ctr"), cid.encode())

    @property
    def in_memory(self) -> bool:
        """Whether the file was read whole (a forked process may then read it too)."""
        return self._opened is not None and self._file is None

    def close(self) -> None:
        """Close the file, if it was paged, or unmap its bytes (none of them is used after)."""
        if self._file is not None:
            self._file.close()
        if self._map is not None:
            self._map.close()
        self._file = self._opened = self._map = None


def _pods(db: BoltDB, findings: Findings) -> list[Pod]:
    pod = db.bucket(b"pod")
    out = []
    for raw_id, name in sorted((_names(db.bucket(b"allPods")) | _names(pod)).items()):
        pid = safe_id(raw_id, findings, PATH, "libpod pod ID")
        if pid is None:
            continue
        where = f"{PATH}:pod/{pid}"
        b = _sub(pod, pid.encode())
        config = parse_doc(b.get(b"config") if b else None, findings, f"{where}/config")
        state = parse_doc(b.get(b"state") if b else None, findings, f"{where}/state")
        members = tuple(_names(_sub(b, b"containers")))
        out.append(make_pod(pid, config, state, members, f"{where}/config", name=name or None))
    return out


def _volumes(db: BoltDB, findings: Findings) -> list[LibpodVolume]:
    vol = db.bucket(b"vol")
    out = []
    for name in sorted(set(_names(db.bucket(b"allVolumes"))) | set(_names(vol))):
        where = f"{PATH}:vol/{name}"
        b = _sub(vol, name.encode())
        config = parse_doc(b.get(b"config") if b else None, findings, f"{where}/config")
        users = tuple(_names(_sub(b, b"vol-dependencies")))
        out.append(make_volume(name, config, users, f"{where}/config"))
    return out


def _runtime(db: BoltDB) -> RuntimeConfig:
    rc = _names(db.bucket(b"runtime-config"))
    return RuntimeConfig(
        graph_driver=rc.get("graph-driver-name"),
        graph_root=rc.get("graph-root"),
        run_root=rc.get("run-root"),
        static_dir=rc.get("static-dir"),
        tmp_dir=rc.get("tmp-dir"),
        volume_path=rc.get("volume-path"),
        os=rc.get("os"),
    )


def read_bolt_state(source: Source, findings: Findings, path: str = PATH) -> LibpodState | None:
    """Read libpod's BoltDB state; ``None`` (and a finding) when it is absent or unusable."""
    try:
        size = source.stat(path).size
        file = source.open(path)
    except SourceError:
        return None
    with file:  # only the pages the walk visits are read, never the whole file
        try:
            db = BoltDB.from_file(file, size, path)
        except FormatError as exc:
            findings.error("bad-libpod-state", path, f"not a usable BoltDB file: {exc.message}")
            return None
        empty = RuntimeConfig(None, None, None, None, None, None, None)
        return LibpodState(
            backend="bolt",
            path=path,
            pods=tuple(_guard(findings, path, lambda: _pods(db, findings), [])),
            volumes=tuple(_guard(findings, path, lambda: _volumes(db, findings), [])),
            runtime=_guard(findings, path, lambda: _runtime(db), empty),
        )
