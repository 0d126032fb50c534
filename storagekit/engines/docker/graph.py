"""The ``graph/`` layout of Docker <= 1.9: images, layers and container layers, read as a store.

Before content-addressable storage (1.10) every image *was* one layer, named by a random v1 ID::

    graph/<v1-id>/json              the v1 image JSON: id, parent, created, container_config,
                                    config, Size
    graph/<v1-id>/layersize         the layer's size in bytes (decimal)
    graph/<v1-id>/checksum          the registry's digest of the compressed blob (if pulled)
    graph/<v1-id>/tar-data.json.gz  tar-split of the layer tar (since 1.8)
    repositories-<driver>           {"Repositories": {"busybox": {"latest": "<v1-id>"}}}

The graph-driver directory of a v1 layer is named by the v1 ID itself, a container's by the
container ID and its init layer's by ``<container-id>-init`` (*moby v1.9.1:graph/graph.go*,
*graph/tags.go*, *daemon/daemon.go* ``createRootfs``; ``docker-root-format.md`` §11).

Read as an :class:`~storagekit.engines.docker.imagestore.ImageStore`, everything downstream
(``images``, ``layers``, ``chain``, ``verify``, the merged views) works unchanged. IDs are
printed as found: bare v1 IDs. The layout has no diff IDs: an image's ``diff_ids`` (and its
chain IDs) are the v1 IDs of its layers, base first, and each layer's ``diff_id`` is null, so
``verify`` checks every file against the sizes and CRC-64s of ``tar-data.json.gz``.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from storagekit.engines.docker.imagestore import ImageStore
from storagekit.errors import SourceError
from storagekit.ids import is_hex64
from storagekit.model import Findings, Image, Layer, RWLayer
from storagekit.source import Source
from storagekit.timefmt import normalize

GRAPH = "graph"
MAX_JSON = 16 << 20
#: More ancestors than this is a loop or hostile evidence (Docker refused deeper chains).
MAX_DEPTH = 1 << 12


def graph_stores(source: Source, findings: Findings) -> dict[str, ImageStore]:
    """One store per ``repositories-<driver>`` (the driver that ran the graph), if any."""
    try:
        names = source.listdir("")
    except SourceError:
        return {}
    drivers = sorted(n[len("repositories-") :] for n in names if n.startswith("repositories-"))
    if not drivers or not source.is_dir(GRAPH):
        return {}
    return {d: LegacyGraphStore(source, d, findings) for d in drivers}


class LegacyGraphStore(ImageStore):
    """``graph/`` and ``repositories-<driver>`` of Docker <= 1.9, read lazily."""

    kind = "graph"

    def __init__(self, source: Source, driver: str, findings: Findings) -> None:
        self.source = source
        self.driver = driver
        self.findings = findings

    @cached_property
    def _records(self) -> dict[str, dict[str, Any]]:
        """v1 ID -> its image JSON (only valid IDs whose JSON names themselves)."""
        records: dict[str, dict[str, Any]] = {}
        try:
            ids = sorted(self.source.listdir(GRAPH))
        except SourceError:
            return records
        for v1 in ids:
            if v1 == "_tmp":
                continue
            path = f"{GRAPH}/{v1}/json"
            if not is_hex64(v1):
                self.findings.warning("bad-graph-id", f"{GRAPH}/{v1}", "not a v1 image ID")
                continue
            try:
                data = json.loads(self.source.read_bytes(path, MAX_JSON))
            except SourceError:
                self.findings.error("missing-file", path, "v1 image JSON is missing")
                continue
            except ValueError as exc:
                self.findings.error("bad-json", path, f"v1 image JSON is damaged: {exc}")
                continue
            if not isinstance(data, dict) or data.get("id") != v1:
                self.findings.error("bad-json", path, "v1 image JSON does not name its own ID")
                continue
            parent = data.get("parent") or None
            if parent is not None and not (isinstance(parent, str) and is_hex64(parent)):
                self.findings.error("bad-json", path, f"unusable parent {parent!r}")
                data["parent"] = None
            records[v1] = data
        return records

    def chain(self, v1: str) -> list[str]:
        """The v1 IDs from the base up to ``v1`` (stops at a missing parent or a loop)."""
        ids: list[str] = []
        current: str | None = v1
        while current and current not in ids and len(ids) < MAX_DEPTH:
            ids.append(current)
            record = self._records.get(current)
            current = record.get("parent") if record else None
        if current and current in ids:
            self.findings.error("parent-cycle", f"{GRAPH}/{v1}/json", "v1 parent chain loops")
        return ids[::-1]

    @cached_property
    def _tags(self) -> dict[str, list[str]]:
        path = f"repositories-{self.driver}"
        tags: dict[str, list[str]] = {}
        try:
            data = json.loads(self.source.read_bytes(path, MAX_JSON))
            repos = data.get("Repositories") or {}
            for repo, entries in sorted(repos.items()):
                for tag, v1 in sorted((entries or {}).items()):
                    tags.setdefault(str(v1), []).append(f"{repo}:{tag}")
        except SourceError:
            self.findings.warning("missing-file", path, "tag file is missing or unreadable")
        except (ValueError, AttributeError, TypeError) as exc:
            self.findings.error("bad-json", path, f"tag file is damaged: {exc}")
        return tags

    @cached_property
    def images(self) -> dict[str, Image]:
        """Every v1 image: one per ``graph/<id>``."""
        images = {}
        for v1, data in self._records.items():
            images[v1] = Image(
                id=v1,
                driver=self.driver,
                created=normalize(data.get("created")),
                parent=data.get("parent"),
                diff_ids=tuple(self.chain(v1)),
                tags=tuple(sorted(self._tags.get(v1, []))),
                os=data.get("os") if isinstance(data.get("os"), str) else None,
                architecture=data.get("architecture")
                if isinstance(data.get("architecture"), str)
                else None,
                config_path=f"{GRAPH}/{v1}/json",
            )
        return images

    @cached_property
    def layers(self) -> dict[str, Layer]:
        """Every v1 image as the layer it is: chain ID, cache ID and name all the v1 ID."""
        layers = {}
        for v1, data in self._records.items():
            layers[v1] = Layer(
                chain_id=v1,
                diff_id=None,
                parent=data.get("parent"),
                cache_id=v1,
                size=self._size(v1),
                driver=self.driver,
                has_tar_split=self.source.is_file(f"{GRAPH}/{v1}/tar-data.json.gz"),
                meta_path=f"{GRAPH}/{v1}",
            )
        return layers

    def _size(self, v1: str) -> int | None:
        try:
            return int(self.source.read_bytes(f"{GRAPH}/{v1}/layersize", 64).strip())
        except (SourceError, ValueError):
            return None

    @cached_property
    def rw_layers(self) -> dict[str, RWLayer]:
        """Containers' layers: the container ID, ``<id>-init``, on the image's layer."""
        found: dict[str, RWLayer] = {}
        try:
            ids = self.source.listdir("containers")
        except SourceError:
            return found
        for cid in sorted(ids):
            rw = self.rw_layer(cid)
            if rw is not None:
                found[cid] = rw
        return found

    def rw_layer(self, container_id: str) -> RWLayer | None:
        """A container of this graph: its ``config.json`` names the v1 image it runs."""
        if not is_hex64(container_id):
            return None
        path = f"containers/{container_id}/config.json"
        try:
            data = json.loads(self.source.read_bytes(path, MAX_JSON))
        except (SourceError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("Driver") != self.driver:
            return None
        image = data.get("Image")
        init = f"{container_id}-init"
        return RWLayer(
            container_id=container_id,
            mount_id=container_id,
            init_id=init if self.source.is_dir(f"{self.driver}/diff/{init}")
            or self.source.exists(f"{self.driver}/layers/{init}")
            else None,
            parent=image if isinstance(image, str) and image in self._records else None,
            driver=self.driver,
            meta_path=path,
        )

    def history(self, v1: str) -> list[dict[str, Any]]:
        """``history``: one entry per layer, newest first, from each v1 image JSON."""
        entries = []
        for layer in reversed(self.chain(v1)):
            data = self._records.get(layer, {})
            cmd = (data.get("container_config") or {}).get("Cmd") or []
            entries.append(
                {
                    "id": layer,
                    "created": normalize(data.get("created")),
                    "created_by": " ".join(str(c) for c in cmd) if isinstance(cmd, list) else "",
                    "size": self._size(layer),
                    "comment": data.get("comment") or "",
                    "empty_layer": False,
                }
            )
        return entries
