"""Roots written by older (1.10-19.03) and newer (23+) engines: right answers, no findings.

Each layout is built next to its assertions from what moby's source at that version writes;
the reference is named in each test's docstring.
"""

from __future__ import annotations

import json
import os
import shutil

from tests.rootbuilder import RootBuilder, diff_id, simple_root, state, write


def audit(run, root):
    r = run("-r", str(root), "audit", "--format", "json")
    assert r.code == 0, r.err
    return r.json()


def codes(report):
    return [(f["code"], f["path"]) for f in report["findings"]]


def test_empty_store_of_a_prior_driver_is_not_a_finding(tmp_path, run):
    """A host started once with another driver keeps an empty ``image/<driver>/``.

    dockerd creates ``image/<driver>/{imagedb,layerdb,repositories.json}`` for the driver it
    starts with (moby daemon/daemon.go ``NewDaemon``); google/docker-explorer's real overlay2
    root (tests.py ``TestOverlay2Storage.testGetRepositoriesString``) has an empty
    ``image/overlay/`` beside ``image/overlay2/``.
    """
    b, image, cid = simple_root(tmp_path)
    (tmp_path / "image/overlay/layerdb").mkdir(parents=True)
    (tmp_path / "image/overlay/imagedb/content/sha256").mkdir(parents=True)
    write(tmp_path / "image/overlay/repositories.json", '{"Repositories":{}}')
    report = audit(run, tmp_path)
    assert report["findings"] == []
    assert [c["id"] for c in report["containers"]] == [cid]
    assert [i["id"] for i in report["images"]] == [image]


def test_unreadable_driver_is_one_finding_not_missing_directories(tmp_path, run):
    """``zfs`` (moby daemon/graphdriver/zfs/zfs.go) has no reader: its directories are unknown,
    not missing."""
    b = RootBuilder(tmp_path, "vfs")
    image = b.add_image([diff_id("a")], tags=("busybox:latest",))
    cid = b.add_container(image, "c")
    os.rename(tmp_path / "image/vfs", tmp_path / "image/zfs")
    os.rename(tmp_path / "vfs/dir", tmp_path / "zfs")
    shutil.rmtree(tmp_path / "vfs")
    config = tmp_path / "containers" / cid / "config.v2.json"
    config.write_text(config.read_text().replace('"Driver": "vfs"', '"Driver": "zfs"'))
    report = audit(run, tmp_path)
    assert codes(report) == [("unsupported-driver", "image/zfs")]
    [c] = report["containers"]
    mount = b.built.containers[cid]
    assert c["driver"] == "zfs"
    assert c["layer_dirs"] == [mount, f"{mount}-init", b.built.images[image][0]]


def test_containerd_image_store_root(tmp_path, run):
    """Docker >= 24 with containerd-snapshotter (default since 29.0,
    moby daemon/image_store_choice.go): no ``image/``, ``Driver`` is a snapshotter."""
    cid = "ab" * 32
    (tmp_path / "volumes").mkdir()
    (tmp_path / "rootfs" / "overlayfs" / cid).mkdir(parents=True)
    config = {
        "ID": cid,
        "Name": "/web",
        "Image": "sha256:" + "cd" * 32,
        "ImageManifest": {"mediaType": "application/vnd.oci.image.manifest.v1+json"},
        "Driver": "overlayfs",
        "Config": {"Image": "alpine:3.20"},
        "State": {
            "Running": False,
            "StartedAt": "2026-01-01T00:00:00.1Z",
            "FinishedAt": "2026-01-01T00:00:01.2Z",
            "ExitCode": 0,
        },
        "MountPoints": {},
    }
    write(tmp_path / "containers" / cid / "config.v2.json", json.dumps(config))
    report = audit(run, tmp_path)
    assert codes(report) == [("no-image-store", "image")]
    [c] = report["containers"]
    assert (c["id"], c["status"], c["driver"], c["layer_dirs"]) == (cid, "exited", "overlayfs", [])


