"""verify on tampered roots of every driver: a planted, changed, resized or removed file is named.

Each test extracts a sample root made by a real dockerd (or modelled, aufs) into its own temporary
directory, changes one file of the image layer whose tar wrote ``/data/with space.txt``, and
checks that exactly that layer is reported, with exactly that change, and exit status 4. The
digest alone cannot see an added file: the rebuilt tar never had it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import NAMES, SAMPLES, driver_of

TARGET = "data/with space.txt"
#: Where a driver keeps an image layer's own files, by cache ID.
LAYER_DIRS = {
    "overlay2": "overlay2/{}/diff",
    "fuse-overlayfs": "fuse-overlayfs/{}/diff",
    "overlay": "overlay/{}/root",
    "vfs": "vfs/dir/{}",
    "btrfs": "btrfs/subvolumes/{}",
    "aufs": "aufs/diff/{}",
}


def extract(name: str, dest: Path) -> Path:
    dest.mkdir()
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner",
         "--delay-directory-restore", "-xJf", str(SAMPLES / name / "root.tar.xz"), "-C", str(dest)],
        check=True,
    )  # fmt: skip
    return dest


def writer_layer(run, root: Path, name: str) -> tuple[str, Path]:
    """The chain ID and directory of the layer whose own tar wrote TARGET."""
    layers = {x["chain_id"]: x for x in run("-r", str(root), "layers", "--format", "json").json()}
    pattern = LAYER_DIRS[driver_of(name)]
    for chain, layer in layers.items():
        if not chain:
            continue
        here = root / pattern.format(layer["cache_id"])
        parent = layers.get(layer["parent"]) if layer["parent"] else None
        below = root / pattern.format(parent["cache_id"]) if parent else None
        if (here / TARGET).is_file() and not (below and (below / TARGET).exists()):
            return chain, here
    raise AssertionError(f"no layer writes {TARGET}")


def tamper(path: Path, how: str) -> None:
    target = path / TARGET
    if how == "added":
        (path / "data" / "backdoor").write_bytes(b"#!/bin/sh\n")
    elif how == "content":
        data = bytearray(target.read_bytes())
        data[0] ^= 1
        os.unlink(target)  # a new inode: the layers that share it by hard link keep theirs
        target.write_bytes(bytes(data))
    elif how == "size":
        data = target.read_bytes()
        os.unlink(target)
        target.write_bytes(data + b"more")
    elif how == "missing":
        os.unlink(target)


EXPECTED = {
    "added": [{"path": "/data/backdoor", "change": "added"}],
    "content": [{"path": "/data/with space.txt", "change": "content"}],
    "size": [{"path": "/data/with space.txt", "change": "size"}],
    "missing": [{"path": "/data/with space.txt", "change": "missing"}],
}


@pytest.mark.skipif(os.geteuid() != 0, reason="extracting device nodes and xattrs needs root")
@pytest.mark.parametrize("how", sorted(EXPECTED))
@pytest.mark.parametrize("name", NAMES)
def test_tampered_layer_is_named_with_exit_4(name, how, tmp_path, run):
    root = extract(name, tmp_path / "root")
    chain, layer_dir = writer_layer(run, root, name)
    tamper(layer_dir, how)
    r = run("-r", str(root), "verify", "--format", "json")
    assert r.code == 4, r.err
    bad = [x for x in r.json() if x["status"] != "ok"]
    assert [(x["chain_id"], x["status"], x["files"]) for x in bad] == [
        (chain, "modified", EXPECTED[how])
    ]
    assert r.err.splitlines()[0] == (
        "storagekit: 1 of 7 layers do not match their diff ID or their tar-split"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="extracting device nodes and xattrs needs root")
@pytest.mark.parametrize("name", NAMES)
def test_removed_empty_directory_is_named(name, tmp_path, run):
    """An empty directory has no bytes in the tar: only the entry-by-entry pass can see it."""
    root = extract(name, tmp_path / "root")
    _, layer_dir = writer_layer(run, root, name)
    dirs = [p for p in layer_dir.rglob("*") if p.is_dir() and not p.is_symlink()]
    empties = sorted(p for p in dirs if not any(p.iterdir()))
    if not empties:
        pytest.skip("no empty directory in this layer")
    empties[0].rmdir()
    r = run("-r", str(root), "verify", "--format", "json")
    assert r.code == 4
    [bad] = [x for x in r.json() if x["status"] != "ok"]
    rel = "/" + str(empties[0].relative_to(layer_dir))
    assert {"path": rel, "change": "missing"} in bad["files"]
