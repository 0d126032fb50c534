"""``logs`` against ``docker logs`` on a fresh root made by a real dockerd, byte for byte.

Containers log through ``json-file`` rotated and gzip-compressed (``max-size``, ``max-file``,
``compress``), ``local`` (rotated, compressed by default) and ``none``; one writes a last
line without a newline. The rotated ``json-file`` one writes its streams in turns (:data:`TURNS`),
so that what rotation keeps holds both. Each is read as the directory and as a tar archive of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.engine import Dockerd, archive_root, available, make_base_image

pytestmark = pytest.mark.engine

CHATTY = (
    'i=0; while [ $i -lt 300 ]; do echo "out line $i"; echo "err line $i" >&2; '
    "i=$((i+1)); done; printf 'last, no newline'"
)
#: Docker's log copier reads each stream's pipe in bursts, so CHATTY's two streams land in the
#: log one after the other, in either order: when stderr's burst comes first, rotation keeps
#: none of it. For the rotated container whose last lines are checked, the streams take turns
#: with pauses, so the kept files end with stderr's last lines, then stdout's last one.
TURNS = (
    'i=0; while [ $i -lt 300 ]; do echo "out line $i"; i=$((i+1)); done; sleep 0.5; '
    'i=0; while [ $i -lt 300 ]; do echo "err line $i" >&2; i=$((i+1)); done; sleep 0.5; '
    "printf 'last, no newline'"
)
CONTAINERS = {
    "jf": ["--log-opt", "max-size=2k", "--log-opt", "max-file=4", "--log-opt", "compress=true"],
    "jf-plain": [],
    "loc": ["--log-driver", "local", "--log-opt", "max-size=2k", "--log-opt", "max-file=3"],
    "none": ["--log-driver", "none"],
}
OPTIONS = [[], ["--timestamps"], ["--tail", "5"], ["-t", "--tail", "17"], ["--tail", "0"]]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, dict[Any, Any]]]:
    if not available("overlay2"):
        if os.environ.get("STORAGEKIT_REQUIRE_ENGINE"):
            pytest.fail("a real dockerd is required here (STORAGEKIT_REQUIRE_ENGINE is set)")
        pytest.skip("needs root, dockerd and busybox-static")
    work = tmp_path_factory.mktemp("engine-logs")
    with Dockerd(work / "d") as d:
        make_base_image(d, "logbase:1")
        for name, opts in CONTAINERS.items():
            script = TURNS if name == "jf" else CHATTY
            d.docker(
                "run", "--name", name, "--network", "none", *opts, "logbase:1", "sh", "-c", script
            )
        answers: dict[Any, Any] = {}
        for name in CONTAINERS:
            for opts in OPTIONS:
                r = subprocess.run(
                    ["docker", "-H", f"unix://{d.sock}", "logs", *opts, name],
                    env=d.env(),
                    capture_output=True,
                    check=False,
                )
                answers[name, tuple(opts)] = (r.returncode, r.stdout, r.stderr)
        d.stop()
        archive = work / "root.tar.xz"
        archive_root(d, archive)
        yield d.root, archive, answers


def _ours(root: str, name: str, opts: list[str]) -> tuple[bytes, bytes]:
    r = subprocess.run(
        [sys.executable, "-m", "storagekit.cli.main", "-r", root, "logs", *opts, name],
        capture_output=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout, r.stderr


@pytest.mark.parametrize("form", ["directory", "archive"])
@pytest.mark.parametrize("name", ["jf", "jf-plain", "loc"])
def test_logs_equal_docker_logs(logged, form, name):
    directory, archive, answers = logged
    root = str(directory if form == "directory" else archive)
    for opts in OPTIONS:
        code, out, err = answers[name, tuple(opts)]
        assert code == 0
        assert _ours(root, name, opts) == (out, err), opts


def test_rotated_files_were_made(logged):
    directory, _, answers = logged
    files = sorted(p.name for p in Path(directory, "containers").rglob("*.log*"))
    assert any(n.endswith("-json.log.1.gz") for n in files), files
    assert "container.log.1.gz" in files, files
    code, out, err = answers["jf", ()]
    assert (code, out[-16:], err[-13:]) == (0, b"last, no newline", b"err line 299\n")


def test_none_driver_is_a_finding(logged):
    directory, _, answers = logged
    assert answers["none", ()][0] != 0  # docker logs refuses it too
    out, err = _ours(str(directory), "none", [])
    assert out == b""
    assert err.decode().splitlines() == [
        next(
            line
            for line in err.decode().splitlines()
            if "log driver is 'none'" in line and line.startswith("info: containers/")
        )
    ]
