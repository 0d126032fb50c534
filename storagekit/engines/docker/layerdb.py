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

from storagekit.engines.docker.artefacts import MetadataDir
from storagekit.errors import SourceError
from storagekit.ids import DRIVER_ID, chain_id, is_digest, is_hex64, is_safe_component
from storagekit.model import Findings, Layer, RWLayer
from storagekit.parallel import pmap
from storagekit.source import Source


def _skippable(name: str) -> bool:
    """Names Docker leaves behind that the orphan analysis, not the reader, accounts for."""
    return name.endswith("-removing") or name.startswith(".tmp-")


LAYER_FILES = ("diff", "parent", "cache-id", "size")
MOUNT_FILES = ("mount-id", "init-id", "parent")


def _driver_id(meta: MetadataDir, name: str, what: str, required: bool = True) -> str | None:
    path, findings = f"{meta.path}/{name}", meta.findings
    value = meta.text(name, what=what, required=required)
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


def _digest(meta: MetadataDir, name: str, what: str, required: bool = True) -> str | None:
    path, findings = f"{meta.path}/{name}", meta.findings
    value = meta.text(name, what=what, required=required)
    if value is None:
        return None
    if not is_digest(value):
        findings.error("bad-digest", path, f"expected sha256:<64 hex> in {what}, got {value!r}")
        return None
    return value


def read_layer(source: Source, driver: str, hexid: str, findings: Findings) -> Layer:
    """Read one ``layerdb/sha256/<hexid>`` directory."""
    path = f"image/{driver}/layerdb/sha256/{hexid}"
    meta = MetadataDir(source, path, LAYER_FILES, findings)
    diff = _digest(meta, "diff", "layer diff")
    parent = _digest(meta, "parent", "layer parent", required=False)
    cache = _driver_id(meta, "cache-id", "layer cache-id")
    size_text = meta.text("size", what="layer size")
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
        has_tar_split=meta.has("tar-split.json.gz"),
        meta_path=path,
    )


def _entries(source: Source, base: str, findings: Findings, what: str) -> list[str]:
    """Directory names below ``base`` that name an object (64 hex); others become findings."""
    try:
        dirs, others = source.subdirs(base)
    except SourceError:
        return []
    result = []
    for name in dirs:
        if _skippable(name):
            continue
        if not is_hex64(name):
            findings.warning(
                "unexpected-entry", f"{base}/{name}", f"not a {what} directory name (64 hex)"
            )
            continue
        result.append(name)
    for name in others:
        if not _skippable(name):
            findings.warning("unexpected-entry", f"{base}/{name}", f"{what} is not a directory")
    return result


def layer_names(source: Source, driver: str, findings: Findings) -> list[str]:
    """The chain IDs (bare hex) of ``layerdb/sha256``; other names become findings."""
    return _entries(source, f"image/{driver}/layerdb/sha256", findings, "layer")


def read_layers(source: Source, driver: str, findings: Findings) -> dict[str, Layer]:
    """Every layer of ``image/<driver>/layerdb/sha256``, by chain ID (read on every core)."""
    layers = pmap(
        lambda hexid: read_layer(source, driver, hexid, findings),
        layer_names(source, driver, findings),
        source=source,
        findings=findings,
        label="reading layers",
    )
    return {layer.chain_id: layer for layer in layers}


def read_mount(source: Source, driver: str, cid: str, findings: Findings) -> RWLayer:
    """Read one ``layerdb/mounts/<container-id>`` directory."""
    path = f"image/{driver}/layerdb/mounts/{cid}"
    meta = MetadataDir(source, path, MOUNT_FILES, findings)
    return RWLayer(
        container_id=cid,
        mount_id=_driver_id(meta, "mount-id", "container mount-id"),
        init_id=_driver_id(meta, "init-id", "container init-id", required=False),
        parent=_digest(meta, "parent", "mount parent", required=False),
        driver=driver,
        meta_path=path,
    )


def read_mounts(source: Source, driver: str, findings: Findings) -> dict[str, RWLayer]:
    """Every container read-write layer of ``image/<driver>/layerdb/mounts``, by container ID."""
    mounts = pmap(
        lambda cid: read_mount(source, driver, cid, findings),
        _entries(source, f"image/{driver}/layerdb/mounts", findings, "container mount"),
        source=source,
        findings=findings,
        label="reading container layers",
    )
    return {m.container_id: m for m in mounts}
