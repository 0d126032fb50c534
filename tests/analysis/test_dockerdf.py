"""``docker system df`` offline equals what dockerd 20.10 answered for every sample root."""

from __future__ import annotations

from typing import Any

import pytest

from storagekit.engines.docker.df import docker_df
from storagekit.engines.docker.root import DockerRoot
from tests.conftest import NAMES, expected_of
from tests.rootbuilder import diff_id, simple_root


def cli_summary(raw: dict[str, Any]) -> dict[str, dict[str, int]]:
    """What docker/cli v20-v28 (formatter/disk_usage.go) prints, from the raw /system/df."""
    images = raw["Images"]
    active_images = [i for i in images if i["Containers"] > 0]
    used = sum(i["Size"] - i["SharedSize"] for i in active_images)
    containers = raw["Containers"]
    active_states = ("running", "paused", "restarting")
    size_rw = [c.get("SizeRw", 0) for c in containers]
    idle_rw = [c.get("SizeRw", 0) for c in containers if c["State"] not in active_states]
    volumes = raw["Volumes"]
    return {
        "images": {
            "count": len(images),
            "active": len(active_images),
            "size": raw["LayersSize"],
            "reclaimable": raw["LayersSize"] - used,
        },
        "containers": {
            "count": len(containers),
            "active": len(containers) - len(idle_rw),
            "size": sum(size_rw),
            "reclaimable": sum(idle_rw),
        },
        "volumes": {
            "count": len(volumes),
            "active": sum(1 for v in volumes if v["UsageData"]["RefCount"] > 0),
            "size": sum(v["UsageData"]["Size"] for v in volumes),
            "reclaimable": sum(
                v["UsageData"]["Size"] for v in volumes if v["UsageData"]["RefCount"] == 0
            ),
        },
        "build_cache": {
            "count": len(raw["BuildCache"] or []),
            "active": 0,
            "size": raw["BuilderSize"],
            "reclaimable": raw["BuilderSize"],
        },
    }


def summary(area: dict[str, Any]) -> dict[str, Any]:
    return {k: area[k] for k in ("count", "active", "size", "reclaimable")}


@pytest.mark.parametrize("name", NAMES)
def test_df_equals_the_engine(name, sample):
    raw = expected_of(name)["system_df"]
    with DockerRoot.open(sample(name)) as root:
        df = docker_df(root, verbose=True)
    assert {k: summary(v) for k, v in df.items()} == cli_summary(raw)
    images = {
        i["Id"]: {
            "id": i["Id"],
            "size": i["Size"],
            "shared_size": i["SharedSize"],
            "unique_size": i["Size"] - i["SharedSize"],
            "containers": i["Containers"],
        }
        for i in raw["Images"]
    }
    keys = ("id", "size", "shared_size", "unique_size", "containers")
    assert {i["id"]: {k: i[k] for k in keys} for i in df["images"]["items"]} == images
    # docker system df -v's REPOSITORY and TAG: the first of RepoTags, newest image first
    assert [(i["id"], f"{i['repository']}:{i['tag']}") for i in df["images"]["items"]] == [
        (i["Id"], (i["RepoTags"] or ["<none>:<none>"])[0]) for i in raw["Images"]
    ]
    containers = {c["Id"]: c.get("SizeRw", 0) for c in raw["Containers"]}
    assert {c["id"]: c["size_rw"] for c in df["containers"]["items"]} == containers
    # newest first, as docker ps -a, with docker system df -v's columns
    assert [
        (c["id"], c["image"], c["name"], c["status"], c["local_volumes"])
        for c in df["containers"]["items"]
    ] == [
        (c["Id"], c["Image"], c["Names"][0], c["State"],
         sum(m.get("Driver") == "local" for m in c["Mounts"]))
        for c in raw["Containers"]
    ]  # fmt: skip
    volumes = {
        v["Name"]: (v["UsageData"]["Size"], v["UsageData"]["RefCount"]) for v in raw["Volumes"]
    }
    assert {v["name"]: (v["size"], v["links"]) for v in df["volumes"]["items"]} == volumes
    assert df["build_cache"]["items"] == []


def test_items_only_when_verbose(tmp_path):
    simple_root(tmp_path)
    with DockerRoot.open(str(tmp_path)) as root:
        df = docker_df(root)
    assert all("items" not in area for area in df.values())
    assert df["images"] == {"count": 1, "active": 1, "size": 10, "reclaimable": 0}
    assert df["containers"] == {"count": 1, "active": 0, "size": 8, "reclaimable": 8}
    assert df["volumes"] == {
        "count": 0, "active": 0, "size": 0, "reclaimable": 0, "uncounted": []
    }  # fmt: skip
    assert df["build_cache"] == {"count": 0, "active": 0, "size": 0, "reclaimable": 0}


def test_damaged_root_gives_numbers_not_tracebacks(tmp_path):
    b, image, cid = simple_root(tmp_path)
    b.add_image([diff_id("base"), diff_id("other")])  # dangling, shares the base layer
    (tmp_path / "overlay2" / b.built.containers[cid] / "diff" / "written").unlink()
    (tmp_path / "image" / "overlay2" / "layerdb" / "mounts" / cid / "mount-id").unlink()
    (tmp_path / "buildkit").mkdir()
    (tmp_path / "buildkit" / "metadata_v2.db").write_bytes(b"not a bolt database")
    with DockerRoot.open(str(tmp_path)) as root:
        df = docker_df(root, verbose=True)
    assert df["images"]["count"] == 2
    assert df["images"]["size"] == 15  # three distinct layers of 5 bytes
    assert [(c["id"], c["size_rw"]) for c in df["containers"]["items"]] == [(cid, None)]
    assert df["containers"]["size"] == 0
    assert df["build_cache"]["count"] is None
    assert "not read" in df["build_cache"]["note"]
