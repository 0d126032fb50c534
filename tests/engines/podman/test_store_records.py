"""The stores' fast record paths against their general code, on generated and mutated records.

Each reader makes records of the common shape without its helper calls and hands any other
record to the general function it had before (the reference). Here both read the same lists of
records: every field of a real record given every kind of JSON value (wrong types, ``null``,
empty, unsafe and non-hex IDs, surrogates as ``json`` decodes broken UTF-16 escapes, bools
where ints are expected), missing, duplicated IDs, and random mixes of all that; the results
and the findings (in order) must be equal. An image config's history (which makes no finding)
is held equal to its former code, kept here.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from storagekit import timefmt
from storagekit.engines.podman import containers, images, layers
from storagekit.engines.podman.common import as_list, opt_str
from storagekit.engines.podman.containers import StorageContainer
from storagekit.engines.podman.images import HistoryEntry
from storagekit.engines.podman.layers import Layer
from storagekit.model import Finding, Findings

H1, H2, H3 = "1" * 64, "ab" * 32, "0123456789abcdef" * 4
MISSING = object()

#: Values given to every field in turn: each JSON type, its odd members, unsafe and near-IDs.
ODD: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    7.5,
    10**30,
    "",
    "x",
    ".",
    "..",
    "../x",
    "a/b",
    "a\x00b",
    "\x7f",
    "\udcff",
    "é",
    "A" * 64,
    "g" * 64,
    "1" * 63,
    "1" * 65,
    " " + "1" * 63,
    "1" * 62 + " 1",
    "x" * 256,
    H1,
    H2,
    "2026-01-02T03:04:05Z",
    "2026-01-02T04:04:05.5+01:00",
    "0001-01-01T00:00:00Z",
    [],
    [0],
    [True, 1, "1", None],
    ["a", "b"],
    ["a", 1],
    [{"container_id": 0, "host_id": 1000, "size": 1}],
    [{"container_id": True, "host_id": 1, "size": 1}, 3],
    {},
    {"k": "v", "n": 1, "o": {"x": [1]}},
    {"MountLabel": "", "ProcessLabel": ""},
    # metadata texts: podman's, JSON of other types, not JSON, JSON with text around it
    '{"image-name":"bench/app:1","image-id":"x","name":"svc","created-at":1709280000}',
    '{"image-name":5,"name":""}',
    "[1]",
    '"s"',
    "null",
    "{",
    ' {"name":"a"}',
    '{"name":"a"} ',
    '{"name":"a"}x',
    '{"name":"a"}{}',
    "\ufeff{}",
    '{"name":"\\udcff"}',
    "[" * 5000,
    "1" * 5000,
]

IMAGE_LAYER: dict[str, Any] = {
    "id": H2,
    "parent": H1,
    "created": "2024-03-01T08:00:00Z",
    "compressed-diff-digest": "sha256:" + H3,
    "compressed-size": 352,
    "diff-digest": "sha256:" + H3,
    "diff-size": 352,
    "uidset": [0, 1000],
    "gidset": [0],
}
CONTAINER_LAYER: dict[str, Any] = {
    "id": H3,
    "names": ["svc-0918-layer"],
    "parent": H2,
    "created": "2024-03-02T09:45:01.094680223Z",
}
FULL_LAYER: dict[str, Any] = {
    **IMAGE_LAYER,
    "id": "f" * 64,
    "names": ["a", "b"],
    "metadata": "m",
    "mountlabel": "system_u:object_r:container_file_t:s0",
    "flags": {"k": "v", "n": 2},
    "uidmap": [{"container_id": 0, "host_id": 100000, "size": 65536}],
    "gidmap": [{"container_id": 0, "host_id": 100000, "size": 65536}],
    "big-data-names": ["x"],
    "compression": 2,
}


def mutations(bases: list[dict[str, Any]], seed: int = 1) -> Iterator[list[Any]]:
    """Lists of records: each base with each field set to each odd value or removed, then mixes.

    Every list starts with the untouched bases, so IDs repeat (duplicates) and parents are
    known or not; a list may hold a non-object too.
    """
    for base in bases:
        for key in base:
            for value in [*ODD, MISSING]:
                rec = dict(base)
                if value is MISSING:
                    del rec[key]
                else:
                    rec[key] = copy.deepcopy(value)
                yield [*copy.deepcopy(bases), rec]
    rng = random.Random(seed)
    keys = sorted({k for b in bases for k in b})
    for _ in range(800):
        batch: list[Any] = []
        for _ in range(rng.randrange(1, 8)):
            rec = dict(rng.choice(bases))
            for key in rng.sample(keys, rng.randrange(0, 4)):
                choice = rng.choice([*ODD, MISSING, MISSING])
                if choice is MISSING:
                    rec.pop(key, None)
                else:
                    rec[key] = copy.deepcopy(choice)
            batch.append(rec)
        if rng.random() < 0.1:
            batch.insert(rng.randrange(len(batch) + 1), rng.choice([None, 1, "x", []]))
        yield batch


def records_of(batch: list[Any], findings: Findings, path: str) -> list[dict[str, Any]]:
    """The batch as a store file's records are read (through its JSON text, as on disk)."""
    data = json.loads(json.dumps(batch))
    return layers.json_records(data, findings, path)


