"""The exception hierarchy.

Exceptions are for "cannot start at all": the evidence holds no storage root, an archive cannot be
read, a reference names nothing. Damaged artefacts inside a usable root are not exceptions but
:class:`storagekit.model.Finding` objects, and the report goes on.
"""

from __future__ import annotations


class StoragekitError(Exception):
    """Base of every error storagekit raises on purpose."""


class SourceError(StoragekitError, OSError):
    """The evidence source cannot be read as asked."""


class SourceNotFoundError(SourceError, FileNotFoundError):
    """A path does not exist inside the evidence."""


class NotADirectoryInSourceError(SourceError, NotADirectoryError):
    """A path used as a directory is something else inside the evidence."""


class UnsafePathError(StoragekitError, ValueError):
    """A path or ID read from the evidence would leave the place it must stay in."""


class LinkLoopError(SourceError):
    """Symbolic links inside the evidence loop or nest deeper than the hop limit."""


class NotAStorageRootError(StoragekitError):
    """The evidence holds no container storage root that any engine recognises."""


class UnknownReferenceError(StoragekitError):
    """A reference on the command line names no image or container (or several)."""


class FormatError(StoragekitError):
    """A binary or text artefact does not have the format it must have.

    Attributes:
        path: the artefact inside the root (or a description of it).
        offset: byte offset of the problem, when known.
    """

    def __init__(self, path: str, message: str, offset: int | None = None) -> None:
        self.path = path
        self.message = message
        self.offset = offset
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"{path}{where}: {message}")
