"""Helpers shared by the benchmark scripts: Docker's on-disk encodings and small file writers.

Benchmarks generate format-faithful Docker roots with the standard library only, so they do not
use storagekit's own code to make the data storagekit is then timed on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any


def go_json(obj: Any) -> bytes:
    """Compact JSON as Go's ``encoding/json`` writes it (HTML characters escaped)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode()


def go_time(when: dt.datetime, nanos: int = 0) -> str:
    """``time.Time`` marshalled as RFC 3339 with nanoseconds, trailing zeros trimmed (UTC)."""
    frac = f"{nanos:09d}".rstrip("0")
    return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


ZERO_TIME = "0001-01-01T00:00:00Z"


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """OCI ChainIDs: ChainID(1) = D1, ChainID(k) = sha256("ChainID(k-1) Dk")."""
    out: list[str] = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def self_test() -> None:
    """Chain IDs against the test vector of docker-root-format.md §2.2."""
    d1 = "sha256:87f80e8765085c2f35807bfa5dc6d4b8b72ecefda871be188b306018f08b679a"
    d2 = "sha256:8906c10f9195e5598feca026705a3229fb2be03064c3b0ebc5561ed0e4555d2e"
    assert chain_ids([d1, d2]) == [
        d1,
        "sha256:4e6c29be423fdb6f65db62ae3bcf85e20a28a1a218ad7b3bd20f45bb08d6c808",
    ]


def write(path: str, data: bytes | str, mode: int = 0o644) -> None:
    """Create or replace a file with ``data``."""
    if isinstance(data, str):
        data = data.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def mkdir(path: str, mode: int = 0o755) -> None:
    """Create a directory and its parents."""
    os.makedirs(path, mode=mode, exist_ok=True)


def default_temp_parent() -> str | None:
    """/dev/shm when writable (tmpfs: generation takes seconds, not the disk's minutes)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None
