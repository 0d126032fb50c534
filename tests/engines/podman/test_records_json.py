"""``containers --format json`` of a podman root: each stack's paths encoded once, same bytes.

PodmanEngine.container_records_json must give exactly the text of encoding every record (with
``graph_root``) in one list: on the samples, on damaged roots (chains cut short, containers
without a store record), and for records that hold the placeholder themselves or odd paths.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from storagekit.engines.podman import records
from storagekit.engines.podman.engine import PodmanEngine
from storagekit.engines.podman.inventory import Inventory
from storagekit.engines.podman.libpod_json import NONCE
from storagekit.jsontext import to_json
from storagekit.sources import open_source
from tests.engines.podman.conftest import PODMAN_NAMES
from tests.engines.podman.test_parts import BOLT, _damaged, _extract


def _both(top: Path, sizes: bool = False) -> tuple[str, str]:
    """(the engine's JSON text, the text of encoding its records whole)."""
    with open_source(str(top)) as src:
        fast = PodmanEngine(src, str(top), "").container_records_json(sizes=sizes)
    with open_source(str(top)) as src:
        whole = to_json(PodmanEngine(src, str(top), "").container_records(sizes=sizes))
    return fast, whole


@pytest.fixture(params=[100, 1, 4], ids=["one-batch", "batch-1", "batch-4"])
def batch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Records encoded all in one call, one at a time, or four at a time."""
    monkeypatch.setattr(records, "BATCH", request.param)
    return int(request.param)


@pytest.mark.parametrize("name", PODMAN_NAMES)
def test_samples_give_the_bytes_of_one_encoding(tmp_path: Path, name: str, batch: int) -> None:
    top = _extract(name, tmp_path / "root")
    for sizes in (False, True):
        fast, whole = _both(top, sizes)
        assert fast == whole
        assert fast.count('"layer_dirs":["') == 6  # every sample container stands on an image


@pytest.mark.parametrize("damage", ["bad-page", "stores", "torn"])
def test_damaged_roots_give_the_bytes_of_one_encoding(
    tmp_path: Path, damage: str, batch: int
) -> None:
    fast, whole = _both(_damaged(tmp_path, damage))
    assert fast == whole


@pytest.mark.parametrize(
    "change",
    [
        {"name": NONCE},  # the placeholder itself, as a value: encoded whole
        {"command": [NONCE, "x"]},
        {"layer_dirs": [None, "overlay/a/diff", None]},
        {"layer_dirs": ["overlay/\udcff\u009b\"/diff", "overlay/b/diff"]},  # escapes
        {"layer_dirs": ["overlay/a/diff"]},
        {"layer_dirs": [None]},
    ],
)
def test_odd_records_give_the_bytes_of_one_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], batch: int
) -> None:
    """A record holding the placeholder, and odd paths of a stack (``None``, escapes)."""
    top = _extract(BOLT, tmp_path / "root")
    target = json.loads(_both(top)[1])[1]["id"]  # the second record, as an odd one
    real_record, real_dirs = records.container_record, Inventory.stack_dirs
    dirs = change.get("layer_dirs")

    def record(inv: Inventory, container: Any, **kw: Any) -> dict[str, Any]:
        found = real_record(inv, container, **kw)
        if container.id == target and dirs is None:
            found.update(change)
        return found

    def stack_dirs(inv: Inventory, driver: str, chain: tuple[str, ...]) -> Any:
        if dirs is not None and inv.store_containers[target].layer == chain[0]:
            return dirs[0], dirs[1:]
        return real_dirs(inv, driver, chain)

    monkeypatch.setattr(records, "container_record", record)
    monkeypatch.setattr(Inventory, "stack_dirs", stack_dirs)
    fast, whole = _both(top)
    assert fast == whole
    assert NONCE not in fast or "name" in change or "command" in change
    if dirs is not None:
        assert json.loads(fast)[1]["layer_dirs"] == dirs
