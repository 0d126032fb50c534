"""Ground truth: the engine's own answers about its root, and an archive of the root."""

from __future__ import annotations

import hashlib
import io
import json
import shlex
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from tests.support.engine.daemon import Dockerd, EngineError


# -- ground truth -----------------------------------------------------------------------------
def _mode_str(mode: int) -> str:
    return f"{mode & 0o7777:04o}"


_TYPES = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "chardev",
    tarfile.BLKTYPE: "blockdev",
    tarfile.FIFOTYPE: "fifo",
    tarfile.CONTTYPE: "file",
}


def tar_listing(fileobj: Any) -> list[dict[str, Any]]:
    """List a tar stream in tar order: path, type, mode, uid, gid, size, mtime, linkname, sha256.

    Names that are not UTF-8 come back with surrogate escapes (Python's ``surrogateescape``);
    JSON-encoded with ``ensure_ascii`` they appear as ``\\udcXX``.
    """
    out = []
    with tarfile.open(fileobj=fileobj, mode="r|*") as tf:
        for ti in tf:
            item: dict[str, Any] = {
                "path": ti.name,
                "type": _TYPES.get(ti.type, "other:" + ti.type.decode("latin-1")),
                "mode": _mode_str(ti.mode),
                "uid": ti.uid,
                "gid": ti.gid,
                "size": ti.size,
                "mtime": ti.mtime,
                "linkname": ti.linkname,
            }
            if ti.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                item["devmajor"], item["devminor"] = ti.devmajor, ti.devminor
            xattrs = {
                k[len("SCHILY.xattr.") :]: v
                for k, v in ti.pax_headers.items()
                if k.startswith("SCHILY.xattr.")
            }
            if xattrs:
                item["xattrs"] = xattrs
            if ti.isreg():
                h = hashlib.sha256()
                fh = tf.extractfile(ti)
                assert fh is not None
                for chunk in iter(lambda: fh.read(1 << 20), b""):  # noqa: B023
                    h.update(chunk)
                item["sha256"] = h.hexdigest()
            out.append(item)
    return out


def _save_listing(d: Dockerd, image_id: str, tmp: Path) -> dict[str, Any]:
    path = tmp / "save.tar"
    d.docker("save", "-o", str(path), image_id, record=False)
    layers: dict[str, dict[str, Any]] = {}
    with tarfile.open(path) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        for lname in manifest[0]["Layers"]:
            fh = tf.extractfile(lname)
            assert fh is not None
            data = fh.read()
            layers[lname] = {
                "tar_sha256": "sha256:" + hashlib.sha256(data).hexdigest(),
                "entries": tar_listing(io.BytesIO(data)),
            }
    path.unlink()
    return {
        "manifest": manifest,
        "layers": [layers[name] for name in manifest[0]["Layers"]],
    }


def capture_expected(d: Dockerd, *, image_files: bool = True) -> dict[str, Any]:
    """The engine's own answers about its root, as raw as possible (parsed JSON only)."""
    exp: dict[str, Any] = {}
    exp["version"] = d.docker_json("version", "--format", "{{json .}}")
    exp["info"] = d.docker_json("info", "--format", "{{json .}}")
    cids = sorted(set(d.docker("ps", "-a", "-q", "--no-trunc", record=False).split()))
    exp["containers"] = (
        sorted(d.docker_json("container", "inspect", "--size", *cids), key=lambda c: c["Id"])
        if cids
        else []
    )
    exp["ps"] = d.docker_lines_json("ps", "-a", "-s", "--no-trunc", "--format", "{{json .}}")
    iids = sorted(set(d.docker("images", "-a", "-q", "--no-trunc", record=False).split()))
    exp["images"] = (
        sorted(d.docker_json("image", "inspect", *iids), key=lambda i: i["Id"]) if iids else []
    )
    exp["images_list"] = d.docker_lines_json(
        "images", "-a", "--no-trunc", "--digests", "--format", "{{json .}}"
    )
    exp["history"] = {iid: d.api(f"/images/{iid}/history") for iid in iids}
    exp["diff"] = {cid: d.api(f"/containers/{cid}/changes") for cid in cids}
    exp["system_df"] = d.api("/system/df")
    vols = sorted(d.docker("volume", "ls", "-q", record=False).split())
    exp["volumes"] = (
        sorted(d.docker_json("volume", "inspect", *vols), key=lambda v: v["Name"]) if vols else []
    )
    with tempfile.TemporaryDirectory(dir=d.workdir, prefix="capture-") as tmp:
        exp["export"] = {}
        for cid in cids:
            path = Path(tmp) / "export.tar"
            d.docker("export", "-o", str(path), cid, record=False)
            with open(path, "rb") as fh:
                exp["export"][cid] = tar_listing(fh)
            path.unlink()
        if image_files:
            tagged = sorted({i["Id"] for i in exp["images"] if i.get("RepoTags")})
            exp["image_files"] = {iid: _save_listing(d, iid, Path(tmp)) for iid in tagged}
    return exp


def archive_root(d: Dockerd, dest: Path, compress: str = "xz -9e -T1") -> str:
    """Tar the data root (xattrs, numeric owners) while the daemon runs; return the SHA-256.

    Taken live, like evidence copied from a running host: running containers' ``merged/`` mounts
    are included. Members are relative to the data root (``./image/...``).
    """
    dest = Path(dest).absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        "tar",
        "--xattrs",
        "--xattrs-include=*",
        "--numeric-owner",
        "--sort=name",
        "-I",
        compress,
        "-C",
        str(d.root),
        "-cf",
        str(dest),
        ".",
    ]
    d.commands.append("(archive) " + shlex.join(argv))
    r = subprocess.run(argv, capture_output=True)
    # 1 = "some files differ" (changed while being read): still a faithful live copy
    if r.returncode not in (0, 1):
        raise EngineError(f"tar failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    h = hashlib.sha256()
    with open(dest, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
