"""An open file of the evidence read like ``bytes``: slices are read on demand, a block at a time.

A BoltDB file is walked page by page from its meta page; reading it whole first would cost its
full size in memory (twice, with a copy) however little of it the walk visits: a sparse
``volumes/metadata.db`` of 1 GiB took 2.1 GB. Blocks of 64 KiB are kept in a small LRU cache,
so element-by-element parsing does not cost a read each.

A file kept open while work is forked (``storagekit.parallel``) would share its offset with the
children: given ``reopen``, a process that did not open the file opens its own before reading.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from typing import BinaryIO, overload

from storagekit.errors import FormatError, SourceError

_BLOCK = 1 << 16
_CACHED = 64  # blocks: 4 MiB


class PagedFile:
    """``len()`` and slicing of a seekable file of ``size`` bytes, without reading it whole."""

    def __init__(
        self, file: BinaryIO, size: int, path: str,
        reopen: Callable[[], BinaryIO] | None = None,
    ) -> None:
        self._file, self._size, self._path = file, size, path
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._reopen, self._pid = reopen, os.getpid()

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, key: int) -> int: ...
    @overload
    def __getitem__(self, key: slice) -> bytes: ...

    def __getitem__(self, key: int | slice) -> int | bytes:
        if type(key) is slice and key.step is None:
            # the common case, a key or a value within one block: no join, no list
            start, stop = key.start, key.stop
            if type(start) is int and type(stop) is int and 0 <= start < stop <= self._size:
                number = start // _BLOCK
                base = number * _BLOCK
                if stop - base <= _BLOCK:
                    return self._block(number)[start - base : stop - base]
        if isinstance(key, int):
            got = self[key : key + 1]
            if not got:
                raise IndexError(key)
            return got[0]
        start, stop, step = key.indices(self._size)
        if step != 1:
            raise ValueError("only contiguous slices")
        if stop <= start:
            return b""
        parts = []
        for number in range(start // _BLOCK, (stop - 1) // _BLOCK + 1):
            block = self._block(number)
            base = number * _BLOCK
            parts.append(block[max(start - base, 0) : stop - base])
        return b"".join(parts)

    def _block(self, number: int) -> bytes:
        block = self._blocks.get(number)
        if block is not None:
            self._blocks.move_to_end(number)
            return block
        try:
            if self._reopen is not None and os.getpid() != self._pid:
                self._file, self._pid = self._reopen(), os.getpid()  # a forked child's own
            self._file.seek(number * _BLOCK)
            block = self._file.read(_BLOCK)
        except (OSError, SourceError) as exc:
            raise FormatError(self._path, f"cannot be read: {exc}", number * _BLOCK) from None
        self._blocks[number] = block
        if len(self._blocks) > _CACHED:
            self._blocks.popitem(last=False)
        return block
