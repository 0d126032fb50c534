"""Members of an image archive (``docker save`` / docker-archive / OCI layout), written.

Every engine's ``save`` writes the same kinds of members: small JSON documents, and layer tars
whose digest and size are known only once they have been produced (rebuilt from tar-split or
decompressed from a blob), spooled to disk past :data:`SPOOL` bytes so memory stays bounded.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
from collections.abc import Iterable

#: Bytes of a member kept in memory before it is spooled to a temporary file.
SPOOL = 64 << 20


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add a member of known content (a JSON document)."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def add_stream(tar: tarfile.TarFile, name: str, chunks: Iterable[bytes]) -> tuple[str, int]:
    """Add a member whose size is known only at the end (spooled); returns SHA-256 and size."""
    digest = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spool:
        for chunk in chunks:
            digest.update(chunk)
            spool.write(chunk)
        info = tarfile.TarInfo(name)
        info.size = spool.tell()
        info.mode = 0o644
        spool.seek(0)
        tar.addfile(info, spool)
    return "sha256:" + digest.hexdigest(), info.size
