"""Members of a recovered tree as records and tar data.

What ``ls``, ``extract`` and the streamed fast path (:mod:`.stream`) write alike, so the two
paths give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

from storagekit.source import CHUNK, Entry, FileType, Source, Writer
from storagekit.timefmt import from_ns

_ZEROS = bytes(tarfile.BLOCKSIZE)
TAR_TYPES = {
    FileType.FILE: tarfile.REGTYPE,
    FileType.DIR: tarfile.DIRTYPE,
    FileType.SYMLINK: tarfile.SYMTYPE,
    FileType.CHARDEV: tarfile.CHRTYPE,
    FileType.BLOCKDEV: tarfile.BLKTYPE,
    FileType.FIFO: tarfile.FIFOTYPE,
}


def mode_string(mode: int) -> str:
    """Permission bits as a zero-padded octal string (``0755``, ``4755``)."""
    return f"{mode:04o}"


def entry_record(entry: Entry, layer: str | None = None, **extra: Any) -> dict[str, Any]:
    """An ``ls`` / manifest object for an entry."""
    record: dict[str, Any] = {
        "path": "/" + entry.path,
        "type": entry.type.value,
        "size": entry.size,
        "mode": mode_string(entry.mode),
        "uid": entry.uid,
        "gid": entry.gid,
        "mtime": from_ns(entry.mtime_ns),
        "link_target": entry.link_target,
        "layer": layer,
    }
    record.update(extra)
    return record


@dataclass
class Extraction:
    """What an extraction wrote and what it could not recreate."""

    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)


def manifest_line(record: dict[str, Any]) -> str:
    """One line of a JSON-lines manifest (ASCII: undecodable names stay escapes)."""
    return json.dumps(record, ensure_ascii=True) + "\n"


def tar_data(
    source: Source, path: str, size: int, write: Writer, *, digest: bool, real: bool = False
) -> str | None:
    """A tar member's data: ``size`` bytes of the file, padded to a block.

    Zero-filled if the file is shorter now; returns the SHA-256 of the file's own bytes when
    ``digest``. ``real`` as for :meth:`Source.copy_file`.
    """
    sha = hashlib.sha256() if digest else None
    sink = write
    if sha is not None:

        def sink(data: bytes) -> None:
            sha.update(data)
            write(data)

    done = source.copy_file(path, size, sink, real=real)
    pad = size - done + (-size % tarfile.BLOCKSIZE)
    while pad > 0:  # a file shorter now than its header says: zeros, a chunk at a time
        n = min(pad, CHUNK)
        write(_ZEROS[:n] if n <= tarfile.BLOCKSIZE else bytes(n))
        pad -= n
    return None if sha is None else sha.hexdigest()
