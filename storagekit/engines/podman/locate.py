"""Finding containers-storage graph roots inside the evidence.

The evidence may be the graph root itself (a copy of ``/var/lib/containers/storage`` or of a
user's ``~/.local/share/containers/storage``), a directory or archive holding it one level down
(``tar -C /var/lib/containers -c storage``), or a whole host, where the rootful root is at
``var/lib/containers/storage`` and rootless ones at ``home/<user>/.local/share/containers/storage``
(``root/.local/...`` for root's own rootless store). A graph root is recognised by a
``<driver>-layers/layers.json`` (:func:`detect`); a non-default ``graphroot`` named by
``etc/containers/storage.conf`` is looked up inside the evidence too, never on the host.
"""

from __future__ import annotations

import re

from storagekit.errors import SourceError, StoragekitError
from storagekit.ids import is_safe_component
from storagekit.source import Source

ROOTFUL = "var/lib/containers/storage"
ROOTLESS = ".local/share/containers/storage"
_GRAPHROOT = re.compile(r'^\s*graphroot\s*=\s*"(/[^"]+)"', re.MULTILINE)


def detect(source: Source) -> bool:
    """Whether ``source`` is a graph root (some ``<driver>-layers/layers.json`` exists)."""
    return bool(graph_drivers(source))


def graph_drivers(source: Source) -> list[str]:
    """The drivers whose ``<driver>-layers/layers.json`` the graph root holds, sorted."""
    try:
        names = source.subdirs("")[0]
    except SourceError:
        return []
    found = []
    for name in names:
        drv = name[: -len("-layers")] if name.endswith("-layers") else ""
        if drv and is_safe_component(drv) and source.is_file(f"{name}/layers.json"):
            found.append(drv)
    return sorted(found)


def _sub(source: Source, path: str) -> Source | None:
    try:
        sub = source.sub(source.resolve(path))
    except (StoragekitError, OSError):
        return None
    return sub if detect(sub) else None


def _configured(source: Source) -> list[str]:
    try:
        text = source.read_text("etc/containers/storage.conf", 1 << 20)
    except (SourceError, UnicodeDecodeError):
        return []
    return [m.group(1).strip("/") for m in _GRAPHROOT.finditer(text)]


def find_roots(source: Source) -> list[tuple[Source, str]]:
    """Every graph root in ``source`` with where it is ("" for the top), rootful first."""
    if detect(source):
        return [(source, "")]
    candidates = [*_configured(source), ROOTFUL, f"root/{ROOTLESS}"]
    try:
        users = sorted(source.subdirs("home")[0])
    except SourceError:
        users = []
    candidates += [f"home/{user}/{ROOTLESS}" for user in users]
    found: list[tuple[Source, str]] = []
    for path in dict.fromkeys(candidates):
        sub = _sub(source, path)
        if sub is not None and all(loc != path for _, loc in found):
            found.append((sub, path))
    if found:
        return found
    try:
        tops = [e for e in source.scandir("") if e.is_dir]
    except SourceError:
        tops = []
    if len(tops) == 1:  # archived one level down
        sub = _sub(source, tops[0].path)
        if sub is not None:
            return [(sub, tops[0].path)]
    return []
