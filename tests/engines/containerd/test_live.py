"""A saved image imports into a fresh, private containerd with the same digests (live engine).

Needs root and Debian's ``containerd`` package (containerd and ctr); skipped without them. The
daemon runs with its own root, state and socket in a temporary directory, the CRI plugin off,
and is stopped by its pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Result
from tests.engines.containerd.conftest import SAMPLE

pytestmark = pytest.mark.engine
CTRD = str(SAMPLE / "root.tar.xz")


@pytest.fixture(scope="module")
def ctr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., str]]:
    if os.geteuid() != 0 or not (shutil.which("containerd") and shutil.which("ctr")):
        pytest.skip("needs root and containerd")
    d = tmp_path_factory.mktemp("ctrd")
    (d / "config.toml").write_text(
        f'version = 2\nroot = "{d}/root"\nstate = "{d}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{d}/c.sock"\n[ttrpc]\n  address = "{d}/c.sock.ttrpc"\n'
    )
    with open(d / "log", "wb") as log:
        daemon = subprocess.Popen(["containerd", "--config", str(d / "config.toml")],
                                  stdout=log, stderr=log)

    def run(*args: str) -> str:
        return subprocess.run(["ctr", "--address", f"{d}/c.sock", *args], check=True,
                              capture_output=True, text=True).stdout

    try:
        for _ in range(100):
            if (d / "c.sock").exists():
                break
            time.sleep(0.1)
        yield run
    finally:
        os.kill(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=30)


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("docker.io/library/sk-app:1",
         "sha256:d1d7fc38a169a23ec6710fdca220448673af8fa04c9529eee9241d01043bbe2c"),
        ("docker.io/library/sk-base:1",
         "sha256:3b6b381f72e626e0d94b9b96015a11f42b2ed0f1a8bee7ff8ca845d37edd9146"),
        ("docker.io/library/sk-multi:1",
         "sha256:524e19d9bf9918264dd407d0a2f7f27a104e6d30b2381a6320534712917c96e3"),
    ],
)
def test_saved_image_imports_with_the_same_digest(
    ctr: Callable[..., str], run: Callable[..., Result], tmp_path: Path, name: str, target: str
) -> None:
    out = tmp_path / "image.tar"
    assert run("-r", CTRD, "--namespace", "default", "save", name, "-o", str(out)).code == 0
    ns = f"t{abs(hash(name)) % 10_000}"
    ctr("-n", ns, "images", "import", str(out))
    listed = ctr("-n", ns, "images", "ls").splitlines()[1:]
    assert [(line.split()[0], line.split()[2]) for line in listed] == [(name, target)]
