"""Benchmark storagekit's ``ls -R`` and ``extract --tar`` against dissect.target's walk of the same
container, and report the ratio to the kernel's overlay mount.

One container on one image of ``--layers`` layers (default 10) holding ``--files`` files
(default 100,000), written by :class:`tests.support.rootwriter.deeptree.DeepTreeWriter` (as
root: whiteouts are device nodes, opaque markers ``trusted.*`` xattrs). Timed:

* ``storagekit -r ROOT ls bench / -R --format json`` and ``storagekit -r ROOT extract bench --tar
  -`` (installed as users get it, :mod:`tools.benchharness`), interleaved with ``find`` and
  ``tar -c`` over the kernel's overlay mount of the same layers (:mod:`tools.unionviews`, as
  ``tools.bench_union`` does), best and median of ``--runs`` after a warm-up, peak RSS from
  ``/usr/bin/time``;
* dissect.target (from PyPI, into its own virtualenv under ``~/.cache/storagekit-bench/``): its
  Docker overlay2 reader, ``dissect.target.filesystems.overlay.Overlay2Filesystem``, opened on
  the container's ``image/overlay2/layerdb/mounts/<id>`` (what its ``docker`` plugin mounts for
  a container), walked with ``recurse("/")`` and one ``lstat`` (and ``readlink``) per entry, one
  JSON line each — the same facts as ``ls -R --format json`` — and archived by the same walk into
  a tar with :mod:`tarfile` (every regular file's content read through the filesystem). Its
  runs take minutes, so ``--dissect-runs`` (default 1) are timed after storagekit's, on the same
  warm cache.

Both tools must see the same files, up to what dissect's reader does not implement: it applies
neither whiteouts nor opaque directories (its docstring: "deleted files will be present"), so it
lists more — exactly the paths ``ls -R --deleted`` adds and those below opaque directories — and
where a higher layer turned a file into a directory it keeps the file, so the directory's
contents are missing from its walk. The script checks exactly that and prints the counts.
Ratio = storagekit / dissect.target (target <= 0.5) and
storagekit / kernel (reported). ``--no-dissect`` leaves dissect out (the million-file memory
check: ``--files 1000000 --no-dissect``). See docs/benchmarks.md.

Usage (as root)::

    .venv/bin/python -m tools.bench_dissect [--files 100000] [--layers 10] [--runs 3]
        [--dissect-runs 1] [--no-dissect] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.rootwriter.deeptree import CONTAINER_NAME, BenchRoot, DeepTreeWriter
from tools import benchharness as h
from tools.unionviews import mount_overlay, unmount

DISSECT_PACKAGE = "dissect.target"
TARGET = 0.5

#: Run by dissect's virtualenv: ``list MOUNTS`` (JSON lines) or ``tar MOUNTS`` (a tar), stdout.
WALK = r"""
import json, logging, stat, sys, tarfile
from pathlib import Path
from dissect.target.filesystems.overlay import Overlay2Filesystem
logging.disable(logging.WARNING)  # "no HostsPath mount": the host's files are not evidence
mode, mounts = sys.argv[1], Path(sys.argv[2])
fs = Overlay2Filesystem(mounts)
out = sys.stdout.buffer
if mode == "list":
    for e in fs.recurse("/"):
        s = e.lstat()
        rec = {"path": e.path, "mode": s.st_mode, "uid": s.st_uid, "gid": s.st_gid,
               "size": s.st_size, "mtime": s.st_mtime, "rdev": s.st_rdev}
        if stat.S_ISLNK(s.st_mode):
            rec["link_target"] = e.readlink()
        out.write(json.dumps(rec).encode() + b"\n")
    sys.exit(0)
kinds = {stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE,
         stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE,
         stat.S_IFIFO: tarfile.FIFOTYPE}
with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
    for e in fs.recurse("/"):
        s = e.lstat()
        info = tarfile.TarInfo(e.path.lstrip("/") or ".")
        info.mode, info.uid, info.gid = stat.S_IMODE(s.st_mode), s.st_uid, s.st_gid
        info.mtime = int(s.st_mtime)
        if stat.S_ISREG(s.st_mode):
            info.size = s.st_size
            with e.open() as f:
                tar.addfile(info, f)
            continue
        info.type = kinds.get(stat.S_IFMT(s.st_mode), tarfile.REGTYPE)
        if info.type == tarfile.SYMTYPE:
            info.linkname = e.readlink()
        elif info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            info.devmajor, info.devminor = s.st_rdev >> 8, s.st_rdev & 0xFF
        tar.addfile(info)
