"""Tar headers as ``tarfile`` writes them in PAX format, built without a ``TarInfo`` each.

``docker export``-style archives are millions of small members; ``TarInfo.tobuf`` costs tens of
microseconds a header. A member whose name and link target are ASCII and fit their fields and
whose numbers fit in octal (nearly all of them) is a single 512-byte ustar block: those are
packed here from a template, byte for byte what ``tarfile`` writes (its ``itn``/``stn`` field
encodings, the ``ustar`` NUL ``00`` magic, empty user and group names, the checksum as six
octal digits, NUL, space). Everything else — long or non-ASCII names, device numbers, huge
values — goes through ``tarfile`` itself, which adds the PAX extended header (or, for device
numbers no PAX header can hold, writes the GNU format). One record of ``tarfile``'s is left
out: ``hdrcharset=BINARY``, which it adds when a name is not UTF-8. Go's ``archive/tar``
(``docker export``) writes such a name's bytes in the ``path`` record without it, GNU tar warns
"Ignoring unknown extended header keyword 'hdrcharset'", and every reader here takes the raw
bytes either way.
"""

from __future__ import annotations

import tarfile
import zlib

_NUMBERS = b"%07o\0%07o\0%07o\0%011o\0%011o\0"
_TAIL = b"ustar\x0000" + bytes(32 + 32 + 8 + 8 + 155 + 12)  # magic .. end of the block
#: The types packed here; devices (major and minor fields) go through tarfile.
_FAST_TYPES = (tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE)
#: Type flag .. end of block for members without a link name, and its byte sum.
_TAILS = {kind: kind + bytes(100) + _TAIL for kind in _FAST_TYPES}
_SUMS = {kind: sum(tail) for kind, tail in _TAILS.items()}
_SPACES = 8 * 32  # the checksum field counts as eight spaces


def header(
    name: str,
    kind: bytes,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    linkname: str = "",
    rdev: tuple[int, int] | None = None,
) -> bytes:
    """The header block(s) ``TarInfo.tobuf(PAX_FORMAT, "utf-8", "surrogateescape")`` returns.

    ``name`` is the member name without the trailing ``/`` a directory gets; ``mtime`` in
    whole seconds; ``rdev`` only for character and block devices.
    """
    if kind == tarfile.DIRTYPE and not name.endswith("/"):
        name += "/"
    if kind in _SUMS and name.isascii() and linkname.isascii() and mtime >= 0:
        # A name over 100 bytes or a number over its octal digits makes the head longer.
        head = name.encode().ljust(100, b"\0") + _NUMBERS % (mode & 0o7777, uid, gid, size, mtime)
        if len(head) == 148 and uid >= 0 and gid >= 0:
            if linkname:
                tail = kind + linkname.encode().ljust(100, b"\0") + _TAIL
                total = sum(tail) if len(tail) == 356 else -1
            else:
                tail, total = _TAILS[kind], _SUMS[kind]
            if total >= 0:
                # Every byte of the head is ASCII, so its sum is below 65521 and Adler-32's
                # low half is 1 + that sum.
                total += (zlib.adler32(head) & 0xFFFF) - 1 + _SPACES
                return head + b"%06o\0 " % total + tail
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid = kind, mode, uid, gid
    info.size, info.mtime, info.linkname = size, mtime, linkname
    if rdev:
        info.devmajor, info.devminor = rdev
    try:
        return _without_hdrcharset(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
    except ValueError:
        # A device number past its 7 octal digits (a major of 2**40 in an archive): PAX has no
        # record for it, so the member is written as Go's archive/tar does then, in the GNU
        # format with base-256 numbers (which holds any number a tar header can carry).
        return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


_HDRCHARSET = b"21 hdrcharset=BINARY\n"


def _without_hdrcharset(blocks: bytes) -> bytes:
    """``blocks`` with the extended header's leading ``hdrcharset=BINARY`` record removed.

    ``tarfile`` puts that record first in the ``x`` header; the header's size field (12 bytes
    at 124, eleven octal digits and NUL) and checksum (at 148, six octal digits, NUL, space,
    summed with the field as spaces) are rewritten, and the records padded to 512 again.
    """
    if blocks[156:157] != tarfile.XHDTYPE or blocks[512 : 512 + len(_HDRCHARSET)] != _HDRCHARSET:
        return blocks
    size = int(blocks[124:135], 8)
    member = 512 + -(-size // 512) * 512
    records = blocks[512 + len(_HDRCHARSET) : 512 + size]
    head = bytearray(blocks[:512])
    head[124:136] = b"%011o\0" % len(records)
    head[148:156] = b" " * 8
    head[148:156] = b"%06o\0 " % sum(head)
    return bytes(head) + records + bytes(-len(records) % 512) + blocks[member:]
