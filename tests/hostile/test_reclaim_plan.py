"""The reclaim plan holds no line from the evidence; --apply goes on after a failure."""

from __future__ import annotations

import json
import shutil
import subprocess

from storagekit.analysis import reclaim
from tests.rootbuilder import rand_id, simple_root, write


def _orphans(root):
    b, image, cid = simple_root(root)
    good, bad = sorted([rand_id(), rand_id()])
    b.driver_dir(good, [], {"junk": b"x" * 100})
    b.driver_dir(bad, [], {"junk": b"y" * 100})
    return b, cid, good, bad


def test_a_newline_in_a_recorded_path_never_reaches_the_plan(tmp_path, run):
    """The plan is for the -r root: what the evidence recorded (HostnamePath) is never used."""
    root = tmp_path / "root"
    b, cid, _, _ = _orphans(root)
    path = root / "containers" / cid / "config.v2.json"
    config = json.loads(path.read_bytes())
    config["HostnamePath"] = f"/srv/x\ntouch /tmp/pwned #/containers/{cid}/hostname"
    write(path, json.dumps(config))
    r = run("-r", str(root), "reclaim")
    assert r.code == 0
    assert "pwned" not in r.out
    assert "/srv/x" not in r.out
    assert f"\ncd {root}\n" in r.out


def test_a_root_that_cannot_be_quoted_is_refused():
    import pytest

    from storagekit.errors import StoragekitError

    with pytest.raises(StoragekitError, match="cannot be quoted safely"):
        reclaim.script([], "/srv/x\ntouch /tmp/pwned #", title="Docker", daemon="dockerd")


def test_unquotable_names_become_comments():
    evil = "overlay2/x\n rm -rf .. #\x1b]0;t\x07"
    steps = reclaim.plan(
        [
            {"kind": "orphan-driver-dir", "path": "overlay2/a b", "reason": "r1", "bytes": 5},
            {"kind": "orphan-driver-dir", "path": evil, "reason": "r\rx", "bytes": 7},
            {
                "kind": "stale-tmp",
                "path": "t",
                "paths": ["t", "u\udcff"],
                "reason": "r",
                "bytes": 1,
            },
        ]
    )
    text = reclaim.script(steps, "/var/lib/docker", title="Docker", daemon="dockerd")
    assert text.splitlines()[4:] == [
        "set -eu",
        "cd /var/lib/docker",
        "# 5 bytes: orphan-driver-dir: r1",
        "rm -rf -- 'overlay2/a b'",
        "# 7 bytes: orphan-driver-dir: r\\rx; a name a shell line cannot hold safely"
        " (not removed by this plan)",
        "# overlay2/x\\n rm -rf .. #\\x1b]0;t\\x07",
        "# 1 bytes: stale-tmp: r; a name a shell line cannot hold safely"
        " (not removed by this plan)",
        "# t u\\xff",
    ]


def test_apply_goes_on_after_a_failed_rm(tmp_path, run, monkeypatch):
    root = tmp_path / "root"
    b, cid, good, bad = _orphans(root)
    real = subprocess.run

    def failing(args, **kw):
        if args[-1].endswith(good):
            return real(["sh", "-c", "echo 'rm: cannot remove: Busy' >&2; exit 1"], **kw)
        return real(args, **kw)

    monkeypatch.setattr(reclaim.subprocess, "run", failing)
    r = run("-r", str(root), "reclaim", "--apply", "--yes")
    assert r.code == 1
    assert (
        f"FAILED to remove overlay2/{good}: rm exited with status 1: rm: cannot remove: Busy"
        in r.out
    )
    assert f"removed overlay2/{bad} overlay2/l/{b.links[bad]}" in r.out
    assert not (root / "overlay2" / bad).exists()
    assert (root / "overlay2" / good).exists()
    assert r.err.endswith("storagekit: error: 1 paths could not be removed (see the log above)\n")
    shutil.rmtree(root)
