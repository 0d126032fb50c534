"""Implementations of :class:`storagekit.source.Source`: directory, tar archive, memory."""

from __future__ import annotations

import os
import stat as st

from storagekit.errors import SourceError
from storagekit.source import Source
from storagekit.sources.dirsource import DirSource

__all__ = ["open_source"]


def open_source(path: str) -> Source:
    """Open evidence on the host: a directory as a DirSource, a regular file as a TarSource.

    The path given by the analyst is followed if it is a symlink; links *inside* the evidence
    never are.

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

        return TarSource(path)
    raise SourceError(f"{path}: evidence must be a directory or a tar archive")
