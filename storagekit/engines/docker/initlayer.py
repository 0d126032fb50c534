"""A container's init layer checked against what dockerd writes there.

dockerd prepares every container's init layer — ``<mount-id>-init`` of a graph driver, snapshot
``<id>-init`` of the containerd image store — with ``initlayer.Setup`` (moby
``daemon/initlayer/setup_unix.go``; with containerd, ``daemon/containerd/image_snapshot.go``
mounts the snapshot and calls the same function). For each of ten paths it unlinks what is
there and, when the path then does not exist through the mounted union (the image may provide
it: ``/proc`` and ``/sys`` usually), creates it and its parent directories, mode 0755, owned by
the container's root: the directories ``/dev/pts``, ``/dev/shm``, ``/proc``, ``/sys``; the empty
files ``/.dockerenv``, ``/etc/resolv.conf``, ``/etc/hosts``, ``/etc/hostname``,
``/dev/console``; the symlink ``/etc/mtab`` -> ``/proc/mounts``. Nothing else is written there:
at start dockerd bind-mounts the real ``hosts``, ``hostname`` and ``resolv.conf`` over the
placeholders (the sample roots' init layers hold exactly these entries, minus what the image
had). The unlink through an overlay leaves a whiteout only where it then creates the entry.

So an entry of the init layer's own directory outside that list and its parents ``/dev`` and
``/etc`` — or a listed path of another kind, a placeholder file that is not empty, an
``/etc/mtab`` pointing elsewhere — was put there by something else, and is named as a finding
by ``verify CONTAINER``. A full-copy layer (vfs, btrfs, native snapshots) holds the image's
files as well and is not checked here.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from storagekit.driver import Whiteout
from storagekit.entry import Entry, FileType
from storagekit.errors import SourceError, UnsafePathError
from storagekit.model import Container, Findings
from storagekit.union.view import LayerDir

if TYPE_CHECKING:
    from storagekit.engine import LayerStack
    from storagekit.engines.docker.root import DockerRoot

#: ``initlayer.Setup``'s paths and what it creates at each (a symlink: its target).
INIT_ENTRIES: dict[str, FileType] = {
    "dev/pts": FileType.DIR,
    "dev/shm": FileType.DIR,
    "proc": FileType.DIR,
    "sys": FileType.DIR,
    ".dockerenv": FileType.FILE,
    "etc/resolv.conf": FileType.FILE,
    "etc/hosts": FileType.FILE,
    "etc/hostname": FileType.FILE,
    "dev/console": FileType.FILE,
    "etc/mtab": FileType.SYMLINK,
}
MTAB_TARGET = "/proc/mounts"
#: The parent directories ``MkdirAllAndChownNew`` creates on the way.
PARENTS = frozenset({"dev", "etc"})
#: What a union filesystem writes into a directory it makes opaque, next to the opaque xattr:
#: fuse-overlayfs adds an empty ``.wh..wh..opq`` file and a 0/0 device ``.wh..opq`` (observed in
#: every init layer's ``dev/pts`` and ``dev/shm``, Docker 20.10.24, fuse-overlayfs 1.10).
OPAQUE_NAMES = frozenset({".wh..wh..opq", ".wh..opq"})
MADE_DIRS = PARENTS | {p for p, kind in INIT_ENTRIES.items() if kind is FileType.DIR}
CODE = "init-layer-entry"


def _problem(rel: str, entry: Entry) -> str | None:
    """Why ``entry`` (at ``rel`` in the layer) is not what dockerd writes, or ``None``."""
    if rel in PARENTS:
        return None if entry.type is FileType.DIR else f"a {entry.type.value} where dockerd " \
            "makes a directory"
    kind = INIT_ENTRIES.get(rel)
    if kind is None:
        return "not an entry dockerd writes in an init layer (moby daemon/initlayer): " \
            "put there by something else"
    if entry.type is not kind:
        return f"a {entry.type.value} where dockerd makes a {kind.value}"
    if kind is FileType.FILE and entry.size:
        return f"{entry.size} bytes where dockerd makes an empty placeholder file"
    if kind is FileType.SYMLINK and entry.link_target != MTAB_TARGET:
        return f"links to {entry.link_target!r}, dockerd's to {MTAB_TARGET!r}"
    return None


def check_init_layer(layer: LayerDir, findings: Findings) -> int:
    """Name every entry of the union init layer ``layer`` dockerd would not have written.

    Returns how many were named (a full-copy layer is skipped: 0).
    """
    if layer.driver.full_copy:
        return 0
    source, top = layer.source, layer.path
    named = 0
    try:
        walked = list(source.walk(top))
    except SourceError as exc:
        findings.error(CODE, top, f"the init layer cannot be read: {exc}")
        return 0
    for _, entries in walked:
        for entry in entries:
            rel = entry.path[len(top) + 1 :] if top else entry.path
            parent = rel.rpartition("/")[0]
            kind = layer.driver.whiteout(entry, partial(source.xattrs, entry.path))
            if kind is Whiteout.BOOKKEEPING or (
                parent in MADE_DIRS
                and (kind is Whiteout.OPAQUE_MARKER or entry.name in OPAQUE_NAMES)
            ):
                continue
            if kind is Whiteout.FILE:
                hidden = f"{parent}/{layer.driver.hidden_name(entry)}".lstrip("/")
                if hidden in INIT_ENTRIES:
                    continue
                why: str | None = f"a whiteout hiding /{hidden}: dockerd deletes nothing there"
            else:
                why = _problem(rel, entry)
            if why is not None:
                findings.warning(CODE, entry.path, why)
                named += 1
    return named


def graph_init_layer(root: DockerRoot, container: Container) -> LayerDir | None:
    """The init layer of a graph driver's container (``layerdb/mounts/<id>/init-id``)."""
    rw = root.rw_layer(container)
    driver = root.driver(rw.driver) if rw else None
    if rw is None or rw.init_id is None or driver is None or not driver.has_layer(rw.init_id):
        return None
    try:
        return LayerDir(root.source, driver.layer_path(rw.init_id), rw.init_id, driver)
    except UnsafePathError:
        return None


def lent_init_layer(stack: LayerStack, container: Container) -> LayerDir | None:
    """The init snapshot ``<id>-init`` among the levels another engine lends the container."""
    key = f"{container.id}-init"
    for level_key, level_id in zip(stack.keys, stack.ids, strict=False):
        if level_key == key:
            return next((d for d in stack.dirs if d.layer_id == level_id), None)
    return None
