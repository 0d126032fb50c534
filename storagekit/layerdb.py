"""The layer store: ``image/<driver>/layerdb/``.

On disk::

    layerdb/sha256/<chain-hex>/   diff ("sha256:<hex>"), parent (chain ID; absent for a base
                                  layer), cache-id (driver directory ID), size (decimal),
                                  tar-split.json.gz
    layerdb/mounts/<container>/   mount-id, init-id ("<mount-id>-init"; may be absent),
                                  parent (chain ID of the image's top layer)
    layerdb/tmp/                  transaction staging (write-set-*; ignored here)

Each chain ID is recomputed from the parent chain ID and the diff ID; a mismatch is a finding.
Directory names that are not 64 hex (``*-removing`` from interrupted deletes, ``.tmp-*``) are left
to the orphan analysis. IDs are validated before they can become paths.

References: moby ``daemon/internal/layer/filestore.go``, ``layer_store.go`` (``loadLayer``,
``saveMount``), ``ro_layer.go``.
"""

from __future__ import annotations

from storagekit.artefacts import read_small
from storagekit.errors import SourceError
from storagekit.ids import DRIVER_ID, chain_id, is_digest, is_hex64, is_safe_component
from storagekit.model import Findings, Layer, RWLayer
from storagekit.source import Source


def _skippable(name: str) -> bool:
    """Names Docker leaves behind that the orphan analysis, not the reader, accounts for."""
    return name.endswith("-removing") or name.startswith(".tmp-")


def _driver_id(
    source: Source, path: str, findings: Findings, what: str, required: bool = True
) -> str | None:
    value = read_small(source, path, findings, what=what, required=required)
    if value is None:
        return None
    if not value:
        findings.error("empty-file", path, f"{what} file is empty")
        return None
    if not is_safe_component(value):
        findings.error("unsafe-id", path, f"expected a layer ID, got {value!r}")
        return None
    if DRIVER_ID.fullmatch(value) is None:
        findings.warning("unusual-id", path, f"{what} is not 64 hex digits: {value!r}")
    return value


def _digest(
    source: Source, path: str, findings: Findings, what: str, required: bool = True
) -> str | None:
    value = read_small(source, path, findings, what=what, required=required)
    if value is None:
        return None
    if not is_digest(value):
        findings.error("bad-digest", path, f"expected sha256:<64 hex> in {what}, got {value!r}")
        return None
    return value


def read_layer(source: Source, driver: str, hexid: str, findings: Findings) -> Layer:
    """Read one ``layerdb/sha256/<hexid>`` directory."""
    path = f"image/{driver}/layerdb/sha256/{hexid}"
    diff = _digest(source, f"{path}/diff", findings, "layer diff")
    parent = _digest(source, f"{path}/parent", findings, "layer parent", required=False)
    cache = _driver_id(source, f"{path}/cache-id", findings, "layer cache-id")
    size_text = read_small(source, f"{path}/size", findings, what="layer size")
    size = None
    if size_text is not None:
        try:
            size = int(size_text)
            if size < 0:
                raise ValueError(size_text)
        except ValueError:
            findings.error("bad-size", f"{path}/size", f"expected a byte count, got {size_text!r}")
            size = None
    if diff is not None and chain_id(parent, diff) != f"sha256:{hexid}":
        findings.error(
            "chain-id-mismatch",
            path,
            f"chain ID recomputed from parent {parent or '(none)'} and diff {diff} is "
            f"{chain_id(parent, diff)}, not the directory name",
        )
    return Layer(
        chain_id=f"sha256:{hexid}",
        diff_id=diff,
        parent=parent,
        cache_id=cache,
        size=size,
        driver=driver,
        has_tar_split=source.is_file(f"{path}/tar-split.json.gz"),
        meta_path=path,
    )


def _entries(source: Source, base: str, findings: Findings, what: str) -> list[str]:
    """Directory names below ``base`` that name an object (64 hex); others become findings."""
    try:
        names = source.listdir(base)
    except SourceError:
        return []
    result = []
    for name in names:
        if _skippable(name):
            continue
        if not is_hex64(name):
            findings.warning(
                "unexpected-entry", f"{base}/{name}", f"not a {what} directory name (64 hex)"
            )
            continue
        if not source.is_dir(f"{base}/{name}"):
            findings.warning("unexpected-entry", f"{base}/{name}", f"{what} is not a directory")
            continue
        result.append(name)
    return result


def read_layers(source: Source, driver: str, findings: Findings) -> dict[str, Layer]:
    """Every layer of ``image/<driver>/layerdb/sha256``, by chain ID."""
    base = f"image/{driver}/layerdb/sha256"
    layers = {}
    for hexid in _entries(source, base, findings, "layer"):
        layer = read_layer(source, driver, hexid, findings)
        layers[layer.chain_id] = layer
    return layers


def read_mounts(source: Source, driver: str, findings: Findings) -> dict[str, RWLayer]:
    """Every container read-write layer of ``image/<driver>/layerdb/mounts``, by container ID."""
    base = f"image/{driver}/layerdb/mounts"
    mounts = {}
    for cid in _entries(source, base, findings, "container mount"):
        path = f"{base}/{cid}"
        mounts[cid] = RWLayer(
            container_id=cid,
            mount_id=_driver_id(source, f"{path}/mount-id", findings, "container mount-id"),
            init_id=_driver_id(
                source, f"{path}/init-id", findings, "container init-id", required=False
            ),
            parent=_digest(source, f"{path}/parent", findings, "mount parent", required=False),
            driver=driver,
            meta_path=path,
        )
    return mounts
