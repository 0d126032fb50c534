"""A whole host holding two graph roots: the system's (rootful) and a user's (rootless).

``var/lib/containers/storage`` is the ``podman-4.3-overlay`` sample and
``home/skrootless/.local/share/containers/storage`` the ``podman-4.3-rootless-overlay`` one,
as a directory (extracted as root, so that whiteouts and xattrs survive) and as one archive of
the host (both samples' members under their host paths, PAX xattrs kept). Both roots are read,
each as an engine of its own, rootful first; on a directory they are read by forked workers at
once, and the output is the same as reading each root alone, one after the other.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from storagekit import parallel
from tests.engines.podman.conftest import SAMPLES, expected_of
from tests.engines.podman.test_engine_cli import Root

ROOTFUL = "var/lib/containers/storage"
ROOTLESS = "home/skrootless/.local/share/containers/storage"
PARTS = {ROOTFUL: "podman-4.3-overlay", ROOTLESS: "podman-4.3-rootless-overlay"}


def _host_archive(dest: Path) -> Path:
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as out:
        for where, name in PARTS.items():
            with tarfile.open(SAMPLES / name / "root.tar.xz") as tf:
                for m in tf:
                    data = tf.extractfile(m) if m.isfile() else None
                    for key in ("path", "linkpath"):  # they would win over the new names
                        m.pax_headers.pop(key, None)
                    m.name = f"{where}/{m.name.removeprefix('./')}".rstrip("/")
                    if m.islnk():
                        m.linkname = f"{where}/{m.linkname.removeprefix('./')}"
                    out.addfile(m, data)
    return dest


@pytest.fixture(scope="module", params=["archive", "directory"])
def host(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    podman_extracted: dict[str, Path],
) -> Path:
    top = tmp_path_factory.mktemp("host")
    if request.param == "archive":
        return _host_archive(top / "host.tar")
    if any(name not in podman_extracted for name in PARTS.values()):
        pytest.skip("extracting a root with device nodes and xattrs needs root")
    for where, name in PARTS.items():
        (top / where).parent.mkdir(parents=True)
        subprocess.run(["cp", "-a", str(podman_extracted[name]), str(top / where)], check=True)
    return top


def _alone(host: Path, where: str) -> Root:
    if host.is_dir():
        return Root(PARTS[where], "directory", str(host / where), expected_of(PARTS[where]))
    return Root(PARTS[where], "archive", str(SAMPLES / PARTS[where] / "root.tar.xz"), {})


def test_both_roots_are_read_in_root_order(host: Path) -> None:
    h = Root("host", "host", str(host), {})
    for command in (["containers", "-s"], ["images", "-a"], ["layers"], ["volumes"]):
        got = h.json(*command)
        want = [r for where in PARTS for r in _alone(host, where).json(*command)]
        assert [r["id" if "id" in r else "name"] for r in got] == [
            r["id" if "id" in r else "name"] for r in want
        ]
        graph = [expected_of(name)["info"]["store"]["graphRoot"] for name in PARTS.values()]
        assert sorted({r["graph_root"] for r in got}) == sorted(graph)
        if host.is_dir():  # the same host paths, sizes and everything else
            assert got == want
    audit = h.json("audit")
    assert audit["engines"] == ["podman", "podman"]
    assert audit["counts"]["containers"] == 12
    assert [s["root"]["location"] for s in audit["sections"]] == list(PARTS)
    assert [s["root"]["rootless"] is not None for s in audit["sections"]] == [False, True]
    assert [s["findings"] for s in audit["sections"]] == [[], []]


def test_directory_roots_are_read_by_workers_with_the_same_output(
    host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not host.is_dir() or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("workers read a directory host on two cores or more")
    h = Root("host", "host", str(host), {})
    forks: list[int] = []
    real_fork = os.fork

    def counting_fork() -> int:
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(os, "fork", counting_fork)
    monkeypatch.setattr(parallel, "MIN_CHUNK", 10**6)  # only the roots' reading may fork
    together = h.run("audit", "--format", "json")
    assert forks == [1]  # one worker beside this process: one root each
    monkeypatch.setattr(parallel, "workers_for", lambda *_args, **_kw: 1)
    alone = h.run("audit", "--format", "json")
    assert together == alone
    assert together[0] == 0


def test_a_name_in_both_roots_is_ambiguous_and_ids_are_not(host: Path) -> None:
    h = Root("host", "host", str(host), {})
    code, out, err = h.run("diff", "sk-running")
    ids = [expected_of(name)["scenario"]["containers"]["sk-running"] for name in PARTS.values()]
    graph = [expected_of(name)["info"]["store"]["graphRoot"] for name in PARTS.values()]
    assert (code, out) == (1, "")
    assert err.startswith("storagekit: error: sk-running: ambiguous, matches 2 objects")
    assert "give the ID (--engine and --namespace cannot tell two roots of one engine apart)" in err
    for cid, where in zip(ids, graph, strict=True):
        assert f"podman container {cid} in {where}" in err
    for cid, name in zip(ids, PARTS.values(), strict=True):
        want = expected_of(name)["diff"][cid]
        got = h.json("diff", cid)
        assert sorted((c["kind"], c["path"]) for c in got) == sorted(
            [("A", p) for p in want.get("added") or []]
            + [("C", p) for p in want.get("changed") or []]
            + [("D", p) for p in want.get("deleted") or []]
        )
