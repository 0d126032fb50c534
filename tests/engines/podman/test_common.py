"""ID maps (rootless and ``--uidmap`` roots) and the small JSON helpers."""

from __future__ import annotations

import pytest

from storagekit.engines.podman.common import (
    IDMapping,
    parse_idmap,
    rootless_mappings,
    to_container_id,
    to_host_id,
)
from storagekit.engines.podman.libpod import status_word


def test_parse_idmap_keeps_only_whole_ranges() -> None:
    raw = [
        {"container_id": 0, "host_id": 1000, "size": 1},
        {"container_id": 1, "host_id": 100000, "size": 65536},
        {"container_id": "0", "host_id": 1, "size": 1},
        {"container_id": 0, "host_id": 1, "size": 0},
        {"container_id": True, "host_id": 1, "size": 1},
        7,
    ]
    assert parse_idmap(raw) == (IDMapping(0, 1000, 1), IDMapping(1, 100000, 65536))
    assert parse_idmap(None) == ()


@pytest.mark.parametrize(
    ("host", "container"),
    [(1000, 0), (100000, 1), (100999, 1000), (165535, 65536), (165536, None), (0, None)],
)
def test_rootless_on_disk_owner_to_container_id(host: int, container: int | None) -> None:
    maps = rootless_mappings(1000, 100000, 65536)
    assert to_container_id(host, maps) == container
    if container is not None:
        assert to_host_id(container, maps) == host


def test_no_mapping_is_identity() -> None:
    assert to_container_id(1234, ()) == 1234
    assert to_host_id(1234, ()) == 1234


@pytest.mark.parametrize(
    ("state", "word"),
    [
        (0, "unknown"),
        (1, "created"),
        (2, "created"),
        (3, "running"),
        (4, "stopped"),
        (5, "paused"),
        (6, "exited"),
        (7, "removing"),
        (8, "stopping"),
        (9, "unknown"),
        (None, "unknown"),
    ],
)
def test_status_words(state: int | None, word: str) -> None:
    assert status_word(state) == word
