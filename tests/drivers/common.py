"""Helpers the driver tests share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from storagekit.source import Entry, FileType
from tests.rootbuilder import simple_root


def entry(name: str, kind: FileType = FileType.FILE, rdev: tuple[int, int] | None = None) -> Entry:
    """A directory entry of a layer, as a driver is asked to classify it."""
    return Entry(name, kind, 0o644, 0, 0, 0, 0, rdev=rdev)


def clean_chain(
    run: Callable[..., Any], root: Path, driver: str
) -> tuple[list[str], dict[str, Any]]:
    """A clean ``simple_root`` of one driver: audited (no findings, no orphans), then the layer
    IDs of its container c1 (rw, init, image top, image base) and that container's chain."""
    b, image, cid = simple_root(root, driver)
    mount = b.built.containers[cid]
    base, top = b.built.images[image]
    r = run("-r", str(root), "audit", "--format", "json")
    assert (r.code, r.err) == (0, "")
    report = r.json()
    assert report["findings"] == []
    assert report["drivers"] == [driver]
    assert report["orphans"] == []
    ids = [mount, f"{mount}-init", top, base]
    assert [c["layer_dirs"] for c in report["containers"]] == [ids]
    chain: dict[str, Any] = run("-r", str(root), "chain", "c1", "--format", "json").json()
    assert [x["role"] for x in chain["layers"]] == ["rw", "init", "image", "image"]
    assert all(x["present"] for x in chain["layers"])
    return ids, chain


def diff_and_size(run: Callable[..., Any], root: Path) -> tuple[list[tuple[str, str]], int]:
    """Container c1's ``docker diff`` as (kind, path) in output order, and its ``size_rw``."""
    changes = run("-r", str(root), "diff", "c1", "--format", "json").json()
    [c] = run("-r", str(root), "containers", "-s", "--format", "json").json()
    return [(x["kind"], x["path"]) for x in changes], c["size_rw"]
