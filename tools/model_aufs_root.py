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
import base64
import copy
import datetime as dt
import fnmatch
import gzip
import hashlib
import io
import json
import lzma
import posixpath
import sys
import tarfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OPAQUE_XATTR = "SCHILY.xattr.trusted.overlay.opaque"
WH_BASE = ".wh..wh.aufs"
WH_PLNK = ".wh..wh.plnk"
WH_ORPH = ".wh..wh.orph"
WH_OPQ = ".wh..wh..opq"


class ModelError(RuntimeError):
    pass


class Member:
    """A tar member (TarInfo + data) under its normalised name (no leading ``./``)."""

    def __init__(self, ti: tarfile.TarInfo, data: bytes | None) -> None:
        self.ti = ti
        self.data = data
        self.name = _norm(ti.name)


def _norm(name: str) -> str:
    name = name[2:] if name.startswith("./") else name
    name = name.rstrip("/")
    return "" if name in (".", "") else name


def read_tar(path: Path) -> list[Member]:
    out = []
    with tarfile.open(path, "r:*") as tf:
        for ti in tf:
            data = tf.extractfile(ti).read() if ti.isreg() else None  # type: ignore[union-attr]
            out.append(Member(ti, data))
    return out


def _new_ti(
    src: tarfile.TarInfo, name: str, *, drop_xattrs: tuple[str, ...] = ()
) -> tarfile.TarInfo:
    """A fresh TarInfo named ``./name`` with src's metadata and only its xattr PAX records."""
    ti = tarfile.TarInfo("./" + name if name else ".")
    for attr in (
        "type",
        "mode",
        "uid",
        "gid",
        "uname",
        "gname",
        "mtime",
        "linkname",
        "devmajor",
        "devminor",
        "size",
    ):
        setattr(ti, attr, getattr(src, attr))
    ti.pax_headers = {
        k: v
        for k, v in src.pax_headers.items()
        if k.startswith("SCHILY.xattr.") and not any(k.startswith(p) for p in drop_xattrs)
    }
    if ti.type == tarfile.DIRTYPE:
        ti.name += "/"
    return ti


def _reg(
    name: str, *, mode: int, mtime: float, data: bytes = b"", uid: int = 0, gid: int = 0
) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo("./" + name)
    ti.type, ti.mode, ti.mtime, ti.uid, ti.gid, ti.size = (
        tarfile.REGTYPE,
        mode,
        mtime,
        uid,
        gid,
        len(data),
    )
    return ti, data


