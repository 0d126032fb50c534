"""verify CONTAINER names what dockerd never writes in a container's init layer (graph drivers).

A copy of the overlay2 sample (made by the real dockerd) with one init layer changed: a file
planted beside the placeholders, a placeholder given content. The untouched init layers of every
sample (overlay2, legacy overlay, fuse-overlayfs with its opaque markers, aufs) hold exactly
moby's ``daemon/initlayer`` entries: no finding.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, Result

Run = Callable[..., Result]
OVERLAY2 = SAMPLES / "overlay2-20.10" / "root.tar.xz"


def _init_findings(r: Result) -> list[str]:
    return [line for line in r.err.splitlines() if line.endswith("[init-layer-entry]")]


@pytest.mark.parametrize("sample", ["overlay2-20.10", "overlay-20.10", "fuse-overlayfs-20.10",
                                    "aufs-modelled"])
def test_init_layers_made_by_dockerd_hold_nothing_else(run: Run, sample: str) -> None:
    root = str(next((SAMPLES / sample).glob("root.tar*")))
    ids = run("-r", root, "containers", "-q", "--no-trunc").out.split()
    assert ids
    for cid in ids:
        assert _init_findings(run("-r", root, "verify", cid)) == [], cid


def test_a_planted_file_and_a_filled_placeholder_are_named(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "root.tar"
    cid = init = ""
    with tarfile.open(OVERLAY2) as src, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        for m in src:
            data = src.extractfile(m).read() if m.isreg() else None  # type: ignore[union-attr]
            if not cid and m.name.endswith("/init-id") and data:
                cid, init = m.name.split("/")[-2], data.decode()
            if init and m.name == f"./overlay2/{init}/diff/etc/hosts":
                data = b"10.0.0.66 updates.example\n"
                m.size = len(data)
                planted = tarfile.TarInfo(f"./overlay2/{init}/diff/etc/ld.so.preload")
                planted.size, planted.mode = 12, 0o644
                dst.addfile(planted, io.BytesIO(b"/tmp/evil.so"))
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    r = run("-r", str(out), "verify", cid)
    assert _init_findings(r) == [
        f"warning: overlay2/{init}/diff/etc/hosts: 26 bytes where dockerd makes an empty "
        "placeholder file [init-layer-entry]",
        f"warning: overlay2/{init}/diff/etc/ld.so.preload: not an entry dockerd writes in an "
        "init layer (moby daemon/initlayer): put there by something else [init-layer-entry]",
    ]
