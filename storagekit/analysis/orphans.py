r"""Orphans, whatever the engine: the bytes each holds, and the ``df`` line that sums them.

An engine finds its orphans (unreferenced, leaked and broken storage) as :class:`Finding`\ s
whose ``path`` and ``parts`` name the object on disk. This module turns each into the
``orphans`` object of the contract, measuring what removing it would free, and sums them.
"""

from __future__ import annotations

from storagekit.analysis.diskusage import paths_usage
from storagekit.jsontext import Record
from storagekit.model import Finding
from storagekit.source import Source


def removal_paths(source: Source, finding: Finding) -> list[str]:
    """The existing paths that make up the finding's object, none inside another."""
    paths = [finding.path, *finding.parts] if finding.path is not None else list(finding.parts)
    present = [p for p in dict.fromkeys(paths) if source.exists(p)]
    return [p for p in present if not any(p.startswith(f"{q}/") for q in present)]


def data_paths(source: Source, findings: list[Finding]) -> list[str]:
    """The paths :func:`orphan_record` measures for these findings (to measure in one walk)."""
    return [p for f in findings if f.holds_data for p in removal_paths(source, f)]


def orphan_record(source: Source, finding: Finding) -> Record:
    """The ``orphans`` object of one finding, with its bytes measured."""
    paths = removal_paths(source, finding)
    allocated, apparent = paths_usage(source, paths) if finding.holds_data else (0, 0)
    return {
        "kind": finding.code,
        "path": finding.path,
        "paths": paths,
        "bytes": apparent if allocated is None else allocated,
        "reason": finding.message,
        "ids": list(finding.ids),
    }


#: Kinds whose paths can be removed without touching anything an image or container uses.
#: Volumes hold user data and dangling images are Docker's to prune: those are reported only.
REMOVABLE = frozenset(
    {
        "orphan-driver-dir",
        "leaked-layer",
        "removing-dir",
        "stale-tmp",
        "broken-link",
        "orphan-container-metadata",
    }
)


def summarize(orphans: list[Record]) -> Record:
    """The ``orphans`` line of ``df``: count, bytes held, and bytes ``reclaim`` would free.

    ``active`` is always 0 (nothing uses an orphan); reclaimable counts the removable kinds.
    """
    size = sum(o["bytes"] for o in orphans)
    freed = sum(o["bytes"] for o in orphans if o["kind"] in REMOVABLE)
    return {"count": len(orphans), "active": 0, "size": size, "reclaimable": freed}
