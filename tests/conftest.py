"""Shared fixtures: running the CLI in-process and capturing its streams."""

from __future__ import annotations

import atexit
import gc
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from storagekit.cli.main import main

# Archive indexes kept by the commands the tests run go to a private cache directory, written
# before each command returns (no forked writer inside the test process). Commands that find
# an index there answer from it: every test on an archive run twice checks the cache too.
_CACHE = tempfile.mkdtemp(prefix="storagekit-test-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ["XDG_CACHE_HOME"] = _CACHE
os.environ["STORAGEKIT_CACHE_SYNC"] = "1"

@pytest.fixture(autouse=True, scope="module")
def _release_unclosed_sources() -> Iterator[None]:
    """After each module: sources its tests left open (engines hold one another in cycles,
    which only the collector frees) release their descriptors, so a long session never runs
    out of them (a pty test's ``select`` fails past descriptor 1023)."""
    yield
    gc.collect()


SAMPLES = Path(__file__).resolve().parent.parent / "sample_roots"
#: Docker data roots; other engines' roots (``containerd-*``, ``podman-*``) are tested under
#: tests/engines/ and kept out of the Docker suites.
NAMES = sorted(
    p.name
    for p in SAMPLES.iterdir()
    if (p / "root.tar.xz").is_file() and not p.name.startswith(("containerd-", "podman-"))
)


def driver_of(name: str) -> str:
    """The storage driver of a sample root: its name without the version (``fuse-overlayfs``)."""
    return name.rsplit("-", 1)[0]


def expected_of(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name / "expected.json").read_text())


@pytest.fixture(scope="session")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each sample root extracted once per session (skipped forms if not root)."""
    out: dict[str, Path] = {}
    if os.geteuid() != 0 or shutil.which("tar") is None:
        return out
    for name in NAMES:
        dest = tmp_path_factory.mktemp(name)
        subprocess.run(
            [
                "tar",
                "--xattrs",
                "--xattrs-include=*",
                "--numeric-owner",
                "--delay-directory-restore",
                "-xJf",
                str(SAMPLES / name / "root.tar.xz"),
                "-C",
                str(dest),
            ],
            check=True,
        )
        out[name] = dest
    return out


@pytest.fixture(params=["archive", "directory"])
def sample(request: pytest.FixtureRequest, extracted: dict[str, Path]) -> Callable[[str], str]:
    def pick(name: str) -> str:
        if request.param == "archive":
            return str(SAMPLES / name / "root.tar.xz")
        if name not in extracted:
            pytest.skip("extracting a root with device nodes and xattrs needs root")
        return str(extracted[name])

    return pick


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``storagekit ARGS`` in-process; returns exit code, stdout and stderr."""

    def _run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return _run
