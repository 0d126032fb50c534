"""Model an aufs data root from the overlay2 sample (there is no aufs kernel here).

Usage::

    .venv/bin/python -m tools.model_aufs_root [--src sample_roots/overlay2-20.10]
                                             [--out sample_roots/aufs-modelled]

Reads ``<src>/root.tar.xz`` with Python's tarfile (never extracts it) and writes
``<out>/root.tar.xz`` holding the SAME images and containers as the aufs driver would have stored
them (docker-root-format.md §6.3), plus ``expected.json`` derived from the overlay2 answers and a
PROVENANCE.md. What is transformed:

* ``image/overlay2/`` → ``image/aufs/``, content unchanged (same chain, cache, mount, init IDs).
* Image layers: ``aufs/diff/<cache-id>/`` = the layer tar as aufs' ApplyDiff untars it (plain
  untar, AUFS whiteouts stored literally). The tar is rebuilt byte-exactly from the layer's
  ``tar-split.json.gz`` and the files in ``overlay2/<cache-id>/diff`` and checked against the
  layer's diff ID; its entries' metadata is then used as is (so ``.wh.<name>`` and
  ``.wh..wh..opq`` files have the metadata the layer tar gives them).
* Init and container layers: ``overlay2/<id>/diff`` copied to ``aufs/diff/<id>/`` with each 0/0
  char-device whiteout turned into ``.wh.<name>`` and each ``trusted.overlay.opaque=y`` directory
  given a ``.wh..wh..opq`` entry — both hard links to the branch's whiteout base
  ``.wh..wh.aufs`` (empty, 0444), as the aufs module makes them — and the aufs branch bookkeeping
  ``.wh..wh.aufs``, ``.wh..wh.plnk/`` and ``.wh..wh.orph/`` (0700) at the branch root. All
  ``trusted.overlay.*`` xattrs are dropped.
* ``aufs/layers/<id>``: ancestor IDs, nearest first, one per line (``\\n``-terminated), from the
  layer store's parentage (checked against overlay2's ``lower`` files); empty for base layers;
  a container's starts with ``<mount-id>-init``.
* ``aufs/mnt/<id>/``: empty directories; for running containers ``overlay2/<id>/merged/*`` is
  placed in ``aufs/mnt/<mount-id>/`` (what a live aufs host shows).
* ``overlay2/l``, ``link``, ``lower``, ``work/``, ``committed`` dropped.
* ``containers/*/config.v2.json``: ``"Driver":"overlay2"`` → ``"Driver":"aufs"``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import fnmatch
import hashlib
import json
import posixpath
import sys
import tarfile
from pathlib import Path
from typing import Any

from tools.aufslayout import Out, Overlay2Root, build_aufs, norm_name, read_tar, write_tar

REPO = Path(__file__).resolve().parent.parent


# -- the AUFS change walk of moby v20.10 pkg/archive.Changes, over the modelled layer dirs -----
class LayerDirs:
    """Per driver ID, the modelled branch contents: relative path → TarInfo."""

    def __init__(self, members: Out) -> None:
        self.dirs: dict[str, dict[str, tarfile.TarInfo]] = {}
        for ti, _ in members:
            name = norm_name(ti.name)
            parts = name.split("/")
            if len(parts) >= 3 and parts[:2] == ["aufs", "diff"]:
                self.dirs.setdefault(parts[2], {})["/".join(parts[3:])] = ti
        self.by_name = {norm_name(ti.name): ti for ti, _ in members}

    def resolved(self, ti: tarfile.TarInfo) -> tarfile.TarInfo:
        while ti.type == tarfile.LNKTYPE:
            ti = self.by_name[norm_name(ti.linkname)]
        return ti

    def stat(self, layer: str, rel: str, hops: int = 0) -> tarfile.TarInfo | None:
        """os.Stat of <layer>/<rel>: follows symlinks inside the layer dir; absolute or
        escaping targets lead outside the branch (the host) and count as missing."""
        files = self.dirs[layer]
        parts = [p for p in rel.split("/") if p]
        cur: list[str] = []
        for idx, p in enumerate(parts):
            cur.append(p)
            ti = files.get("/".join(cur))
            if ti is None:
                return None
            ti = self.resolved(ti)
            if ti.issym():
                if hops > 40 or ti.linkname.startswith("/"):
                    return None
                target = posixpath.normpath(posixpath.join("/".join(cur[:-1]), ti.linkname))
                if target.startswith(".."):
                    return None
                rest = "/".join([target, *parts[idx + 1 :]])
                return self.stat(layer, rest, hops + 1)
        return self.resolved(files[rel]) if rel else None


def _go_mode(ti: tarfile.TarInfo) -> tuple[str, int]:
    return ("dir" if ti.isdir() else "sym" if ti.issym() else ti.type.decode()), ti.mode & 0o7777


def aufs_changes(ld: LayerDirs, mount: str, parents: list[str]) -> list[dict[str, Any]]:
    files = ld.dirs[mount]
    children: dict[str, list[str]] = {}
    for rel in files:
        if rel:
            d = posixpath.dirname(rel)
            children.setdefault(d, []).append(rel)
    changes: list[dict[str, Any]] = []
    changed_dirs: set[str] = set()

    def walk(rel: str) -> None:
        for child in sorted(
            children.get(rel, []),
            key=lambda r: posixpath.basename(r).encode("utf-8", "surrogateescape"),
        ):
            visit(child)
            f = ld.resolved(files[child])
            if f.isdir():
                walk(child)

    def visit(rel: str) -> None:
        path = "/" + rel
        if fnmatch.fnmatchcase(path, "/.wh..wh.*") and "/" not in path[1:]:
            return
        f = ld.resolved(files[rel])
        base = posixpath.basename(path)
        if base.startswith(".wh."):
            kind, cpath = 2, posixpath.join(posixpath.dirname(path), base[4:])
        else:
            kind, cpath = 1, path
            for layer in parents:
                st = ld.stat(layer, rel)
                if st is not None:
                    if st.isdir() and f.isdir():
                        # Size: both are directories on the same backing fs; taken as equal
                        if _go_mode(st) == _go_mode(f) and int(st.mtime) == int(f.mtime):
                            return
                    kind = 0
                    break
        if f.isdir():
            changed_dirs.add(path)
        if kind in (1, 2):
            parent = posixpath.dirname(cpath)
            if parent not in changed_dirs and parent != "/":
                changes.append({"Kind": 0, "Path": parent})
                changed_dirs.add(parent)
        changes.append({"Kind": kind, "Path": cpath})

    walk("")
    return changes


def model_expected(
    src_exp: dict[str, Any], report: dict[str, Any], members: Out, src_sha: str, src_dir: str
) -> dict[str, Any]:
    exp = copy.deepcopy(src_exp)
    exp["modelled"] = True
    root_dir = exp["info"].get("DockerRootDir", "/var/lib/docker")
    for c in exp["containers"]:
        c["Driver"] = "aufs"
        c["GraphDriver"] = {"Data": None, "Name": "aufs"}
    for i in exp["images"]:
        i["GraphDriver"] = {"Data": None, "Name": "aufs"}
    exp["info"]["Driver"] = "aufs"
    exp["info"]["DriverStatus"] = [
        ["Root Dir", f"{root_dir}/aufs"],
        ["Backing Filesystem", "extfs"],
        ["Dirs", str(len(report["layers"]))],
        ["Dirperm1 Supported", "true"],
    ]
    ld = LayerDirs(members)
    mount_of = {v["container"]: k for k, v in report["info"].items() if "container" in v}
    exp["diff_overlay2_engine"] = exp["diff"]
    exp["diff"] = {
        cid: aufs_changes(ld, mount_of[cid], report["layers"][mount_of[cid]]) or None
        for cid in exp["diff"]
    }
    exp["modelled_notes"] = {
        "source": f"{src_dir}/root.tar.xz sha256:{src_sha} (a real dockerd 20.10 overlay2 root)",
        "copied_unchanged": [
            "version",
            "ps",
            "images_list",
            "history",
            "system_df",
            "volumes",
            "export",
            "image_files",
            "scenario",
            "containers (except Driver, GraphDriver)",
            "images (except GraphDriver)",
            "info (except Driver, DriverStatus)",
        ],
        "modelled": {
            "containers[].Driver": "aufs",
            "containers[].GraphDriver / images[].GraphDriver": (
                "{Name: aufs, Data: null} (aufs GetMetadata returns nil)"
            ),
            "info.DriverStatus": "the four rows of the aufs driver's Status(); Dirs = number of "
            "aufs/layers files",
            "diff": "computed over the modelled aufs/diff dirs with the AUFS walk of moby v20.10 "
            "pkg/archive.Changes (rw branch walked in lexical order; root-level .wh..wh.* "
            "skipped; .wh.<x> -> D; otherwise A unless present in a parent branch "
            "(layers/<mount-id>, init first) -> C; directories equal in mode and mtime "
            "second skipped; parent of an A/D not yet seen gets C first). Directory "
            "sizes are taken as equal. NOT engine output.",
            "diff_overlay2_engine": "the overlay2 engine's own docker diff for the same "
            "containers (naive algorithm), for comparison",
        },
        "sizes": "layer size files, SizeRw and /system/df are the same for aufs: both drivers "
        "use directory.Size of the diff dir, in which whiteouts count 0",
    }
    return exp


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", type=Path, default=None, help="sample_roots/overlay2-* dir")
    ap.add_argument("--out", type=Path, default=REPO / "sample_roots" / "aufs-modelled")
    args = ap.parse_args(argv)
    src = args.src
    if src is None:
        cands = sorted((REPO / "sample_roots").glob("overlay2-*"))
        if not cands:
            print("no sample_roots/overlay2-* found", file=sys.stderr)
            return 1
        src = cands[-1]
    src_tar = src / "root.tar.xz"
    src_sha = hashlib.sha256(src_tar.read_bytes()).hexdigest()
    o2 = Overlay2Root(read_tar(src_tar))
    members, report = build_aufs(o2)
    args.out.mkdir(parents=True, exist_ok=True)
    sha = write_tar(members, args.out / "root.tar.xz")
    size = (args.out / "root.tar.xz").stat().st_size
    src_exp = json.loads((src / "expected.json").read_text())
    exp = model_expected(src_exp, report, members, src_sha, src.name)
    (args.out / "expected.json").write_text(json.dumps(exp, indent=2, sort_keys=True) + "\n")
    write_provenance(
        args.out / "PROVENANCE.md",
        src=src,
        src_sha=src_sha,
        sha=sha,
        size=size,
        report=report,
        exp=exp,
    )
    print(
        json.dumps(
            {
                "dir": str(args.out),
                "sha256": sha,
                "size": size,
                "image_layers": len(report["image_layers"]),
                "container_layers": len(report["container_layers"]),
                "mounted": report["mounted"],
            }
        )
    )
    for cache, r in report["image_layers"].items():
        if r["differs_from_overlay2_dir"]:
            print(
                f"note: layer {cache}: tar vs overlay2 dir: {r['differs_from_overlay2_dir']}",
                file=sys.stderr,
            )
    return 0


def write_provenance(
    path: Path,
    *,
    src: Path,
    src_sha: str,
    sha: str,
    size: int,
    report: dict[str, Any],
    exp: dict[str, Any],
) -> None:
    server = exp["version"].get("Server") or {}
    il = report["image_layers"]
    cl = report["container_layers"]
    lines = [
        "# Sample root: aufs — MODELLED, not produced by an aufs engine",
        "",
        "**This root was not written by Docker's aufs driver.** There is no aufs kernel module on "
        "the machines that made the samples. It was derived by `tools/model_aufs_root.py` from "
        f"the real overlay2 sample `{src.name}/root.tar.xz` (SHA-256 `{src_sha}`, dockerd "
        f"{server.get('Version')}), following the format reference "
        "(`docker-root-format.md` §6.3, §6.0, §2) and moby's aufs driver source (v20.10–v23). "
        "Treat it as a faithful model of the layout, to be checked against real aufs roots from "
        "older hosts when available.",
        "",
        f"- `root.tar.xz`: {size} bytes, SHA-256 `{sha}` (PAX tar written with Python tarfile, "
        "xz preset 9e; members relative to the data root, `./...`)",
        f"- made: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} (UTC)",
        f"- same images, containers, volumes and IDs as the source; {len(il)} image layers, "
        f"{len(cl)} init/container layers; containers mounted at copy time: "
        f"{', '.join(report['mounted']) or 'none'}",
        "",
        "## What was transformed",
        "",
        "- `image/overlay2/` → `image/aufs/`, content unchanged (same chain IDs, cache IDs, "
        "mount and init IDs, tar-split, imagedb, repositories.json, distribution/).",
        "- Image layers: `aufs/diff/<cache-id>/` holds the layer tar as aufs' ApplyDiff untars "
        "it — a plain untar, AUFS whiteouts kept as files. The tar of each layer was rebuilt "
        "byte-exactly from its `tar-split.json.gz` and the files of `overlay2/<cache-id>/diff`, "
        "checked against the layer's diff ID (all matched), and its entries' metadata used as is: "
        "overlay2's 0/0 char-device whiteouts therefore appear as empty regular files "
        "`.wh.<name>` (mode 0600, as overlay2's Diff wrote them into the layer tar) and "
        "`trusted.overlay.opaque=y` directories as an empty `.wh..wh..opq` file (mode = the "
        "directory's permission bits); no `trusted.overlay.*` xattrs remain. The layer root "
        "directory keeps overlay2's `diff/` metadata (both drivers create it 0755).",
        "- Init and container layers (`<mount-id>-init`, `<mount-id>`): `overlay2/<id>/diff` "
        "copied to `aufs/diff/<id>/`; at the branch root the aufs module's bookkeeping "
        "`.wh..wh.aufs` (empty, 0444, the whiteout base), `.wh..wh.plnk/` and `.wh..wh.orph/` "
        "(0700); each 0/0 char device → `.wh.<name>` and each opaque directory → "
        "`<dir>/.wh..wh..opq`, both as hard links to `.wh..wh.aufs` (how aufs creates "
        "whiteouts in a writable branch); `trusted.overlay.*` xattrs dropped.",
        "- `aufs/layers/<id>` (0644): ancestor IDs nearest first, one per line with `\\n`; empty "
        "for base layers; a container's starts with `<mount-id>-init`. Derived from the layer "
        "store (`parent` chains, `layerdb/mounts/*/{mount-id,init-id,parent}`) and checked "
        "against overlay2's `lower` files (identical).",
        "- `aufs/mnt/<id>/`: an empty directory (0755) for every ID; for the running container "
        "the content of its overlay2 `merged/` mount was placed in `aufs/mnt/<mount-id>/`, as a "
        "live aufs host shows it. `aufs/`, `aufs/diff`, `aufs/layers`, `aufs/mnt` are 0710.",
        "- Dropped: `overlay2/l/`, `overlay2/<id>/{link,lower,work/,committed}`.",
        '- `containers/<id>/config.v2.json`: `"Driver":"overlay2"` → `"Driver":"aufs"` '
        "(a byte substitution; nothing else in the container files names the driver). Absolute "
        "paths (HostnamePath, LogPath, volume sources) still name the data root the source was "
        "made in.",
        "",
        "## expected.json",
        "",
        'Derived from the overlay2 `expected.json`, with top-level `"modelled": true` and '
        "`modelled_notes` listing exactly which answers were copied and which were modelled. "
        "Copied: version, ps, images_list, history, system_df (sizes are the same under aufs: "
        "both drivers measure the diff dir with directory.Size, whiteouts count 0), volumes, "
        "export, image_files. Modelled: `Driver`/`GraphDriver` of containers and images "
        '(`{"Name": "aufs", "Data": null}`), `info.Driver`/`DriverStatus`, and `diff`, '
        "computed with the AUFS change walk of moby v20.10 `pkg/archive.Changes` over the "
        "modelled branches (NOT engine output; the overlay2 engine's own answer is kept as "
        "`diff_overlay2_engine`).",
        "",
        "## Regenerate",
        "",
        "```",
        ".venv/bin/python -m tools.model_aufs_root   # after tools.make_sample_roots",
        "```",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
