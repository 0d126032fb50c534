"""make_container gives what today's plain version gave (kept here), for any documents.

The reference is the version before the common case was inlined: every field through the
helpers of :mod:`storagekit.engines.podman.common`, the tuple made by keyword. Compared on the
samples' real documents and on seeded random edits of them: each field set to a value of every
JSON type (and to odd strings: Go's zero time, zones, empty), nested records damaged.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from storagekit import timefmt
from storagekit.engines.podman.common import (
    as_dict,
    as_list,
    opt_int,
    opt_str,
    parse_idmap,
    str_pairs,
    str_tuple,
)
from storagekit.engines.podman.libpod import (
    ZERO_TIME,
    LibpodContainer,
    NamedVolume,
    SpecMount,
    make_container,
    status_word,
)
from tests.engines.podman.test_libpod_json import real_records


def reference(
    cid: str,
    config: dict[str, Any] | None,
    state: dict[str, Any] | None,
    recorded_exit_code: int | None,
    config_path: str,
    *,
    name: str | None = None,
    pod: str | None = None,
    recorded_exit_time: str | None = None,
) -> LibpodContainer:
    """make_container as it was before the common case was inlined."""
    cfg = config or {}
    spec = as_dict(cfg.get("spec"))
    ids = as_dict(cfg.get("idMappingsOptions"))
    state_no = opt_int(state.get("state")) if state is not None else None
    exit_code = None
    if state is not None:
        exit_code = opt_int(state.get("exitCode")) or 0
    return LibpodContainer(
        id=cid,
        name=opt_str(cfg.get("name")) or name,
        pod=opt_str(cfg.get("pod")) or pod,
        image_id=opt_str(cfg.get("rootfsImageID")),
        image_name=opt_str(cfg.get("rootfsImageName")),
        raw_image_name=opt_str(cfg.get("RawImageName")),
        command=str_tuple(cfg.get("command")),
        create_command=str_tuple(cfg.get("CreateCommand")),
        created=timefmt.normalize(cfg.get("createdTime")),
        labels=str_pairs(cfg.get("labels")),
        named_volumes=tuple(
            NamedVolume(v["volumeName"], str(v.get("dest", "")), str_tuple(v.get("options")))
            for v in as_list(cfg.get("namedVolumes"))
            if isinstance(v, dict) and isinstance(v.get("volumeName"), str)
        ),
        mounts=tuple(
            SpecMount(
                m["destination"], "bind", opt_str(m.get("source")), str_tuple(m.get("options"))
            )
            for m in as_list(spec.get("mounts"))
            if isinstance(m, dict)
            and m.get("type") == "bind"
            and isinstance(m.get("destination"), str)
        ),
        state=state_no,
        status=status_word(state_no),
        exit_code=exit_code,
        recorded_exit_code=recorded_exit_code,
        recorded_exit_time=recorded_exit_time,
        started=timefmt.normalize(state.get("startedTime")) if state else None,
        finished=timefmt.normalize(state.get("finishedTime")) if state else None,
        log_path=opt_str(cfg.get("logPath")),
        uidmap=parse_idmap(ids.get("UIDMap")),
        gidmap=parse_idmap(ids.get("GIDMap")),
        config_path=config_path,
        user_volumes=str_tuple(cfg.get("userVolumes")),
    )


def real_documents() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The config and state of every container podman 4.3.1 wrote in the sample."""
    return [(json.loads(config), json.loads(state)) for config, state in real_records()]


DOCS = real_documents()
ODD: list[Any] = [
    None, True, False, 0, 1, -3, 2.5, "", "x", ZERO_TIME, "0001-01-01T00:00:00.000Z",
    "0001-01-01T01:00:00+01:00", "2024-03-01T20:57:32.069925406+02:00", " 2024-03-01T20:57:32Z",
    "2024-03-01T20:57:32Z", [], ["a", 1, None], [{}], [{"volumeName": "v"}], {}, {"a": "b"},
    {"a": 1, "b": [2]}, {"UIDMap": [{"container_id": 0, "host_id": 1000, "size": 1}]},
    [{"container_id": 0, "host_id": 1000, "size": 5}, {"container_id": -1}, "x"],
    [{"destination": "/d", "type": "bind", "source": "/s", "options": ["rbind", 3]}],
    [{"volumeName": "v", "dest": "/d", "options": ["z"]}, {"volumeName": 3}],
    {"mounts": [{"destination": 1, "type": "bind"}, {"type": "bind", "destination": "/x"}]},
]  # fmt: skip
CONFIG_KEYS = [
    "name", "pod", "rootfsImageID", "rootfsImageName", "RawImageName", "command",
    "CreateCommand", "createdTime", "labels", "namedVolumes", "logPath", "spec",
    "idMappingsOptions",
]  # fmt: skip
STATE_KEYS = ["state", "exitCode", "startedTime", "finishedTime"]


def both(config: Any, state: Any, **kw: Any) -> tuple[Any, Any]:
    args = ("c1", config, state, kw.pop("code", None), "db:ctr/c1/config")
    return make_container(*args, **kw), reference(*args, **kw)


@pytest.mark.parametrize(("config", "state"), DOCS)
def test_real_documents_make_the_same_container(config: Any, state: Any) -> None:
    new, old = both(config, state, name="n", pod="p", code=3, recorded_exit_time="t")
    assert new == old
    assert type(new) is LibpodContainer
    assert [type(x) for x in new] == [type(x) for x in old]


@pytest.mark.parametrize(
    ("config", "state"),
    [(None, None), ({}, {}), ({}, None), (None, {}), ({"spec": []}, {"state": True}),
     ({"name": ""}, {"exitCode": False}), ({"idMappingsOptions": []}, {"finishedTime": ZERO_TIME})],
)  # fmt: skip
def test_empty_and_odd_documents_make_the_same_container(config: Any, state: Any) -> None:
    for kw in ({}, {"name": "n", "pod": "p", "code": 0, "recorded_exit_time": "t"}):
        new, old = both(config, state, **kw)
        assert new == old
        assert [type(x) for x in new] == [type(x) for x in old]


def test_zero_time_is_none_as_normalize_says() -> None:
    assert timefmt.normalize(ZERO_TIME) is None


def test_edited_documents_make_the_same_container() -> None:
    rng = random.Random(8)
    for _ in range(1500):
        config, state = copy.deepcopy(rng.choice(DOCS))
        for _ in range(rng.randrange(1, 4)):
            value = copy.deepcopy(rng.choice(ODD))
            where = rng.randrange(4)
            if where == 0:
                config[rng.choice(CONFIG_KEYS)] = value
            elif where == 1:
                state[rng.choice(STATE_KEYS)] = value
            elif where == 2 and isinstance(config.get("spec"), dict):
                config["spec"]["mounts"] = value
            elif isinstance(config.get("idMappingsOptions"), dict):
                config["idMappingsOptions"][rng.choice(["UIDMap", "GIDMap"])] = value
        new, old = both(config, state, name=rng.choice([None, "n"]), code=rng.choice([None, 2]))
        assert new == old
        assert [type(x) for x in new] == [type(x) for x in old]
