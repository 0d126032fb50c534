"""``inspect``: equal to ``docker inspect`` as dockerd 20.10 printed it for every sample root."""

from __future__ import annotations

import pytest

from storagekit.engines.docker.inspect import go_config, repo_order
from tests.conftest import NAMES, expected_of


def _mounts_sorted(record):
    # docker inspect walks a Go map for Mounts: its order varies from run to run.
    if "Mounts" in record:
        record = dict(record, Mounts=sorted(record["Mounts"], key=lambda m: m["Destination"]))
    return record


@pytest.mark.parametrize("name", NAMES)
def test_inspect_equals_docker_inspect(name, sample, run):
    expected = expected_of(name)
    wanted = expected["containers"] + expected["images"]
    r = run("-r", sample(name), "inspect", "--size", *[w["Id"] for w in wanted])
    assert (r.code, r.err) == (0, "")
    got = r.json()
    assert [g["Id"] for g in got] == [w["Id"] for w in wanted]
    for g, w in zip(got, wanted, strict=True):
        assert _mounts_sorted(g) == _mounts_sorted(w)


def test_inspect_without_size_leaves_sizes_out_and_live_fields_null(sample, run):
    r = run("-r", sample("overlay2-20.10"), "inspect", "sk-running", "/sk-tmpfs")
    assert r.code == 0
    got = r.json()
    assert [g["Name"] for g in got] == ["/sk-running", "/sk-tmpfs"]
    assert [("SizeRw" in g, "SizeRootFs" in g, g["ExecIDs"]) for g in got] == [
        (False, False, None)
    ] * 2
    assert got[0]["State"]["Pid"] == 22851  # as recorded at the daemon's last checkpoint


def test_inspect_type_and_unknown_reference(sample, run):
    root = sample("overlay2-20.10")
    image = run("-r", root, "inspect", "--type", "image", "sk-app:1.0").json()
    assert [i["Id"] for i in image] == [
        "sha256:e243ffdcea9ac500b3a657496d00289bda65b36c13d505df0d661c817ae1e25c"
    ]
    assert image[0]["RepoTags"] == ["sk-app:1.0", "sk-app:latest", "example.local:5000/team/app:v1"]
    r = run("-r", root, "inspect", "--type", "container", "sk-app:1.0")
    assert r.code == 1
    assert r.err == "storagekit: error: sk-app:1.0: no such container in this root\n"


def test_go_config_fills_the_struct_as_go_encodes_it():
    assert go_config({"Cmd": "sh", "Env": ["A=1"], "Junk": 1, "StopSignal": "SIGTERM"}) == {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": ["A=1"],
        "Cmd": ["sh"],
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
        "StopSignal": "SIGTERM",
    }


def test_references_in_the_reference_stores_order():
    # sorted by full name: docker.io/library/zz < docker.io/me/x < example.com/a < localhost/b
    assert repo_order(["localhost/b:1", "zz:1", "example.com/a:1", "me/x:1"]) == [
        "zz:1",
        "me/x:1",
        "example.com/a:1",
        "localhost/b:1",
    ]
