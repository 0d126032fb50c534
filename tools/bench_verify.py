"""Benchmark ``storagekit verify`` against ``sha256sum`` over the same layer files.

    .venv/bin/python -m tools.bench_verify                    # build a ~1.2 GB root with dockerd
    .venv/bin/python -m tools.bench_verify --mb 300 --steps 4 --json
    .venv/bin/python -m tools.bench_verify --root /copy/of/var/lib/docker
    .venv/bin/python -m tools.bench_verify --compare main     # and main's storagekit, interleaved

The generated root is real: a private dockerd (:mod:`tests.support.engine`) imports the busybox
base image and builds (legacy builder, no network) an image whose RUN steps each write ``--mb``
MB of random data plus a few small files; the daemon is stopped before anything is timed.
``storagekit -r ROOT verify --format json`` (every layer must be "ok") is compared with ``find
DIFFS -type f -print0 | xargs -0 sha256sum`` over the image layers' overlay2 ``diff``
directories. Both run on a warm cache, interleaved; best and median of ``--runs`` are kept.
Target: ratio = sha256sum seconds / storagekit seconds >= 0.8. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.rootwriter.files import mkdir, write
from tools import benchharness as h

TARGET = 0.8
IMAGE = "bench-verify:1"
SHA256SUM = 'find "$@" -type f -print0 | xargs -0 sha256sum > /dev/null'


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


def best_of(runs: int, out: Path, timed: Any) -> float:
    """Best wall time of ``runs`` calls of ``timed()`` after one warm-up, ``out`` removed."""
    best = float("inf")
    for _ in range(runs + 1):  # the first run warms the cache
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        timed()
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
            "build", "--network", "none", "-t", IMAGE, str(ctx),
            env={"DOCKER_BUILDKIT": "0"}, timeout=1800,
        )  # fmt: skip
        saved = None
        if runs:
            out = workdir / "docker-save.tar"
            saved = best_of(
                runs, out, lambda: d.docker("save", IMAGE, "-o", str(out), timeout=1800)
            )
        root = d.root
    return root, saved


def storagekit_json(storagekit: str, root: Path, *args: str) -> Any:
    """Run a storagekit command with --format json; return the decoded document."""
    argv = [storagekit, "-r", str(root), *args, "--format", "json"]
    return json.loads(h.run_once(argv, capture=True)[1])


def layer_dirs(storagekit: str, root: Path) -> list[Path]:
    """The overlay2 ``diff`` directories of the layers that images use."""
    layers = storagekit_json(storagekit, root, "layers")
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


def report(
    args: argparse.Namespace, root: Path, rows: list[h.Row], verify: list[Any]
) -> dict[str, Any]:
    sha, mine = rows[0], rows[1:]
    assert sha.best is not None
    dirs = [Path(p) for p in rows[0].argv[4:]]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    sha_bytes, sk_bytes = file_bytes(dirs), tar_bytes(root, verify)
    doc: dict[str, Any] = {
        "root": str(root),
        "layers": len(verify),
        "cores": cores,
        "runs": args.runs,
    }
    doc["sha256sum"] = {"seconds": sha.best, "median": sha.median, "bytes": sha_bytes,
                        "mb_per_s": sha_bytes / 1e6 / sha.best}  # fmt: skip
    for row in mine:
        best = row.best or float("nan")
        doc[row.label] = {"seconds": row.best, "median": row.median, "bytes": sk_bytes,
                          "mb_per_s": sk_bytes / 1e6 / best, "ratio": sha.best / best}  # fmt: skip
    ratio = sha.best / (mine[0].best or float("nan"))
    doc.update(ratio=ratio, target=TARGET, **{"pass": ratio >= TARGET})
    return doc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="benchmark this data root instead of building one")
    parser.add_argument("--steps", type=int, default=4, help="big layers in the built image")
    parser.add_argument("--mb", type=int, default=300, help="MB of random data per big layer")
    parser.add_argument("--workdir", default="/var/tmp", help="parent of the built root (disk)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    h.add_common_args(parser)
    args = parser.parse_args()
    if h.missing("sha256sum", "sha256sum"):
        return 2
    chosen = h.variants(args)
    keep = args.keep or bool(args.root)
    with h.workdir(None, "bench-verify-", keep=keep, parent=args.workdir) as tmp:
        docker_save = None
        if args.root:
            root = Path(args.root)
        else:
            start = time.perf_counter()
            root, docker_save = build(tmp, args.steps, args.mb, args.runs)
            print(f"built in {time.perf_counter() - start:.1f} s: {root}", file=sys.stderr)
        dirs = layer_dirs(chosen[0].storagekit, root)
        for v in chosen:
            verify = storagekit_json(v.storagekit, root, "verify")
            if {x["cache_id"] for x in verify} != {d.parent.name for d in dirs}:
                print(f"layer sets of verify and layers differ ({v.name})", file=sys.stderr)
                return 1
            bad = [x for x in verify if x["status"] != "ok"]
            if bad:
                print(f"NOT OK ({v.name}): {json.dumps(bad)[:2000]}", file=sys.stderr)
                return 1
        sha = h.Row("sha256sum", ["sh", "-c", SHA256SUM, "sh", *map(str, dirs)])
        argv = ["-r", str(root), "verify", "--format", "json"]
        rows = [
            sha,
            *h.per_variant(lambda v: [h.Row("storagekit verify", [v.storagekit, *argv])], chosen),
        ]
        h.interleave(rows, args.runs, required=sha)
        doc = report(args, root, rows, verify)
        if docker_save is not None:
            out = Path(tmp) / "sk-save.tar"
            save = [chosen[0].storagekit, "-r", str(root), "save", IMAGE, "-o", str(out)]
            sk_save = best_of(args.runs, out, lambda: h.run_once(save))
            doc["save"] = {
                "docker_save_seconds": docker_save,
                "storagekit_save_seconds": sk_save,
                "ratio": docker_save / sk_save,
                "pass": sk_save <= docker_save,
            }
        doc["compare"] = h.compare_figures(rows, chosen)
        if args.json:
            print(json.dumps(doc, indent=2))
            return 0
        print(f"{len(verify)} image layers, all ok; cores {doc['cores']}, {args.runs} runs")
        for row in rows:
            r = doc[row.label]
            print(
                f"{row.label:32} {r['bytes']:>14,} bytes  best {r['seconds']:8.3f} s"
                f"  median {r['median']:8.3f} s {r['mb_per_s']:8.1f} MB/s"
            )
        verdict = "PASS" if doc["pass"] else "FAIL"
        print(
            f"ratio (sha256sum s / storagekit s) {doc['ratio']:.2f} (target >= {TARGET}): {verdict}"
        )
        if "save" in doc:
            sv = doc["save"]
            print(
                f"save: docker save {sv['docker_save_seconds']:.2f} s (live engine), "
                f"storagekit save {sv['storagekit_save_seconds']:.2f} s (offline): "
                + ("PASS" if sv["pass"] else "FAIL")
            )
        if len(chosen) > 1:
            print(h.compare_table(rows, chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
