"""Shared pieces of the podman readers: ID checks, JSON files read through a Source, ID maps.

containers/storage writes its stores (``layers.json``, ``images.json``, ``containers.json``) as
one JSON array each, rewritten whole under ``<driver>-<kind>/<kind>.lock``
(``pkg/ioutils.AtomicWriteFile``); a copy taken while podman writes can still be truncated if
the copy tool raced the rename. Every ID read from such a file may later name a directory
(``overlay/<id>``, ``vfs/dir/<id>``, ``<driver>-images/<id>``): it is checked here first.

ID maps are ``idtools.IDMap`` (containers/storage ``pkg/idtools/idtools.go``):
``{"container_id": C, "host_id": H, "size": N}``: IDs ``C..C+N-1`` inside the container are
``H..H+N-1`` on disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeGuard, TypeVar

from storagekit.errors import SourceError, SourceNotFoundError
from storagekit.ids import is_safe_component
from storagekit.model import Findings
from storagekit.source import Source

#: Largest store file read (a host with thousands of layers stays far below).
MAX_JSON = 256 << 20


def safe_id(value: object, findings: Findings, path: str, what: str) -> str | None:
    """``value`` if it is a string that can name one directory entry, else ``None`` + finding."""
    if isinstance(value, str) and is_safe_component(value):
        return value
    findings.error("unsafe-id", path, f"{what}: expected an ID, got {value!r}")
    return None


_fromhex = bytes.fromhex


def hex_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is 64 hex digits (as containers-storage makes IDs): then a safe ID.

    Such a string passes :func:`safe_id` without a finding (no ``/``, no control character,
    not ``.``/``..``): the cheap test a reader makes first. ``bytes.fromhex`` refuses anything
    but hex digits and ASCII whitespace, and 64 characters give 32 bytes only when none of
    them is whitespace. An unhashable ``value`` is refused before anything hashes it.
    """
    if type(value) is not str or len(value) != 64:
        return False
    try:
        return len(_fromhex(value)) == 32
    except ValueError:
        return False


N = TypeVar("N")
M = TypeVar("M")


def sort_user_volumes(
    user_volumes: Iterable[object],
    named: Iterable[N],
    named_dest: Callable[[N], object],
    mounts: Iterable[M],
    mount_dest: Callable[[M], object],
) -> tuple[list[N], list[M]]:
    """The named volumes, then the mounts, the user asked for (libpod ``sortUserVolumes``).

    In ``userVolumes`` order, each destination that is a named volume's, else a mount's (by
    destination, the last of several, as a Go map keeps them); destinations that are not text
    name nothing (Go would not have decoded such a config).
    """
    by_dest = {d: v for v in named if isinstance(d := named_dest(v), str)}
    at_dest = {d: m for m in mounts if isinstance(d := mount_dest(m), str)}
    vols: list[N] = []
    others: list[M] = []
    for dest in user_volumes:
        if not isinstance(dest, str):
            continue
        if dest in by_dest:
            vols.append(by_dest[dest])
        elif dest in at_dest:
            others.append(at_dest[dest])
    return vols, others


def load_json(source: Source, path: str, findings: Findings, *, required: bool = False) -> Any:
    """Parse the JSON file ``path``; ``None`` (and a finding) when missing or damaged.

    A missing file is a finding only when ``required``.
    """
    try:
        raw = source.read_bytes(path, MAX_JSON + 1)
    except SourceNotFoundError:
        if required:
            findings.error("missing-file", path, "expected a JSON file, found nothing")
        return None
    except SourceError as exc:
        findings.error("unreadable-file", path, f"cannot read: {exc}")
        return None
    if len(raw) > MAX_JSON:
        findings.error("malformed-json", path, f"larger than {MAX_JSON} bytes")
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # also a 5,000-digit number, deep nesting
        findings.error("malformed-json", path, f"expected JSON: {exc}")
        return None


