"""What a podman graph root holds that nothing uses, and what it names but does not hold.

Kinds (cli-contract.md, "Every engine"), each derived only from the evidence:

* ``orphan-driver-dir``: a layer directory (``overlay/<id>``, ``vfs/dir/<id>``) that
  ``layers.json`` does not know: a leftover of an interrupted delete, or planted.
* ``missing-layer-dir``: a ``layers.json`` record whose directory is gone.
* ``orphan-layer``: a layer no image chain and no container stands on.
* ``unused-volume``: a libpod volume no container uses (``podman volume prune`` would remove
  it), or a ``volumes/<name>`` directory libpod does not know.
* ``orphan-container``: containers.json and libpod disagree (:func:`.root.crosscheck`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from storagekit.engines.podman.layerdirs import driver_layer_ids, layer_path
from storagekit.engines.podman.layers import layer_chain
from storagekit.engines.podman.root import PodmanRoot
from storagekit.model import Findings
from storagekit.source import Source


@dataclass(frozen=True, slots=True)
class Orphan:
    """One unused or missing thing.

    Attributes:
        kind: one of the kinds in the module docstring.
        id: the layer ID, volume name or container ID.
        driver: the graph driver, for layers.
        path: the artefact inside the root.
    """

    kind: str
    id: str
    driver: str | None
    path: str | None


def find_orphans(
    source: Source, root: PodmanRoot, libpod_ids: Collection[str]
) -> tuple[Orphan, ...]:
    """Every orphan of the root, sorted by (kind, id); ``libpod_ids``: libpod's containers."""
    out: list[Orphan] = []
    quiet = Findings()  # chain damage is reported by the readers already
    for drv in root.drivers:
        layers = {x.id: x for x in root.layers if x.driver == drv}
        used: set[str] = set()
        tops = [i.top_layer for i in root.images if i.driver == drv and i.top_layer]
        tops += [c.layer for c in root.containers if c.driver == drv and c.layer]
        for top in tops:
            used.update(layer_chain(layers, top, quiet)[0])
        on_disk = set(driver_layer_ids(source, drv))
        for lid in sorted(on_disk - layers.keys()):
            out.append(Orphan("orphan-driver-dir", lid, drv, layer_path(drv, lid)))
        for lid in sorted(layers):
            path = layer_path(drv, lid)
            if path is not None and not source.is_dir(path):
                out.append(Orphan("missing-layer-dir", lid, drv, path))
            if lid not in used:
                out.append(Orphan("orphan-layer", lid, drv, layers[lid].meta_path))
    if root.libpod is not None:
        known = {v.name for v in root.libpod.volumes}
        for v in root.libpod.volumes:
            if not v.containers:
                out.append(Orphan("unused-volume", v.name, None, f"volumes/{v.name}"))
        for d in root.volume_dirs:
            if d.name not in known:
                out.append(Orphan("unused-volume", d.name, None, d.path))
        st = {c.id: c for c in root.containers}
        for cid in sorted(st.keys() ^ set(libpod_ids)):
            path = st[cid].meta_path if cid in st else root.libpod.path
            out.append(Orphan("orphan-container", cid, None, path))
    return tuple(sorted(out, key=lambda o: (o.kind, o.id)))
