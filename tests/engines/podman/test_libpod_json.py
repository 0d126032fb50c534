"""ConfigDecoder.loads is json.loads: the same value or the same exception, for any input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from storagekit.engines.podman.libpod_json import NONCE, ConfigDecoder
from storagekit.formats.bolt import BoltDB
from storagekit.sources import open_source

SAMPLE = Path(__file__).resolve().parents[3] / "sample_roots" / "podman-4.3-overlay"


def real_configs() -> list[bytes]:
    """Every container config podman 4.3.1 wrote in the sample (each has a seccomp profile)."""
    with open_source(str(SAMPLE / "root.tar.xz")) as src:
        db = BoltDB.from_bytes(src.read_bytes("libpod/bolt_state.db"))
    ctr = db.bucket(b"ctr")
    assert ctr is not None
    out = []
    for key in ctr.keys():
        bucket = ctr.bucket(key)
        assert bucket is not None
        config = bucket.get(b"config")
        assert config is not None
        assert b'"seccomp":{' in config
        out.append(config)
    return out


def outcome(fn: Any, raw: bytes | str) -> tuple[str, Any]:
    try:
        return "value", fn(raw)
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def same(raw: bytes | str, decoder: ConfigDecoder | None = None) -> None:
    dec = decoder or ConfigDecoder()
    assert outcome(dec.loads, raw) == outcome(json.loads, raw)
    assert outcome(dec.loads, raw) == outcome(json.loads, raw)  # the profile known now


def test_real_configs_decode_as_json_loads_profile_decoded_once() -> None:
    configs = real_configs()
    dec = ConfigDecoder()
    for raw in configs:
        same(raw, dec)
        same(raw.decode(), dec)
    assert len(dec._known) == 1  # one default profile in every container
    assert all(dec._skipping(raw) == json.loads(raw) for raw in configs)  # not a fall-back


CONFIG = real_configs()[0].decode()
PROFILE_AT = CONFIG.index('"seccomp":{') + len('"seccomp":')


def edit(old: str, new: str, count: int = 1) -> str:
    assert old in CONFIG
    return CONFIG.replace(old, new, count)


@pytest.mark.parametrize(
    "text",
    [
        edit('"seccomp":{', '"seccomp":null,"x":{'),  # no profile: a value that is not an object
        edit('"seccomp":{', '"seccomp":[{'),
        edit('"linux":{', '"linux":{"seccomp":{"a":1},'),  # a second key: the last one wins
        CONFIG[: PROFILE_AT + 40],  # cut inside the profile
        CONFIG[:-1],  # cut at the end
        CONFIG + "}",  # trailing data
        CONFIG + " ",
        edit('"spec":{', '"spec":{"seccomp":{},'),  # first "seccomp": in the wrong object
        edit('"linux":{', '"linux":[{') + "]",  # linux not an object
        edit('"spec":{', '"x":"\\"seccomp\\":{\\"a\\":1}","spec":{'),  # inside a string
        edit('"spec":{', f'"x":"{NONCE}","spec":{{'),  # the document holds the nonce
        edit('"spec":{', '"x":"\\u0000\x01","spec":{'),  # a raw control character
        edit('"seccomp":{', '"seccomp" : {'),
        '{"seccomp":{}}',
        '"seccomp":{}',
        "[" * 5000 + '{"seccomp":{}}' + "]" * 5000,  # too deep
        edit('"linux":{', '"linux":{"a":' + "[" * 5000 + "]" * 5000 + ","),
        "\ufeff" + CONFIG,
        "",
    ],
)
def test_odd_documents_decode_as_json_loads(text: str) -> None:
    same(text)
    same(text.encode())
    dec = ConfigDecoder()
    dec.loads(CONFIG)  # the real profile known first
    same(text, dec)
    same(text.encode(), dec)


@pytest.mark.parametrize(
    "raw",
    [
        CONFIG.encode("utf-16"),
        CONFIG.encode("utf-16-le"),
        CONFIG.encode("utf-32"),
        b"\xef\xbb\xbf" + CONFIG.encode(),
        CONFIG.encode()[:PROFILE_AT] + b"\xff" + CONFIG.encode()[PROFILE_AT:],
        CONFIG.encode().replace(b"SCMP_ACT_ERRNO", b"SCMP_ACT_\xed\xa0\x80", 1),  # surrogate
    ],
)
def test_other_encodings_decode_as_json_loads(raw: bytes) -> None:
    same(raw)
    dec = ConfigDecoder()
    dec.loads(CONFIG)
    same(raw, dec)


def test_the_profile_value_is_the_one_decoded() -> None:
    dec = ConfigDecoder()
    first = dec.loads(CONFIG)
    again = dec.loads(CONFIG)
    assert first == again == json.loads(CONFIG)
    assert first["spec"]["linux"]["seccomp"] == json.loads(CONFIG)["spec"]["linux"]["seccomp"]
    other = edit('"defaultErrnoRet":38', '"defaultErrnoRet":1')
    assert dec.loads(other)["spec"]["linux"]["seccomp"]["defaultErrnoRet"] == 1
    assert len(dec._known) == 2