def json_records(data: Any, findings: Findings, path: str) -> list[dict[str, Any]]:
    """The objects of a store's top-level array (anything else is a finding and skipped)."""
    if data is None:
        return []
    if not isinstance(data, list):
        findings.error("malformed-json", path, "expected a JSON array of records")
        return []
    records = []
    for i, item in enumerate(data):
        if isinstance(item, dict):
            records.append(item)
        else:
            findings.error("bad-record", path, f"record {i} is not a JSON object")
    return records


def str_tuple(value: object) -> tuple[str, ...]:
    """A JSON list of strings as a tuple (non-strings dropped, ``null`` -> empty)."""
    if not isinstance(value, list):
        return ()
    for v in value:  # nearly always all strings: one pass, then the tuple in C
        if not isinstance(v, str):
            return tuple(v for v in value if isinstance(v, str))
    return tuple(value)


def as_dict(value: object) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """A JSON array, or an empty one for anything else."""
    return value if isinstance(value, list) else []


def opt_str(value: object) -> str | None:
    """A JSON string, or ``None`` for anything else (and for the empty string)."""
    return value if isinstance(value, str) and value else None


def opt_int(value: object) -> int | None:
    """A JSON integer, or ``None`` (booleans are not integers here)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def str_pairs(value: object) -> tuple[tuple[str, str], ...]:
    """A JSON object of strings as sorted ``(key, value)`` pairs (other values JSON-encoded)."""
    if not isinstance(value, dict) or not value:
        return ()
    return tuple(
        sorted((str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in value.items())
    )


class IDMapping(NamedTuple):
    """One ``idtools.IDMap`` range: container IDs ``container_id..+size`` are ``host_id..+size``.

    Attributes:
        container_id: first ID inside the container.
        host_id: first ID on disk (the host's view; a rootless user's subordinate IDs).
        size: number of IDs in the range.
    """

    container_id: int
    host_id: int
    size: int


def parse_idmap(value: object) -> tuple[IDMapping, ...]:
    """``uidmap``/``gidmap`` (a JSON list of ``idtools.IDMap``) as mappings; junk is skipped."""
    if not isinstance(value, list) or not value:
        return ()
    out = []
    for item in value:
        if not isinstance(item, dict):
            continue
        c, h, n = (opt_int(item.get(k)) for k in ("container_id", "host_id", "size"))
        if c is not None and h is not None and n is not None and n > 0 and c >= 0 and h >= 0:
            out.append(IDMapping(c, h, n))
    return tuple(out)


def to_container_id(host_id: int, mappings: Iterable[IDMapping]) -> int | None:
    """The container's ID for an on-disk (host) ID; identity when there is no mapping at all.

    Returns ``None`` when mappings exist but none covers ``host_id`` (the kernel shows such an
    owner as the overflow ID, 65534, inside the container).
    """
    maps = tuple(mappings)
    if not maps:
        return host_id
    for m in maps:
        if m.host_id <= host_id < m.host_id + m.size:
            return m.container_id + (host_id - m.host_id)
    return None


def to_host_id(container_id: int, mappings: Iterable[IDMapping]) -> int | None:
    """The on-disk (host) ID for a container ID: the inverse of :func:`to_container_id`."""
    maps = tuple(mappings)
    if not maps:
        return container_id
    for m in maps:
        if m.container_id <= container_id < m.container_id + m.size:
            return m.host_id + (container_id - m.container_id)
    return None


def rootless_mappings(uid: int, sub_start: int, sub_size: int) -> tuple[IDMapping, ...]:
    """The mapping rootless podman uses by default (``/etc/subuid`` ``user:sub_start:sub_size``).

    Container root is the user's own ID; container ID ``N >= 1`` is ``sub_start + N - 1``
    (podman ``pkg/rootless``; containers/storage ``pkg/unshare``). The graph root does not
    record this mapping (podman runs inside the user namespace, where the store sees plain
    IDs): the analyst supplies ``uid`` and the ``/etc/subuid`` range from the host.
    """
    return (IDMapping(0, uid, 1), IDMapping(1, sub_start, sub_size))
