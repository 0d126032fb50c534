"""Implementations of :class:`storagekit.source.Source`: directory, tar archive, memory."""

from __future__ import annotations

import os
import stat as st
from typing import TYPE_CHECKING

from storagekit.errors import SourceError
from storagekit.source import Source
from storagekit.sources.dirsource import DirSource

if TYPE_CHECKING:  # tarfile and the decompressors load only for an archive
    from storagekit.sources.indexcache import IndexCache
    from storagekit.sources.limits import ArchiveLimits

__all__ = ["open_source"]


def open_source(
    path: str, limits: ArchiveLimits | None = None, cache: IndexCache | None = None
) -> Source:
    """Open evidence on the host: a directory as a DirSource, a regular file as a TarSource.

    The path given by the analyst is followed if it is a symlink; links *inside* the evidence
    never are. ``limits``: how far a compressed archive is decompressed (defaults when
    ``None``; see :class:`~storagekit.sources.tarstream.ArchiveLimits`). ``cache``: where an
    archive's index is kept between runs (:class:`~storagekit.sources.indexcache.IndexCache`;
    ``None``: nowhere).

    Raises:
        SourceError: the path is missing, unreadable, or neither a directory nor a file (one
            plain line naming the path).
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise SourceError(f"{path}: cannot open evidence: {exc.strerror}") from None
    if st.S_ISDIR(mode):
        return DirSource(path)
    if st.S_ISREG(mode):
        # Imported here: tarfile and the decompressors cost start-up time a directory never needs.
        from storagekit.sources.tarsource import TarSource

        return TarSource(path, limits=limits, cache=cache)
    raise SourceError(f"{path}: evidence must be a directory or a tar archive")
