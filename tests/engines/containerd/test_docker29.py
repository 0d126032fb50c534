"""Docker >= 29 on containerd: Docker's records, containerd's snapshots, the kernel's view."""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from storagekit.cli.common import Context
from storagekit.refs import resolve_in
from tests.conftest import SAMPLES, Result
from tests.engines.containerd.conftest import SAMPLE

DOCKER = str(SAMPLES / "containerd-docker29" / "root.tar.xz")
CTRD = str(SAMPLE / "root.tar.xz")
EXPECTED: dict[str, Any] = json.loads(
    (SAMPLES / "containerd-docker29" / "expected.json").read_text()
)
Run = Callable[..., Result]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One whole-host archive: var/lib/docker and var/lib/containerd, members copied as they are
    (xattrs, device nodes and all), without extracting anything."""
    out = tmp_path_factory.mktemp("host") / "host.tar"
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        for src_path, prefix in ((DOCKER, "var/lib/docker"), (CTRD, "var/lib/containerd")):
            with tarfile.open(src_path) as src:
                for m in src:
                    m.pax_headers = {k: v for k, v in m.pax_headers.items()
                                     if k not in ("path", "linkpath")}
                    name = m.name.removeprefix("./").strip("/")
                    m.name = f"{prefix}/{name}" if name else prefix
                    if m.islnk():
                        m.linkname = f"{prefix}/{m.linkname.removeprefix('./')}"
                    dst.addfile(m, src.extractfile(m) if m.isreg() else None)
    return str(out)


@pytest.fixture(params=["two-pieces", "whole-host"])
def evidence(request: pytest.FixtureRequest, host: str) -> tuple[str, ...]:
    if request.param == "two-pieces":
        return ("-r", DOCKER, "--containerd-root", CTRD)
    return ("-r", host)


def test_the_container_is_dockers_with_containerds_layers(
    run: Run, evidence: tuple[str, ...]
) -> None:
    r = run(*evidence, "--engine", "docker", "--engine", "containerd", "containers",
            "--format", "json")
    assert r.code == 0
    want = EXPECTED["container"]
    (c,) = [c for c in r.json() if c["id"] == want["id"]]
    assert c["engine"] == "docker"
    for key in ("name", "image", "image_id", "driver", "snapshot_key", "status", "layer_dirs"):
        assert c[key] == want[key], key
    assert c["mount_id"] == want["id"]
    assert c["init_id"] == want["id"] + "-init"
    images = run(*evidence, "images", "-a", "--format", "json").json()
    moby = [i for i in images if i.get("namespace") == "moby"]
    assert [i["engine"] for i in moby] == ["docker"]
    assert moby[0]["id"] == want["image_id"]
    assert moby[0]["containers"] == 1  # Docker's container uses it


def test_diff_chain_and_view_are_the_kernels(run: Run, evidence: tuple[str, ...]) -> None:
    r = run(*evidence, "diff", "sk-moby")
    assert r.out.splitlines() == EXPECTED["diff"]
    chain = run(*evidence, "chain", "sk-moby", "--format", "json").json()
    assert [la["role"] for la in chain["layers"]] == ["rw", "init", "image"]
    ref = EXPECTED["kernel_view"]
    kernel = json.loads((SAMPLE / "expected.json").read_text())
    merged = kernel["ns"][ref["namespace"]]["snapshots"][ref["snapshotter"]]["items"][
        ref["key"]]["merged"]["entries"]
    listing = run(*evidence, "ls", "sk-moby", "-R", "--format", "json").json()
    assert sorted(e["path"].lstrip("/") for e in listing) == sorted(e["path"] for e in merged)
    context = Context(*evidence[1::2][:1], *(evidence[3:4] or [None]))
    try:
        engine, obj = resolve_in(context.engines(), "sk-moby")
        view = engine.view(obj)
        for e in merged:
            if e["type"] == "file":
                with view.open(e["path"]) as f:
                    assert hashlib.sha256(f.read()).hexdigest() == e["sha256"], e["path"]
    finally:
        context.close()


def test_docker_without_its_image_store_says_where_it_is(run: Run, tmp_path: Path) -> None:
    alone = run("-r", DOCKER, "containers", "--format", "json")
    assert alone.json()[0]["layer_dirs"] == []
    assert "[no-image-store]" in alone.err
    both = run("-r", DOCKER, "--containerd-root", CTRD, "containers", "--format", "json")
    assert "[image-store-in-containerd]" in both.err


def test_moby_names_are_dockers_familiar_ones_and_ctrs_stay_full(
    run: Run, evidence: tuple[str, ...]
) -> None:
    """``docker images`` on the containerd store prints ``sk-base:1``; ``ctr`` the full name."""
    images = run(*evidence, "images", "-a", "--format", "json").json()
    names = {(i["namespace"], i["id"]): (i["tags"], i["digests"]) for i in images}
    manifest = "sha256:3b6b381f72e626e0d94b9b96015a11f42b2ed0f1a8bee7ff8ca845d37edd9146"
    image_id = EXPECTED["container"]["image_id"]
    assert names[("moby", image_id)] == (["sk-base:1"], [f"sk-base@{manifest}"])
    assert names[("default", image_id)] == (
        ["docker.io/library/sk-base:1"], [f"docker.io/library/sk-base@{manifest}"]
    )
    alone = run("-r", CTRD, "--namespace", "moby", "images", "--format", "json").json()
    assert [i["tags"] for i in alone] == [["docker.io/library/sk-base:1"]]
