"""Orphans: exactly Docker's prunable objects on clean roots, every kind of damage on others."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from storagekit.analysis.orphans import summarize
from storagekit.engines.docker.orphans import find_orphans
from storagekit.engines.docker.root import DockerRoot
from storagekit.ids import chain_ids
from tests.conftest import NAMES, driver_of, expected_of
from tests.rootbuilder import RootBuilder, diff_id, rand_id, write


def allocated(root: Path, *rels: str) -> int:
    """Allocated bytes of the given paths (trees included), multi-named files once."""
    seen: set[tuple[int, int]] = set()
    total = 0

    def one(p: Path) -> int:
        s = os.lstat(p)
        if not os.path.isdir(p) or os.path.islink(p):
            if s.st_nlink > 1 and (s.st_dev, s.st_ino) in seen:
                return 0
            seen.add((s.st_dev, s.st_ino))
        return s.st_blocks * 512

    for rel in rels:
        top = root / rel
        if not os.path.isdir(top) or os.path.islink(top):
            total += one(top)
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            total += one(Path(dirpath))
            links = [d for d in dirnames if os.path.islink(Path(dirpath, d))]
            total += sum(one(Path(dirpath, n)) for n in filenames + links)
    return total


def orphans_of(path: Path | str) -> list[dict[str, Any]]:
    with DockerRoot.open(str(path)) as root:
        return find_orphans(root)


@pytest.mark.parametrize("name", NAMES)
def test_clean_roots_hold_only_what_docker_would_prune(name, sample):
    raw = expected_of(name)["system_df"]
    dangling = sorted(i["Id"] for i in raw["Images"] if i["RepoTags"] == ["<none>:<none>"])
    unused = sorted(v["Name"] for v in raw["Volumes"] if v["UsageData"]["RefCount"] == 0)
    found = orphans_of(sample(name))
    assert [(o["kind"], o["ids"][0]) for o in found] == [
        *(("dangling-image", i) for i in dangling),
        *(("unused-volume", v) for v in unused),
    ]
    driver = driver_of(name)
    assert found[0]["path"] == f"image/{driver}/imagedb/content/sha256/{dangling[0][7:]}"
    assert found[0]["bytes"] > 0
    assert all(o["bytes"] >= 0 for o in found)
    assert summarize(found)["count"] == len(found)


def damaged_overlay2(tmp_path: Path) -> dict[str, Any]:
    """A root with one example of every kind of damage; returns the IDs involved."""
    b = RootBuilder(tmp_path)
    app = b.add_image([diff_id("base"), diff_id("app")], tags=("app:1",))
    app2 = b.add_image([diff_id("base"), diff_id("app2")], tags=("app2:1",))
    old = b.add_image([diff_id("base"), diff_id("old")])  # dangling
    ok = b.add_container(app, "ok", running=True)
    c2 = b.add_container(app2, "c2")
    gone = b.add_container(app, "gone")
    norec = b.add_container(app, "norec")
    (leak_cache,) = b.add_layers([diff_id("leak")])
    stray = rand_id()
    b.driver_dir(stray, [], {"junk": b"j" * 3000})
    ids: dict[str, Any] = {"b": b, "app": app, "app2": app2, "old": old, "ok": ok, "c2": c2}
    ids.update(gone=gone, norec=norec, leak_cache=leak_cache, stray=stray)
    root = tmp_path
    # running container: its mounted merged/ view was copied too
    merged = root / "overlay2" / b.built.containers[ok] / "merged"
    write(merged / "etc" / "hostname", "ok\n")
    # a volume in use, an unused one, and an unused one with mount options (data elsewhere)
    config = root / "containers" / ok / "config.v2.json"
    data = json.loads(config.read_text())
    data["MountPoints"] = {
        "/v": {"Type": "volume", "Name": "used", "Driver": "local", "Destination": "/v"}
    }
    config.write_text(json.dumps(data))
    write(root / "volumes" / "used" / "_data" / "x", "used")
    write(root / "volumes" / "unused" / "_data" / "data.bin", b"d" * 1000)
    write(root / "volumes" / "tmpfs-opts" / "opts.json", '{"MountType":"tmpfs"}')
    (root / "volumes" / "tmpfs-opts" / "_data").mkdir()
    # containers/<gone> removed, layerdb/mounts/<norec> removed
    shutil.rmtree(root / "containers" / gone)
    shutil.rmtree(root / "image" / "overlay2" / "layerdb" / "mounts" / norec)
    # app2's top layer directory deleted by hand (its l/ link left dangling)
    app2_top = b.built.images[app2][-1]
    shutil.rmtree(root / "overlay2" / app2_top)
    # the base layer's short link removed
    base = b.built.images[app][0]
    (root / "overlay2" / "l" / b.links[base]).unlink()
    # an interrupted layer delete: renamed record, driver directory still there
    removing_cache = rand_id()
    removing_chain = diff_id("removed")
    rec = root / "image/overlay2/layerdb/sha256" / f"{removing_chain[7:]}-{rand_id()}-removing"
    write(rec / "cache-id", removing_cache)
    write(rec / "diff", removing_chain)
    b.driver_dir(removing_cache, [], {"old": b"o" * 7000})
    ids.update(app2_top=app2_top, base=base, removing_cache=removing_cache)
    ids.update(removing_chain=removing_chain, removing_rec=str(rec.relative_to(root)))
    # stale temporary files
    write(root / "image/overlay2/layerdb/tmp/write-set-123456/diff", "sha256:" + "0" * 64)
    write(root / "containers" / ok / ".tmp-config.v2.json4242", "{}" * 300)
    write(root / "tmp" / "docker-import-1" / "layer.tar", b"t" * 5000)
    return ids


def test_every_kind_of_damage_is_found_exactly(tmp_path):
    ids = damaged_overlay2(tmp_path)
    b = ids["b"]
    root = tmp_path
    gone_mount = b.built.containers[ids["gone"]]
    norec_mount = b.built.containers[ids["norec"]]
    leak_chain = diff_id("leak")
    old_top_chain = list(chain_ids([diff_id("base"), diff_id("old")]))[-1]
    old_top = b.built.layers[old_top_chain]
    app2_top_chain = list(chain_ids([diff_id("base"), diff_id("app2")]))[-1]
    ok = ids["ok"]

    def odir(layer_id: str, reason: str, *more: str) -> dict[str, Any]:
        paths = [f"overlay2/{layer_id}", f"overlay2/l/{b.links[layer_id]}"]
        return {
            "kind": "orphan-driver-dir",
            "path": f"overlay2/{layer_id}/diff",
            "paths": paths,
            "bytes": allocated(root, *paths),
            "reason": reason,
            "ids": [layer_id, *more],
        }

    def simple(kind: str, path: str, reason: str, *idl: str, data: bool = True) -> dict[str, Any]:
        return {
            "kind": kind,
            "path": path,
            "paths": [path] if (root / path).exists() or os.path.islink(root / path) else [],
            "bytes": allocated(root, path) if data else 0,
            "reason": reason,
            "ids": list(idl),
        }

    old_hex = ids["old"][7:]
    dangling_paths = [
        f"image/overlay2/imagedb/content/sha256/{old_hex}",
        f"image/overlay2/imagedb/metadata/sha256/{old_hex}",
        f"image/overlay2/layerdb/sha256/{old_top_chain[7:]}",
        f"overlay2/{old_top}",
        f"overlay2/l/{b.links[old_top]}",
    ]
    nothing = "no layer, container or image references it"
    expected = [
        {
            "kind": "broken-link",
            "path": f"overlay2/l/{b.links[ids['app2_top']]}",
            "paths": [f"overlay2/l/{b.links[ids['app2_top']]}"],
            "bytes": 0,
            "reason": f"short link to overlay2/{ids['app2_top']}/diff, which does not exist",
            "ids": [b.links[ids["app2_top"]], ids["app2_top"]],
        },
        {
            "kind": "dangling-image",
            "path": dangling_paths[0],
            "paths": dangling_paths,
            "bytes": allocated(root, *dangling_paths),
            "reason": "untagged image without children or containers: what docker image "
            "prune removes",
            "ids": [ids["old"], old_top_chain],
        },
        simple(
            "leaked-layer",
            f"image/overlay2/layerdb/sha256/{leak_chain[7:]}",
            "no image and no container uses this layer",
            leak_chain,
            ids["leak_cache"],
        ),
        simple(
            "missing-layer-dir",
            f"overlay2/{ids['app2_top']}/diff",
            f"layer {app2_top_chain} has no driver directory: 1 image(s) and 1 container(s) "
            "depend on it",
            app2_top_chain,
            ids["app2_top"],
            ids["app2"],
            ids["c2"],
            data=False,
        ),
        simple(
            "missing-link",
            f"overlay2/l/{b.links[ids['base']]}",
            f"the short link of overlay2/{ids['base']} is gone: layers stacked on it no "
            "longer mount",
            ids["base"],
            b.links[ids["base"]],
            data=False,
        ),
        simple(
            "orphan-container-metadata",
            f"containers/{ids['norec']}",
            "container without a read-write layer record (layerdb/mounts): Docker cannot "
            "mount or start it",
            ids["norec"],
        ),
        simple(
            "orphan-container-metadata",
            f"image/overlay2/layerdb/mounts/{ids['gone']}",
            f"read-write layer record of a container whose containers/{ids['gone']} is gone",
            ids["gone"],
            gone_mount,
            f"{gone_mount}-init",
        ),
        odir(ids["leak_cache"], f"its only reference is the leaked layer {leak_chain}", leak_chain),
        odir(
            ids["removing_cache"],
            f"its layer {ids['removing_chain']} was being removed (…-removing record)",
            ids["removing_chain"],
        ),
        odir(ids["stray"], nothing),
        odir(
            gone_mount,
            f"read-write layer of container {ids['gone']}, whose containers/{ids['gone']} is gone",
            ids["gone"],
        ),
        odir(
            f"{gone_mount}-init",
            f"init layer of container {ids['gone']}, whose containers/{ids['gone']} is gone",
            ids["gone"],
        ),
        odir(norec_mount, nothing),
        odir(f"{norec_mount}-init", nothing),
        simple(
            "removing-dir",
            ids["removing_rec"],
            "layer record left by an interrupted layer delete",
            ids["removing_chain"],
            ids["removing_cache"],
        ),
        simple(
            "stale-tmp",
            f"containers/{ok}/.tmp-config.v2.json4242",
            "temporary file of an interrupted atomic write",
        ),
        simple(
            "stale-tmp",
            "image/overlay2/layerdb/tmp/write-set-123456",
            "layer metadata transaction that never committed",
        ),
        simple("stale-tmp", "tmp/docker-import-1", "daemon scratch, emptied by dockerd on start"),
        simple("unused-volume", "volumes/unused", "named volume that no container uses", "unused"),
    ]
    expected.sort(key=lambda o: (o["kind"], o["path"]))
    found = orphans_of(tmp_path)
    assert [(o["kind"], o["path"]) for o in found] == [(o["kind"], o["path"]) for o in expected]
    assert found == expected
    for o in found:  # everything that holds data has bytes
        holds = o["kind"] not in ("broken-link", "missing-link", "missing-layer-dir")
        assert (o["bytes"] > 0) == holds, o
    assert not any("merged" in p for o in found for p in o["paths"])


def test_a_tar_of_the_damaged_root_gives_the_same_list_with_apparent_bytes(tmp_path):
    root = tmp_path / "root"
    damaged_overlay2(root)
    archive = tmp_path / "root.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(root, arcname=".")
    from_dir = orphans_of(root)
    from_tar = orphans_of(archive)
    assert [(o["kind"], o["path"], o["ids"], o["paths"]) for o in from_tar] == [
        (o["kind"], o["path"], o["ids"], o["paths"]) for o in from_dir
    ]
    by_path = {o["path"]: o["bytes"] for o in from_tar}
    assert by_path["volumes/unused"] == 1000  # apparent: the file's size
    assert by_path["tmp/docker-import-1"] == 5000


def test_aufs_removing_dirs_and_a_leftover_driver(tmp_path):
    b = RootBuilder(tmp_path, "aufs")
    image = b.add_image([diff_id("base")], tags=("a:1",))
    b.add_container(image, "c")
    victim = rand_id()
    write(tmp_path / "aufs" / "diff" / f"{victim}-removing" / "f", b"r" * 2000)
    (tmp_path / "aufs" / "mnt" / f"{victim}-removing").mkdir()
    stray = rand_id()
    b.driver_dir(stray, [], {"s": b"s" * 100})
    old_driver = rand_id()
    write(tmp_path / "vfs" / "dir" / old_driver / "etc" / "passwd", "root:x:0:0\n")
    found = orphans_of(tmp_path)
    removing = [f"aufs/diff/{victim}-removing", f"aufs/mnt/{victim}-removing"]
    stray_paths = [f"aufs/diff/{stray}", f"aufs/layers/{stray}", f"aufs/mnt/{stray}"]
    assert found == [
        {
            "kind": "orphan-driver-dir",
            "path": f"aufs/diff/{stray}",
            "paths": stray_paths,
            "bytes": allocated(tmp_path, *stray_paths),
            "reason": "no layer, container or image references it",
            "ids": [stray],
        },
        {
            "kind": "orphan-driver-dir",
            "path": f"vfs/dir/{old_driver}",
            "paths": [f"vfs/dir/{old_driver}"],
            "bytes": allocated(tmp_path, f"vfs/dir/{old_driver}"),
            "reason": "no layer, container or image references it",
            "ids": [old_driver],
        },
        {
            "kind": "removing-dir",
            "path": removing[0],
            "paths": removing,
            "bytes": allocated(tmp_path, *removing),
            "reason": "left by an interrupted delete of a driver directory",
            "ids": [victim],
        },
    ]


def test_unreadable_metadata_is_data_not_a_traceback(tmp_path):
    b = RootBuilder(tmp_path)
    image = b.add_image([diff_id("base")], tags=("a:1",))
    cid = b.add_container(image, "c")
    mounts = tmp_path / "image/overlay2/layerdb/mounts" / cid
    (mounts / "mount-id").write_text("../../etc")  # hostile
    (mounts / "parent").write_text("garbage")
    chain = next(iter(b.built.layers))
    (b.layer_dir(chain) / "cache-id").unlink()
    (tmp_path / "overlay2" / "l" / "BROKENLINKBROKENLINKBROKEN").symlink_to("/etc/passwd")
    found = orphans_of(tmp_path)
    kinds = sorted({o["kind"] for o in found})
    assert "broken-link" in kinds
    assert all(isinstance(o["bytes"], int) for o in found)