def test_container_migrated_from_docker_before_1_10(tmp_path, run):
    """Docker 1.10-18.09 migrated pre-1.10 containers in place (moby migrate/v1/migratev1.go
    ``migrateContainers``; v1.10.0:layer/migration.go ``CreateRWLayerByGraphID``):
    ``config.v2.json`` is the old ``config.json`` with ``Image`` replaced, ``mount-id`` is the
    container ID, ``init-id`` is written only if ``<id>-init`` exists; the old ``graph/``,
    ``repositories-<driver>``, ``linkgraph.db`` and ``.migration-v1-*`` files stay behind."""
    b = RootBuilder(tmp_path, "aufs")
    image = b.add_image([diff_id("base"), diff_id("top")], tags=("busybox:latest",))
    cids = []
    for n, with_init in enumerate((True, False)):
        cid = f"{n + 1}" * 64
        below = list(reversed(b.built.images[image]))
        if with_init:
            b.driver_dir(f"{cid}-init", below, {".dockerenv": b""})
            below = [f"{cid}-init", *below]
        b.driver_dir(cid, below, {"written": b"123"})
        m = tmp_path / "image/aufs/layerdb/mounts" / cid
        write(m / "mount-id", cid)
        if with_init:
            write(m / "init-id", f"{cid}-init")
        write(m / "parent", list(b.built.layers)[-1])
        # A Docker 1.9 config.json: no Dead, no Health, ExecDriver, Volumes/VolumesRW, and
        # MountPoints without Type (moby v1.9.1:daemon/container.go, daemon/volumes.go).
        old = {
            "State": state(
                with_init,
                pid=4242 if with_init else 0,
                exit_code=0 if with_init else 137,
                started="2016-02-13T16:45:05.785658+01:00",
                finished="0001-01-01T00:00:00Z" if with_init else "2016-02-13T17:00:00Z",
                OOMKilled=False,
                Error="",
            ),
            "ID": cid,
            "Created": "2016-02-13T15:45:05.629904159Z",
            "Path": "sh",
            "Args": [],
            "Config": {"Hostname": cid[:12], "Image": "busybox", "Cmd": ["sh"]},
            "Image": image,
            "Name": f"/old{n}",
            "Driver": "aufs",
            "ExecDriver": "native-0.2",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "RestartCount": 0,
            "UpdateDns": False,
            "HasBeenStartedBefore": False,
            "MountPoints": {
                "/data": {
                    "Name": "d" * 64,
                    "Destination": "/data",
                    "Driver": "local",
                    "RW": True,
                    "Source": "/var/lib/docker/volumes/" + "d" * 64 + "/_data",
                    "Relabel": "",
                },
                "/host": {
                    "Name": "",
                    "Destination": "/host",
                    "Driver": "",
                    "RW": False,
                    "Source": "/srv",
                    "Relabel": "ro",
                },
            },
            "Volumes": {"/data": "/var/lib/docker/volumes/" + "d" * 64 + "/_data"},
            "VolumesRW": {"/data": True},
            "AppliedVolumesFrom": None,
        }
        write(tmp_path / "containers" / cid / "config.json", json.dumps({**old, "Image": "9" * 64}))
        write(tmp_path / "containers" / cid / "config.v2.json", json.dumps(old))
        cids.append(cid)
    # Pre-1.7 volumes moved to volumes/<name>/_data; no metadata.db before 1.11.
    write(tmp_path / "volumes" / ("d" * 64) / "_data" / "x", "abc")
    v1 = "7" * 64
    write(tmp_path / "graph" / v1 / "json", json.dumps({"id": v1}))
    write(tmp_path / "graph" / v1 / ".migration-diffid", diff_id("base"))
    write(tmp_path / ".migration-v1-images.json", json.dumps({v1: image}))
    write(tmp_path / ".migration-v1-tags", "")
    write(tmp_path / "repositories-aufs", json.dumps({"Repositories": {"busybox": {"latest": v1}}}))
    write(tmp_path / "linkgraph.db", b"SQLite format 3\x00")

    report = audit(run, tmp_path)
    assert report["findings"] == []
    assert report["orphans"] == []
    cache = list(reversed(b.built.images[image]))
    by_id = {c["id"]: c for c in report["containers"]}
    running, stopped = by_id[cids[0]], by_id[cids[1]]
    assert (running["status"], running["exit_code"], running["started"], running["finished"]) == (
        "running",
        0,
        "2016-02-13T15:45:05.785658Z",
        None,
    )
    assert (running["mount_id"], running["init_id"]) == (cids[0], f"{cids[0]}-init")
    assert running["layer_dirs"] == [cids[0], f"{cids[0]}-init", *cache]
    assert (stopped["status"], stopped["exit_code"], stopped["init_id"]) == ("exited", 137, None)
    assert stopped["layer_dirs"] == [cids[1], *cache]
    assert stopped["size_rw"] == 3
    assert [(m["type"], m["name"], m["read_only"], m["present"]) for m in stopped["mounts"]] == [
        ("volume", "d" * 64, False, True),
        ("bind", "", True, False),
    ]
    [volume] = report["volumes"]
    assert (volume["name"], volume["driver"]) == ("d" * 64, "local")


