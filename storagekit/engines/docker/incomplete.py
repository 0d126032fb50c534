"""Incomplete evidence: where a cut archive ends, what that hides, which findings it explains.

tar(1) writes one directory at a time, depth first. When such an archive ends early, the
directories that were still being written at that point (the last member's ancestors: *open*
directories) may have held more; every directory closed before it is complete. So an artefact
the archive does not hold is *hidden by the cut* when its nearest ancestor the archive does hold
is open, and really absent otherwise. An archive written in another order (directories first,
their contents later) closes nothing for certain: there every absent artefact may be hidden.
The member the archive ends in is damaged.

Findings about hidden or damaged artefacts (a layer directory missing, an overlay2 ``lower``
naming no layer, a chain broken, driver parent records that no longer agree, a config cut
short) are the cut's consequences, not independent errors: they become ``info``, carry
``consequence_of: evidence-incomplete`` and come after the one ``evidence-incomplete`` error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from storagekit.cache import per_root
from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import StoragekitError
from storagekit.model import Finding
from storagekit.source import Source, normpath

CODE = "evidence-incomplete"
#: Findings that follow from another one at the same artefact (a chain whose layers are
#: hidden no longer agrees with the driver's records).
KNOCK_ON = {"driver-parents-disagree", "broken-chain"}
#: Orphan kinds that say nothing references an artefact: what referenced it may be hidden.
UNREFERENCED = {"orphan-driver-dir", "leaked-layer", "dangling-image", "orphan-container-metadata"}
_LAYER_ID = re.compile(r"[0-9a-f]{64}(?:-init)?")
_PATHS = re.compile(r"(?:sha256:)?[\w.@+-]+(?:/[\w.@+-]+)*")


class Cut:
    """The cut of one root: what is open, what is hidden."""

    def __init__(
        self, root: DockerRoot, info: Any, location: str, order: tuple[bool, str | None]
    ) -> None:
        self.root = root
        self.info = info
        self.location = location
        self.depth_first, final = order
        self.last = self._inside(info.last) if info.last else None
        self.open: set[str] = set()
        final = final if final is not None else info.last
        inside = self._inside(final) if final else None
        if inside is not None:
            parts = inside.split("/")
            self.open = {"/".join(parts[: i + 1]) for i in range(len(parts))} | {""}
        elif final is None or (location and location.startswith(normpath(final))):
            self.open = {""}  # the archive ended before or while reaching the root

    def _inside(self, path: str) -> str | None:
        """An archive path as a path inside the root, None if outside it."""
        path = normpath(path)
        if not self.location:
            return path
        if path == self.location:
            return ""
        if path.startswith(self.location + "/"):
            return path[len(self.location) + 1 :]
        return None

    def hidden(self, path: str) -> bool:
        """Whether the cut may have taken ``path`` (a path inside the root), or cut it short."""
        path = normpath(path)
        if path == self.last and self.info.truncated_member:
            return True
        source = self.root.source
        try:
            if source.exists(path):
                return False
        except StoragekitError:
            return False
        if not self.depth_first:
            return True
        while path:
            path = path.rpartition("/")[0]
            try:
                if source.exists(path):
                    return path in self.open
            except StoragekitError:
                return False
        return "" in self.open

    def explains(self, finding: Finding) -> bool:
        """Whether the finding is about an artefact the cut hid or damaged."""
        if finding.code == CODE or finding.code == "archive-damage":
            return False
        if finding.path and self.hidden(finding.path):
            return True
        top = (finding.path or "").split("/", 1)[0]
        for token in _PATHS.findall(finding.message):
            if token.startswith("sha256:"):
                hexid = token[len("sha256:") :]
                if len(hexid) == 64 and any(
                    self.hidden(f"image/{d}/layerdb/sha256/{hexid}") for d in self.root.stores
                ):
                    return True
            elif _LAYER_ID.fullmatch(token):
                if any(self._layer_hidden(d, token) for d in self.root.drivers.values()):
                    return True
            elif "/" in token and (self.hidden(token) or (top and self.hidden(f"{top}/{token}"))):
                return True
        return False

    def _layer_hidden(self, driver: Any, layer_id: str) -> bool:
        try:
            return bool(self.hidden(driver.layer_path(layer_id)))
        except StoragekitError:
            return False

    def metadata_open(self) -> bool:
        """Whether records that reference layers (layer store, containers) may be hidden."""
        areas = ["containers", "image"]
        for name in self.root.stores:
            areas += [f"image/{name}", f"image/{name}/layerdb", f"image/{name}/imagedb"]
            areas += [f"image/{name}/layerdb/sha256", f"image/{name}/layerdb/mounts"]
        return any(a in self.open or self.hidden(a) for a in areas)

    def layer_dirs(self) -> tuple[int, int]:
        """(hidden, named): the driver directories the metadata names, and how many are hidden."""
        named: set[str] = set()
        for store in self.root.stores.values():
            driver = self.root.driver(store.driver)
            if driver is None:
                continue
            ids = [lay.cache_id for lay in store.layers.values()]
            for rw in store.rw_layers.values():
                ids += [rw.mount_id, rw.init_id]
            for layer_id in ids:
                if layer_id:
                    try:
                        named.add(driver.layer_path(layer_id))
                    except StoragekitError:
                        continue
        return sum(self.hidden(p) for p in named), len(named)


def cut_of(root: DockerRoot) -> Cut | None:
    """The cut of the archive the root was read from, if it is incomplete."""
    cut = root.evidence_cut()
    return None if cut is None else _cut(root, cut[0])


@per_root()
def _cut(root: DockerRoot, source: Source) -> Cut:
    info = source.cut
    assert info is not None
    return Cut(root, info, root.location, scan(source.paths_in_order()))


def scan(paths: Iterable[str]) -> tuple[bool, str | None]:
    """Whether every directory's members came together, as tar(1) writes them; the last path."""
    closed: set[str] = set()
    previous: list[str] = []
    last = None
    for path in paths:
        last = path
        parts = path.split("/") if path else []
        common = 0
        while common < min(len(parts), len(previous)) and parts[common] == previous[common]:
            common += 1
        for depth in range(common + 1, len(previous) + 1):
            closed.add("/".join(previous[:depth]))
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in closed:
                return False, None
        previous = parts
    return True, last


