"""Roots written by older (1.10-19.03) and newer (23+) engines: right answers, no findings.

Each layout is built next to its assertions from what moby's source at that version writes;
the reference is named in each test's docstring.
"""

from __future__ import annotations

import json
import os
import shutil

from tests.rootbuilder import RootBuilder, diff_id, simple_root, write


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
    """Legacy ``overlay`` (deprecated 18.09, removed 24.0; moby v23.0.0:daemon/graphdriver/
    overlay/overlay.go) has no reader: its directories are unknown, not missing."""
    b = RootBuilder(tmp_path, "vfs")
    image = b.add_image([diff_id("a")], tags=("busybox:latest",))
    cid = b.add_container(image, "c")
    os.rename(tmp_path / "image/vfs", tmp_path / "image/overlay")
    os.rename(tmp_path / "vfs/dir", tmp_path / "overlay")
    shutil.rmtree(tmp_path / "vfs")
    config = tmp_path / "containers" / cid / "config.v2.json"
    config.write_text(config.read_text().replace('"Driver": "vfs"', '"Driver": "overlay"'))
    report = audit(run, tmp_path)
    assert codes(report) == [("unsupported-driver", "image/overlay")]
    [c] = report["containers"]
    mount = b.built.containers[cid]
    assert c["driver"] == "overlay"
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
