"""``save`` on containerd, loaded by the real ``docker load`` and ``podman load`` (live engines).

Archives are saved from the containerd sample root and from a live containerd root made here
(a private containerd, CRI off, images imported with ``ctr images import`` from the sample's
own image archives: a docker-archive, an OCI layout, a nested index with a platform never
pulled; the same image in namespace ``moby``, as Docker >= 29 keeps it). Each archive is loaded
into a private dockerd (``tests/support/engine``) and a private podman (``tools/podman_engine``),
both with their own roots. The loaded image's ID must be the original config digest, its diff
IDs the original's, and its layers' bytes the original's: the engine saves the loaded image
again and every layer tar it writes hashes to the SHA-256 of the original layer blob,
decompressed. Needs root, containerd, dockerd and podman; each engine's test is skipped
without it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storagekit.cli.main import main
from tests.engines.containerd.conftest import SAMPLE
from tests.support.engine import Dockerd, available
from tools.make_containerd_root import APP, BASE, MULTI, MULTI_INDEX, Ctrd, images
from tools.ociarchive import docker_archive, oci_archive
from tools.podman_engine import Podman, unmount_all

pytestmark = pytest.mark.engine

#: The maker's image (``tools.make_containerd_root.images``) each saved name stands for.
KIND = {APP: "app", BASE: "base", MULTI: "amd64", MULTI_INDEX: "amd64"}
#: (origin, namespace, name) of every archive saved.
SAVED = [(o, "default", n) for o in ("sample", "live") for n in (APP, BASE, MULTI, MULTI_INDEX)]
SAVED += [(o, "moby", BASE) for o in ("sample", "live")]


def layer_digests(archive: Path) -> list[list[str]]:
    """SHA-256 of every layer of every image of a docker-archive (``manifest.json``), each
    layer decompressed when it is a gzip blob (an OCI layout's compressed layers)."""
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        out = []
        for entry in manifest:
            digests = []
            for name in entry["Layers"]:
                data = tar.extractfile(name).read()  # type: ignore[union-attr]
                if data[:2] == b"\x1f\x8b":
                    data = gzip.decompress(data)
                digests.append("sha256:" + hashlib.sha256(data).hexdigest())
            out.append(digests)
    return out


def _live_root(work: Path) -> Path:
    """A containerd root made now by the real containerd, stopped before it is read."""
    if not (os.geteuid() == 0 and shutil.which("containerd") and shutil.which("ctr")):
        pytest.skip("needs root and containerd")
    d = Ctrd(work / "ctrd")
    imgs = images()
    (work / "base.tar").write_bytes(docker_archive(imgs["base"]))
    (work / "app.tar").write_bytes(oci_archive([imgs["app"]]))
    (work / "multi.tar").write_bytes(oci_archive([imgs["amd64"], imgs["arm64"]],
                                                 nested_index=MULTI))
    d.start()
    try:
        for ns in ("default", "moby"):
            d.ctr(ns, "images", "import", str(work / "base.tar"))
        d.ctr("default", "images", "import", str(work / "app.tar"))
        d.ctr("default", "images", "import", "--index-name", MULTI_INDEX, str(work / "multi.tar"))
    finally:
        d.stop()
    return d.root


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], Path]:
    """Every archive of :data:`SAVED`, written by ``storagekit save``."""
    work = tmp_path_factory.mktemp("saved")
    roots = {"sample": str(SAMPLE / "root.tar.xz"), "live": str(_live_root(work))}
    out: dict[tuple[str, str, str], Path] = {}
    for origin, ns, name in SAVED:
        path = work / f"{origin}-{ns}-{KIND[name]}-{len(out)}.tar"
        assert main(["-r", roots[origin], "--namespace", ns, "save", name, "-o", str(path)]) == 0
        out[(origin, ns, name)] = path
    return out


def _want(name: str) -> dict[str, Any]:
    return images()[KIND[name]].describe()


def _check_archive(path: Path, name: str) -> None:
    """The saved archive's own layers: the original blobs, decompressed, hash to the diff IDs."""
    assert layer_digests(path) == [_want(name)["diff_ids"]]


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Dockerd]:
    if not available():
        pytest.skip("needs root, dockerd, docker and busybox")
    work = Path(tempfile.mkdtemp(prefix="skload-", dir="/tmp"))
    try:
        with Dockerd(work / "d") as d:
            yield d
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    if not (os.geteuid() == 0 and shutil.which("podman")):
        pytest.skip("needs root and podman")
    work = Path(tempfile.mkdtemp(prefix="skload-", dir="/tmp"))
    p = Podman(work / "w", "vfs")
    try:
        yield p
    finally:
        unmount_all(p)
        shutil.rmtree(work, ignore_errors=True)


def _familiar(name: str) -> str:
    return name.removeprefix("docker.io/library/")


@pytest.mark.parametrize("key", SAVED, ids=lambda k: "-".join(k))
def test_docker_load_takes_a_saved_image(
    saved: dict[tuple[str, str, str], Path], dockerd: Dockerd, key: tuple[str, str, str],
    tmp_path: Path,
) -> None:
    name, path = key[2], saved[key]
    _check_archive(path, name)
    loaded = dockerd.docker("load", "-i", str(path), record=False)
    assert loaded.strip() == f"Loaded image: {_familiar(name)}"
    [got] = dockerd.docker_json("image", "inspect", _familiar(name))
    assert got["Id"] == _want(name)["config"]
    assert got["RootFS"]["Layers"] == _want(name)["diff_ids"]
    again = tmp_path / "again.tar"
    dockerd.docker("save", "-o", str(again), got["Id"], record=False)
    assert layer_digests(again) == layer_digests(path)


@pytest.mark.parametrize("key", SAVED, ids=lambda k: "-".join(k))
def test_podman_load_takes_a_saved_image(
    saved: dict[tuple[str, str, str], Path], podman: Podman, key: tuple[str, str, str],
    tmp_path: Path,
) -> None:
    name, path = key[2], saved[key]
    _check_archive(path, name)
    loaded = podman("load", "-i", str(path), record=False)
    # podman reads the OCI layout (index.json names the image); a nested index, which
    # containers/image refuses there, falls back to manifest.json, whose familiar name
    # podman qualifies with localhost/.
    ref = name if name != MULTI_INDEX else "localhost/" + _familiar(name)
    assert loaded.strip() == f"Loaded image: {ref}"
    [got] = podman.json("image", "inspect", ref)
    assert got["Id"] == _want(name)["config"].removeprefix("sha256:")
    assert got["RootFS"]["Layers"] == _want(name)["diff_ids"]
    again = tmp_path / "again.tar"
    podman("save", "--format", "docker-archive", "-o", str(again), got["Id"], record=False)
    assert layer_digests(again) == layer_digests(path)
    subprocess.run(podman.argv("rmi", "-f", got["Id"]), env=podman.env(), capture_output=True,
                   check=True)