def test_root_of_docker_before_1_10(tmp_path, run):
    """Docker <= 1.9: ``graph/<v1 id>/``, ``repositories-<driver>``, ``containers/<id>/
    config.json`` and no ``image/`` (moby v1.9.1:graph/graph.go, daemon/daemon.go: a
    container's driver IDs are its own ID and ``<id>-init``). Modelled on
    google/docker-explorer's real ``aufs.v1`` root (tests.py ``TestAufsV1Storage``)."""
    cid, other = "de44dd97" + "c" * 56, "3b03d095" + "e" * 56
    image, base = "1cee97b1" + "a" * 56, "df557f39" + "b" * 56
    for v1, parent in ((base, None), (image, base)):
        meta = {"id": v1, "created": "2018-12-26T08:20:42.831353376Z", "container_config": {}}
        write(
            tmp_path / "graph" / v1 / "json",
            json.dumps({**meta, "parent": parent} if parent else meta),
        )
        write(tmp_path / "graph" / v1 / "layersize", "0" if parent else "1154361")
        write(tmp_path / "aufs" / "layers" / v1, f"{parent}\n" if parent else "")
        (tmp_path / "aufs" / "diff" / v1).mkdir(parents=True)
        (tmp_path / "aufs" / "mnt" / v1).mkdir(parents=True)
    write(
        tmp_path / "repositories-aufs", json.dumps({"Repositories": {"busybox": {"latest": image}}})
    )
    for c, running in ((cid, True), (other, False)):
        write(tmp_path / "aufs" / "layers" / f"{c}-init", f"{image}\n{base}\n")
        write(tmp_path / "aufs" / "layers" / c, f"{c}-init\n{image}\n{base}\n")
        (tmp_path / "aufs" / "diff" / f"{c}-init").mkdir(parents=True)
        write(tmp_path / "aufs" / "diff" / c / "root" / ".ash_history", "ls\n")
        (tmp_path / "aufs" / "mnt" / f"{c}-init").mkdir(parents=True)
        (tmp_path / "aufs" / "mnt" / c).mkdir(parents=True)
        if running:  # a copy taken while it ran: the union is visible in mnt/
            write(tmp_path / "aufs" / "mnt" / c / "etc" / "hostname", "de44dd97\n")
        config = {
            "State": state(
                running,
                pid=1234 if running else 0,
                exit_code=0 if running else 130,
                started="2018-12-27T10:53:17.409426Z",
                finished="0001-01-01T00:00:00Z" if running else "2018-12-27T11:00:00Z",
                OOMKilled=False,
                Dead=False,
                Error="",
            ),
            "ID": c,
            "Created": "2018-12-27T10:53:17.096746609Z",
            "Path": "sh",
            "Args": [],
            "Config": {"Image": "busybox", "Cmd": ["sh"]},
            "Image": image,
            "Name": "/angry_rosalind" if running else "/other",
            "Driver": "aufs",
            "ExecDriver": "native-0.2",
            "MountPoints": {},
            "Volumes": {},
            "VolumesRW": {},
        }
        write(tmp_path / "containers" / c / "config.json", json.dumps(config))
        write(tmp_path / "containers" / c / "hostconfig.json", "{}")

    report = audit(run, tmp_path)
    assert codes(report) == []  # the graph/ layout is read now (engines/docker/graph.py)
    assert [(i["id"], i["tags"]) for i in report["images"]] == [
        (image, ["busybox:latest"]),
        (base, []),
    ]
    by_id = {c["id"]: c for c in report["containers"]}
    c = by_id[cid]
    assert (c["name"], c["image"], c["image_id"], c["status"], c["driver"]) == (
        "/angry_rosalind",
        "busybox",
        image,
        "running",
        "aufs",
    )
    assert (c["created"], c["started"], c["finished"]) == (
        "2018-12-27T10:53:17.096746609Z",
        "2018-12-27T10:53:17.409426Z",
        None,
    )
    assert (c["mount_id"], c["init_id"]) == (cid, f"{cid}-init")
    assert c["layer_dirs"] == [cid, f"{cid}-init", image, base]
    assert c["size_rw"] == 3
    assert (by_id[other]["status"], by_id[other]["exit_code"]) == ("exited", 130)
    assert report["orphans"] == []
    r = run("-r", str(tmp_path), "ls", "angry_rosalind", "/root", "--format", "json")
    assert r.code == 0, r.err
    assert [(e["path"], e["layer"]) for e in r.json()] == [("/root/.ash_history", cid)]


def test_overlay2_root_of_docker_17(tmp_path, run):
    """overlay2 of 1.12-19.03 (moby v17.06.0-ce:daemon/graphdriver/overlay2/overlay.go):
    ``merged/`` made at create time for every layer with a parent (the union inside it only
    while mounted), no ``committed`` marker (20.10+); ``link``/``lower`` trimmed as Docker
    reads them. Running and stopped containers; the union in ``merged/`` is never a layer."""
    b = RootBuilder(tmp_path)
    image = b.add_image([diff_id("base"), diff_id("top")], tags=("busybox:latest",))
    running = b.add_container(image, "web", running=True)
    stopped = b.add_container(image, "old")
    for layer in (tmp_path / "overlay2").iterdir():
        if layer.name == "l":
            continue
        link = layer / "link"
        link.write_text(link.read_text() + "\n")
        if (layer / "lower").exists():
            (layer / "merged").mkdir()
    merged = tmp_path / "overlay2" / b.built.containers[running] / "merged"
    write(merged / "etc" / "hostname", "web\n")
    report = audit(run, tmp_path)
    assert report["findings"] == []
    assert report["orphans"] == []
    cache = list(reversed(b.built.images[image]))
    for cid in (running, stopped):
        [c] = [c for c in report["containers"] if c["id"] == cid]
        mount = b.built.containers[cid]
        assert c["layer_dirs"] == [mount, f"{mount}-init", *cache]
        assert c["size_rw"] == 8
    r = run("-r", str(tmp_path), "chain", "web", "--format", "json")
    assert r.json()["driver_parents_agree"] is True
