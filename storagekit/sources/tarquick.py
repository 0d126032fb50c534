r"""The members of a plain archive read in runs, straight into index records.

Most of a real archive of a container root is the same few member shapes over and over: a
directory, a regular file or a symbolic link, in one ustar header, optionally preceded by the
PAX header GNU tar writes with ``--xattrs`` or ``--format=posix`` (``path`` when the name does
not fit in the header, then ``mtime``, ``atime``, ``ctime``) or by a GNU ``L`` long-name block
(GNU tar's default format). :func:`quick_run` reads a run of such members from the feed's
buffer in one loop and puts each one's record into the index at once: no
:class:`~.tarscan.Member` and no method call per header; a checksum from two Adler-32 halves
against the value its field's bytes give (parsed once per distinct field), the owner fields'
numbers parsed once per distinct field bytes; a member below the directory the one before it
went into, with a new path, takes two stores; any other goes through the builder's steps
(:meth:`.tarindex.IndexBuilder.place`).

Where a member has any other shape — a hard link, a device, extended attributes, a long link
name, PAX records other than those four, a damaged header, the end of the archive, an unsafe
name — the run ends *before* it and the :class:`~.tarscan.Scanner` reads that member (by its
fast path or by tarfile), so problems are named as they always were. What the loop accepts, it
reads as :meth:`.tarscan.Scanner._fast` and :meth:`.tarindex.IndexBuilder.add` would, field
for field; ``tests/sources/test_tarquick.py`` holds the two readings equal on generated and on
damaged archives.
"""

from __future__ import annotations

import re
import zlib
from typing import NamedTuple

from storagekit.errors import UnsafePathError
from storagekit.source import FileType, normpath
from storagekit.sources.tarfeed import BLOCK, Feed
from storagekit.sources.tarindex import Extra, IndexBuilder, Rec
from storagekit.sources.tarscan import checksum_sum, header_sum, octal
from storagekit.sources.tarstream import pax_time_ns

#: The PAX records GNU tar writes for a member without extended attributes (``path`` when the
#: name does not fit in the header, then the three times), Python's tarfile (``path`` alone) and
#: others: each of the four at most once, in this order, each ``<length> <key>=<value>\n``.
#: Groups: each whole record, then its length (and the value of ``path`` and ``mtime``).
_TIMES = re.compile(
    rb"((\d+) path=([^\n]*)\n)?((\d+) mtime=([^\n]*)\n)?((\d+) atime=[^\n]*\n)?"
    rb"((\d+) ctime=[^\n]*\n)?"
)
#: The same when all four are there, as GNU tar writes them for a long name: the optional
#: groups of :data:`_TIMES` cost a quarter of its matching time, so this is tried first.
_ALL_FOUR = re.compile(
    rb"((\d+) path=([^\n]*)\n)((\d+) mtime=([^\n]*)\n)((\d+) atime=[^\n]*\n)((\d+) ctime=[^\n]*\n)"
)
_LONG_MAX = 4 * BLOCK  # a longer PAX or long-name header: the Scanner reads it
_WANT = 2 * BLOCK + _LONG_MAX  # what one member's headers can span
#: Device number fields (bytes 329–345) tarfile reads as numbers; these common ones are valid.
_NO_DEVICE = frozenset((bytes(16), b"0000000\x000000000\x00", b"0000000 0000000 "))
_SCALE = [10 ** (9 - digits) for digits in range(10)]  # nanoseconds per unit of the last digit
_FILE, _DIR, _LINK = FileType.FILE, FileType.DIR, FileType.SYMLINK
_KINDS = frozenset(b"0\x007" b"5" b"2")  # regular ("0", "\0", "7"), directory, symbolic link
_ADLER = zlib.adler32
#: The size and mtime fields as GNU tar and tarfile write them (eleven octal digits and a NUL);
#: other spellings are parsed as :func:`.tarscan.octal` parses them.
_SIZE_MTIME = re.compile(rb"([0-7]{11})\0([0-7]{11})\0")
#: A PAX record's length prefix as the number it says (other spellings: the Scanner reads them).
_LENGTHS = {str(n).encode(): n for n in range(1, 1000)}
_SUMS_MAX = 1 << 16  # distinct checksum fields remembered


