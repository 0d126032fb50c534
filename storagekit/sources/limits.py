"""How far a compressed archive is decompressed.

Kept apart from the archive readers: a command on a directory root passes its limits on
without loading them (tarfile and the decompressors cost start-up time).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """How far a compressed archive is decompressed: a decompression bomb stops there.

    ``size``: decompressed bytes at most (``None``: no limit). ``ratio``: decompressed bytes at
    most this many times the archive's size, once past ``floor`` (``None``: no limit); gzip
    cannot pass about 1,030, zeros in bzip2 or xz pass a million.
    """

    size: int | None = 1 << 40
    ratio: int | None = 200
    floor: int = 1 << 30

    def bound(self, archive_size: int) -> int | None:
        """The decompressed bytes allowed for an archive of ``archive_size`` bytes."""
        bounds = [self.size] if self.size is not None else []
        if self.ratio is not None:
            bounds.append(max(self.floor, self.ratio * archive_size))
        return min(bounds) if bounds else None