def incomplete_line(root: DockerRoot) -> str | None:
    """The first line on stderr for incomplete evidence; records ``evidence-incomplete``."""
    cut = cut_of(root)
    if cut is None:
        return None
    info = cut.info
    hidden, named = cut.layer_dirs()
    hidden_part = (
        f"{hidden} of the {named} layer directories its metadata names"
        if named
        else "its metadata names no layer directory it still holds"
    )
    if info.last and info.truncated_member:
        where = f"in the data of {info.last}"
    else:
        where = f"after {info.last} ({info.why})" if info.last else f"({info.why})"
    text = (
        f"evidence incomplete: {root.evidence} ends at byte {info.archive_bytes} of the file, "
        f"{info.tar_bytes} bytes into the tar, {where}; everything it held after "
        f"that point is missing from these answers: {hidden_part}, and whatever else came later"
    )
    root.findings.error(CODE, None, text)
    return f"storagekit: {text}"


def settle(root: DockerRoot) -> None:
    """Mark the findings the cut explains as its consequences (once the analyses have run)."""
    cut = cut_of(root)
    if cut is None:
        return
    items = root.findings._items  # noqa: SLF001 - replaced in place, order kept
    consequences: set[str | None] = set()
    for key, finding in items.items():
        if finding.consequence_of is None and cut.explains(finding):
            items[key] = finding._replace(severity="info", consequence_of=CODE)
            consequences.add(finding.path)
    dirs = _stack_dirs(root)
    for key, finding in items.items():
        if finding.consequence_of is not None or finding.code not in KNOCK_ON:
            continue
        below = dirs.get(finding.path or "", ())
        if finding.path in consequences or any(
            p and (p == d or p.startswith(d + "/")) for p in consequences for d in below
        ):
            items[key] = finding._replace(severity="info", consequence_of=CODE)


def _stack_dirs(root: DockerRoot) -> dict[str, tuple[str, ...]]:
    """Config path -> the driver directories of its stack (``overlay2/<id>``), for knock-ons."""
    from storagekit.engines.docker.chains import container_stack, image_stack

    stacks = [(c.config_path, container_stack(root, c)) for c in root.containers.values()]
    stacks += [(i.config_path, image_stack(root, i)) for i in root.images]
    found: dict[str, tuple[str, ...]] = {}
    for where, stack in stacks:
        driver = root.driver(stack.driver)
        dirs = []
        for lay in stack.layers:
            if driver is not None and lay.cache_id:
                try:
                    dirs.append(driver.layer_path(lay.cache_id).rpartition("/")[0])
                except StoragekitError:
                    continue
        found[where] = tuple(d for d in dirs if "/" in d)
    return found


def mark_records(root: DockerRoot, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``orphans`` records about hidden artefacts, marked as consequences of the cut."""
    cut = cut_of(root)
    if cut is None:
        return records
    for record in records:
        paths = [record.get("path"), *(record.get("paths") or [])]
        if any(p and cut.hidden(p) for p in paths) or (
            record.get("kind") in UNREFERENCED and cut.metadata_open()
        ):
            record["consequence_of"] = CODE
    return records
