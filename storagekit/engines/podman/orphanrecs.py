"""podman's ``orphans`` and ``audit`` records.

Orphans (contract kinds for podman): ``orphan-driver-dir`` (a layer directory ``layers.json``
does not know), ``orphan-layer`` (a layer no image or container stacks on), ``missing-layer-dir``
(a layer whose directory is gone), ``dangling-image`` (untagged, no children),
``unused-volume`` (no container uses it, or libpod does not know its directory) and
``orphan-container`` (``containers.json`` and libpod's state disagree). What removing each would
remove is named by the driver's own layout (overlay: ``overlay/<id>`` and its ``l/`` link).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storagekit.analysis.orphans import orphan_record
from storagekit.engines.podman.inventory import Inventory
from storagekit.engines.podman.orphans import find_orphans
from storagekit.engines.podman.views import driver_for
from storagekit.errors import UnsafePathError
from storagekit.jsontext import Record
from storagekit.model import Finding

if TYPE_CHECKING:
    from storagekit.engines.podman.engine import PodmanEngine

_REASONS = {
    "orphan-driver-dir": "layer directory that layers.json does not know",
    "orphan-layer": "layer that no image or container stacks on",
    "missing-layer-dir": "layer recorded in layers.json whose directory is missing",
    "unused-volume": "volume that no container uses",
    "orphan-container": "container in only one of containers.json and libpod's state",
    "dangling-image": "untagged image that no other image builds on",
}


def orphan_records(inv: Inventory) -> list[Record]:
    """Every orphan with the bytes it holds, by (kind, id)."""
    found: list[Finding] = []
    drivers = {d: driver_for(d, inv.source, inv.findings) for d in inv.root.drivers}
    for o in find_orphans(inv.source, inv.root, inv.libpod.keys()):
        parts: tuple[str, ...] = ()
        path = o.path
        holds = o.kind not in ("missing-layer-dir",)
        drv = drivers.get(o.driver or "")
        if o.kind in ("orphan-driver-dir", "orphan-layer") and drv is not None:
            try:
                layer_parts = drv.layer_parts(o.id)
            except UnsafePathError:
                layer_parts = []
            if o.kind == "orphan-driver-dir":
                path, parts = (
                    (layer_parts[0], tuple(layer_parts[1:])) if layer_parts else (path, ())
                )
            else:
                parts = (*layer_parts, f"{o.driver}-layers/{o.id}.tar-split.gz")
        if o.kind == "orphan-container":
            st = inv.store_containers.get(o.id)
            if st is not None:
                path = f"{st.driver}-containers/{o.id}"
            else:
                holds = False
        message = f"{_REASONS[o.kind]}: {o.id}"
        found.append(Finding(o.kind, "warning", path, message, (o.id,), parts, holds))
    for image in inv.root.images:
        if not image.names and not inv.children.get(image.id):
            found.append(
                Finding(
                    "dangling-image",
                    "info",
                    f"{image.driver}-images/{image.id}",
                    f"{_REASONS['dangling-image']}: {image.id}",
                    (image.id,),
                )
            )
    found.sort(key=lambda f: (f.code, f.ids))
    return [{"engine": "podman", **orphan_record(inv.source, f)} for f in found]


def audit_record(engine: PodmanEngine, inv: Inventory, orphans: list[Record]) -> Record:
    """The ``audit`` report: inventory, chain health, orphans, usage and findings."""
    from storagekit.engines.podman import records

    containers = records.container_records(inv, sizes=True)
    images = records.image_records(inv)
    layers = records.layer_records(inv)
    volumes = records.volume_records(inv)
    usage = engine.df_record(verbose=False)
    for c in inv.containers.values():
        if c.id in inv.store_containers:
            records.chain_record(inv, c)
    for i in inv.images:
        records.chain_record(inv, i)
    statuses: dict[str, int] = {}
    for rec in containers:
        statuses[rec["status"]] = statuses.get(rec["status"], 0) + 1
    libpod = inv.root.libpod
    rootless = inv.rootless
    return {
        "engine": "podman",
        "root": {
            "evidence": engine.evidence,
            "location": engine.location,
            "layout": "containers-storage",
            "stores": list(inv.root.drivers),
            "libpod": {"backend": libpod.backend, "path": libpod.path} if libpod else None,
            "recorded_path": engine.recorded_path,
            "rootless": None
            if rootless is None
            else {
                "owner_uid": rootless.owner_uid,
                "owner_gid": rootless.owner_gid,
                "uidmap": [[m.container_id, m.host_id, m.size] for m in rootless.uidmap],
                "gidmap": [[m.container_id, m.host_id, m.size] for m in rootless.gidmap],
                "size_assumed": rootless.size_assumed,
            },
        },
        "drivers": list(inv.root.drivers),
        "counts": {
            "images": len(images),
            "containers": len(containers),
            "containers_by_status": dict(sorted(statuses.items())),
            "layers": len(inv.root.layers),
            "volumes": len(volumes),
        },
        "images": images,
        "containers": containers,
        "layers": layers,
        "volumes": volumes,
        "orphans": orphans,
        "usage": usage,
        "findings": [f.record() for f in engine.findings.sorted()],
    }
