"""CRC-64/ISO (Go's ``crc64.ISO``, as tar-split stores it) at C speed, in pure Python.

A byte-at-a-time table loop runs at about 4 MB/s in CPython; slicing-by-8 is no faster, as
every step is an operation on a 64-bit (multi-digit) integer. Here the bytes become one big
integer instead — the message polynomial, bits reflected with ``bytes.translate`` — and it is
reduced modulo the CRC polynomial with shifts and XORs over the whole integer, which CPython
does in C. The ISO polynomial ``P = x^64 + x^4 + x^3 + x + 1`` has five terms, and so has each
``P^(2^k) = x^(64·2^k) + x^(4·2^k) + x^(3·2^k) + x^(2^k) + 1`` (squaring is linear over GF(2)):
reducing modulo ``P^(2^k)`` (a multiple of ``P``) for ``k`` from large to 0 folds the message
down to 64 bits a few shifts per halving of its length: 100–170 MB/s on one core where the
table loop does 4, in pieces of 64 KiB (larger integers leave the CPU cache).

References: Go ``hash/crc64``; tar-split ``tar/storage/getter.go`` (``crc64.ISO``).
"""

from __future__ import annotations

_ONES = (1 << 64) - 1
_REVERSE = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
_PIECE = 1 << 16


def _bitrev64(value: int) -> int:
    return int(f"{value:064b}"[::-1], 2)


def _reduce(value: int) -> int:
    """``value`` (a polynomial over GF(2)) modulo ``x^64 + x^4 + x^3 + x + 1``."""
    bits = value.bit_length()
    k = 0
    while (64 << (k + 1)) < bits:
        k += 1
    while k >= 0:
        degree = 64 << k
        while value.bit_length() > degree:
            high = value >> degree
            value ^= (high << degree) ^ high ^ (high << (4 << k)) ^ (high << (3 << k))
            value ^= high << (1 << k)
        k -= 1
    return value


class Crc64:
    """Go's ``crc64.ISO`` (init and final XOR all ones), fed in pieces of any size."""

    def __init__(self) -> None:
        # The register as an MSB-first polynomial: the reflected register, bits reversed.
        self._state = _ONES

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes."""
        view = memoryview(data).cast("B")
        state = self._state
        for start in range(0, len(view), _PIECE):
            piece = view[start : start + _PIECE]
            # state·x^(8n) + M·x^64, reduced: the MSB-first CRC of the piece after ``state``.
            message = int.from_bytes(bytes(piece).translate(_REVERSE) + bytes(8), "big")
            state = _reduce(message ^ (state << (8 * len(piece))))
        self._state = state

    def digest(self) -> bytes:
        """The 8-byte checksum, big-endian, as tar-split stores it."""
        return (_bitrev64(self._state) ^ _ONES).to_bytes(8, "big")