Run = Callable[[list[dict[str, Any]], Findings], list[Any]]


def same(batch: list[Any], fast: Run, general: Run, path: str) -> None:
    found_fast, found_general = Findings(), Findings()
    got = fast(records_of(batch, found_fast, path), found_fast)
    want = general(records_of(batch, found_general, path), found_general)
    assert got == want, batch
    assert [type(x) for x in got] == [type(x) for x in want]
    assert list(found_fast) == list(found_general), batch


LAYERS = "overlay-layers/layers.json"
PRESENT = {f"{H2}.tar-split.gz", f"{'f' * 64}.tar-split.gz", "layers.json"}


def general_layers(records: list[dict[str, Any]], findings: Findings) -> list[Layer]:
    seen: set[str] = set()
    made = (
        layers._layer(i, r, "overlay", LAYERS, PRESENT, seen, findings)
        for i, r in enumerate(records)
    )
    return [x for x in made if x is not None]


def fast_layers(records: list[dict[str, Any]], findings: Findings) -> list[Layer]:
    return layers.layers_of(records, "overlay", LAYERS, PRESENT, findings)


def test_layers_fast_path_equals_general_code() -> None:
    for batch in mutations([IMAGE_LAYER, CONTAINER_LAYER, FULL_LAYER]):
        same(batch, fast_layers, general_layers, LAYERS)


