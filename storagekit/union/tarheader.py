"""Tar headers as ``tarfile`` writes them in PAX format, built without a ``TarInfo`` each.

``docker export``-style archives are millions of small members; ``TarInfo.tobuf`` costs tens of
microseconds a header. A member whose name and link target are ASCII and fit their fields and
whose numbers fit in octal (nearly all of them) is a single 512-byte ustar block: those are
packed here from a template, byte for byte what ``tarfile`` writes (its ``itn``/``stn`` field
encodings, the ``ustar`` NUL ``00`` magic, empty user and group names, the checksum as six
octal digits, NUL, space). Everything else — long or non-ASCII names, device numbers, huge
values — goes through ``tarfile`` itself, which adds the PAX extended header (or, for device
numbers no PAX header can hold, writes the GNU format).
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
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    except ValueError:
        # A device number past its 7 octal digits (a major of 2**40 in an archive): PAX has no
        # record for it, so the member is written as Go's archive/tar does then, in the GNU
        # format with base-256 numbers (which holds any number a tar header can carry).
        return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
