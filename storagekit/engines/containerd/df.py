"""``df`` of a containerd root: content store bytes, snapshot bytes, per namespace.

containerd has no ``system df``; its own figures are ``ctr content ls`` (blob sizes) and
``ctr snapshots usage`` (committed snapshots: the usage recorded at commit; active ones:
measured now). The summary areas keep the Docker contract's shape (``images``, ``containers``,
``volumes``, ``build_cache``, ``orphans``, ``totals``) so that one table and one script read
every engine:

* ``images``: image records; ``active`` those a container uses; ``size`` the content bytes of
  every blob of the namespaces read (each blob file once); ``reclaimable`` the bytes of the
  blobs only unused images hold;
* ``containers``: containers; ``size`` their active snapshots' measured bytes;
* ``volumes`` and ``build_cache``: containerd has none (zeros);

and adds ``content``, ``snapshots`` and ``namespaces`` with containerd's own figures, and
``measured``: bytes on disk per area of the root (``content``, ``snapshots``, ``metadata``,
``other``), as ``du`` counts them.
"""

from __future__ import annotations

from storagekit.analysis.diskusage import OTHER, Areas, measure, path_usage
from storagekit.analysis.orphans import summarize
from storagekit.engines.containerd.images import SNAPSHOT_LABEL
from storagekit.engines.containerd.model import Snapshot
from storagekit.engines.containerd.snapshotters import PREFIX
from storagekit.engines.containerd.state import CONTENT_REF, State
from storagekit.errors import SourceError
from storagekit.jsontext import Record

AREAS = ("content", "snapshots", "metadata")


def areas(state: State) -> Areas:
    """Containerd's areas: the content store, every snapshotter, the metadata database."""
    top = {"io.containerd.content.v1.content": "content",
           "io.containerd.metadata.v1.bolt": "metadata"}
    try:
        names = state.source.listdir("")
    except SourceError:
        names = []
    top.update({n: "snapshots" for n in names if n.startswith(PREFIX)})
    return Areas((*AREAS, OTHER), top)


def _bytes(state: State, snap: Snapshot) -> int:
    if snap.kind == "committed":
        return snap.size or 0
    if snap.dir is None or not snap.present:
        return 0
    allocated, apparent = path_usage(state.source, snap.dir)
    return apparent if allocated is None else allocated


def _blobs_of(state: State, ns: str, digest: str) -> set[str]:
    """A digest and every blob its gc labels reach, in one namespace."""
    out: set[str] = set()
    todo = [digest]
    while todo:
        d = todo.pop()
        if d in out:
            continue
        out.add(d)
        todo += [v for k, v in state.content_labels.get((ns, d), ()) if k.startswith(CONTENT_REF)]
    return out


def df_record(state: State, *, verbose: bool, orphans: list[Record]) -> Record:
    """The ``df`` object."""
    sizes = {b.blob_path: b.disk_size or 0 for b in state.blobs if b.blob_path and b.present}
    used_images = {(c.namespace, c.image) for c in state.containers}
    held_by_used: set[str] = set()
    held_by_unused: set[str] = set()
    for image in state.images:
        if image.target is None:
            continue
        reach = _blobs_of(state, image.namespace, image.target.digest)
        (held_by_used if (image.namespace, image.name) in used_images else held_by_unused).update(
            reach
        )
    by_digest = {b.digest: b.disk_size or 0 for b in state.blobs if b.present}
    reclaim = sum(by_digest.get(d, 0) for d in held_by_unused - held_by_used)
    snap_bytes = {(s.namespace, s.snapshotter, s.key): _bytes(state, s) for s in state.snapshots}
    active = {(s.namespace, s.snapshotter, s.key): snap_bytes[(s.namespace, s.snapshotter, s.key)]
              for s in state.snapshots if s.kind != "committed"}
    tops = {(c.namespace, c.snapshotter, c.snapshot_key) for c in state.containers}
    images: Record = {
        "count": len(state.images),
        "active": sum(1 for i in state.images if (i.namespace, i.name) in used_images),
        "size": sum(sizes.values()),
        "reclaimable": reclaim,
    }
    containers: Record = {
        "count": len(state.containers),
        "active": 0,
        "size": sum(v for k, v in active.items() if k in tops),
        "reclaimable": None,
    }
    if verbose:
        images["items"] = [
            {"id": i.id, "namespace": i.namespace, "name": i.name,
             "size": state.image_size(i), "shared_size": None, "unique_size": None,
             "containers": sum(1 for c in state.containers
                               if c.namespace == i.namespace and c.image == i.name)}
            for i in state.images
        ]
        containers["items"] = [
            {"id": c.id, "namespace": c.namespace,
             "size_rw": snap_bytes.get((c.namespace, c.snapshotter or "", c.snapshot_key or ""))}
            for c in state.containers
        ]
    empty: Record = {"count": 0, "active": 0, "size": 0, "reclaimable": 0}
    record: Record = {
        "engine": "containerd",
        "images": images,
        "containers": containers,
        "volumes": {**empty, **({"items": []} if verbose else {})},
        "build_cache": dict(empty),
        "orphans": summarize(orphans),
    }
    if verbose:
        record["orphans"]["items"] = orphans
    summary = [record[k] for k in ("images", "containers", "volumes", "build_cache", "orphans")]
    record["totals"] = {key: sum(a[key] or 0 for a in summary)
                        for key in ("count", "active", "size", "reclaimable")}
    committed = [s for s in state.snapshots if s.kind == "committed"]
    record["content"] = {"blobs": len(sizes), "bytes": sum(sizes.values())}
    record["snapshots"] = {
        "committed": {"count": len(committed), "bytes": sum(s.size or 0 for s in committed)},
        "active": {"count": len(active), "bytes": sum(active.values())},
    }
    record["namespaces"] = {
        ns: {
            "images": sum(1 for i in state.images if i.namespace == ns),
            "containers": sum(1 for c in state.containers if c.namespace == ns),
            "content_bytes": sum(b.disk_size or 0 for b in state.blobs
                                 if b.namespace == ns and b.present),
            "snapshots_committed_bytes": sum(s.size or 0 for s in committed if s.namespace == ns),
            "snapshots_active_bytes": sum(v for k, v in active.items() if k[0] == ns),
        }
        for ns in state.namespaces
    }
    record["measured"] = measure(state.source, areas(state), state.findings)
    return record


__all__ = ["SNAPSHOT_LABEL", "areas", "df_record"]