def _pax_mtime(value: bytes) -> int:
    """Nanoseconds of a PAX ``mtime`` value, as :func:`.tarstream.pax_time_ns` reads it."""
    sec, dot, frac = value.partition(b".")
    if sec.isdigit() and (frac.isdigit() if dot else True):
        return int(sec) * 1_000_000_000 + (int(frac[:9].ljust(9, b"0")) if dot else 0)
    return pax_time_ns(value.decode("utf-8", "surrogateescape"), 0)


class Owners:
    """Mode, uid and gid by the raw bytes of their three fields (an archive has few kinds).

    Permission bits are interned, as :class:`.tarindex.IndexBuilder` does.
    """

    def __init__(self, modes: dict[int, int]) -> None:
        self.known: dict[bytes, tuple[int, int, int]] = {}
        #: Checksum fields and the Adler-32 low word a header with each has: one more than
        #: :func:`.tarscan.checksum_sum` (the loop takes one Adler-32 of an ASCII header).
        self.sums: dict[bytes, int] = {}
        #: Size fields of PAX and long-name headers (a few lengths recur) and their numbers.
        self.sizes: dict[bytes, int] = {}
        self._modes = modes

    def of(self, fields: bytes) -> tuple[int, int, int]:
        """(permission bits, uid, gid) of ``header[100:124]``; ValueError if unreadable."""
        known = self.known.get(fields)
        if known is None:
            perm = octal(fields[:8]) & 0o7777
            known = (self._modes.setdefault(perm, perm), octal(fields[8:16]), octal(fields[16:]))
            if len(self.known) < 4096:
                self.known[fields] = known
        return known

    def low_word(self, field: bytes) -> int:
        """The low word for a checksum field, remembered (the loop looks in :attr:`sums` first).

        ValueError if the field is not an octal number.
        """
        want = checksum_sum(field) + 1
        if len(self.sums) < _SUMS_MAX:
            self.sums[field] = want
        return want

    def size(self, field: bytes) -> int:
        """The number of an extension header's size field, remembered in :attr:`sizes`."""
        size = octal(field)
        if len(self.sizes) < _SUMS_MAX:
            self.sizes[field] = size
        return size


class Ran(NamedTuple):
    """A run :func:`quick_run` indexed.

    Its last regular file's (path, data offset, stored bytes), as
    :meth:`.tarindex.IndexBuilder.add` returns it (None: there was none).
    """

    last: tuple[str, int, int] | None


