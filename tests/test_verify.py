"""verify: every engine-made layer is intact; one changed byte, removed or added file is named."""

from __future__ import annotations

import gzip
import json
import os
import subprocess

import pytest

from tests.conftest import NAMES, SAMPLES, expected_of


@pytest.mark.parametrize("name", NAMES)
def test_every_sample_layer_is_intact(name, sample, run):
    r = run("-r", sample(name), "verify", "--format", "json")
    assert r.code == 0, r.err
    layers = r.json()
    assert len(layers) == 7
    assert {(x["status"], x["computed_diff_id"] == x["diff_id"]) for x in layers} == {("ok", True)}
    image = next(i for i in expected_of(name)["images"] if "sk-app:1.0" in (i["RepoTags"] or []))
    r = run("-r", sample(name), "verify", "sk-app:1.0", "--format", "json")
    assert [x["diff_id"] for x in r.json()] == image["RootFS"]["Layers"]


@pytest.fixture
def copy(tmp_path):
    """The overlay2 sample extracted, to be tampered with."""
    dest = tmp_path / "root"
    dest.mkdir()
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xJf",
         str(SAMPLES / "overlay2-20.10" / "root.tar.xz"), "-C", str(dest)],
        check=True,
    )  # fmt: skip
    return dest


def _layer_with(run, root, relpath):
    """The layer record (and its diff dir) whose own files contain ``relpath``."""
    for layer in run("-r", str(root), "verify", "--format", "json").json():
        diff = root / "overlay2" / layer["cache_id"] / "diff"
        if (diff / relpath).is_file() and not (diff / relpath).is_symlink():
            return layer, diff
    raise AssertionError(relpath)


def test_one_changed_byte_names_the_layer_and_the_file(copy, run):
    layer, diff = _layer_with(run, copy, "data/with space.txt")
    target = diff / "data/with space.txt"
    data = bytearray(target.read_bytes())
    data[0] ^= 1
    target.write_bytes(bytes(data))
    result = run("-r", str(copy), "verify", "--format", "json").json()
    bad = [x for x in result if x["status"] != "ok"]
    assert [(x["chain_id"], x["status"]) for x in bad] == [(layer["chain_id"], "modified")]
    assert bad[0]["files"] == [{"path": "/data/with space.txt", "change": "content"}]


def test_removed_and_added_files_are_named(copy, run):
    layer, diff = _layer_with(run, copy, "data/with space.txt")
    os.unlink(diff / "data/with space.txt")
    (diff / "planted").write_text("x")
    [bad] = [
        x for x in run("-r", str(copy), "verify", "--format", "json").json() if x["status"] != "ok"
    ]
    assert bad["chain_id"] == layer["chain_id"]
    assert bad["files"] == [
        {"path": "/data/with space.txt", "change": "missing"},
        {"path": "/planted", "change": "added"},
    ]


def test_file_replaced_by_a_directory(copy, run):
    layer, diff = _layer_with(run, copy, "data/with space.txt")
    os.unlink(diff / "data/with space.txt")
    (diff / "data/with space.txt").mkdir()
    [bad] = [
        x for x in run("-r", str(copy), "verify", "--format", "json").json() if x["status"] != "ok"
    ]
    assert bad["files"] == [{"path": "/data/with space.txt", "change": "type"}]


def test_damaged_tar_split_and_missing_layer(copy, run):
    layers = run("-r", str(copy), "verify", "--format", "json").json()
    first, second = layers[0], layers[1]
    split = copy / "image/overlay2/layerdb/sha256" / first["chain_id"][7:] / "tar-split.json.gz"
    split.write_bytes(split.read_bytes()[:100])
    os.rename(copy / "overlay2" / second["cache_id"], copy / "overlay2" / "moved-away")
    r = run("-r", str(copy), "verify", "--format", "json")
    assert r.code == 4  # a layer that cannot be checked does not pass
    status = {x["chain_id"]: x["status"] for x in r.json()}
    assert status[first["chain_id"]] == "unreadable"
    assert status[second["chain_id"]] == "missing-dir"
    assert "[bad-tar-split]" in r.err
    others = [s for c, s in status.items() if c not in (first["chain_id"], second["chain_id"])]
    assert others  # the other layers were still verified
    assert set(others) <= {"ok", "modified"}