"""


def dissect_python(venv: Path) -> tuple[str, str]:
    """dissect.target's interpreter (installed from PyPI when missing) and its version."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import dissect.target.filesystems.overlay"]
    if not python.exists() or subprocess.run(probe, capture_output=True).returncode != 0:
        h.log(f"installing {DISSECT_PACKAGE} into {venv} …")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                DISSECT_PACKAGE,
            ],
            check=True,
        )
    version = subprocess.run(
        [
            str(python),
            "-c",
            f"import importlib.metadata as m; print(m.version({DISSECT_PACKAGE!r}))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return str(python), version


def paths_of(records: list[dict[str, object]]) -> set[str]:
    return {str(r["path"]).strip("/") for r in records}


def opaque_dirs(root: BenchRoot) -> set[str]:
    """Directories some layer marks opaque (``trusted.overlay.opaque=y``), as container paths."""
    found = set()
    for layer in (root.path / "overlay2").iterdir():
        diff = layer / "diff"
        for dirpath, _, _ in os.walk(diff):
            try:
                if os.getxattr(dirpath, "trusted.overlay.opaque", follow_symlinks=False) == b"y":
                    found.add(os.path.relpath(dirpath, diff))
            except OSError:
                continue
    return found


def same_files(sk: Path, root: BenchRoot, dissect_lines: bytes) -> list[str]:
    """Problems when the two tools do not see the same files (see the module docstring)."""
    base = [sk.as_posix(), "-r", str(root.path), "ls", CONTAINER_NAME, "/", "-R"]
    _, out = h.run_once([*base, "--format", "json"], capture=True)
    ours_records = json.loads(out)
    ours = paths_of(ours_records)
    _, out = h.run_once([*base, "--deleted", "--format", "json"], capture=True)
    deleted = paths_of(json.loads(out)) - ours
    theirs_records = [json.loads(line) for line in dissect_lines.splitlines()]
    theirs = paths_of(theirs_records)
    kinds = {str(r["path"]).strip("/"): int(str(r["mode"])) >> 12 for r in theirs_records}
    opaque = opaque_dirs(root)
    below_opaque = {p for p in theirs if any(p.startswith(f"{d}/") for d in opaque)}
    # A file a higher layer turned into a directory: dissect keeps the file, so it never
    # lists what the directory holds.
    retyped = {p for p in ours - theirs if kinds.get(os.path.dirname(p), 0o4) != 0o4}
    extra = theirs - ours - {""}  # dissect lists the root itself
    problems = []
    if ours - theirs - retyped:
        problems.append(f"{len(ours - theirs - retyped)} paths storagekit lists, dissect not")
    if extra != (deleted | below_opaque) & extra or not deleted <= theirs:
        odd = sorted(extra - deleted - below_opaque)[:5]
        problems.append(f"dissect lists {len(extra)} more paths, unexplained: {odd}")
    h.log(
        f"  same files: storagekit {len(ours)} paths, dissect {len(theirs)}; dissect lists all "
        f"but {len(retyped)} below files a higher layer made directories (it keeps the file), "
        f"and {len(extra)} more: the {len(deleted)} deleted by whiteouts (storagekit "
        f"--deleted) and {len(extra - deleted)} below {len(opaque)} opaque directories"
    )
    return problems


def _timed(argv: list[str], runs: int, sink: str | None) -> tuple[h.Row, bytes]:
    row = h.Row(argv[3] if len(argv) > 3 else argv[0], argv, sink=sink)
    out = b""
    for _ in range(runs):
        run, out = h.run_once(argv, capture=sink is None, sink=sink)
        row.runs.append(run)
    return row, out


def _line(label: str, row: h.Row, ref: h.Row | None, what: str) -> str:
    ratio = ""
    if ref is not None and row.best and ref.best and row.median and ref.median:
        ratio = f"  {row.best / ref.best:6.3f} of {what} (median {row.median / ref.median:.3f})"
    rss = f"  peak RSS {row.rss_kib / 1024:.0f} MB" if row.rss_kib and row.rss_kib > 0 else ""
    return f"{label:<36} best {h.fmt(row.best)} s  median {h.fmt(row.median)} s{ratio}{rss}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="where to write (default: temp, /dev/shm)")
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20240301)
    parser.add_argument("--dissect-runs", type=int, default=1)
    parser.add_argument("--no-dissect", action="store_true", help="storagekit and kernel only")
    parser.add_argument(
        "--dissect-venv", type=Path, default=h.CACHE / "dissect-venv", help="dissect's venv"
    )
    h.add_common_args(parser, "the generated root")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        h.log("error: run as root (mknod, trusted.* xattrs, mount)")
        return 2
    with h.workdir(args.workdir, "storagekit-bench-dissect-", keep=args.keep, made=["b-*"]) as work:
        base = work / f"b-{args.files}"
        shutil.rmtree(base, ignore_errors=True)
        scratch, mnt = base / "scratch", base / "mnt"
        scratch.mkdir(parents=True)
        began = time.perf_counter()
        root = DeepTreeWriter(base / "docker", args.layers, args.files, args.seed).generate()
        h.log(
            f"root: {args.layers} layers, {args.files} files, "
            f"made in {time.perf_counter() - began:.1f} s"
        )
        v = h.variants(args)[0]
        sink = str(scratch / "out.tar")
        sk = [v.storagekit, "-r", str(root.path)]
        ls = h.Row(
            "storagekit ls -R --format json",
            [*sk, "ls", CONTAINER_NAME, "/", "-R", "--format", "json"],
        )
        tar = h.Row(
            "storagekit extract --tar", [*sk, "extract", CONTAINER_NAME, "--tar", "-"], sink=sink
        )
        mount_overlay(root, mnt)
        try:
            find = h.Row(
                "find (kernel overlay)", ["find", str(mnt), "-printf", "%p %s %m %U %G %T@ %y\\n"]
            )
            ktar = h.Row(
                "tar -c (kernel overlay)", ["tar", "-C", str(mnt), "-cf", "-", "."], sink=sink
            )
            h.interleave([find, ls, ktar, tar], args.runs, rss_dir=scratch, required=find)
        finally:
            unmount(mnt)
        problems = [r.error for r in (ls, tar) if r.error]
        dl = dt = None
        version = ""
        if not args.no_dissect:
            python, version = dissect_python(args.dissect_venv)
            mounts = str(
                root.path / "image" / "overlay2" / "layerdb" / "mounts" / root_container(root)
            )
            h.log(f"timing dissect.target {version} ({args.dissect_runs} run each; minutes) …")
            dl, lines = _timed([python, "-c", WALK, "list", mounts], args.dissect_runs, None)
            dt, _ = _timed([python, "-c", WALK, "tar", mounts], args.dissect_runs, sink)
            problems += same_files(Path(v.storagekit), root, lines)
        print(
            f"{args.files} files over {args.layers} layers; best and median of {args.runs} runs"
            f" (dissect.target {version or 'not run'}: {args.dissect_runs} run each)"
        )
        print(_line("find (kernel overlay)", find, None, ""))
        print(_line("storagekit ls -R --format json", ls, find, "find"))
        if dl is not None:
            print(_line("dissect.target walk (JSON lines)", dl, None, ""))
            print(_line("storagekit ls -R --format json", ls, dl, f"dissect (target <= {TARGET})"))
        print(_line("tar -c (kernel overlay)", ktar, None, ""))
        print(_line("storagekit extract --tar", tar, ktar, "tar -c"))
        if dt is not None:
            print(_line("dissect.target walk + tarfile", dt, None, ""))
            print(_line("storagekit extract --tar", tar, dt, f"dissect (target <= {TARGET})"))
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average after: {load} on {os.cpu_count()} CPUs")
        for p in problems:
            print(f"PROBLEM: {p}")
        return 1 if problems else 0


def root_container(root: BenchRoot) -> str:
    """The benchmark container's ID (its ``layerdb/mounts/<id>``)."""
    mounts = root.path / "image" / "overlay2" / "layerdb" / "mounts"
    (cid,) = [p.name for p in mounts.iterdir()]
    return cid


if __name__ == "__main__":
    sys.exit(main())
