"""The name maps of libpod's BoltDB listing: what the helper-per-value version gave."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from storagekit.engines.podman.libpod_bolt import _key_texts, _names, _text
from storagekit.formats.bolt import BoltBucket


class FakeBucket:
    """The two methods the listing calls, over fixed items (a nested bucket as a BoltBucket)."""

    def __init__(self, items: dict[bytes, Any]) -> None:
        self._items = items

    def items(self) -> Iterator[tuple[bytes, Any]]:
        yield from self._items.items()

    def keys(self) -> list[bytes]:
        return list(self._items)


def reference(bucket: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in bucket.items() if bucket is not None else ():
        k = _text(key)
        if k is not None:
            out[k] = _text(value) or ""
    return out


def test_names_and_keys_as_before() -> None:
    nested = cast(BoltBucket, object.__new__(BoltBucket))
    items = {
        b"a": b"name", b"b": b"", b"c\xff": b"x", b"d": b"\xff", b"e": nested,
        b"\xc3\xa9": b"\xc3\xa9t\xc3\xa9", b"f": b"\xed\xa0\x80",
    }  # fmt: skip
    bucket = cast(BoltBucket, FakeBucket(items))
    assert _names(bucket) == reference(bucket)
    assert _names(bucket) == {"a": "name", "b": "", "d": "", "e": "", "é": "été", "f": ""}
    assert _key_texts(bucket) == set(reference(bucket)) == {"a", "b", "d", "e", "é", "f"}
    assert _names(None) == {}
    assert _key_texts(None) == set()
