"""A MountPoints entry that tries to leave the root is one finding, as directory and archive."""

from __future__ import annotations

import json
import tarfile

import pytest

from tests.rootbuilder import simple_root, write


@pytest.mark.parametrize("form", ["directory", "archive"])
def test_a_volume_name_that_is_a_path_is_one_finding(tmp_path, run, form):
    root = tmp_path / "root"
    _, _, cid = simple_root(root)
    path = root / "containers" / cid / "config.v2.json"
    config = json.loads(path.read_bytes())
    config["MountPoints"] = {
        "/data": {"Type": "volume", "Name": "../../../../etc", "Destination": "/data", "RW": True},
        "/../../x": {"Type": "bind", "Source": "/srv", "Destination": "/../../x", "RW": True},
    }
    write(path, json.dumps(config))
    where = str(root)
    if form == "archive":
        where = str(tmp_path / "root.tar")
        with tarfile.open(where, "w") as tf:
            tf.add(root, arcname=".")
    expected = [
        f"error: containers/{cid}/config.v2.json: mount destination leaves the container: "
        "'/../../x' [unsafe-path]",
        f"error: containers/{cid}/config.v2.json: volume name of the mount at /data cannot be "
        "a path: '../../../../etc' [unsafe-id]",
    ]
    for args in (["audit"], ["containers"], ["ls", cid, "/", "--with-mounts"]):
        r = run("-r", where, *args)
        assert r.code == 0, (args, r.err)
        lines = [line for line in r.err.splitlines() if not line.endswith("[xattrs-missing]")]
        assert sorted(lines) == expected, args
    (record,) = run("-r", where, "containers", "--format", "json").json()
    assert record["mounts"] == [
        {
            "type": "bind",
            "name": "",
            "source": "/srv",
            "destination": "/../../x",
            "read_only": False,
            "present": False,
        },
        {
            "type": "volume",
            "name": "../../../../etc",
            "source": "",
            "destination": "/data",
            "read_only": False,
            "present": False,
        },
    ]
