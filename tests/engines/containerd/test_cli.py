"""The command line on the containerd sample root, alone and beside a Docker root."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import SAMPLES, Result
from tests.engines.containerd.conftest import SAMPLE

CTRD = str(SAMPLE / "root.tar.xz")
DOCKER = str(SAMPLES / "overlay2-20.10" / "root.tar.xz")
Run = Callable[..., Result]


def test_listings_carry_engine_and_namespace(run: Run) -> None:
    r = run("-r", CTRD, "containers", "--format", "json")
    assert r.code == 0
    assert r.err == ""
    got = [(c["engine"], c["namespace"], c["id"]) for c in r.json()]
    assert ("containerd", "default", "c-ran") in got
    assert len(got) == 5
    r = run("-r", CTRD, "--namespace", "k8s.io", "images", "-a", "--format", "json")
    assert {i["namespace"] for i in r.json()} == {"k8s.io"}
    assert run("-r", CTRD, "volumes", "--format", "json").json() == []


def test_recovery_commands(run: Run, tmp_path: Path) -> None:
    r = run("-r", CTRD, "cat", "c-ran", "/data/fresh.txt")
    assert (r.code, r.out) == (0, "fresh\n")
    r = run("-r", CTRD, "diff", "c-ran", "--format", "json")
    assert {"kind": "D", "path": "/data/new.txt"} in r.json()
    r = run("-r", CTRD, "ls", "c-ran", "/opt/cache", "--format", "json")
    assert [e["path"] for e in r.json()] == ["/opt/cache/again"]
    r = run("-r", CTRD, "chain", "c-native", "--format", "json")
    assert [la["path"] for la in r.json()["layers"]] == [
        "io.containerd.snapshotter.v1.native/snapshots/2"
    ]
    r = run("-r", CTRD, "export", "c-ran", "-o", str(tmp_path / "c.tar"))
    assert r.code == 0
    assert (tmp_path / "c.tar").stat().st_size > 1_000_000
    r = run("-r", CTRD, "--namespace", "default", "save", "sk-app:1", "-o", str(tmp_path / "s"))
    assert r.code == 0


def test_an_ambiguous_reference_lists_its_matches(run: Run) -> None:
    r = run("-r", CTRD, "ls", "sk-base:1")
    assert r.code == 1
    assert "ambiguous, matches 3 objects" in r.err
    assert "containerd image default/docker.io/library/sk-base:1" in r.err
    r = run("-r", CTRD, "--namespace", "moby", "ls", "sk-base:1", "/bin/busybox")
    assert r.code == 0


def test_verify_df_orphans_reclaim(run: Run) -> None:
    assert run("-r", CTRD, "verify").code == 0
    df = run("-r", CTRD, "df", "--format", "json").json()
    assert df["engine"] == "containerd"
    assert set(df["namespaces"]) == {"default", "k8s.io", "moby"}
    assert df["snapshots"]["committed"]["count"] == 11
    orphans = run("-r", CTRD, "orphans", "--format", "json").json()
    assert ("unreferenced-snapshot", ["orphan-committed"]) in [
        (o["kind"], o["ids"]) for o in orphans
    ]
    r = run("-r", CTRD, "reclaim")
    assert "ctr -n default snapshots --snapshotter overlayfs rm orphan-committed" in r.out
    assert run("-r", CTRD, "reclaim", "--apply", "--yes").code == 2


def test_two_engines_at_once(run: Run) -> None:
    both = ("-r", DOCKER, "--containerd-root", CTRD)
    containers = run(*both, "containers", "--format", "json", "--no-size").json()
    engines = {c["engine"] for c in containers}
    assert engines == {"docker", "containerd"}
    audit = run(*both, "audit", "--format", "json").json()
    assert audit["engines"] == ["docker", "containerd"]
    assert [s["engine"] for s in audit["sections"]] == ["docker", "containerd"]
    assert audit["counts"]["containers"] == len(containers)
    only = run(*both, "--engine", "containerd", "images", "-a", "--format", "json").json()
    assert {i["engine"] for i in only} == {"containerd"}
    table = run(*both, "containers", "--no-size")
    assert table.out.startswith("ENGINE")
    assert run("-r", CTRD, "--engine", "docker", "images").code == 1


def test_verify_names_a_changed_and_a_planted_file(
    run: Run, tmp_path: Path, extracted_root: Path | None
) -> None:
    import shutil
    import subprocess

    import pytest

    if extracted_root is None:
        pytest.skip("needs the root extracted (root and GNU tar)")
    copy = tmp_path / "root"
    subprocess.run(["cp", "-a", str(extracted_root), str(copy)], check=True)
    layer = copy / "io.containerd.snapshotter.v1.overlayfs/snapshots/4/fs"  # sk-app's 2nd layer
    changed = next(p for p in sorted(layer.rglob("*")) if p.is_file() and not p.is_symlink())
    changed.write_bytes(changed.read_bytes() + b"tampered\n")
    (layer / "planted").write_bytes(b"not in the layer tar\n")
    r = run("-r", str(copy), "--namespace", "default", "verify", "--format", "json")
    assert r.code == 4
    bad = [x for x in r.json() if x["status"] == "modified"]
    assert [(x["kind"], x["cache_id"]) for x in bad] == [("snapshot", "4")]
    rel = "/" + str(changed.relative_to(layer))
    assert {"path": rel, "change": "content"} in bad[0]["files"] or \
        {"path": rel, "change": "size"} in bad[0]["files"]
    assert {"path": "/planted", "change": "added"} in bad[0]["files"]
    shutil.rmtree(copy)
