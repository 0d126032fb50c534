"""Benchmark ``containers`` and ``images`` on a large synthetic containerd root against overlay2.

The containerd root (``--containers``, default 1,000; ``--images``, default 200) is written from
scratch: one namespace ``k8s.io``; each image a manifest, a config and one small layer blob in the
content store, its layer unpacked as a committed overlayfs snapshot; each container a record
with CRI labels and an OCI spec (as the CRI plugin writes them) and an active snapshot over its
image's layer, with a file in its upper directory. meta.db and the snapshotter's metadata.db are
BoltDB files written by the test suite's builder (one leaf page with overflow, which bbolt
reads). The Docker root of the same size is ``tools/bench_inventory.py``'s overlay2 root
(``--generate-only``). Both go to a temporary directory (under /dev/shm when writable).

storagekit is installed as the other benchmarks install it (a wheel in its own virtualenv,
:mod:`tools.benchharness`); the four command lines are warmed up once each, then run ``--runs``
rounds round robin, stdout to /dev/null, so that a slow spell of this shared machine hits both
roots alike; the median and best wall-clock times and the ratios containerd / overlay2 are
printed (below 1: containerd is faster). ``--compare REV`` times REV's storagekit in the same
rounds (ratios for each, then now / REV per command). ``--workdir DIR`` keeps the roots there
and reuses them on the next run.

Usage::

    .venv/bin/python -m tools.bench_containerd [--runs 7] [--containers 1000] [--images 200]
        [--workdir DIR] [--compare REV]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from storagekit.formats.containerd import put_go_time, put_uvarint, put_varint
from tests.engines.containerd.builders import OCI_MANIFEST, any_spec, bolt
from tools.benchharness import (
    CACHE,
    Row,
    Variant,
    add_common_args,
    bench_env,
    compare_table,
    interleave,
    machine,
    per_variant,
    variants,
    workdir,
)

T0 = put_go_time(1_700_000_000, 0)
OVL = "io.containerd.snapshotter.v1.overlayfs"
COMMANDS = ("containers", "images")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_root(top: Path, containers: int, images: int) -> None:
    """Write a containerd root with ``containers`` containers over ``images`` images."""
    blobs = top / "io.containerd.content.v1.content/blobs/sha256"
    blobs.mkdir(parents=True)
    content: dict[bytes, object] = {}
    image_recs: dict[bytes, object] = {}
    snaps_meta: dict[bytes, object] = {}
    snaps_db: dict[bytes, object] = {}
    tops = []
    for i in range(images):
        layer = f"layer {i}".encode() * 8
        diff = _digest(layer)
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"digest": _digest(config), "size": len(config)},
                               "layers": [{"digest": diff, "size": len(layer)}]}).encode()
        for data in (layer, config, manifest):
            (blobs / _digest(data)[7:]).write_bytes(data)
            labels = ({b"containerd.io/gc.ref.snapshot.overlayfs": diff.encode()}
                      if data is config else {})
            content[_digest(data).encode()] = {b"createdat": T0, b"updatedat": T0,
                                               b"size": put_varint(len(data)), b"labels": labels}
        name = f"docker.io/library/img{i}:1".encode()
        image_recs[name] = {b"createdat": T0, b"updatedat": T0, b"target": {
            b"digest": _digest(manifest).encode(), b"mediatype": OCI_MANIFEST.encode(),
            b"size": put_varint(len(manifest))}}
        sid = i + 1
        snaps_meta[diff.encode()] = {b"createdat": T0, b"updatedat": T0,
                                     b"name": f"k8s.io/{sid}/{diff}".encode()}
        snaps_db[f"k8s.io/{sid}/{diff}".encode()] = {
            b"id": put_uvarint(sid), b"kind": b"\x03", b"size": put_varint(4096),
            b"inodes": put_varint(2), b"createdat": T0, b"updatedat": T0}
        fs = top / OVL / "snapshots" / str(sid) / "fs"
        (fs / "etc").mkdir(parents=True)
        (fs / "etc" / f"img{i}").write_bytes(layer)
        tops.append((name, diff, sid))
    recs: dict[bytes, object] = {}
    for n in range(containers):
        name, diff, parent_sid = tops[n % images]
        cid = hashlib.sha256(f"c{n}".encode()).hexdigest()
        sid = images + 1 + n
        spec = {"process": {"args": ["sleep", "3600"], "env": ["PATH=/bin"], "cwd": "/"},
                "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]}
        recs[cid.encode()] = {
            b"createdat": T0, b"updatedat": T0, b"image": name, b"snapshotter": b"overlayfs",
            b"snapshotKey": cid.encode(), b"spec": any_spec(spec),
            b"runtime": {b"name": b"io.containerd.runc.v2"},
            b"labels": {b"io.cri-containerd.kind": b"container",
                        b"io.kubernetes.pod.name": f"pod-{n}".encode(),
                        b"io.kubernetes.pod.namespace": b"bench",
                        b"io.kubernetes.pod.uid": f"uid-{n}".encode(),
                        b"io.kubernetes.container.name": b"app"}}
        snaps_meta[cid.encode()] = {b"createdat": T0, b"updatedat": T0,
                                    b"name": f"k8s.io/{sid}/{cid}".encode(),
                                    b"parent": diff.encode()}
        snaps_db[f"k8s.io/{sid}/{cid}".encode()] = {
            b"id": put_uvarint(sid), b"kind": b"\x02", b"createdat": T0, b"updatedat": T0,
            b"parent": f"k8s.io/{parent_sid}/{diff}".encode()}
        fs = top / OVL / "snapshots" / str(sid) / "fs"
        fs.mkdir(parents=True)
        (fs / "written").write_bytes(b"x" * 100)
    ns = {b"images": image_recs, b"content": {b"blob": content}, b"containers": recs,
          b"snapshots": {b"overlayfs": snaps_meta}, b"leases": {}}
    meta = top / "io.containerd.metadata.v1.bolt"
    meta.mkdir()
    (meta / "meta.db").write_bytes(bolt({b"v1": {b"version": put_varint(3), b"k8s.io": ns}}))
    (top / OVL / "metadata.db").write_bytes(bolt({b"v1": {b"snapshots": snaps_db,
                                                          b"parents": {}}}))


def roots(work: Path, containers: int, images: int) -> dict[str, Path]:
    """The two roots in ``work``, written unless a kept run left them there."""
    ctrd = work / "containerd"
    if not ctrd.exists():
        make_root(ctrd, containers, images)
    docker = work / "docker"
    if not docker.exists():
        subprocess.run([sys.executable, "-m", "tools.bench_inventory", "--generate-only",
                        "--workdir", str(docker), "--containers", str(containers),
                        "--images", str(images)], check=True, stdout=subprocess.DEVNULL)
    return {"containerd": ctrd, "overlay2": docker / "docker"}


def main(argv: list[str] | None = None) -> int:
    """Generate both roots, time both commands on each interleaved, print the ratios."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=1000)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--workdir", type=Path, help="build (or reuse) the roots here; kept")
    add_common_args(parser, "the two roots")
    parser.set_defaults(runs=7)
    args = parser.parse_args(argv)
    chosen = variants(args)
    with workdir(args.workdir, "sk-bench-ctrd-", keep=args.keep or args.workdir is not None,
                 made=("containerd", "docker")) as work:  # fmt: skip
        where = roots(work, args.containers, args.images)

        def rows(v: Variant) -> list[Row]:
            return [Row(f"{cmd} {engine}", [v.storagekit, "-r", str(root), cmd, "--format",
                                            "json"])
                    for cmd in COMMANDS for engine, root in where.items()]

        table = per_variant(rows, chosen)
        interleave(table, args.runs, bench_env(CACHE / "pycache"))
        by = {(r.key, r.variant): r for r in table}
        results: dict[str, Any] = {"runs": args.runs, "machine": machine()}
        for v in chosen:
            name = v.name if len(chosen) > 1 else ""
            for cmd in COMMANDS:
                c, d = by[(f"{cmd} containerd", name)], by[(f"{cmd} overlay2", name)]
                if not (c.median and d.median and c.best and d.best):
                    raise SystemExit(f"a command failed: {c.error or d.error}")
                results[f"{cmd} [{v.name}]" if name else cmd] = {
                    "containerd_median_s": round(c.median, 3),
                    "overlay2_median_s": round(d.median, 3),
                    "ratio_median": round(c.median / d.median, 2),
                    "containerd_best_s": round(c.best, 3), "overlay2_best_s": round(d.best, 3),
                    "ratio_best": round(c.best / d.best, 2)}
        print(json.dumps(results, indent=1))
        if len(chosen) > 1:
            print(compare_table(table, chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
