"""File and directory writers: fast ``os``-level ones with modes, and a path-making one."""

from __future__ import annotations

import os
from pathlib import Path


def write(path: str, data: bytes | str, mode: int = 0o644) -> None:
    """Create or replace a file with ``data`` (its parent must exist; ``mode`` on creation)."""
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


def put(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path``, creating its parent directories (default modes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
