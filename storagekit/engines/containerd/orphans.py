"""Orphaned and broken storage of a containerd root, in the contract's containerd kinds.

* ``orphan-snapshot-dir``: a ``snapshots/<n>`` directory the snapshotter database does not know
  (containerd removes them asynchronously after garbage collection);
* ``unreferenced-snapshot``: a snapshot no image (``containerd.io/gc.ref.snapshot.<sn>`` label of
  its config), no container and no lease holds, directly or as a parent;
* ``unreferenced-blob``: a content record no image, lease or other blob (``containerd.io/gc.ref.
  content.*`` labels) references, and a blob file with no record at all; its bytes count only
  when no other namespace still needs the file;
* ``missing-blob``: a content record, a manifest or a config whose blob file is gone;
* ``expired-lease``: a lease whose ``containerd.io/gc.expire`` is past (as of now: the daemon
  would collect it on its next start);
* ``stale-ingest``: ``content/ingest/<ref>``: a download or import that never finished.

References: containerd ``gc/gc.go``, ``metadata/gc.go`` (``scanRoots``, ``references``),
``content/local/store.go`` (``ingestRoot``).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import UTC, datetime

from storagekit.analysis.orphans import orphan_record
from storagekit.engines.containerd.images import BLOBS
from storagekit.engines.containerd.state import State
from storagekit.errors import SourceError
from storagekit.jsontext import Record
from storagekit.model import Finding

INGEST = "io.containerd.content.v1.content/ingest"


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def orphan_findings(state: State, now: datetime | None = None) -> list[tuple[str | None, Finding]]:
    """Every orphan as ``(namespace, finding)``, in a deterministic order."""
    out: list[tuple[str | None, Finding]] = []
    for path in state.root.orphan_snapshot_dirs:
        out.append((None, Finding(
            "orphan-snapshot-dir", "warning", path,
            "no snapshot of the snapshotter's database names this directory",
            (path.rsplit("/", 1)[-1],),
        )))
    live = state.live_snapshots
    for s in state.snapshots:
        if (s.namespace, s.snapshotter, s.key) in live:
            continue
        where = s.dir.removesuffix("/fs") if s.dir else None
        out.append((s.namespace, Finding(
            "unreferenced-snapshot", "info", where,
            f"{s.kind} snapshot {s.key!r} ({s.snapshotter}) is held by no image, container "
            "or lease", (s.key,), holds_data=bool(s.present),
        )))
    blobs = state.live_blobs
    needed = {d for _, d in blobs}
    for b in state.blobs:
        if (b.namespace, b.digest) in blobs:
            continue
        out.append((b.namespace, Finding(
            "unreferenced-blob", "info", b.blob_path,
            f"content {b.digest} of namespace {b.namespace} is referenced by no image, lease "
            "or other blob" + ("; another namespace still uses the file" if b.digest in needed
                               else ""),
            (b.digest,), holds_data=b.present and b.digest not in needed,
        )))
    for path in state.root.unrecorded_blobs:
        alg, hexa = path.rsplit("/", 2)[-2:]
        out.append((None, Finding(
            "unreferenced-blob", "info", path, "no namespace has a content record for this blob",
            (f"{alg}:{hexa}",),
        )))
    for f in state.root.findings:
        if f.code == "missing-blob":
            out.append((None, Finding("missing-blob", "error", f.path, f.message, (),
                                      holds_data=False)))
    moment = now or datetime.now(UTC)
    for le in state.leases:
        expires = _parse_time(le.expires) if le.expires else None
        if expires is not None and expires < moment:
            out.append((le.namespace, Finding(
                "expired-lease", "info", le.path,
                f"lease {le.id!r} expired at {le.expires}; what only it holds is garbage",
                (le.id,), holds_data=False,
            )))
    try:
        ingests = state.source.listdir(INGEST)
    except SourceError:
        ingests = []
    for name in ingests:
        out.append((None, Finding(
            "stale-ingest", "warning", f"{INGEST}/{name}",
            "an unfinished download or import (containerd removes it on expiry)", (name,),
        )))
    return out


def orphan_records(state: State, now: datetime | None = None) -> list[Record]:
    """Every ``orphans`` object, with ``engine`` and ``namespace``."""
    records = []
    for ns, finding in orphan_findings(state, now):
        record = orphan_record(state.source, finding)
        records.append({"engine": "containerd", "namespace": ns, **record})
    return records


def reclaim_commands(orphans: Sequence[Record], root: str) -> list[str]:
    """The plan as ``ctr`` commands: containerd's own garbage collection removes the files.

    Nothing is removed under containerd's feet: unreferenced records are deleted through the
    daemon, which then collects their blobs and snapshot directories; the rest is listed as
    comments (an orphan directory or a stale ingest goes at containerd's next start).
    """
    lines = [
        "#!/bin/sh",
        "# storagekit reclaim plan for a containerd root: run with containerd RUNNING;",
        "# its garbage collector removes the files. Never rm below the root yourself.",
        f"# containerd root: {root}",
        "set -eu",
    ]
    for o in orphans:
        ns, ids, kind = o.get("namespace"), o.get("ids") or [], o["kind"]
        what = f"# {kind}: {o['path']} ({o['bytes']} bytes): {o['reason']}"
        lines.append(what)
        if kind == "unreferenced-snapshot" and ns and ids and o["path"]:
            sn = o["path"].split("/", 1)[0].rsplit(".", 1)[-1]
            lines.append(f"ctr -n {shlex.quote(ns)} snapshots --snapshotter {shlex.quote(sn)} "
                         f"rm {shlex.quote(ids[0])}")
        elif kind == "unreferenced-blob" and ns and ids:
            lines.append(f"ctr -n {shlex.quote(ns)} content rm {shlex.quote(ids[0])}")
        elif kind == "expired-lease" and ns and ids:
            lines.append(f"ctr -n {shlex.quote(ns)} leases rm {shlex.quote(ids[0])}")
    return lines


__all__ = ["BLOBS", "INGEST", "orphan_findings", "orphan_records", "reclaim_commands"]
