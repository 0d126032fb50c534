"""``audit``'s ``integrity`` object, whatever the engine: whether layers were verified, and how.

An engine verifies its own layers (Docker: rebuilt from tar-split; containerd: blobs and
snapshots against their digests) and hands the ``verify`` records here. ``intact`` is None
when nothing was checked, so a report never reads as a clean bill of health it did not earn.
"""

from __future__ import annotations

from collections.abc import Sequence

from storagekit.jsontext import Record

#: The ``verify`` keys kept for each layer that does not match.
KEPT = ("chain_id", "cache_id", "status", "files")


def integrity(verified: Sequence[Record] | None, layers: int) -> Record:
    """The object for ``layers`` image layers, ``verified`` (``verify`` records) or not (None)."""
    if verified is None:
        return {
            "checked": False,
            "layers": layers,
            "intact": None,
            "not_matching": [],
            "note": "layer integrity was not checked (audit --verify, or verify)",
        }
    bad = [r for r in verified if r.get("status") not in ("ok", "container-changes")]
    return {
        "checked": True,
        "layers": layers,
        "intact": not bad,
        "not_matching": [{k: r.get(k) for k in KEPT} for r in bad],
        "note": None,
    }
