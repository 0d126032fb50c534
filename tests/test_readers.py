"""Damaged and hostile roots: each problem is a finding, the rest of the report is complete."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.rootbuilder import RootBuilder, diff_id, simple_root, write


def findings(result) -> list[tuple[str, str | None]]:
    return [(f["code"], f["path"]) for f in result.json()["findings"]]


def test_clean_root_has_no_findings(tmp_path, run):
    b, image, cid = simple_root(tmp_path)
    r = run("-r", str(tmp_path), "audit", "--format", "json")
    assert r.code == 0, r.err
    report = r.json()
    assert report["findings"] == []
    assert r.err == ""
    [c] = report["containers"]
    mount = b.built.containers[cid]
    assert c["layer_dirs"] == [mount, f"{mount}-init", *reversed(b.built.images[image])]
    assert c["status"] == "exited"
    assert c["exit_code"] == 3
    assert c["size_rw"] == 8
    [i] = report["images"]
    assert i["tags"] == ["img:1"]
    assert i["size"] == 10
    assert i["containers"] == 1


def test_images_without_containers(tmp_path, run):
    b = RootBuilder(tmp_path)
    b.add_image([diff_id("a")], tags=("only:1",))
    r = run("-r", str(tmp_path), "containers", "--format", "json")
    assert (r.code, r.json(), r.err) == (0, [], "")
    r = run("-r", str(tmp_path), "images", "--format", "json")
    assert [i["tags"] for i in r.json()] == [["only:1"]]


def test_missing_mount_id(tmp_path, run):
    b, image, cid = simple_root(tmp_path)
    os.unlink(tmp_path / f"image/overlay2/layerdb/mounts/{cid}/mount-id")
    r = run("-r", str(tmp_path), "audit", "--format", "json")
    assert r.code == 0
    report = r.json()
    assert ("missing-file", f"image/overlay2/layerdb/mounts/{cid}/mount-id") in findings(r)
    [c] = report["containers"]
    assert c["mount_id"] is None
    assert c["layer_dirs"][0] is None
    assert c["layer_dirs"][1:] == [
        f"{b.built.containers[cid]}-init",
        *reversed(b.built.images[image]),
    ]
    assert "mount-id" in r.err


def test_truncated_container_json(tmp_path, run):
    b, image, cid = simple_root(tmp_path)
    other = b.add_container(image, "c2")
    path = tmp_path / f"containers/{cid}/config.v2.json"
    path.write_bytes(path.read_bytes()[:40])
    r = run("-r", str(tmp_path), "audit", "--format", "json")
    assert r.code == 0
    report = r.json()
    assert [c["id"] for c in report["containers"]] == [other]
    [f] = [f for f in report["findings"] if f["code"] == "bad-json"]
    assert f["path"] == f"containers/{cid}/config.v2.json"
    assert "truncated" in f["message"]


def test_cache_id_leaving_the_root(tmp_path, run):
    b, image, cid = simple_root(tmp_path)
    chain = next(c for c, cache in b.built.layers.items() if cache == b.built.images[image][1])
    write(b.layer_dir(chain) / "cache-id", "../../../../etc")
    r = run("-r", str(tmp_path), "images", "--format", "json")
    assert r.code == 0
    [i] = r.json()
    assert i["cache_ids"] == [b.built.images[image][0], None]
    assert "unsafe-id" in r.err
    assert "expected a layer ID, got '../../../../etc'" in r.err
    r = run("-r", str(tmp_path), "chain", "img:1", "--format", "json")
    top = r.json()["layers"][0]
    assert (top["cache_id"], top["path"], top["present"]) == (None, None, False)


def test_lower_entry_leaving_the_root(tmp_path, run):
    b, image, cid = simple_root(tmp_path)
    mount = b.built.containers[cid]
    write(tmp_path / f"overlay2/{mount}/lower", "l/../../../etc:../../x")
    r = run("-r", str(tmp_path), "chain", "c1", "--format", "json")
    assert r.code == 0
    data = r.json()
    assert data["driver_parents_agree"] is False
    assert [lay["role"] for lay in data["layers"]] == ["rw", "init", "image", "image"]
    assert r.err.count("[unsafe-lower]") == 2


def test_short_link_pointing_outside(tmp_path, run):
    b, image, cid = simple_root(tmp_path)
    mount = b.built.containers[cid]
    link = b.links[f"{mount}-init"]
    os.unlink(tmp_path / f"overlay2/l/{link}")
    os.symlink("/etc", tmp_path / f"overlay2/l/{link}")
    r = run("-r", str(tmp_path), "chain", "c1", "--format", "json")
    # The link file still names the layer: the chain is recovered, and the bad link reported.
    assert r.json()["driver_parents_agree"] is True
    assert "[bad-link]" in r.err


def test_parent_cycle(tmp_path, run):
    b, image, cid = simple_root(tmp_path)
    chains = list(b.built.layers)
    write(b.layer_dir(chains[0]) / "parent", chains[1])
    r = run("-r", str(tmp_path), "audit", "--format", "json")
    assert r.code == 0
    msgs = [f["message"] for f in r.json()["findings"] if f["code"] == "broken-chain"]
    assert f"parent cycle: {chains[1]} is its own ancestor" in msgs
    codes = {f["code"] for f in r.json()["findings"]}
    assert "chain-id-mismatch" in codes  # the forged parent no longer hashes to the name


def test_chain_id_mismatch(tmp_path, run):
    b, image, cid = simple_root(tmp_path)
    chain = list(b.built.layers)[1]
    write(b.layer_dir(chain) / "diff", diff_id("forged"))
    r = run("-r", str(tmp_path), "layers", "--format", "json")
    assert r.code == 0
    assert "[chain-id-mismatch]" in r.err


def test_five_thousand_deep_chain(tmp_path, run):
    b = RootBuilder(tmp_path, "vfs")
    diffs = [diff_id(str(i)) for i in range(5000)]
    image = b.add_image(diffs, tags=("deep:1",))
    b.add_container(image, "deep")
    r = run("-r", str(tmp_path), "chain", "deep", "--format", "json")
    assert r.code == 0
    data = r.json()
    assert len(data["layers"]) == 5002
    assert data["problems"] == ["chain is 5000 layers deep; Docker refuses more than 125"]
    r = run("-r", str(tmp_path), "images", "--format", "json")
    assert r.json()[0]["size"] == 25000


def test_hostile_container_directory_names(tmp_path, run):
    simple_root(tmp_path)
    (tmp_path / "containers" / "...").mkdir()
    write(tmp_path / "containers" / "not-an-id" / "config.v2.json", json.dumps({"ID": "x"}))
    r = run("-r", str(tmp_path), "containers", "--format", "json")
    assert r.code == 0
    assert len(r.json()) == 1
    assert r.err.count("[unexpected-entry]") == 2


def test_image_config_modified(tmp_path, run):
    b, image, cid = simple_root(tmp_path)
    p = tmp_path / "image/overlay2/imagedb/content/sha256" / image.split(":")[1]
    p.write_bytes(p.read_bytes() + b" ")
    r = run("-r", str(tmp_path), "images", "--format", "json")
    assert [i["id"] for i in r.json()] == [image]
    assert "[image-digest-mismatch]" in r.err


def test_unreadable_repositories_json(tmp_path, run):
    simple_root(tmp_path)
    write(tmp_path / "image/overlay2/repositories.json", '{"Repositories": {"img": ')
    r = run("-r", str(tmp_path), "images", "--format", "json")
    assert r.code == 0
    assert r.json()[0]["tags"] == []
    assert "repositories.json is truncated JSON" in r.err


def test_driver_parents_agree_for_aufs(tmp_path, run):
    b, image, cid = simple_root(tmp_path, "aufs")
    r = run("-r", str(tmp_path), "chain", "c1", "--format", "json")
    assert r.json()["driver_parents_agree"] is True
    mount = b.built.containers[cid]
    write(tmp_path / f"aufs/layers/{mount}", "../../etc\n")
    r = run("-r", str(tmp_path), "chain", "c1", "--format", "json")
    assert r.json()["driver_parents_agree"] is False
    assert "[unsafe-id]" in r.err


def test_vfs_size_rw_counts_changes_against_init(tmp_path, run):
    b, image, cid = simple_root(tmp_path, "vfs")
    r = run("-r", str(tmp_path), "containers", "-s", "--format", "json")
    # vfs layers are full copies in real roots; here the rw dir has one new 8-byte file and
    # lacks the init layer's .dockerenv: one A (8 bytes) and one D.
    assert r.json()[0]["size_rw"] == 8


def test_not_a_docker_root(tmp_path, run):
    (tmp_path / "etc").mkdir()
    r = run("-r", str(tmp_path), "audit")
    assert r.code == 1
    assert r.out == ""
    assert r.err.count("\n") == 1
    assert r.err.startswith("storagekit: error: ")
    assert "not a Docker data root" in r.err


def test_missing_root_path(tmp_path, run):
    r = run("-r", str(tmp_path / "nope"), "images")
    assert r.code == 1
    assert r.err.count("\n") == 1


def test_archive_that_is_not_a_tar(tmp_path, run):
    p = tmp_path / "x.tar.gz"
    p.write_bytes(b"this is not an archive")
    r = run("-r", str(p), "images")
    assert r.code == 1
    assert r.err.count("\n") == 1


def test_unknown_reference(tmp_path, run):
    simple_root(tmp_path)
    r = run("-r", str(tmp_path), "chain", "nosuch")
    assert r.code == 1
    assert r.err == "storagekit: error: nosuch: no such container or image in this root\n"


def test_usage_error_exit_2(tmp_path, run):
    r = run("-r", str(tmp_path), "images", "--format", "xml")
    assert r.code == 2


def test_root_inside_host_tree(tmp_path, run):
    host = tmp_path / "host"
    simple_root(host / "srv" / "docker")
    write(host / "etc/docker/daemon.json", json.dumps({"data-root": "/srv/docker"}))
    r = run("-r", str(host), "audit", "--format", "json")
    assert r.code == 0, r.err
    assert r.json()["root"]["location"] == "srv/docker"
    simple_root(Path(tmp_path / "host2" / "var/lib/docker"))
    r = run("-r", str(tmp_path / "host2"), "audit", "--format", "json")
    assert r.json()["root"]["location"] == "var/lib/docker"


def test_whole_host_archive(tmp_path, run):
    import tarfile

    host = tmp_path / "host"
    b, image, cid = simple_root(host / "var/lib/docker")
    archive = tmp_path / "host.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(host, arcname=".")
    r = run("-r", str(archive), "audit", "--format", "json")
    assert r.code == 0, r.err
    report = r.json()
    assert report["root"]["location"] == "var/lib/docker"
    assert [c["id"] for c in report["containers"]] == [cid]
    assert report["findings"] == []


def test_userns_remapped_root(tmp_path, run):
    simple_root(tmp_path / "100000.100000")
    r = run("-r", str(tmp_path), "containers", "--format", "json")
    assert r.code == 0, r.err
    assert len(r.json()) == 1


def test_legacy_layouts_are_named(tmp_path, run):
    (tmp_path / "graph" / ("a" * 64)).mkdir(parents=True)
    write(tmp_path / "repositories-aufs", '{"Repositories": {}}')
    write(tmp_path / "containers" / ("c" * 64) / "config.json", "{}")
    r = run("-r", str(tmp_path), "audit", "--format", "json")
    assert r.code == 0, r.err
    # A pre-1.10 root: config.json is the container's config (here an empty, mismatching one).
    # The graph/ layout is read now (storagekit/engines/docker/graph.py): its one image has
    # no json, and the empty config names no driver, so no layers of the container are found.
    assert sorted((f["code"], f["path"]) for f in r.json()["findings"]) == [
        ("broken-chain", f"containers/{'c' * 64}/config.json"),
        ("container-id-mismatch", f"containers/{'c' * 64}/config.json"),
        ("missing-file", f"graph/{'a' * 64}/json"),
    ]


def test_unmigrated_container_in_a_migrated_root_is_named(tmp_path, run):
    """After 1.10's migration, a config.json-only container is one Docker no longer loads."""
    simple_root(tmp_path)
    (tmp_path / "graph" / ("a" * 64)).mkdir(parents=True)
    write(tmp_path / "repositories-overlay2", '{"Repositories": {}}')
    write(tmp_path / "containers" / ("c" * 64) / "config.json", "{}")
    r = run("-r", str(tmp_path), "containers", "--format", "json")
    assert r.code == 0, r.err
    assert len(r.json()) == 1
    assert "legacy-container" in r.err


def test_chain_and_diff_report_a_broken_chain_too(tmp_path, run):
    """Stack problems become findings wherever a stack is built, not only in audit."""
    b, image, cid = simple_root(tmp_path)
    chains = list(b.built.layers)
    write(b.layer_dir(chains[0]) / "parent", chains[1])
    cycle = f"parent cycle: {chains[1]} is its own ancestor"
    for args in (["chain", "c1"], ["diff", "c1"], ["ls", "c1", "/"]):
        r = run("-r", str(tmp_path), *args, "--format", "json")
        assert r.code == 0
        assert f"error: containers/{cid}/config.v2.json: {cycle} [broken-chain]" in r.err, args
