"""The containerd sample root, read as an archive and as a directory extracted with GNU tar."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storagekit.engines.containerd import ContainerdRoot, read_root
from storagekit.source import Source
from storagekit.sources import open_source

SAMPLE = Path(__file__).resolve().parents[3] / "sample_roots" / "containerd-1.6"
#: Where the root was made: absolute paths in expected.json start with it.
MADE_AT = "/tmp/skctrd/root/"


@pytest.fixture(scope="session")
def expected() -> dict[str, Any]:
    return json.loads((SAMPLE / "expected.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def extracted_root(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    if os.geteuid() != 0 or shutil.which("tar") is None:
        return None
    dest = tmp_path_factory.mktemp("containerd-1.6")
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xJf",
         str(SAMPLE / "root.tar.xz"), "-C", str(dest)],
        check=True,
    )
    return dest


@pytest.fixture(scope="session", params=["archive", "directory"])
def source(request: pytest.FixtureRequest, extracted_root: Path | None) -> Iterator[Source]:
    if request.param == "archive":
        path = str(SAMPLE / "root.tar.xz")
    elif extracted_root is None:
        pytest.skip("extracting a root with device nodes and xattrs needs root and GNU tar")
    else:
        path = str(extracted_root)
    src = open_source(path)
    yield src
    src.close()


@pytest.fixture(scope="session")
def root(source: Source) -> ContainerdRoot:
    return read_root(source)
