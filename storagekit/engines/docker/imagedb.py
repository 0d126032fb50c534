"""The image store: ``image/<driver>/imagedb/`` and ``image/<driver>/repositories.json``.

On disk::

    imagedb/content/sha256/<hex>          the image config JSON, byte for byte; its SHA-256 is
                                          the image ID (Docker re-verifies it on every read)
    imagedb/metadata/sha256/<hex>/parent  local build parent image ID (commit / classic build)
    imagedb/metadata/sha256/<hex>/lastUpdated   RFC 3339 time a reference was last added
    repositories.json                     {"Repositories": {repo: {ref: image ID}}}; refs are
                                          "repo:tag" or "repo@sha256:<manifest digest>"

References: moby ``daemon/internal/image/fs.go``, ``image/store.go``, ``image/image.go``,
``daemon/internal/refstore/store.go``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from storagekit.engines.docker.artefacts import as_dict, as_str, parse_json, read_json, read_small
from storagekit.errors import SourceError
from storagekit.ids import is_digest, is_hex64
from storagekit.model import Findings, Image
from storagekit.source import Source
from storagekit.timefmt import normalize

CONFIG_LIMIT = 64 << 20


def _diff_ids(config: dict[str, Any], path: str, findings: Findings) -> tuple[str, ...] | None:
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict):
        findings.error("bad-image-config", path, "image config has no rootfs object")
        return None
    raw = rootfs.get("diff_ids") or []
    if not isinstance(raw, list) or not all(isinstance(d, str) and is_digest(d) for d in raw):
        findings.error("bad-image-config", path, "rootfs.diff_ids is not a list of sha256 digests")
        return None
    return tuple(raw)


def read_image(source: Source, driver: str, hexid: str, findings: Findings) -> Image | None:
    """Read one image config and its metadata; ``None`` (and findings) if it is unusable."""
    path = f"image/{driver}/imagedb/content/sha256/{hexid}"
    try:
        raw = source.read_bytes(path, CONFIG_LIMIT + 1)
    except SourceError as exc:
        findings.error("unreadable-file", path, f"image config cannot be read: {exc}")
        return None
    import hashlib  # here: loading OpenSSL costs 2 ms, which containers never needs

    if hashlib.sha256(raw).hexdigest() != hexid:
        findings.error(
            "image-digest-mismatch",
            path,
            "image config bytes do not hash to the image ID (modified or truncated)",
        )
    config = parse_json(raw, path, findings, what="image config")
    if not isinstance(config, dict):
        if config is not None:
            findings.error("bad-image-config", path, "image config is not a JSON object")
        return None
    diff_ids = _diff_ids(config, path, findings)
    if diff_ids is None:
        return None
    meta = f"image/{driver}/imagedb/metadata/sha256/{hexid}"
    parent = read_small(source, f"{meta}/parent", findings, what="image parent", required=False)
    if parent is not None and not is_digest(parent):
        findings.error("bad-digest", f"{meta}/parent", f"expected an image ID, got {parent!r}")
        parent = None
    updated = read_small(
        source, f"{meta}/lastUpdated", findings, what="image lastUpdated", required=False
    )
    return Image(
        id=f"sha256:{hexid}",
        driver=driver,
        created=normalize(config.get("created")),
        parent=parent or None,
        diff_ids=diff_ids,
        os=as_str(config.get("os")) or None,
        architecture=as_str(config.get("architecture")) or None,
        last_updated=normalize(updated),
        config_path=path,
    )


def read_images(source: Source, driver: str, findings: Findings) -> dict[str, Image]:
    """Every image of ``image/<driver>/imagedb``, by image ID, with its references."""
    names = image_names(source, driver, findings)
    read = [read_image(source, driver, name, findings) for name in names]
    return with_references(source, driver, read, findings)


def image_names(source: Source, driver: str, findings: Findings) -> list[str]:
    """The image IDs (bare hex) of ``imagedb/content/sha256``; other names become findings."""
    import hashlib  # noqa: F401 - loaded once here, before the workers that read them fork

    base = f"image/{driver}/imagedb/content/sha256"
    try:
        names = source.listdir(base)
    except SourceError:
        return []
    result = []
    for name in names:
        if name.startswith(".tmp-"):
            continue
        if not is_hex64(name):
            findings.warning("unexpected-entry", f"{base}/{name}", "not an image ID (64 hex)")
            continue
        result.append(name)
    return result


def with_references(
    source: Source, driver: str, images: Iterable[Image | None], findings: Findings
) -> dict[str, Image]:
    """The readable ``images`` by ID, with their tags and digests from ``repositories.json``.

    A reference to an image that is not in the store is a finding.
    """
    refs = read_references(source, driver, findings)
    result = {}
    for image in images:
        if image is None:
            continue
        tags, digests = refs.pop(image.id, ((), ()))
        result[image.id] = image._replace(tags=tags, digests=digests)
    for image_id, (tags, digests) in sorted(refs.items()):
        findings.warning(
            "dangling-reference",
            f"image/{driver}/repositories.json",
            f"{', '.join(tags + digests)} refer(s) to {image_id}, which is not in the image store",
        )
    return result


def read_references(
    source: Source, driver: str, findings: Findings
) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """``repositories.json`` as image ID -> (sorted tags, sorted digest references)."""
    path = f"image/{driver}/repositories.json"
    data = read_json(source, path, findings, what="repositories.json", required=False)
    if data is None:
        return {}
    repos = as_dict(as_dict(data).get("Repositories"))
    if not repos and "Repositories" not in as_dict(data):
        findings.error("bad-json", path, "repositories.json has no Repositories object")
    by_image: dict[str, tuple[list[str], list[str]]] = {}
    for _repo, refs in sorted(repos.items()):
        for ref, image_id in sorted(as_dict(refs).items()):
            if not isinstance(image_id, str) or not is_digest(image_id):
                findings.error(
                    "bad-reference", path, f"{ref!r} maps to {image_id!r}, not an image ID"
                )
                continue
            tags, digests = by_image.setdefault(image_id, ([], []))
            (digests if "@" in ref else tags).append(ref)
    return {k: (tuple(sorted(t)), tuple(sorted(d))) for k, (t, d) in by_image.items()}