def test_layers_common_shapes_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's and podman's records never reach the general code."""
    calls: list[int] = []
    real = layers._layer

    def counted(*args: Any) -> Layer | None:
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(layers, "_layer", counted)
    records = copy.deepcopy([IMAGE_LAYER, CONTAINER_LAYER, FULL_LAYER, {**IMAGE_LAYER, "id": H1}])
    del records[3]["parent"]
    findings = Findings()
    got = fast_layers(records, findings)
    assert calls == []
    assert list(findings) == []
    assert got[0] == Layer(
        H2, "overlay", H1, (), "2024-03-01T08:00:00Z", "sha256:" + H3, 352, "sha256:" + H3, 352,
        (0, 1000), (0,), (), (), (), None, None, (), True, LAYERS,
    )  # fmt: skip
    assert [x.id for x in got] == [H2, H3, "f" * 64, H1]


def test_layers_damaged_records_keep_their_findings() -> None:
    records = [
        {**IMAGE_LAYER, "parent": "../x"},
        {**IMAGE_LAYER},
        {**CONTAINER_LAYER, "id": 5},
    ]
    findings = Findings()
    got = fast_layers(records, findings)
    assert [(x.id, x.parent) for x in got] == [(H2, None)]
    assert list(findings) == [
        Finding("unsafe-id", "error", LAYERS, f"layer {H2} parent: expected an ID, got '../x'"),
        Finding("duplicate-id", "error", LAYERS, f"layer {H2} is recorded twice"),
        Finding("unsafe-id", "error", LAYERS, "layer record 2 id: expected an ID, got 5"),
    ]


def test_layers_parent_taken_by_the_general_code() -> None:
    """A parent that is a safe ID but not hex, taken as a layer before, is kept (no finding)."""
    records = [{"id": "layer-x"}, {**IMAGE_LAYER, "parent": "layer-x"}]
    findings = Findings()
    assert [(x.id, x.parent) for x in fast_layers(records, findings)] == [
        ("layer-x", None),
        (H2, "layer-x"),
    ]
    assert list(findings) == []


CONTAINERS = "overlay-containers/containers.json"
BENCH_CONTAINER: dict[str, Any] = {
    "id": H1,
    "names": ["svc-0688"],
    "image": H2,
    "layer": H3,
    "flags": {},
    "metadata": json.dumps(
        {"image-name": "bench/app095:1.3", "image-id": H2, "name": "svc-0688", "created-at": 1}
    ),
    "created": "2024-03-02T05:51:24.907634229Z",
}
PODMAN_CONTAINER: dict[str, Any] = {
    **BENCH_CONTAINER,
    "id": H2,
    "layer": H1,
    "flags": {"MountLabel": "", "ProcessLabel": ""},
}
FULL_CONTAINER: dict[str, Any] = {
    **BENCH_CONTAINER,
    "id": H3,
    "layer": "e" * 64,
    "uidmap": [{"container_id": 0, "host_id": 100000, "size": 65536}],
    "gidmap": [{"container_id": 0, "host_id": 100000, "size": 65536}],
    "big-data-names": ["x"],
    "volatile": True,
}


def general_containers(
    records: list[dict[str, Any]], findings: Findings
) -> list[StorageContainer]:
    seen: set[str] = set()
    made = (
        containers._container(i, r, "overlay", CONTAINERS, seen, findings)
        for i, r in enumerate(records)
    )
    return [x for x in made if x is not None]


def fast_containers(records: list[dict[str, Any]], findings: Findings) -> list[StorageContainer]:
    return containers.containers_of(records, "overlay", CONTAINERS, findings)


def test_containers_fast_path_equals_general_code() -> None:
    for batch in mutations([BENCH_CONTAINER, PODMAN_CONTAINER, FULL_CONTAINER]):
        same(batch, fast_containers, general_containers, CONTAINERS)


def test_containers_common_shapes_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = containers._container

    def counted(*args: Any) -> StorageContainer | None:
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(containers, "_container", counted)
    records = copy.deepcopy([BENCH_CONTAINER, PODMAN_CONTAINER, FULL_CONTAINER])
    del records[1]["image"]
    records[2]["metadata"] = ""
    findings = Findings()
    got = fast_containers(records, findings)
    assert calls == []
    assert list(findings) == []
    assert got[0] == StorageContainer(
        H1, "overlay", ("svc-0688",), H2, H3, "2024-03-02T05:51:24.907634229Z",
        BENCH_CONTAINER["metadata"], "bench/app095:1.3", "svc-0688", (), (), (),
        f"overlay-containers/{H1}/userdata", CONTAINERS,
    )  # fmt: skip
    assert [(c.image, c.metadata, c.flags) for c in got[1:]] == [
        (None, BENCH_CONTAINER["metadata"], (("MountLabel", ""), ("ProcessLabel", ""))),
        (H2, None, ()),
    ]


HISTORY_ENTRY: dict[str, Any] = {
    "created": "2024-03-01T17:28:45.856404893Z",
    "created_by": "/bin/sh -c #(nop)  CMD [\"run.sh\"]",
    "author": "a",
    "comment": "c",
    "empty_layer": True,
}


def general_history(value: object) -> tuple[HistoryEntry, ...]:
    """The image config's history as it was made before (the reference)."""
    return tuple(
        HistoryEntry(
            created=timefmt.normalize(h.get("created")),
            created_by=opt_str(h.get("created_by")),
            author=opt_str(h.get("author")),
            comment=opt_str(h.get("comment")),
            empty_layer=h.get("empty_layer") is True,
        )
        for h in as_list(value)
        if isinstance(h, dict)
    )


def test_image_history_equals_general_code() -> None:
    for batch in mutations([HISTORY_ENTRY, {"created_by": "x"}]):
        value = json.loads(json.dumps(batch))
        assert images._history(value) == general_history(value), batch
    for value in ODD:
        assert images._history(value) == general_history(value)