def _dir(name: str, *, mode: int, mtime: float, uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
    ti = tarfile.TarInfo("./" + name + "/")
    ti.type, ti.mode, ti.mtime, ti.uid, ti.gid = tarfile.DIRTYPE, mode, mtime, uid, gid
    return ti


def _hardlink(name: str, target: str, like: tarfile.TarInfo) -> tarfile.TarInfo:
    ti = tarfile.TarInfo("./" + name)
    ti.type, ti.linkname = tarfile.LNKTYPE, "./" + target
    ti.mode, ti.uid, ti.gid, ti.mtime = like.mode, like.uid, like.gid, like.mtime
    return ti


class Overlay2Root:
    def __init__(self, members: list[Member]) -> None:
        self.members = members
        self.by_name = {m.name: m for m in members}

    def text(self, name: str) -> str | None:
        m = self.by_name.get(name)
        if m is None:
            return None
        data = self.file_data(m)
        return data.decode().strip() if data is not None else None

    def file_data(self, m: Member) -> bytes | None:
        hops = 0
        while m.ti.type == tarfile.LNKTYPE and hops < 10:
            m = self.by_name[_norm(m.ti.linkname)]
            hops += 1
        return m.data

    def driver_ids(self) -> list[str]:
        ids = set()
        for m in self.members:
            parts = m.name.split("/")
            if len(parts) >= 2 and parts[0] == "overlay2" and parts[1] != "l":
                ids.add(parts[1])
        return sorted(ids)


def layer_parentage(o2: Overlay2Root) -> tuple[dict[str, list[str]], dict[str, dict[str, str]]]:
    """Driver-ID → ancestor IDs (nearest first) from layerdb; and chain/cache info per layer."""
    pre = "image/overlay2/layerdb/"
    chains: dict[str, dict[str, str]] = {}
    mounts: dict[str, dict[str, str]] = {}
    for m in o2.members:
        if not m.name.startswith(pre):
            continue
        parts = m.name[len(pre) :].split("/")
        if len(parts) == 3 and parts[0] == "sha256":
            chains.setdefault("sha256:" + parts[1], {})[parts[2]] = m.name
        elif len(parts) == 3 and parts[0] == "mounts":
            mounts.setdefault(parts[1], {})[parts[2]] = m.name
    info: dict[str, dict[str, str]] = {}
    cache_of: dict[str, str] = {}
    for chain, files in chains.items():
        rec = {"chain": chain}
        for f in ("cache-id", "parent", "diff", "size"):
            if f in files:
                rec[f] = o2.text(files[f]) or ""
        if "tar-split.json.gz" in files:
            rec["tar-split"] = files["tar-split.json.gz"]
        cache_of[chain] = rec["cache-id"]
        info[rec["cache-id"]] = rec

    def chain_ancestry(chain: str | None) -> list[str]:
        out = []
        while chain:
            out.append(cache_of[chain])
            chain = info[cache_of[chain]].get("parent") or None
        return out

    layers: dict[str, list[str]] = {}
    for cache, rec in info.items():
        layers[cache] = chain_ancestry(rec.get("parent") or None)
    for cid, files in mounts.items():
        mount = o2.text(files["mount-id"]) or ""
        init = o2.text(files["init-id"]) if "init-id" in files else None
        parent = o2.text(files["parent"]) if "parent" in files else None
        below = chain_ancestry(parent or None)
        if init:
            layers[init] = below
            layers[mount] = [init, *below]
        else:
            layers[mount] = below
        info.setdefault(mount, {})["container"] = cid
        if init:
            info.setdefault(init, {})["container-init"] = cid
    return layers, info


def check_against_lower(o2: Overlay2Root, layers: dict[str, list[str]]) -> list[str]:
    """Compare layerdb parentage with overlay2's own lower files; return disagreements."""
    link_to_id = {}
    for i in o2.driver_ids():
        link = o2.text(f"overlay2/{i}/link")
        if link:
            link_to_id[link] = i
    problems = []
    for i, anc in layers.items():
        lower = o2.text(f"overlay2/{i}/lower")
        got = (
            [link_to_id.get(x.removeprefix("l/"), "?" + x) for x in lower.split(":")]
            if lower
            else []
        )
        if got != anc:
            problems.append(f"{i}: layerdb {anc} != overlay2 lower {got}")
    return problems


def reassemble(o2: Overlay2Root, cache: str, tar_split_name: str) -> bytes:
    """Rebuild the layer tar from tar-split metadata and overlay2/<cache>/diff files."""
    raw = o2.file_data(o2.by_name[tar_split_name])
    assert raw is not None
    out = io.BytesIO()
    for line in gzip.decompress(raw).splitlines():
        if not line.strip():
            continue
        e = json.loads(line)
        if e["type"] == 2:
            out.write(base64.b64decode(e.get("payload") or ""))
        elif e["type"] == 1 and e.get("size"):
            if e.get("name_raw"):
                name = base64.b64decode(e["name_raw"]).decode("utf-8", "surrogateescape")
            else:
                name = e["name"]
            rel = posixpath.normpath("/" + name).lstrip("/")
            m = o2.by_name.get(f"overlay2/{cache}/diff/{rel}")
            data = o2.file_data(m) if m else None
            if data is None or len(data) != e["size"]:
                raise ModelError(f"layer {cache}: no file data for {name!r}")
            out.write(data)
    return out.getvalue()


Out = list[tuple[tarfile.TarInfo, bytes | None]]


def image_layer(o2: Overlay2Root, cache: str, rec: dict[str, str], out: Out) -> dict[str, Any]:
    tar = reassemble(o2, cache, rec["tar-split"])
    digest = "sha256:" + hashlib.sha256(tar).hexdigest()
    if digest != rec["diff"]:
        raise ModelError(f"layer {cache}: reassembled tar {digest} != diff ID {rec['diff']}")
    root = o2.by_name[f"overlay2/{cache}/diff"]
    base = f"aufs/diff/{cache}"
    out.append((_new_ti(root.ti, base, drop_xattrs=("SCHILY.xattr.trusted.overlay.",)), None))
    names = []
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as tf:
        for ti in tf:
            rel = posixpath.normpath("/" + ti.name).lstrip("/")
            if not rel:
                continue
            nti = _new_ti(ti, f"{base}/{rel}")
            if ti.type == tarfile.LNKTYPE:
                nti.linkname = f"./{base}/{posixpath.normpath('/' + ti.linkname).lstrip('/')}"
            data = tf.extractfile(ti).read() if ti.isreg() else None  # type: ignore[union-attr]
            out.append((nti, data))
            names.append(rel)
    # cross-check with what overlay2 had on disk (whiteouts/opaque converted)
    ovl = set()
    prefix = f"overlay2/{cache}/diff/"
    for m in o2.members:
        if m.name.startswith(prefix):
            rel = m.name[len(prefix) :]
            if m.ti.ischr() and m.ti.devmajor == 0 and m.ti.devminor == 0:
                d, b = posixpath.split(rel)
                rel = posixpath.join(d, ".wh." + b)
            elif m.ti.pax_headers.get(OPAQUE_XATTR) == "y":
                ovl.add(rel + "/" + WH_OPQ)
            ovl.add(rel)
    return {
        "diff_id": digest,
        "entries": len(names),
        "differs_from_overlay2_dir": sorted(ovl.symmetric_difference(names)),
    }


def rw_layer(o2: Overlay2Root, i: str, out: Out) -> dict[str, int]:
    prefix = f"overlay2/{i}/diff"
    base = f"aufs/diff/{i}"
    drop = ("SCHILY.xattr.trusted.overlay.",)
    root = o2.by_name[prefix]
    out.append((_new_ti(root.ti, base, drop_xattrs=drop), None))
    wh_base = f"{base}/{WH_BASE}"
    base_ti, _ = _reg(wh_base, mode=0o444, mtime=root.ti.mtime)
    out.append((base_ti, b""))
    out.append((_dir(f"{base}/{WH_PLNK}", mode=0o700, mtime=root.ti.mtime), None))
    out.append((_dir(f"{base}/{WH_ORPH}", mode=0o700, mtime=root.ti.mtime), None))
    counts = {"whiteouts": 0, "opaque": 0}
    for m in o2.members:
        if not m.name.startswith(prefix + "/"):
            continue
        rel = m.name[len(prefix) + 1 :]
        if m.ti.ischr() and m.ti.devmajor == 0 and m.ti.devminor == 0:
            d, b = posixpath.split(rel)
            out.append((_hardlink(posixpath.join(base, d, ".wh." + b), wh_base, base_ti), None))
            counts["whiteouts"] += 1
            continue
        nti = _new_ti(m.ti, f"{base}/{rel}", drop_xattrs=drop)
        if m.ti.type == tarfile.LNKTYPE:
            nti.linkname = "./" + map_path(_norm(m.ti.linkname))
        out.append((nti, m.data))
        if m.ti.isdir() and m.ti.pax_headers.get(OPAQUE_XATTR) == "y":
            out.append((_hardlink(f"{base}/{rel}/{WH_OPQ}", wh_base, base_ti), None))
            counts["opaque"] += 1
    return counts


def map_path(name: str) -> str:
    """Where an overlay2-root path goes in the aufs root ('' = dropped)."""
    if name.startswith("image/overlay2"):
        return "image/aufs" + name[len("image/overlay2") :]
    if name == "overlay2" or name.startswith("overlay2/"):
        parts = name.split("/")
        if len(parts) >= 3 and parts[1] != "l":
            if parts[2] == "diff":
                return "/".join(["aufs", "diff", parts[1], *parts[3:]])
            if parts[2] == "merged":
                return "/".join(["aufs", "mnt", parts[1], *parts[3:]])
        return ""
    return name


def build_aufs(o2: Overlay2Root) -> tuple[Out, dict[str, Any]]:
    layers, info = layer_parentage(o2)
    problems = check_against_lower(o2, layers)
    if problems:
        raise ModelError("layerdb and overlay2 lower disagree:\n" + "\n".join(problems))
    ids = o2.driver_ids()
    if set(ids) != set(layers):
        raise ModelError(f"driver dirs {sorted(set(ids) ^ set(layers))} not in the layer store")
    report: dict[str, Any] = {"image_layers": {}, "container_layers": {}, "mounted": []}
    top = o2.by_name["overlay2"]
    block: Out = [(_new_ti(top.ti, "aufs"), None)]
    for sub in ("diff", "layers", "mnt"):
        block.append((_dir(f"aufs/{sub}", mode=0o710, mtime=top.ti.mtime), None))
    for i in ids:
        if info[i].get("tar-split"):
            report["image_layers"][i] = image_layer(o2, i, info[i], block)
        else:
            report["container_layers"][i] = rw_layer(o2, i, block)
    for i in ids:
        idir = o2.by_name[f"overlay2/{i}"]
        data = "".join(x + "\n" for x in layers[i]).encode()
        block.append(_reg(f"aufs/layers/{i}", mode=0o644, mtime=idir.ti.mtime, data=data))
    for i in ids:
        merged = o2.by_name.get(f"overlay2/{i}/merged")
        idir = o2.by_name[f"overlay2/{i}"]
        if merged is None:
            block.append((_dir(f"aufs/mnt/{i}", mode=0o755, mtime=idir.ti.mtime), None))
            continue
        report["mounted"].append(i)
        drop = ("SCHILY.xattr.trusted.overlay.",)
        for m in o2.members:
            if m.name == merged.name or m.name.startswith(merged.name + "/"):
                nti = _new_ti(m.ti, map_path(m.name), drop_xattrs=drop)
                if m.ti.type == tarfile.LNKTYPE:
                    nti.linkname = "./" + map_path(_norm(m.ti.linkname))
                block.append((nti, m.data))
    out: Out = []
    for m in o2.members:
        if m.name == "overlay2":
            out.extend(block)
            continue
        if m.name == "":
            out.append((_new_ti(m.ti, ""), None))
            continue
        new = map_path(m.name)
        if not new:
            continue
        if m.name.startswith("overlay2/"):
            continue  # emitted in the block
        nti = _new_ti(m.ti, new)
        data = m.data
        if m.ti.type == tarfile.LNKTYPE:
            nti.linkname = "./" + map_path(_norm(m.ti.linkname))
        if posixpath.basename(new) == "config.v2.json" and new.startswith("containers/"):
            assert data is not None
            if data.count(b'"Driver":"overlay2"') != 1:
                raise ModelError(f'{new}: expected one "Driver":"overlay2"')
            data = data.replace(b'"Driver":"overlay2"', b'"Driver":"aufs"')
            nti.size = len(data)
        out.append((nti, data))
    report["layers"] = layers
    report["info"] = info
    return out, report


def write_tar(members: Out, dest: Path) -> str:
    # GNU format unless some member still carries xattrs (which need PAX records): GNU long
    # names keep non-UTF-8 bytes as they are, without a PAX 'hdrcharset' record.
    fmt = tarfile.GNU_FORMAT
    if any(ti.pax_headers for ti, _ in members):
        fmt = tarfile.PAX_FORMAT
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in members:
            if ti.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                ti.size = len(data or b"")
                tf.addfile(ti, io.BytesIO(data or b""))
            else:
                ti.size = 0
                tf.addfile(ti)
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
    dest.write_bytes(lzma.compress(buf.getvalue(), format=lzma.FORMAT_XZ, filters=filters))
    return hashlib.sha256(dest.read_bytes()).hexdigest()


# -- the AUFS change walk of moby v20.10 pkg/archive.Changes, over the modelled layer dirs -----
class LayerDirs:
    """Per driver ID, the modelled branch contents: relative path → TarInfo."""

    def __init__(self, members: Out) -> None:
        self.dirs: dict[str, dict[str, tarfile.TarInfo]] = {}
        for ti, _ in members:
            name = _norm(ti.name)
            parts = name.split("/")
            if len(parts) >= 3 and parts[:2] == ["aufs", "diff"]:
                self.dirs.setdefault(parts[2], {})["/".join(parts[3:])] = ti
        self.by_name = {_norm(ti.name): ti for ti, _ in members}

    def resolved(self, ti: tarfile.TarInfo) -> tarfile.TarInfo:
        while ti.type == tarfile.LNKTYPE:
            ti = self.by_name[_norm(ti.linkname)]
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
