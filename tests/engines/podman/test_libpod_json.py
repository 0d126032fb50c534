"""ConfigDecoder.loads is json.loads: the same value or the same exception, for any input."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from storagekit.engines.podman.libpod_json import MAX_KNOWN, NONCE, ConfigDecoder
from storagekit.formats.bolt import BoltDB
from storagekit.sources import open_source

SAMPLE = Path(__file__).resolve().parents[3] / "sample_roots" / "podman-4.3-overlay"


def real_records() -> list[tuple[bytes, bytes]]:
    """The config and state every container podman 4.3.1 wrote in the sample has."""
    with open_source(str(SAMPLE / "root.tar.xz")) as src:
        db = BoltDB.from_bytes(src.read_bytes("libpod/bolt_state.db"))
    ctr = db.bucket(b"ctr")
    assert ctr is not None
    out = []
    for key in ctr.keys():
        bucket = ctr.bucket(key)
        assert bucket is not None
        config, state = bucket.get(b"config"), bucket.get(b"state")
        assert config is not None
        assert state is not None
        out.append((config, state))
    return out


def real_configs() -> list[bytes]:
    """Every container config podman 4.3.1 wrote in the sample (each has a seccomp profile)."""
    configs = [config for config, _ in real_records()]
    assert all(b'"seccomp":{' in config for config in configs)
    return configs


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
    assert len(dec._known) == len(dec._known_bytes) == 1  # one default profile in every container
    assert all(dec._skipping(raw) == json.loads(raw) for raw in configs)  # not a fall-back


CONFIG = real_configs()[0].decode()
KEY_AT = CONFIG.index('"seccomp":{')
PROFILE_AT = KEY_AT + len('"seccomp":')


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
        edit('"spec":{', '"x":NaN,"spec":{'),  # a constant of the document's own: a float
        edit('"spec":{', '"x":[Infinity,-Infinity],"spec":{'),
        CONFIG[:-1] + ',"x":NaN}',  # ... after the profile
        edit('"seccomp":{', '"seccomp":NaN,"x":{'),
        edit('"seccomp":{', '"seccomp":{"x":NaN,'),  # inside the profile: in its value
        edit('"linux":{', '"linux":{"x":{"seccomp":{}},'),  # first one in another object
        edit('"linux":{', '"linux":{"x\\"seccomp":{},'),  # a key ending in it
        CONFIG[:-1] + ',"spec":{"linux":{"seccomp":NaN}}}',  # a later spec wins
        CONFIG[:-1] + ',"spec":{"linux":{"seccomp":{}}}}',
        edit('"linux":{', '"linux":{"secc\\u006fmp":NaN,'),  # an escaped key
        edit('"linux":{', '"linux":{"\\u00e9":"\\u00fc",'),  # escapes before the profile
        edit('"linux":{', '"linux":{"\\u00e9":"\\u00fc",')[:-1] + ',"\\u00e8":1}',
        edit('"linux":{', '"linux":{"é":"ü€😀",')[:-1] + ',"è€😀":"x"}',  # not ASCII
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
        CONFIG.encode()[:KEY_AT] + b'"\xed\xa0\x80":1,' + CONFIG.encode()[KEY_AT:],
        CONFIG.encode()[:-1] + b',"\xed\xa0\x80":1}',  # a surrogate after the profile
        CONFIG.encode()[:KEY_AT] + b'"\xc3":1,' + CONFIG.encode()[KEY_AT:],  # cut UTF-8
        CONFIG.encode()[:-1] + b',"\xc3":1}',  # cut UTF-8 after the profile
        CONFIG.encode()[:-1] + b',"\xc3\xa9":"\xf0\x9f\x98\x80"}',  # valid UTF-8 after it
        CONFIG.encode()[:-1] + b',"\xc3',  # cut inside a character at the end
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
    assert dec.loads(other.encode())["spec"]["linux"]["seccomp"]["defaultErrnoRet"] == 1
    assert len(dec._known_bytes) == 1


def test_text_around_the_profile_not_ascii_is_decoded_in_place() -> None:
    """A document as bytes with multi-byte characters before and after the profile: fast."""
    text = edit('"linux":{', '"linux":{"é":"ü€😀",')[:-1] + ',"è€😀":"x"}'
    dec = ConfigDecoder()
    for raw in (text, text.encode(), text, text.encode()):
        assert dec._skipping(raw) == json.loads(raw)
        assert outcome(dec.loads, raw) == outcome(json.loads, raw)
    assert len(dec._known) == len(dec._known_bytes) == 1


def test_each_profile_text_is_decoded_once_up_to_a_limit() -> None:
    dec = ConfigDecoder()
    for n in range(MAX_KNOWN + 3):
        doc = edit('"defaultErrnoRet":38', f'"defaultErrnoRet":{n + 100}')
        for raw in (doc, doc.encode()):
            assert dec.loads(raw) == json.loads(raw)
            assert dec._skipping(raw) == json.loads(raw)
    assert len(dec._known) == len(dec._known_bytes) == MAX_KNOWN


def test_mutated_documents_decode_as_json_loads() -> None:
    """Seeded random edits, most near the profile's ends, as text and as UTF-8 bytes."""
    rng = random.Random(8)
    end = PROFILE_AT + len(
        json.dumps(json.loads(CONFIG)["spec"]["linux"]["seccomp"], separators=(",", ":"))
    )
    pieces = [
        '"',
        ":",
        ",",
        "{",
        "}",
        "[",
        "]",
        "\\",
        "NaN",
        "Infinity",
        "-",
        "é",
        "😀",
        '"seccomp":',
        '"seccomp":{}',
        "\\u00e9",
        " ",
        "\x00",
        "1e999",
        "null",
    ]
    dec = ConfigDecoder()
    dec.loads(CONFIG)
    for _ in range(400):
        at = rng.choice([PROFILE_AT, end, rng.randrange(len(CONFIG))]) + rng.randrange(-12, 12)
        cut = rng.randrange(0, 4)
        text = CONFIG[:at] + rng.choice(pieces) * rng.randrange(0, 3) + CONFIG[at + cut :]
        for raw in (text, text.encode("utf-8", "surrogatepass")):
            assert outcome(dec.loads, raw) == outcome(json.loads, raw)
