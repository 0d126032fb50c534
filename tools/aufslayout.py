"""The aufs layout modelled from an overlay2 root, as tar members (no aufs kernel here).

Used by :mod:`tools.model_aufs_root` (which says what is transformed, and writes the sample):
read the overlay2 root's archive, rebuild each image layer's tar from its tar-split, and lay
the layers out as the aufs driver stores them (docker-root-format.md §6.3).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import lzma
import posixpath
import tarfile
from pathlib import Path
from typing import Any

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
        self.name = norm_name(ti.name)


def norm_name(name: str) -> str:
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
            m = self.by_name[norm_name(m.ti.linkname)]
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
            nti.linkname = "./" + map_path(norm_name(m.ti.linkname))
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
                    nti.linkname = "./" + map_path(norm_name(m.ti.linkname))
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
            nti.linkname = "./" + map_path(norm_name(m.ti.linkname))
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
