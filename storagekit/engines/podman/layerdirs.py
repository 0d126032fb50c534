"""Where a containers-storage layer's files are: the ``overlay`` and ``vfs`` graph drivers.

On disk (containers/storage ``drivers/overlay/overlay.go``, ``drivers/vfs/driver.go``)::

    overlay/<id>/diff/        the layer's own files (upperdir when writable); whiteouts are
                              0/0 character devices, opaque dirs ``trusted.overlay.opaque=y``
                              (rootless native overlay: ``user.overlay.opaque=y``)
    overlay/<id>/link         26-char short name (``[A-Z0-9]``), no newline
    overlay/<id>/lower        ``l/<short>:l/<short>:...``, nearest parent first; absent for a
                              base layer, which has an ``empty/`` directory instead
    overlay/<id>/work/, merged/   workdir and mount point (merged holds files only while mounted)
    overlay/l/<short> -> ../<id>/diff
    vfs/dir/<id>/             a full copy of the layer's tree (no whiteouts on disk)
    btrfs/subvolumes/<id>/    a subvolume snapshot of the parent's: a full tree, as vfs
                              (``drivers/btrfs/btrfs.go``; the same layout as Docker's btrfs)

This is moby overlay2's layout under another name (``drivers/overlay2.py`` reads Docker's). The
``lower`` entries and the ``l/`` link targets come from the evidence: a link is resolved inside
the source by reading its target, never followed on the host, and the layer ID it names is
validated before it becomes a path; when a link is damaged the short name is looked up in every
``<id>/link`` file instead.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from storagekit.errors import SourceError
from storagekit.ids import is_safe_component
from storagekit.model import Findings
from storagekit.source import Source

#: containers/storage makes short names of 26 characters from [A-Z0-9] (``generateID``).
SHORT_NAME = re.compile(r"[A-Z0-9]{26}")
_LOWER_ENTRY = re.compile(r"l/([A-Z0-9]{26})")
_LINK_TARGET = re.compile(r"\.\./([^/]+)/diff/?")
MAX_SMALL = 1 << 16

Role = Literal["container", "image"]


class LayerDir(NamedTuple):
    """One level of a stack of layer directories.

    Attributes:
        layer_id: the containers-storage layer ID.
        role: ``container`` (the writable layer) or ``image``.
        path: the directory holding the layer's own files, relative to the graph root;
            ``None`` for a driver whose layout is not known here.
        present: that directory exists.
    """

    layer_id: str
    role: Role
    path: str | None
    present: bool


def layer_path(driver: str, layer_id: str) -> str | None:
    """The directory of an (already validated) layer ID for ``driver``, or ``None``."""
    if driver == "overlay":
        return f"overlay/{layer_id}/diff"
    if driver == "vfs":
        return f"vfs/dir/{layer_id}"
    if driver == "btrfs":
        return f"btrfs/subvolumes/{layer_id}"
    return None


def layer_dir(source: Source, driver: str, layer_id: str, role: Role) -> LayerDir:
    """The :class:`LayerDir` of a layer ID; an unsafe ID gives ``path=None``."""
    path = layer_path(driver, layer_id) if is_safe_component(layer_id) else None
    return LayerDir(layer_id, role, path, path is not None and source.is_dir(path))


def driver_layer_ids(source: Source, driver: str) -> list[str]:
    """Every layer directory on disk for ``driver`` (referenced or not), sorted."""
    top = {"overlay": "overlay", "vfs": "vfs/dir", "btrfs": "btrfs/subvolumes"}.get(driver)
    if top is None:
        return []
    try:
        dirs = source.subdirs(top)[0]
    except SourceError:
        return []
    return [d for d in dirs if d != "l" and is_safe_component(d)]


class OverlayLinks:
    """Resolves ``overlay/l/<short>`` names and ``lower`` files, once each, inside a source."""

    def __init__(self, source: Source, findings: Findings) -> None:
        self.source = source
        self.findings = findings
        self._by_link_file: dict[str, str] | None = None
        self._cache: dict[str, str | None] = {}

    def _small(self, path: str) -> str | None:
        try:
            return self.source.read_bytes(path, MAX_SMALL).decode("utf-8").strip()
        except (SourceError, UnicodeDecodeError):
            return None

    def links_by_file(self) -> dict[str, str]:
        """Short name -> layer ID from every ``overlay/<id>/link`` file."""
        if self._by_link_file is None:
            found: dict[str, str] = {}
            for layer_id in driver_layer_ids(self.source, "overlay"):
                link = self._small(f"overlay/{layer_id}/link")
                if link and SHORT_NAME.fullmatch(link):
                    found.setdefault(link, layer_id)
            self._by_link_file = found
        return self._by_link_file

    def resolve(self, short: str) -> str | None:
        """The layer ID that ``overlay/l/<short>`` stands for (``None`` if none)."""
        if short not in self._cache:
            self._cache[short] = self._resolve(short)
        return self._cache[short]

    def _resolve(self, short: str) -> str | None:
        path = f"overlay/l/{short}"
        try:
            target: str | None = self.source.readlink(path)
        except SourceError:
            target = None
        if target is not None:
            m = _LINK_TARGET.fullmatch(target)
            if m and is_safe_component(m.group(1)):
                return m.group(1)
            self.findings.error(
                "bad-link", path, f"overlay short link points outside its layers: {target!r}"
            )
        return self.links_by_file().get(short)

    def lowers(self, layer_id: str) -> tuple[tuple[str, ...], bool]:
        """The parents ``overlay/<id>/lower`` names (nearest first), and whether all resolved.

        A missing ``lower`` is a base layer: ``((), True)``.
        """
        path = f"overlay/{layer_id}/lower"
        try:
            raw = self.source.read_bytes(path, MAX_SMALL)
        except SourceError:
            return (), True
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            self.findings.error("bad-driver-parents", path, "overlay lower file is not text")
            return (), False
        parents: list[str] = []
        whole = True
        for item in filter(None, text.split(":")):
            m = _LOWER_ENTRY.fullmatch(item)
            if m is None:
                self.findings.error(
                    "unsafe-lower", path, f"overlay lower entry is not an l/<short> link: {item!r}"
                )
                whole = False
                continue
            parent = self.resolve(m.group(1))
            if parent is None:
                self.findings.error(
                    "broken-lower", path, f"overlay lower entry {item} resolves to no layer"
                )
                whole = False
                continue
            parents.append(parent)
        return tuple(parents), whole
