"""Finding the Docker data root inside the evidence.

The evidence may be the data root itself (a copy of ``/var/lib/docker``), a directory or archive
that holds it one level down (``tar -C /var/lib -c docker``), or a whole host
(``var/lib/docker/...``), where ``etc/docker/daemon.json`` may have moved it with ``data-root``.
``daemon.json`` paths are resolved inside the evidence, never on the host.
"""

from __future__ import annotations

import json
import re

from storagekit.errors import NotAStorageRootError, SourceError, StoragekitError
from storagekit.registry import driver_classes
from storagekit.source import Source

DEFAULT_ROOT = "var/lib/docker"
#: ``--userns-remap`` moves everything into ``<data-root>/<uid>.<gid>/``.
REMAPPED = re.compile(r"\d+\.\d+")


def image_stores(source: Source) -> list[str]:
    """Driver names that have an ``image/<driver>/`` store in the root, sorted.

    Here, not with the stores' reader (:mod:`.imagestore`): telling whether evidence holds a
    Docker root, which every command asks, imports none of the readers.
    """
    try:
        names = source.listdir("image")
    except (OSError, ValueError):
        return []
    return [
        n
        for n in names
        if source.is_dir(f"image/{n}")
        and (source.is_dir(f"image/{n}/layerdb") or source.is_dir(f"image/{n}/imagedb"))
    ]


def looks_like_root(source: Source) -> bool:
    """True if ``source`` has a graph-driver image store, or containers beside driver data."""
    if image_stores(source):
        return True
    if is_legacy_graph(source):
        return True
    if not source.is_dir("containers"):
        return False
    if source.is_dir("volumes"):
        return True
    return any(cls.detect(source) for cls in driver_classes().values())


def is_legacy_graph(source: Source) -> bool:
    """Docker <= 1.9: ``graph/<v1 id>/`` and ``repositories-<driver>``, no ``image/``."""
    if not source.is_dir("graph"):
        return False
    try:
        return any(n.startswith("repositories-") for n in source.listdir(""))
    except SourceError:
        return False


def is_pre_cas_root(source: Source) -> bool:
    """A root last run by Docker <= 1.9: the ``graph/`` layout and no ``image/<driver>/`` store.

    Docker 1.10 moved images to content-addressable storage and migrated ``graph/`` on its
    first start (*moby v1.10.0:migrate/v1/migratev1.go*); a root that has ``graph/`` but no
    image store never met a 1.10+ daemon, so its ``containers/<id>/config.json`` are current.
    """
    return is_legacy_graph(source) and not image_stores(source)


def _daemon_json_root(source: Source) -> str | None:
    try:
        data = json.loads(source.read_bytes("etc/docker/daemon.json", 1 << 20))
    except (SourceError, ValueError, RecursionError):
        return None
    value = data.get("data-root") or data.get("graph") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value.startswith("/") else None


def find_root(source: Source) -> tuple[Source, str]:
    """Return the Docker root inside ``source`` and where it was found ("" for the top).

    Raises:
        NotAStorageRootError: no Docker root is there.
    """
    if looks_like_root(source):
        return source, ""
    candidates = []
    moved = _daemon_json_root(source)
    if moved:
        candidates.append(moved)
    candidates.append(DEFAULT_ROOT)
    for candidate in candidates:
        try:
            path = source.resolve(candidate)
            sub = source.sub(path)
        except (StoragekitError, OSError):
            continue
        if looks_like_root(sub):
            return sub, path
    try:
        tops = [e for e in source.scandir("") if e.is_dir]
    except SourceError:
        tops = []
    # A root archived one level down (tar -C /var/lib -c docker), or a --userns-remap root
    # (<data-root>/<uid>.<gid>/) whose top level holds nothing else.
    nested = [e for e in tops if len(tops) == 1 or REMAPPED.fullmatch(e.name)]
    for entry in sorted(nested, key=lambda e: e.name):
        sub = source.sub(entry.path)
        if looks_like_root(sub):
            return sub, entry.path
    raise NotAStorageRootError(
        f"{source.description}: not a Docker data root "
        "(no image/<driver>/ store, no containers/ beside driver data, no var/lib/docker)"
    )
