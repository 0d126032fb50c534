"""The engine-neutral parts of ``timeline``: one layer directory's files, and events.

A layer directory is walked on its own, not merged with the layers below, so a file that an
upper layer replaces or deletes keeps its own times. A whiteout (the driver says which entries
are) is the deletion of the path it hides, timed by the whiteout itself and marked ``deleted``
(size 0); opaque markers and the driver's bookkeeping are left out. Only the modification time
is kept as the evidence holds it (a tar archive holds no other).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from storagekit.driver import StorageDriver, Whiteout
from storagekit.errors import SourceError, UnsafePathError
from storagekit.jsontext import Record
from storagekit.logs import parse_rfc3339_ns
from storagekit.model import Container
from storagekit.source import Source


def layer_files(
    source: Source, driver: StorageDriver, holder: str, layer_id: str, kind: str
) -> Iterator[Record]:
    """One ``timeline_files`` record per file of ``layer_id``'s directory (none if absent)."""
    try:
        top = driver.layer_path(layer_id)
    except UnsafePathError:
        return
    if not driver.has_layer(layer_id):
        return
    prefix = len(top) + 1
    for _directory, entries in source.walk(top):
        for entry in entries:
            path = "/" + entry.path[prefix:]

            def xattrs(p: str = entry.path) -> dict[str, bytes]:
                try:
                    return source.xattrs(p)
                except SourceError:
                    return {}

            what = (
                driver.whiteout(entry, xattrs)
                if driver.whiteout_candidate(entry.name, entry.type) or entry.is_dir
                else Whiteout.NONE
            )
            if what in (Whiteout.OPAQUE_MARKER, Whiteout.BOOKKEEPING):
                continue
            deleted = what is Whiteout.FILE
            if deleted:
                parent = path.rpartition("/")[0]
                path = f"{parent}/{driver.hidden_name(entry)}"
            yield {
                "holder": holder,
                "layer_kind": kind,
                "layer_id": layer_id,
                "path": path,
                "type": entry.type.value,
                "mode": entry.mode,
                "uid": entry.uid,
                "gid": entry.gid,
                "size": 0 if deleted else entry.size,
                "mtime_ns": entry.mtime_ns,
                "inode": _inode(entry.inode),
                "link_target": entry.link_target,
                "deleted": deleted,
            }


def _inode(value: object) -> int | None:
    """A directory source's ``(st_dev, st_ino)`` as the inode number; a tar has none."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        return value[1]
    return value if isinstance(value, int) else None


def event(when: str | None, desc: str, message: str, **fields: object) -> Record | None:
    """A ``timeline_events`` record at ``when`` (RFC 3339); ``None`` for no or Go's zero time."""
    ns = parse_rfc3339_ns(when) if when else None
    if ns is None or when is None or when.startswith("0001-01-01"):
        return None
    return {"time_ns": ns, "datetime": when, "timestamp_desc": desc, "message": message, **fields}


def container_events(containers: Iterable[Container]) -> list[Record | None]:
    """Each container's created, started and finished events (``None`` for unset times)."""
    return [
        event(when, desc, c.name, container=c.id, image=c.image)
        for c in containers
        for when, desc in (
            (c.created, "Container Created"),
            (c.started, "Container Started"),
            (c.finished, "Container Finished"),
        )
    ]
