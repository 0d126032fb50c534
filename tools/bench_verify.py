"""Benchmark ``storagekit verify`` against ``sha256sum`` over the same layer files.

    .venv/bin/python -m tools.bench_verify                    # build a ~1.2 GB root with dockerd
    .venv/bin/python -m tools.bench_verify --mb 300 --steps 4 --json
    .venv/bin/python -m tools.bench_verify --root /copy/of/var/lib/docker

The generated root is real: a private dockerd (tests.support.engine) imports the busybox base image
and builds (legacy builder, no network) an image whose RUN steps each write ``--mb`` MB of random
data plus a few small files; the daemon is stopped before anything is timed. ``storagekit -r ROOT
verify --format json`` (every layer must be "ok") is compared with ``find DIFFS -type f -print0 |
xargs -0 sha256sum`` over the image layers' overlay2 ``diff`` directories. Both run on a warm cache,
alternately, and the best of ``--runs`` is kept. Target: ratio = sha256sum seconds / storagekit
seconds >= 0.8.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.benchutil import mkdir, write

REPO = Path(__file__).resolve().parent.parent
STORAGEKIT = REPO / ".venv" / "bin" / "storagekit"
TARGET = 0.8
IMAGE = "bench-verify:1"


def dockerfile(steps: int, mb: int) -> str:
    """An image of ``steps`` big random-data layers, each with a few small files too."""
    lines = ["FROM sk-base:1"]
    for i in range(steps):
        lines.append(
            f"RUN dd if=/dev/urandom of=/big{i} bs=1048576 count={mb} 2>/dev/null"
            f" && mkdir -p /small{i} && echo hello{i} > /small{i}/a.txt"
            f" && head -c 70000 /dev/urandom > /small{i}/b.bin && ln -s a.txt /small{i}/link"
        )
    return "\n".join(lines) + "\n"


def time_docker_save(d: Any, out: Path, runs: int) -> float:
    """Best wall time of ``docker save`` of the built image on the live engine."""
    best = float("inf")
    for _ in range(runs + 1):  # the first run warms the cache
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        d.docker("save", IMAGE, "-o", str(out), timeout=1800)
        best = min(best, time.perf_counter() - start)
    out.unlink(missing_ok=True)
    return best


def time_storagekit_save(root: Path, out: Path, runs: int) -> float:
    """Best wall time of ``storagekit save`` of the same image, offline."""
    best = float("inf")
    for _ in range(runs + 1):
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run(
            [STORAGEKIT, "-r", str(root), "save", IMAGE, "-o", str(out)],
            check=True,
            capture_output=True,
        )
        best = min(best, time.perf_counter() - start)
    out.unlink(missing_ok=True)
    return best


def build(workdir: Path, steps: int, mb: int, runs: int = 0) -> tuple[Path, float | None]:
    """Build the image with a private dockerd under ``workdir``; return the data root.

    With ``runs``, also time ``docker save`` of the image while the engine runs.
    """
    from tests.support.engine import Dockerd, make_base_image

    ctx = workdir / "context"
    mkdir(str(ctx))
    write(str(ctx / "Dockerfile"), dockerfile(steps, mb))
    with Dockerd(workdir / "engine", driver="overlay2") as d:
        make_base_image(d)
        d.docker(
            "build",
            "--network",
            "none",
            "-t",
            IMAGE,
            str(ctx),
            env={"DOCKER_BUILDKIT": "0"},
            timeout=1800,
        )
        saved = time_docker_save(d, workdir / "docker-save.tar", runs) if runs else None
        root = d.root
    return root, saved


def storagekit_json(root: Path, *args: str) -> Any:
    """Run a storagekit command with --format json; return the decoded document."""
    out = subprocess.run(
        [str(STORAGEKIT), "-r", str(root), *args, "--format", "json"],
        check=True,
        capture_output=True,
    )
    return json.loads(out.stdout)


def layer_dirs(root: Path) -> list[Path]:
    """The overlay2 ``diff`` directories of the layers that images use."""
    layers = storagekit_json(root, "layers")
    ids = sorted({x["cache_id"] for x in layers if x.get("images") and x.get("cache_id")})
    return [root / "overlay2" / cid / "diff" for cid in ids]


def file_bytes(dirs: list[Path]) -> int:
    """Bytes of the regular files ``find -type f`` lists (what sha256sum reads)."""
    total = 0
    for top in dirs:
        for base, _dirs, files in os.walk(top):
            for name in files:
                st = os.lstat(os.path.join(base, name))
                if (st.st_mode & 0o170000) == 0o100000:
                    total += st.st_size
    return total


def tar_bytes(root: Path, verify: list[dict[str, Any]]) -> int:
    """Length of the tar streams verify rebuilds: tar-split segments plus file payloads."""
    total = 0
    for layer in verify:
        chain = layer["chain_id"].split(":", 1)[1]
        path = root / "image" / "overlay2" / "layerdb" / "sha256" / chain / "tar-split.json.gz"
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                entry = json.loads(line)
                if entry.get("type") == 1:
                    total += entry.get("size", 0)
                elif entry.get("type") == 2 and entry.get("payload"):
                    total += len(base64.b64decode(entry["payload"]))
    return total


def run_verify(root: Path) -> tuple[float, list[dict[str, Any]]]:
    """Time one ``storagekit verify``; return (seconds, its JSON)."""
    start = time.perf_counter()
    result = storagekit_json(root, "verify")
    return time.perf_counter() - start, result


def run_sha256sum(dirs: list[Path]) -> float:
    """Time one ``find | xargs sha256sum`` over the regular files of ``dirs``."""
    script = 'find "$@" -type f -print0 | xargs -0 sha256sum > /dev/null'
    start = time.perf_counter()
    subprocess.run(["sh", "-c", script, "sh", *map(str, dirs)], check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="benchmark this data root instead of building one")
    parser.add_argument("--steps", type=int, default=4, help="big layers in the built image")
    parser.add_argument("--mb", type=int, default=300, help="MB of random data per big layer")
    parser.add_argument("--runs", type=int, default=3, help="runs of each tool (best kept)")
    parser.add_argument("--workdir", default="/var/tmp", help="parent of the built root (disk)")
    parser.add_argument("--keep", action="store_true", help="keep the built root")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    if shutil.which("sha256sum") is None:
        print("needs sha256sum", file=sys.stderr)
        return 2
    tmp = None
    try:
        docker_save = None
        if args.root:
            root = Path(args.root)
        else:
            tmp = Path(tempfile.mkdtemp(prefix="bench-verify-", dir=args.workdir))
            start = time.perf_counter()
            root, docker_save = build(tmp, args.steps, args.mb, args.runs)
            print(f"built in {time.perf_counter() - start:.1f} s: {root}", file=sys.stderr)
        dirs = layer_dirs(root)
        run_sha256sum(dirs)  # warm the cache
        _, verify = run_verify(root)
        cached = {x["cache_id"] for x in verify}
        if cached != {d.parent.name for d in dirs}:
            print("layer sets of verify and layers differ", file=sys.stderr)
            return 1
        sha_best = sk_best = float("inf")
        for _ in range(args.runs):
            sha_best = min(sha_best, run_sha256sum(dirs))
            sk_time, verify = run_verify(root)
            bad = [x for x in verify if x["status"] != "ok"]
            if bad:
                print(f"NOT OK: {json.dumps(bad)[:2000]}", file=sys.stderr)
                return 1
            sk_best = min(sk_best, sk_time)
        sha_bytes = file_bytes(dirs)
        sk_bytes = tar_bytes(root, verify)
        ratio = sha_best / sk_best
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        report = {
            "root": str(root),
            "layers": len(verify),
            "cores": cores,
            "runs": args.runs,
            "sha256sum": {
                "seconds": sha_best,
                "bytes": sha_bytes,
                "mb_per_s": sha_bytes / 1e6 / sha_best,
            },
            "storagekit": {
                "seconds": sk_best,
                "bytes": sk_bytes,
                "mb_per_s": sk_bytes / 1e6 / sk_best,
            },
            "ratio": ratio,
            "target": TARGET,
            "pass": ratio >= TARGET,
        }
        if docker_save is not None:
            sk_save = time_storagekit_save(root, Path(tmp or root) / "sk-save.tar", args.runs)
            report["save"] = {
                "docker_save_seconds": docker_save,
                "storagekit_save_seconds": sk_save,
                "ratio": docker_save / sk_save,
                "pass": sk_save <= docker_save,
            }
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(f"{len(verify)} image layers, all ok; cores {cores}, best of {args.runs}")
            for name in ("sha256sum", "storagekit"):
                r = report[name]
                print(
                    f"{name:12} {r['bytes']:>14,} bytes {r['seconds']:8.3f} s"
                    f" {r['mb_per_s']:8.1f} MB/s"
                )
            verdict = "PASS" if ratio >= TARGET else "FAIL"
            print(f"ratio (sha256sum s / storagekit s) {ratio:.2f} (target >= {TARGET}): {verdict}")
            if "save" in report:
                sv = report["save"]
                print(
                    f"save: docker save {sv['docker_save_seconds']:.2f} s (live engine), "
                    f"storagekit save {sv['storagekit_save_seconds']:.2f} s (offline): "
                    + ("PASS" if sv["pass"] else "FAIL")
                )
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