def quick_run(
    feed: Feed, start: int, until: int, owners: Owners, builder: IndexBuilder
) -> tuple[Ran, int]:
    """Index the run of common members from ``start`` into ``builder``; return it and its end.

    The run ends before the first member of another shape, at the end of the archive (which
    the Scanner then reads and checks) and at the first member starting at or after ``until``.
    """
    records, kids, links = builder.records, builder.kids, builder.links
    place = builder.place
    at_dir: str | None = None  # the directory the member before went into, and its children
    siblings: list[str] = []
    last: tuple[str, int, int] | None = None
    times, all_four = _TIMES.fullmatch, _ALL_FOUR.fullmatch
    size_mtime = _SIZE_MTIME.fullmatch
    adler = _ADLER
    lengths = _LENGTHS
    known = owners.known
    sums, sizes = owners.sums, owners.sizes
    feed.skip_to(start)
    buf, base = feed.buffer()
    off = start
    try:
        while off < until:
            i = off - base
            if i < 0 or i + _WANT > len(buf):
                feed.pos = off
                buf, base = feed.buffer(_WANT)
                i = off - base
                if i < 0 or i + BLOCK > len(buf):
                    break
            h = buf[i : i + BLOCK]
            want = sums.get(h[148:156]) or owners.low_word(h[148:156])
            if (adler(h) & 0xFFFF if h.isascii() else header_sum(h) + 1) != want:
                break
            kind = h[156]
            path_value = mtime_value = long_name = None
            at = i + BLOCK
            if kind == 0x78 or kind == 0x4C:  # "x": PAX records; "L": GNU long name
                size = sizes.get(h[124:136]) or owners.size(h[124:136])
                if size > _LONG_MAX:
                    break
                end = at + size
                if kind == 0x78:
                    m = all_four(buf, at, end) or times(buf, at, end)
                    if m is None:
                        break
                    (path_rec, path_len, path_value, mtime_rec, mtime_len, mtime_value,
                     atime_rec, atime_len, ctime_rec, ctime_len) = m.groups()  # fmt: skip
                    if (  # each record's length prefix counts exactly its record
                        (path_rec is not None and lengths.get(path_len) != len(path_rec))
                        or (mtime_rec is not None and lengths.get(mtime_len) != len(mtime_rec))
                        or (atime_rec is not None and lengths.get(atime_len) != len(atime_rec))
                        or (ctime_rec is not None and lengths.get(ctime_len) != len(ctime_rec))
                    ):
                        break
                else:
                    long_name = buf[at : end + (-size % BLOCK)].partition(b"\0")[0]
                at = end + (-size % BLOCK)
                h = buf[at : at + BLOCK]
                if len(h) < BLOCK:
                    break
                want = sums.get(h[148:156]) or owners.low_word(h[148:156])
                if (adler(h) & 0xFFFF if h.isascii() else header_sum(h) + 1) != want:
                    break
                kind = h[156]
                at += BLOCK
            if kind not in _KINDS:
                break
            fields = h[100:124]
            mode, uid, gid = known.get(fields) or owners.of(fields)
            numbers = size_mtime(h, 124, 148)
            if numbers is None:
                size = octal(h[124:136])
                mtime = octal(h[136:148]) * 1_000_000_000
            else:
                size = int(numbers[1], 8)
                mtime = 0 if mtime_value is not None else int(numbers[2], 8) * 1_000_000_000
            if h[329:345] not in _NO_DEVICE:
                octal(h[329:337]), octal(h[337:345])  # tarfile refuses what int refuses
            if kind == 0 and h[:100].partition(b"\0")[0].endswith(b"/"):  # a V7 directory
                kind = 0x35
            if path_value is not None:
                name = path_value.decode("utf-8", "surrogateescape").rstrip("/")
            elif long_name is not None:
                name = long_name.decode("utf-8", "surrogateescape")
                if kind == 0x35:
                    name = name.removesuffix("/")
            else:
                name = h[:100].partition(b"\0")[0].decode("utf-8", "surrogateescape")
                if kind == 0x35:
                    name = name.rstrip("/")
                if h[345]:
                    prefix = h[345:500].partition(b"\0")[0].decode("utf-8", "surrogateescape")
                    name = prefix + "/" + name
            if mtime_value is not None:
                sec, dot, frac = mtime_value.partition(b".")
                digits = sec + frac
                # GNU tar's: seconds, and a fraction without trailing zeros, if any
                if sec and digits.isdigit() and len(frac) <= 9 and (frac or not dot):
                    mtime = int(digits) * _SCALE[len(frac)]
                else:
                    mtime = _pax_mtime(mtime_value)
            if (  # already normal (no component starts with a dot): as normpath returns it
                name
                and "/." not in name
                and "//" not in name
                and "\0" not in name
                and name[0] not in "./"
                and name[-1] != "/"
            ):
                path = name
            else:
                path = normpath(name)
            data = base + at
            if kind == 0x35:
                rec: Rec = (_DIR, mode, uid, gid, 0, mtime, data, None)
                following = data
            elif kind == 0x32:
                if not path:
                    break
                target = h[157:257].partition(b"\0")[0].decode("utf-8", "surrogateescape")
                length = len(target.encode("utf-8", "surrogateescape"))
                rec = (_LINK, mode, uid, gid, length, mtime, data, Extra(link_target=target))
                following = data
            else:
                if not path:
                    break
                rec = (_FILE, mode, uid, gid, size, mtime, data, None)
                following = data + size + (-size % BLOCK)
            parent = path.rpartition("/")[0]
            fresh = path not in records and path not in links
            if fresh and parent != at_dir:
                above = records.get(parent)
                if above is not None and above[0] is _DIR:
                    at_dir, siblings = parent, kids.setdefault(parent, [])
                else:
                    fresh = False
            if fresh:
                siblings.append(path)
                records[path] = rec
                if rec[0] is _FILE:
                    last = (path, data, size)
            else:
                at_dir = None
                if place(path, name, rec) and rec[0] is _FILE:
                    last = (path, data, size)
            off = following
    except (ValueError, UnsafePathError, UnicodeDecodeError):
        pass  # the member at ``off`` goes to the Scanner, which names what is wrong with it
    return Ran(last), off
