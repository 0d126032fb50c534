"""Rootless graph roots: which ID mapping turns on-disk owners back into container IDs.

Rootless podman (``~/.local/share/containers/storage``) runs inside a user namespace made from
the user's own ID and a subordinate range of ``/etc/subuid``/``/etc/subgid`` (podman
``pkg/rootless``; containers/storage ``pkg/unshare``): container ID 0 is the user's ID, and
container ID ``N >= 1`` is ``sub_start + N - 1`` on disk. containers-storage runs inside that
namespace and records no mapping for it: ``layers.json`` ``uidset``/``gidset`` list container
IDs, ``uidmap``/``gidmap`` stay empty (they are only written for ``--uidmap``/auto user
namespaces, see :func:`.root.container_id_maps`), and every file of the graph root, its own
directories included, is owned on disk by the user [verified on a root made here by podman
4.3.1 as user 1500 with subordinate IDs 100000:65536]. Native rootless overlay marks opaque
directories with ``user.overlay.opaque`` instead of ``trusted.overlay.opaque``; whiteouts are
still 0/0 character devices.

The mapping is therefore inferred: the graph root's owner gives container ID 0, and an image
layer whose ``uidset`` names exactly one ID ``N > 0`` gives ``sub_start`` from the on-disk
owner of a file in that layer that is not the user. The size of the subordinate range cannot
be seen in the evidence; ``DEFAULT_SUB_SIZE`` (the ``useradd`` default) is assumed and
reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass

from storagekit.engines.podman.common import IDMapping
from storagekit.engines.podman.layerdirs import layer_path
from storagekit.engines.podman.root import PodmanRoot
from storagekit.errors import SourceError
from storagekit.source import Source

#: ``useradd``'s default ``SUB_UID_COUNT``/``SUB_GID_COUNT``.
DEFAULT_SUB_SIZE = 65536
#: Entries looked at per layer before giving up on finding a subordinate owner.
MAX_SCAN = 10000


@dataclass(frozen=True, slots=True)
class RootlessMapping:
    """The inferred mapping of a rootless graph root.

    Attributes:
        owner_uid: the on-disk owner of the graph root (the user's ID = container root).
        owner_gid: its group.
        uidmap: container -> on-disk ranges for owners; just ``0 -> owner_uid`` when no
            subordinate owner was found.
        gidmap: the same for groups.
        evidence: the layer IDs the subordinate ranges were inferred from (uid, gid).
        size_assumed: the subordinate range size is :data:`DEFAULT_SUB_SIZE`, not evidence.
    """

    owner_uid: int
    owner_gid: int
    uidmap: tuple[IDMapping, ...]
    gidmap: tuple[IDMapping, ...]
    evidence: tuple[str | None, str | None]
    size_assumed: bool = True


def _first_foreign(source: Source, top: str, owner: int, *, gid: bool) -> int | None:
    seen = 0
    for _dir, entries in source.walk(top):
        for e in entries:
            value = e.gid if gid else e.uid
            if value != owner:
                return value
            seen += 1
            if seen >= MAX_SCAN:
                return None
    return None


def _sub_start(
    source: Source, root: PodmanRoot, owner: int, *, gid: bool
) -> tuple[int, str] | None:
    for layer in root.layers:
        ids = [i for i in (layer.gidset if gid else layer.uidset) if i != 0]
        path = layer_path(layer.driver, layer.id)
        if len(ids) != 1 or path is None or not source.is_dir(path):
            continue
        try:
            host = _first_foreign(source, path, owner, gid=gid)
        except SourceError:
            continue
        if host is not None and host - ids[0] + 1 > owner:
            return host - ids[0] + 1, layer.id
    return None


def rootless_mapping(source: Source, root: PodmanRoot) -> RootlessMapping | None:
    """The inferred mapping when the graph root is owned by a non-root user, else ``None``."""
    try:
        top = source.stat("")
    except SourceError:
        return None
    if top.uid == 0:
        return None
    maps: list[tuple[IDMapping, ...]] = []
    evidence: list[str | None] = []
    for owner, gid in ((top.uid, False), (top.gid, True)):
        found = _sub_start(source, root, owner, gid=gid)
        if found is None:
            maps.append((IDMapping(0, owner, 1),))
            evidence.append(None)
        else:
            maps.append((IDMapping(0, owner, 1), IDMapping(1, found[0], DEFAULT_SUB_SIZE)))
            evidence.append(found[1])
    return RootlessMapping(top.uid, top.gid, maps[0], maps[1], (evidence[0], evidence[1]))