def test_corrupt_json_line(copy, run):
    layers = run("-r", str(copy), "verify", "--format", "json").json()
    split = copy / "image/overlay2/layerdb/sha256" / layers[0]["chain_id"][7:] / "tar-split.json.gz"
    lines = gzip.decompress(split.read_bytes()).split(b"\n")
    lines[1] = json.dumps({"type": 1, "payload": "!!!notbase64"}).encode()
    split.write_bytes(gzip.compress(b"\n".join(lines)))
    r = run("-r", str(copy), "verify", "--format", "json")
    assert r.json()[0]["status"] == "unreadable"
    assert "line 2: not a tar-split entry" in r.err


@pytest.mark.parametrize("name", NAMES)
def test_save_writes_layer_tars_that_hash_to_the_diff_ids(name, sample, run, tmp_path):
    import hashlib
    import tarfile

    out = tmp_path / "s.tar"
    r = run("-r", sample(name), "save", "sk-app:1.0", "-o", str(out))
    assert r.code == 0, r.err
    image = next(i for i in expected_of(name)["images"] if "sk-app:1.0" in (i["RepoTags"] or []))
    with tarfile.open(out) as tf:
        [entry] = json.load(tf.extractfile("manifest.json"))
        assert entry["Config"] == "blobs/sha256/" + image["Id"][7:]
        index = json.load(tf.extractfile("index.json"))
        assert json.load(tf.extractfile("oci-layout")) == {"imageLayoutVersion": "1.0.0"}
        names = {m["annotations"]["io.containerd.image.name"] for m in index["manifests"]}
        assert names == {
            "docker.io/library/sk-app:1.0",
            "docker.io/library/sk-app:latest",
            "example.local:5000/team/app:v1",
        }
        oci = json.load(tf.extractfile("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
        assert oci["config"]["digest"] == image["Id"]
        assert [x["digest"] for x in oci["layers"]] == image["RootFS"]["Layers"]
        assert sorted(entry["RepoTags"]) == sorted(image["RepoTags"])
        config = tf.extractfile(entry["Config"]).read()
        assert "sha256:" + hashlib.sha256(config).hexdigest() == image["Id"]
        digests = [
            "sha256:" + hashlib.sha256(tf.extractfile(layer).read()).hexdigest()
            for layer in entry["Layers"]
        ]
    assert digests == image["RootFS"]["Layers"]


def test_export_equals_docker_export(sample, run, tmp_path):
    from tests.test_recovery import normalise_export, tar_entries

    expected = expected_of("overlay2-20.10")
    for c in expected["containers"]:
        out = tmp_path / f"{c['Id']}.tar"
        r = run("-r", sample("overlay2-20.10"), "export", c["Name"], "-o", str(out))
        assert r.code == 0, r.err
        assert normalise_export(tar_entries(out)) == normalise_export(expected["export"][c["Id"]])


def test_verify_of_a_container_adds_its_rw_layer_changes(sample, run):
    expected = expected_of("overlay2-20.10")
    c = next(c for c in expected["containers"] if c["Name"] == "/sk-basec")
    r = run("-r", sample("overlay2-20.10"), "verify", "sk-basec", "--format", "json")
    assert r.code == 0, r.err
    *layers, rw = r.json()
    assert [x["status"] for x in layers] == ["ok"]
    assert rw["status"] == "container-changes"
    assert rw["cache_id"] == c["GraphDriver"]["Data"]["UpperDir"].split("/")[-2]
    kinds = {0: "changed", 1: "added", 2: "deleted"}
    assert sorted((f["change"], f["path"]) for f in rw["files"]) == sorted(
        (kinds[x["Kind"]], x["Path"]) for x in expected["diff"][c["Id"]]
    )
