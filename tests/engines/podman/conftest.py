"""Podman sample roots: opened as the archive and as a directory extracted by GNU tar."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from storagekit.engines.podman.libpod import LibpodContainer, LibpodState
from storagekit.engines.podman.libpod_read import decode, read_containers
from storagekit.engines.podman.root import PodmanRoot, read_root
from storagekit.model import Findings
from storagekit.source import Source
from storagekit.sources import open_source

SAMPLES = Path(__file__).resolve().parents[3] / "sample_roots"
PODMAN_NAMES = sorted(p.name for p in SAMPLES.glob("podman-*") if (p / "root.tar.xz").is_file())


def libpod_containers(
    source: Source, state: LibpodState | None, findings: Findings | None = None
) -> tuple[LibpodContainer, ...]:
    """Every container of libpod's state, decoded (as the engine reads them on demand)."""
    if state is None:
        return ()
    found = Findings() if findings is None else findings
    return tuple(read_containers(source, state, found, decode))


def expected_of(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name / "expected.json").read_text())


@pytest.fixture(scope="session")
def podman_extracted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each podman root extracted once per session (empty when not root)."""
    out: dict[str, Path] = {}
    if os.geteuid() != 0 or shutil.which("tar") is None:
        return out
    for name in PODMAN_NAMES:
        dest = tmp_path_factory.mktemp(name)
        subprocess.run(
            [
                "tar",
                "--xattrs",
                "--xattrs-include=*",
                "--numeric-owner",
                "-xJf",
                str(SAMPLES / name / "root.tar.xz"),
                "-C",
                str(dest),
            ],
            check=True,
        )
        out[name] = dest
    return out


@dataclass
class Sample:
    name: str
    form: str
    source: Source
    root: PodmanRoot
    exp: dict[str, Any]

    @property
    def driver(self) -> str:
        return self.name.rsplit("-", 1)[1]

    @property
    def libpod(self) -> tuple[LibpodContainer, ...]:
        """libpod's containers."""
        return libpod_containers(self.source, self.root.libpod)

    @property
    def rootless(self) -> bool:
        return "-rootless-" in self.name


_CACHE: dict[tuple[str, str], Sample] = {}


@pytest.fixture(
    params=[(n, f) for n in PODMAN_NAMES for f in ("archive", "directory")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def sample(request: pytest.FixtureRequest, podman_extracted: dict[str, Path]) -> Sample:
    name, form = request.param
    if form == "directory" and name not in podman_extracted:
        pytest.skip("extracting a root with device nodes and xattrs needs root")
    key = (name, form)
    if key not in _CACHE:
        path = SAMPLES / name / "root.tar.xz" if form == "archive" else podman_extracted[name]
        src = open_source(str(path))
        _CACHE[key] = Sample(name, form, src, read_root(src), expected_of(name))
    return _CACHE[key]
