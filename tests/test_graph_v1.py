"""Docker <= 1.9 (graph/ layout): docker-explorer's aufs.v1 test root, and what it expects.

The expected values are those of docker-explorer's ``tests.py`` (``TestAufsV1Storage``): the
repositories file, the ordered layers of container de44dd97…, their history and layer info.
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parent / "data" / "docker-explorer-aufs-v1" / "root.tar.xz")
BUSYBOX = "1cee97b18f87b5fa91633db35f587e2c65c093facfa2cbbe83d5ebe06e1d9125"
BASE = "df557f39d413a1408f5c28d8aab2892f927237ec22e903ef04b331305130ab38"
RUNNING = "de44dd97cfd1c8d1c1aad7f75a435603991a7a39fa4f6b20a69bf4458809209c"
ADDED = "ce026b62356eec3ad1214f92be2c9dc063fe205bd5e600be3492c4dfb17148bd"
#: The busybox 1.29.3 layer's diff ID, and the empty layer's: the rebuilt v1 tars are exact.
BASE_DIFF = "sha256:23bc2b70b2014dec0ac22f27bb93e9babd08cdd6f1115d0c955b9ff22b382f5a"
EMPTY_DIFF = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
CONTAINERS = [
    "3b03d0958390ccfb92e9f1ee67de628ab315c532120d4512cb72a1805465fb35",
    "de44dd97cfd1c8d1c1aad7f75a435603991a7a39fa4f6b20a69bf4458809209c",
    "fbb6711cefc70193cb6cb0b113fc9ed6b9eaddcdd33667adb5cb690a4dca413a",
]


def test_images_and_tags(run):
    r = run("-r", ROOT, "images", "-a", "--format", "json")
    assert r.code == 0, r.err
    images = {i["id"]: i for i in r.json()}
    assert sorted(images) == [BUSYBOX, BASE]
    # docker-explorer GetRepositoriesString: {"busybox": {"latest": "1cee97…"}}
    assert images[BUSYBOX]["tags"] == ["busybox:latest"]
    assert images[BASE]["tags"] == []
    assert images[BUSYBOX]["parent"] == BASE
    assert images[BUSYBOX]["created"] == "2018-12-26T08:20:42.831353376Z"
    assert images[BASE]["created"] == "2018-12-26T08:20:42.687925672Z"
    assert images[BUSYBOX]["cache_ids"] == [BASE, BUSYBOX]
    assert images[BUSYBOX]["size"] == 1154361
    assert images[BUSYBOX]["containers"] == 3
    assert r.err == ""


def test_container_chain_is_docker_explorers(run):
    """GetOrderedLayers: [1cee97…, df557…]; MakeMountCommands: rw, -init, then those."""
    r = run("-r", ROOT, "chain", "de44dd", "--format", "json")
    assert r.code == 0, r.err
    chain = r.json()
    assert [(x["role"], x["cache_id"]) for x in chain["layers"]] == [
        ("rw", RUNNING),
        ("init", RUNNING + "-init"),
        ("image", BUSYBOX),
        ("image", BASE),
    ]
    assert [x["path"] for x in chain["layers"]] == [
        f"aufs/diff/{RUNNING}",
        f"aufs/diff/{RUNNING}-init",
        f"aufs/diff/{BUSYBOX}",
        f"aufs/diff/{BASE}",
    ]
    assert chain["driver_parents_agree"] is True
    assert chain["complete"] is True
    image = run("-r", ROOT, "chain", "busybox", "--format", "json").json()
    assert [x["cache_id"] for x in image["layers"]] == [BUSYBOX, BASE]
    assert image["driver_parents_agree"] is True


def test_history_is_docker_explorers(run):
    """GetHistory and GetLayerInfo of the container's image."""
    r = run("-r", ROOT, "history", "busybox", "--format", "json")
    assert r.code == 0, r.err
    assert r.json() == [
        {
            "id": BUSYBOX,
            "created": "2018-12-26T08:20:42.831353376Z",
            "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
            "size": 0,
            "comment": "",
            "empty_layer": False,
        },
        {
            "id": BASE,
            "created": "2018-12-26T08:20:42.687925672Z",
            "created_by": f"/bin/sh -c #(nop) ADD file:{ADDED} in / ",
            "size": 1154361,
            "comment": "",
            "empty_layer": False,
        },
    ]


def test_containers_and_layers(run):
    containers = run("-r", ROOT, "containers", "--format", "json").json()
    assert sorted(c["id"] for c in containers) == CONTAINERS
    running = next(c for c in containers if c["id"] == RUNNING)
    assert (running["name"], running["status"], running["image"]) == (
        "/angry_rosalind",
        "running",
        "busybox",
    )
    assert running["created"] == "2018-12-27T10:53:17.096746609Z"
    assert running["image_id"] == BUSYBOX
    assert running["layer_dirs"] == [RUNNING, RUNNING + "-init", BUSYBOX, BASE]
    layers = run("-r", ROOT, "layers", "--format", "json").json()
    assert [(x["chain_id"], x["parent"], x["size"], x["diff_id"]) for x in layers] == [
        (BUSYBOX, BASE, 0, None),
        (BASE, None, 1154361, None),
    ]


def test_layers_table_keeps_the_init_suffix(run):
    from storagekit.ids import short

    assert short(RUNNING + "-init") == RUNNING[:12] + "-init"
    assert short("sha256:" + BASE) == BASE[:12]


def test_verify_rebuilds_the_v1_layer_tars(run):
    r = run("-r", ROOT, "verify", "--format", "json")
    assert r.code == 0, r.err
    found = [(x["chain_id"], x["status"], x["diff_id"], x["computed_diff_id"]) for x in r.json()]
    assert found == [(BUSYBOX, "ok", None, EMPTY_DIFF), (BASE, "ok", None, BASE_DIFF)]


@pytest.mark.skipif(os.geteuid() != 0, reason="extracting device nodes needs root")
def test_a_planted_file_in_a_v1_layer_is_named(tmp_path, run):
    subprocess.run(["tar", "-xJf", ROOT, "-C", str(tmp_path)], check=True)
    (tmp_path / "docker" / "aufs" / "diff" / BASE / "bin" / "backdoor").write_bytes(b"x")
    r = run("-r", str(tmp_path / "docker"), "verify", "--format", "json")
    assert r.code == 4
    bad = [(x["chain_id"], x["status"], x["files"]) for x in r.json() if x["status"] != "ok"]
    assert bad == [(BASE, "modified", [{"path": "/bin/backdoor", "change": "added"}])]


def test_tar_data_is_a_tar_split(tmp_path):
    """The layer's tar-data.json.gz is read as a tar-split (the same format since 1.8)."""
    with tarfile.open(ROOT) as tf:
        member = tf.extractfile(f"docker/graph/{BASE}/tar-data.json.gz")
        assert member is not None
        first = gzip.open(io.BytesIO(member.read())).readline()
    assert first.startswith(b'{"type":')


def test_audit_says_graph_layout_and_verifies(run):
    r = run("-r", ROOT, "audit", "--verify", "--format", "json")
    assert r.code == 0, r.err
    report = r.json()
    assert (report["root"]["layout"], report["root"]["stores"]) == ("graph", ["aufs"])
    assert report["integrity"] == {
        "checked": True,
        "layers": 2,
        "intact": True,
        "not_matching": [],
        "note": None,
    }
    assert [f["code"] for f in report["findings"]] == []
