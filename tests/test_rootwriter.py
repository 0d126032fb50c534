"""The shared synthetic-root writer (tests/support/rootwriter) lays roots out as dockerd does.

Checked with the standard library only, as the writer itself is: storagekit is not asked.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from tests.support.rootwriter.deeptree import CONTAINER_NAME, DeepTreeWriter
from tests.support.rootwriter.dutree import build as build_dutree
from tests.support.rootwriter.encoding import chain_ids, crc64_iso, self_test
from tests.support.rootwriter.fleet import FleetWriter


def digest(top: Path) -> str:
    """Paths, modes, owners, sizes, contents, link targets and xattrs of a tree."""
    h = hashlib.sha256()
    for base, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(dirs + files):
            p = Path(base) / name
            st = p.lstat()
            h.update(
                os.fsencode(p.relative_to(top))
                + f" {st.st_mode:o} {st.st_uid} {st.st_gid}".encode()
            )
            if stat.S_ISREG(st.st_mode):
                h.update(p.read_bytes())
            elif stat.S_ISLNK(st.st_mode):
                h.update(os.fsencode(os.readlink(p)))
            if not stat.S_ISLNK(st.st_mode):
                for attr in sorted(os.listxattr(p)):
                    h.update(attr.encode() + os.getxattr(p, attr))
    return h.hexdigest()


def reassemble(split_gz: bytes, diff: Path) -> bytes:
    """The layer tar from its tar-split and the files in ``diff`` (CRC-64 of each checked)."""
    out = bytearray()
    for line in gzip.decompress(split_gz).splitlines():
        entry = json.loads(line)
        if entry["type"] == 2:
            out += base64.b64decode(entry["payload"])
        elif entry.get("size"):
            data = (diff / entry["name"]).read_bytes()
            assert base64.b64decode(entry["payload"]) == crc64_iso(data)
            out += data
    return bytes(out)


def fleet(root: Path, seed: int = 7) -> FleetWriter:
    gen = FleetWriter(root, images=3, layers=6, base_layers=2, containers=5, seed=seed)
    gen.generate()
    return gen


def test_encodings_match_their_test_vectors():
    self_test()


def test_fleet_layout_facts(tmp_path):
    gen = fleet(tmp_path / "docker")
    s = gen.stats
    assert (s.images, s.layers, s.containers) == (3, 6, 5)
    assert s.running + s.exited + s.created == 5
    store = tmp_path / "docker" / "image" / "overlay2"
    ovl = tmp_path / "docker" / "overlay2"
    layers = sorted((store / "layerdb" / "sha256").iterdir())
    assert len(layers) == 6
    for layer in layers:
        diff_id = (layer / "diff").read_text()
        cache = (layer / "cache-id").read_text()
        parent = layer / "parent"
        # the chain rule, and the tar rebuilt from tar-split hashes to the diff ID
        want = diff_id if not parent.exists() else chain_ids([parent.read_text(), diff_id])[1]
        assert layer.name == want.removeprefix("sha256:")
        tar = reassemble((layer / "tar-split.json.gz").read_bytes(), ovl / cache / "diff")
        assert "sha256:" + hashlib.sha256(tar).hexdigest() == diff_id
        assert int((layer / "size").read_text()) == sum(
            f.stat().st_size for f in (ovl / cache / "diff").rglob("*") if f.is_file()
        )
        link = (ovl / cache / "link").read_text()
        assert os.readlink(ovl / "l" / link) == f"../{cache}/diff"
    # image configs are named by their SHA-256; tags point at them
    configs = list((store / "imagedb" / "content" / "sha256").iterdir())
    assert len(configs) == 3
    assert all(hashlib.sha256(c.read_bytes()).hexdigest() == c.name for c in configs)
    repos = json.loads((store / "repositories.json").read_bytes())["Repositories"]
    assert repos["bench/base"] == {
        "bench/base:1": gen.image_ids[0],
        "bench/base:latest": gen.image_ids[0],
    }
    # every container: config, mount record, init layer on the image's top, rw layer on init
    for cdir in (tmp_path / "docker" / "containers").iterdir():
        config = json.loads((cdir / "config.v2.json").read_bytes())
        assert config["ID"] == cdir.name
        assert config["Driver"] == "overlay2"
        mounts = store / "layerdb" / "mounts" / cdir.name
        mount = (mounts / "mount-id").read_text()
        init = (mounts / "init-id").read_text()
        assert init == f"{mount}-init"
        top_cache = store / "layerdb" / "sha256" / (mounts / "parent").read_text()[7:]
        top_link = (ovl / (top_cache / "cache-id").read_text() / "link").read_text()
        assert (ovl / init / "lower").read_text().startswith(f"l/{top_link}:")
        init_link = (ovl / init / "link").read_text()
        assert (ovl / mount / "lower").read_text().startswith(f"l/{init_link}:")
        assert (ovl / init / "diff" / ".dockerenv").is_file()
        assert (ovl / init / "committed").exists()


def test_fleet_is_the_same_root_for_the_same_seed(tmp_path):
    fleet(tmp_path / "a")
    fleet(tmp_path / "b")
    fleet(tmp_path / "c", seed=8)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


@pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts and trusted.* xattrs need root")
def test_deeptree_layout_facts(tmp_path):
    root = DeepTreeWriter(tmp_path / "docker", 4, 1200, seed=8).generate()
    assert root.stats.whiteouts > 0
    assert root.stats.opaque_dirs > 0
    ovl = tmp_path / "docker" / "overlay2"
    # the image layers base first, then init, then the container's layer on it
    chain = [*root.image_ids, root.init_id, root.mount_id]
    for lower, upper in zip(chain, chain[1:], strict=False):
        up = (ovl / upper / "lower").read_text().split(":")
        assert up[0] == f"l/{root.links[lower]}"
        assert (ovl / lower / "committed").exists()
    assert (ovl / root.mount_id / "work" / "work").is_dir()
    whiteouts = [
        p for p in ovl.rglob("*") if p.is_char_device() and os.lstat(p).st_rdev == os.makedev(0, 0)
    ]
    assert len(whiteouts) == root.stats.whiteouts
    opaque = [p for p in ovl.rglob("*") if p.is_dir() and not p.is_symlink()
              and "trusted.overlay.opaque" in os.listxattr(p)]  # fmt: skip
    assert len(opaque) == root.stats.opaque_dirs
    config = json.loads(
        next((tmp_path / "docker" / "containers").glob("*/config.v2.json")).read_bytes()
    )
    assert config["Name"] == f"/{CONTAINER_NAME}"
    assert root.mount_options().startswith(f"index=off,lowerdir=l/{root.links[root.init_id]}:")
    again = DeepTreeWriter(tmp_path / "again", 4, 1200, seed=8).generate()
    assert digest(tmp_path / "docker") == digest(tmp_path / "again")
    assert again.bytes == root.bytes


def test_dutree_counts_its_files(tmp_path):
    made = build_dutree(tmp_path / "docker", 4500)
    files = [p for p in (tmp_path / "docker" / "overlay2").rglob("*") if p.is_file()]
    assert made == len(files) == 4500
    linked = [p for p in files if p.stat().st_nlink > 1]
    assert linked  # later layers hard-link a file of the first
