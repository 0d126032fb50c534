"""Records as JSON text: one compact document, or an array streamed batch by batch.

Every layer that prints records uses these (the engines' workers render their own records, the
union view streams listings), so they sit below all of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

#: One JSON-ready object with the contract's keys (``cli-contract.md``), in its key order.
Record = dict[str, Any]


def to_json(data: Any) -> str:
    """One compact JSON document, keys in record order, non-ASCII kept readable.

    Compact because scripts read it (pipe it to ``jq`` to read it yourself), and because
    Python's indenting encoder is several times slower on a thousand-container root.
    """
    return escape_surrogates(_ENCODER.encode(data))


#: What ``json.dumps(data, ensure_ascii=False, separators=(",", ":"))`` builds on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def escape_surrogates(text: str) -> str:
    r"""JSON text with lone surrogates written as JSON escapes (``\udcff`` for byte 0xff).

    Names that are not UTF-8 are carried as lone surrogates (surrogateescape), and a JSON file
    of the evidence can hold any other (``"\ud800"``); the escapes decode back to the same
    Python string, and the text can always be written out. DEL and the C1 controls (``\u009b``
    is an 8-bit CSI) are escaped too: the JSON keeps the exact value, and a terminal it is
    shown on obeys none of it (``json`` escapes only C0). ``str.isascii()`` is a flag lookup:
    most texts skip the scan altogether.
    """
    if (text.isascii() and "\x7f" not in text) or not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_SURROGATE = re.compile("[\x7f-\x9f\ud800-\udfff]")


def stream_json(records: Iterable[Any], write: Callable[[str], object]) -> None:
    """Write a JSON array batch by batch: memory stays flat for millions of entries."""
    write("[")
    sep = ""
    for batch in _batches(records):
        body = to_json(batch)[1:-1]
        if body:
            write(sep + body)
            sep = ","
    write("]\n")


def _batches(records: Iterable[Any], size: int = 2048) -> Iterator[list[Any]]:
    """Consecutive lists of up to ``size`` records (one JSON encoder call per batch)."""
    batch: list[Any] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
