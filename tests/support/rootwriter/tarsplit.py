"""A layer tar built in memory, as Docker received it, and the ``tar-split.json.gz`` it keeps."""

from __future__ import annotations

import base64
import gzip
import hashlib
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.support.rootwriter.encoding import crc64_iso, go_json


@dataclass(frozen=True)
class Member:
    """One tar member of a synthetic layer: a directory (``data is None``) or a regular file."""

    name: str
    data: bytes | None = None
    mode: int = 0o644


@dataclass
class BuiltLayer:
    """A layer tar as Docker would have received it."""

    diff_id: str
    tar_split_gz: bytes
    size: int  # overlay2 ApplyDiff: sum of regular file sizes


def build_layer(members: Sequence[Member], mtime: int) -> BuiltLayer:
    """Make the tar stream (Go archive/tar style: USTAR, 1024 zero bytes at the end) and its split.

    The tar-split entries are those vbatts/tar-split writes when Docker 20.10 reads the stream:
    a segment per header (with the previous member's padding), a file entry per member, then
    the last padding plus the end-of-archive blocks, and an empty final segment.
    """
    tar = bytearray()
    entries: list[bytes] = []
    pending = b""
    pos = 0

    def entry(obj: dict[str, Any]) -> None:
        nonlocal pos
        obj["position"] = pos
        pos += 1
        entries.append(go_json(obj) + b"\n")

    for m in members:
        info = tarfile.TarInfo(m.name)
        info.mtime = mtime
        info.uname = info.gname = "root"
        if m.data is None:
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
        else:
            info.type = tarfile.REGTYPE
            info.mode = m.mode
            info.size = len(m.data)
        header = info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")
        segment = pending + header
        tar += segment
        entry({"type": 2, "payload": base64.b64encode(segment).decode()})
        file_entry: dict[str, Any] = {"type": 1, "name": m.name}
        if m.data:
            file_entry["size"] = len(m.data)
            file_entry["payload"] = base64.b64encode(crc64_iso(m.data)).decode()
            tar += m.data
            pending = b"\0" * (-len(m.data) % 512)
        else:
            file_entry["payload"] = None
            pending = b""
        entry(file_entry)
    tail = pending + b"\0" * 1024
    tar += tail
    entry({"type": 2, "payload": base64.b64encode(tail).decode()})
    entry({"type": 2, "payload": ""})
    split = gzip.compress(b"".join(entries), compresslevel=6, mtime=0)
    size = sum(len(m.data) for m in members if m.data)
    return BuiltLayer("sha256:" + hashlib.sha256(tar).hexdigest(), split, size)
