"""overlay2: change-only layers merged by the kernel's overlay filesystem.

On disk::

    overlay2/l/<LINKID> -> ../<id>/diff     short symlinks (LINKID: 26 chars of [A-Z2-7])
    overlay2/<id>/diff/                      the layer's own files (upperdir when writable)
    overlay2/<id>/link                       the layer's LINKID, no newline
    overlay2/<id>/lower                      "l/<LINKID>:l/<LINKID>:..." nearest parent first;
                                             absent for a base layer
    overlay2/<id>/work/                      overlay workdir (absent for base layers)
    overlay2/<id>/merged/                    mount point; holds the union only while mounted
    overlay2/<id>/committed                  empty file: the layer has children (20.10+)

``<id>`` is a cache ID, a mount ID or ``<mount-id>-init``. Whiteouts are the kernel overlay's
(:class:`~storagekit.driver.KernelOverlayDriver`): character devices 0/0 and opaque xattrs.

``lower`` entries and ``l/`` link targets come from the evidence: each is validated before it
names a directory; when a link is damaged the LINKID is looked up in every ``<id>/link`` file.

References: moby ``daemon/graphdriver/overlay2/overlay.go`` (``getLower``, ``Create``),
``overlayutils/randomid.go``, ``go-archive/archive_linux.go`` (``ConvertRead``).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import ClassVar

from storagekit.driver import ParentRecord
from storagekit.errors import SourceError
from storagekit.ids import is_safe_component
from storagekit.model import Finding, Findings
from storagekit.source import Source

from .layouts import KernelOverlayDriver

LINK_ID = re.compile(r"[A-Z2-7]{26}")
LOWER_ENTRY = re.compile(r"l/([A-Z2-7]{26})")
#: What an ``l/<LINKID>`` link points at: ``../<id>/diff``.
LINK_TARGET = re.compile(r"\.\./([^/]+)/diff/?")
MAX_SMALL_FILE = 1 << 16


class Overlay2Driver(KernelOverlayDriver):
    """Reader for ``overlay2/<id>/{diff,link,lower}`` and ``overlay2/l``."""

    name: ClassVar[str] = "overlay2"
    #: The driver's directory below the Docker root (fuse-overlayfs shares the layout).
    root: ClassVar[str] = "overlay2"

    def __init__(self, source: Source, findings: Findings) -> None:
        super().__init__(source, findings)
        self._links_by_file: dict[str, str] | None = None
        self._links: dict[str, str | None] = {}
        # "l/<LINKID>:..." -> (layer IDs, problems), once resolved
        self._by_text: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {}

    @classmethod
    def detect(cls, source: Source) -> bool:
        """``overlay2/`` exists."""
        return source.is_dir(cls.root)

    def layer_ids(self) -> list[str]:
        """Directories in ``overlay2/`` except ``l``."""
        try:
            return [name for name in self.source.subdirs(self.root)[0] if name != "l"]
        except SourceError:
            return []

    def _layer_path(self, layer_id: str) -> str:
        return f"{self.root}/{layer_id}/diff"

    def _read_small(self, path: str) -> str | None:
        try:
            return self.source.read_bytes(path, MAX_SMALL_FILE).decode("utf-8").strip()
        except (SourceError, UnicodeDecodeError):
            return None

    def links_by_file(self) -> dict[str, str]:
        """LINKID -> layer ID, from every ``overlay2/<id>/link`` file (read once)."""
        if self._links_by_file is None:
            links: dict[str, str] = {}
            for layer_id in self.layer_ids():
                link = self._read_small(f"{self.root}/{layer_id}/link")
                if link and LINK_ID.fullmatch(link):
                    links.setdefault(link, layer_id)
            self._links_by_file = links
        return self._links_by_file

    def resolve_link(self, link_id: str) -> str | None:
        """The layer ID a LINKID stands for: via ``l/<LINKID>``, else via the ``link`` files."""
        if link_id not in self._links:
            self._links[link_id] = self._resolve_link(link_id)
        return self._links[link_id]

    def _resolve_link(self, link_id: str) -> str | None:
        path = f"{self.root}/l/{link_id}"
        try:
            target = self.source.readlink(path)
        except SourceError:
            target = None
        if target is not None:
            m = LINK_TARGET.fullmatch(target)
            if m and is_safe_component(m.group(1)):
                return m.group(1)
            self.findings.error(
                "bad-link", path, f"{self.name} short link points outside its layers: {target!r}"
            )
        return self.links_by_file().get(link_id)

    def _read_parents(self, layer_id: str) -> ParentRecord | None:
        """The layers named by ``<id>/lower`` (nearest first); none for a base layer."""
        path = f"{self.root}/{layer_id}/lower"
        try:
            raw = self.source.read_bytes(path, MAX_SMALL_FILE)
        except SourceError:
            return ParentRecord(())
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            self.findings.error("bad-driver-parents", path, f"{self.name} lower file is not text")
            return ParentRecord((), complete=False)
        # Every container on an image has the same lower list after its own init layer's
        # link: the two parts are resolved once each.
        head, _, tail = text.partition(":")
        parents, problems = self._entries(head)
        if tail:
            more, more_problems = self._entries(tail)
            parents, problems = parents + more, problems + more_problems
        for code, message in problems:
            self.findings.error(code, path, message)
        return ParentRecord(parents, complete=not problems)

    def _entries(self, text: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
        """Layer IDs of ``l/<LINKID>:...`` entries, and (code, message) of those unusable."""
        known = self._by_text.get(text)
        if known is not None:
            return known
        parents: list[str] = []
        problems: list[tuple[str, str]] = []
        for item in filter(None, text.split(":")):
            m = LOWER_ENTRY.fullmatch(item)
            parent = self.resolve_link(m.group(1)) if m else None
            if m is None:
                problems.append(
                    ("unsafe-lower", f"{self.name} lower entry is not an l/<LINKID> link: {item!r}")
                )
            elif parent is None:
                problems.append(
                    (
                        "broken-lower",
                        f"{self.name} lower entry {item} resolves to no layer directory",
                    )
                )
            else:
                parents.append(parent)
        result = tuple(parents), tuple(problems)
        self._by_text[text] = result
        return result

    # what the layout holds beside the layers ---------------------------------------------

    @cached_property
    def short_links(self) -> dict[str, list[str]]:
        """Layer ID -> names of the ``l/`` links pointing at its ``diff`` ("" for no layer)."""
        result: dict[str, list[str]] = {}
        try:
            entries = sorted(self.source.scandir(f"{self.root}/l"), key=lambda e: e.name)
        except SourceError:
            entries = []
        for entry in entries:
            m = LINK_TARGET.fullmatch(entry.link_target or "")
            result.setdefault(m.group(1) if m else "", []).append(entry.name)
        return result

    def layer_parts(self, layer_id: str) -> list[str]:
        """``<id>/`` (files, ``link``, ``lower``, ``work/``) and its ``l/<LINKID>`` links."""
        self.layer_path(layer_id)  # validates the ID
        links = self.short_links.get(layer_id, [])
        return [f"{self.root}/{layer_id}", *(f"{self.root}/l/{link}" for link in links)]

    def layout_findings(self, live: set[str]) -> list[Finding]:
        """``broken-link``: an ``l/`` link to no layer; ``missing-link``: a live layer's is gone."""
        found: list[Finding] = []
        for target, names in sorted(self.short_links.items()):
            if target and self.source.is_dir(f"{self.root}/{target}/diff"):
                continue
            for link in names:
                found.append(
                    _orphan(
                        "broken-link",
                        f"{self.root}/l/{link}",
                        f"short link to {self.root}/{target or '?'}/diff, which does not exist",
                        link,
                        *([target] if target else []),
                    )
                )
        for layer_id in sorted(live):
            own = self._read_small(f"{self.root}/{layer_id}/link")
            if own is None or not LINK_ID.fullmatch(own):
                continue
            if not self.source.exists(f"{self.root}/l/{own}"):
                found.append(
                    _orphan(
                        "missing-link",
                        f"{self.root}/l/{own}",
                        f"the short link of {self.root}/{layer_id} is gone: layers stacked on "
                        "it no longer mount",
                        layer_id,
                        own,
                    )
                )
        return found


def _orphan(code: str, path: str, message: str, *ids: str) -> Finding:
    """A finding about a link: it holds no data worth measuring."""
    return Finding(code, "info", path, message, ids, holds_data=False)
