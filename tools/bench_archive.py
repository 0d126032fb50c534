"""Benchmark commands on a large archive of a root: the first (indexing), the second (kept index).

    .venv/bin/python -m tools.bench_archive                       # build a 1.2 GB root, tar it
    .venv/bin/python -m tools.bench_archive --gzip                # ... and time the .tar.gz too
    .venv/bin/python -m tools.bench_archive --archive A.tar --root DIR   # an existing pair
    .venv/bin/python -m tools.bench_archive --compare main        # and main's storagekit

The root is the union benchmark's container (:mod:`tests.support.rootwriter.deeptree`: 20
overlay2 layers of ``--files`` files with whiteouts and opaque directories) plus ``--mb`` of
bulk files in its base layer, archived by GNU tar with ``--xattrs`` as a responder would. Timed,
round robin after a warm-up (best and median; ratios in one run):

* ``tar -tf`` (``-tzf`` for gzip): the reference for the **first** command on the archive,
  which indexes it (each run gets an empty cache directory; target ≤ 1.5x);
* the **second** command, starting from the index the first one kept (target ≤ 1.5x the same
  command on the directory form of the root), and the command on the directory itself;
* for the commands ``images``, ``containers`` and ``ls CONTAINER / -R --format json``.

Checked once: the first and second commands print the same bytes; the archive's size,
modification time and SHA-256 are unchanged and nothing was written beside it; the peak RSS of
the first command (target < 200 MB). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from tests.support.rootwriter.deeptree import CONTAINER_NAME, DeepTreeWriter
from tools import benchharness as h

CONTAINER = CONTAINER_NAME


def _bulk(layer_diff: Path, megabytes: int) -> None:
    """Half random, half text: compressed archives stay realistic."""
    rng = random.Random(7)
    words = [f"w{i}".encode() for i in range(5000)]
    bulk = layer_diff / "bulk"
    bulk.mkdir(exist_ok=True)
    for i in range(max(1, megabytes // 28)):
        with open(bulk / f"blob{i:03d}", "wb") as f:
            left = 28 << 20
            while left > 0:
                if i % 2:
                    chunk = rng.randbytes(min(left, 1 << 20))
                else:
                    chunk = b" ".join(rng.choice(words) for _ in range(20000))[:left]
                f.write(chunk)
                left -= len(chunk)


def build(work: Path, files: int, megabytes: int, gz: bool) -> tuple[Path, list[Path]]:
    """The root directory and its archives (``.tar``, and ``.tar.gz`` when asked)."""
    base = work / "root"
    root = DeepTreeWriter(base / "docker", 20, files, 20240301).generate()
    _bulk(root.ovl / root.image_ids[0] / "diff", megabytes)
    tar = work / "evidence" / "root.tar"
    tar.parent.mkdir()
    h.log(f"archiving {base} …")
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "-cf", str(tar), "-C", str(base), "docker"],
        check=True,
    )
    archives = [tar]
    if gz:
        h.log("compressing (gzip -6) …")
        with open(f"{tar}.gz", "wb") as out:
            subprocess.run(["gzip", "-6", "-c", str(tar)], stdout=out, check=True)
        archives.append(Path(f"{tar}.gz"))
    return base / "docker", archives


def _fingerprint(path: Path) -> tuple[int, int, str]:
    info = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return info.st_size, info.st_mtime_ns, digest.hexdigest()


def _commands() -> list[tuple[str, list[str]]]:
    return [
        ("images", ["images", "--format", "json"]),
        ("containers", ["containers", "--format", "json"]),
        ("ls -R", ["ls", CONTAINER, "/", "-R", "--format", "json"]),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", type=Path, help="time this archive (with --root)")
    parser.add_argument("--root", type=Path, help="the directory form of --archive")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--mb", type=int, default=1120, help="bulk data added to the root")
    parser.add_argument("--gzip", action="store_true", help="also time a .tar.gz of the root")
    parser.add_argument("--workdir", type=Path, help="where to build (default: a temp dir)")
    h.add_common_args(parser, "the built root and archives")
    args = parser.parse_args()
    if h.missing("tar", "GNU tar"):
        return 2
    chosen = h.variants(args)
    with h.workdir(args.workdir, "bench-archive-", keep=args.keep, parent="/var/tmp") as work:
        if args.archive:
            root, archives = args.root, [args.archive]
        else:
            root, archives = build(work, args.files, args.mb, args.gzip)
        caches = work / "caches"
        caches.mkdir(exist_ok=True)
        failed = 0
        for archive in archives:
            failed += _bench(archive, root, caches, chosen, args.runs)
    return 1 if failed else 0


def _written(fresh: Path, timeout: float = 30.0) -> None:
    """Wait until every first command's cache writer (a forked child) has kept its index.

    The writer goes on after the command ends; left running, it would take a core from the
    commands timed after it.
    """

    def kept(cache: Path) -> bool:  # the writer's temporary file is ".tmp-*.idx"
        return any(f.suffix == ".idx" and not f.name.startswith(".") for f in cache.iterdir())

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(kept(cache) for cache in fresh.iterdir()):
            return
        time.sleep(0.02)


def _bench(
    archive: Path, root: Path | None, caches: Path, chosen: list[h.Variant], runs: int
) -> int:
    gz = archive.name.endswith(".gz")
    ref = h.Row(f"tar -t{'z' if gz else ''}f", ["tar", "-tzf" if gz else "-tf", str(archive)])
    before = _fingerprint(archive)
    beside = sorted(os.listdir(archive.parent))
    env = {**h.bench_env(caches / "pycache"), "STORAGEKIT_CACHE_SYNC": "0"}
    rows: list[h.Row] = [ref]
    failed = 0
    for key, cmd in _commands():

        def made(v: h.Variant, key: str = key, cmd: list[str] = cmd) -> list[h.Row]:
            warm = caches / f"warm-{v.name}-{archive.name}"
            fresh = caches / f"fresh-{v.name}"
            fresh.mkdir(exist_ok=True)
            sk = f"'{v.storagekit}'"
            args = " ".join(f"'{a}'" for a in cmd)
            first = (
                f'd=$(mktemp -d -p "{fresh}") && exec {sk} --cache-dir "$d" -r "{archive}" {args}'
            )
            out = [
                h.Row(f"{key}: first", ["sh", "-c", first], settle=lambda: _written(fresh)),
                h.Row(f"{key}: second", [v.storagekit, "--cache-dir", str(warm), "-r",
                                         str(archive), *cmd]),
            ]  # fmt: skip
            if root is not None:
                out.append(h.Row(f"{key}: directory", [v.storagekit, "-r", str(root), *cmd]))
            # The kept index for "second", written before timing starts; same answers checked.
            sync = {**env, "STORAGEKIT_CACHE_SYNC": "1"}
            base = [v.storagekit, "--cache-dir", str(warm), "-r", str(archive), *cmd]
            _, once = h.run_once(base, sync, capture=True)
            _, again = h.run_once(base, sync, capture=True)
            if once != again:
                h.log(f"MISMATCH: {key} printed other bytes from the kept index ({v.name})")
                nonlocal failed
                failed += 1
            return out

        rows += h.per_variant(made, chosen)
    rss_dir = caches
    h.interleave(rows, runs, env, rss_dir=rss_dir, required=ref)
    if _fingerprint(archive) != before or sorted(os.listdir(archive.parent)) != beside:
        h.log(f"EVIDENCE CHANGED: {archive}")
        failed += 1
    print(f"\n{archive} ({before[0] / 1e9:.2f} GB); load average {os.getloadavg()[0]:.1f}")
    print(f"{'command':<32} {'best s':>8} {'median s':>9} {'ratio':>6} {'vs':<12} {'RSS MB':>7}")
    by_key = {r.label: r for r in rows}
    for row in rows:
        if row.error:
            print(f"{row.label:<32} error: {row.error}")
            continue
        kind = row.key.rpartition(": ")[2]
        vs = ref if kind == "first" else None
        if kind == "second":
            vs = by_key.get(row.label.replace(": second", ": directory"))
        ratio = row.median / vs.median if vs and row.median and vs.median else None
        rss = f"{row.rss_kib / 1024:7.1f}" if row.rss_kib and row.rss_kib > 0 else ""
        print(
            f"{row.label:<32} {h.fmt(row.best)} {h.fmt(row.median, 9)} "
            f"{h.fmt(ratio, 6, 2) if ratio else '':>6} {vs.key if vs else '':<12} {rss:>7}"
        )
    print("targets: first <= 1.5x tar -t; second <= 1.5x directory; RSS < 200 MB (medians)")
    return failed


if __name__ == "__main__":
    sys.exit(main())
