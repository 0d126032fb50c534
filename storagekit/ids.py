"""Identifiers read from the evidence, validated before they become paths.

Docker's identifiers are digests (``sha256:<64 hex>``: image IDs, chain IDs, diff IDs) and bare
64-hex driver IDs (cache IDs, mount IDs, container IDs, ``<mount-id>-init``). Anything read from
disk that will be joined into a path must pass :func:`is_safe_component` first; an ID with ``/``
or ``..`` is a finding, never a path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

HEX64 = re.compile(r"[0-9a-f]{64}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
#: A container or driver ID as Docker writes it on Linux (``layer_unix.go``, mount-id check).
DRIVER_ID = re.compile(r"[0-9a-f]{64}(-init)?")
#: One path component: no "/", NUL or control characters, 1 to 255 characters.
_COMPONENT = re.compile(r"[^/\x00-\x1f\x7f]{1,255}")


def is_digest(value: str) -> bool:
    """True for ``sha256:`` followed by 64 lowercase hex digits."""
    return DIGEST.fullmatch(value) is not None


def is_hex64(value: str) -> bool:
    """True for exactly 64 lowercase hex digits."""
    return HEX64.fullmatch(value) is not None


@lru_cache(maxsize=1 << 16)
def is_safe_component(value: str) -> bool:
    """True if ``value`` can name one directory entry without leaving its directory.

    Refuses the empty string, ``.``, ``..``, anything with ``/`` or a NUL byte, and names with
    control characters (no Docker ID has them; they only serve to confuse a terminal). The same
    IDs are checked again and again (a layer ID for every container on it): answers are cached.
    """
    return value not in (".", "..") and _COMPONENT.fullmatch(value) is not None


def hex_of(digest: str) -> str:
    """The hex part of ``sha256:<hex>`` (the string itself if it has no algorithm)."""
    return digest.partition(":")[2] or digest


def chain_id(parent: str | None, diff_id: str) -> str:
    """ChainID of a layer: the diff ID for a base layer, else SHA-256 of ``"<parent> <diff>"``.

    See ``opencontainers/image-spec identity/chainid.go``. A bare v1 layer ID (the ``graph/``
    layout of Docker <= 1.9, which has no diff IDs) is its own chain ID.
    """
    if not parent or is_hex64(diff_id):
        return diff_id
    import hashlib  # here: loading OpenSSL costs every command's start 2 ms, most never need it

    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode("ascii")).hexdigest()


def chain_ids(diff_ids: Iterable[str]) -> Iterator[str]:
    """The ChainIDs of a list of diff IDs, base first."""
    current: str | None = None
    for diff in diff_ids:
        current = chain_id(current, diff)
        yield current


def short(value: str, length: int = 12) -> str:
    """A short form for tables: the first ``length`` hex digits, without ``sha256:``.

    An init layer keeps its ``-init`` suffix, so that it never looks like its container's layer.
    """
    suffix = "-init" if value.endswith("-init") else ""
    return hex_of(value)[:length] + suffix
