"""containerd's storage as an :class:`~storagekit.engine.Engine`.

A containerd root (``/var/lib/containerd``: ``io.containerd.metadata.v1.bolt/meta.db``, the
snapshotters, the content store) at the top of the evidence, one level down, or in a whole host
(``var/lib/containerd``). Everything is read once by
:func:`~storagekit.engines.containerd.root.read_root`; this class is the seam between that and
the command line: records (:mod:`.records`), views and changes (:mod:`.views`), orphans, ``df``,
``verify`` and ``save``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, BinaryIO, ClassVar

from storagekit.engine import Engine, LayerStack
from storagekit.errors import FormatError, StoragekitError
from storagekit.jsontext import Record
from storagekit.model import Container, Findings, Image, Volume
from storagekit.source import Source

if TYPE_CHECKING:
    from storagekit.engines.containerd.state import State
    from storagekit.union.changes import Change
    from storagekit.union.mounted import RecoveryView

#: containerd's metadata database, and the prefix of every snapshotter's directory (the readers
#: name them too; they are repeated here so that finding a root imports no reader).
META_DB = "io.containerd.metadata.v1.bolt/meta.db"
PREFIX = "io.containerd.snapshotter.v1."


def is_containerd_root(source: Source) -> bool:
    """True if ``meta.db`` is where containerd keeps it."""
    return source.is_file(META_DB)


#: Where a whole host keeps containerd's root.
HOST_ROOTS = ("var/lib/containerd",)
#: Docker's managed containerd, below its data root (of a host, or at the top of the evidence).
#: Docker < 29 keeps only task bookkeeping there; it is an image store only when it holds
#: snapshots.
MANAGED_ROOTS = ("var/lib/docker/containerd/daemon", "containerd/daemon")
#: Docker's namespace, and the engine whose images, layers and containers it holds.
MOBY, DOCKER = "moby", "docker"


def find_root(evidence: Source) -> tuple[Source, str] | None:
    """The containerd root in the evidence and where it is ("" for the top), or ``None``."""
    if is_containerd_root(evidence):
        return evidence, ""
    for candidate in (*HOST_ROOTS, *MANAGED_ROOTS):
        try:
            path = evidence.resolve(candidate)
            sub = evidence.sub(path)
        except (StoragekitError, OSError):
            continue
        if is_containerd_root(sub) and (candidate in HOST_ROOTS or _has_snapshots(sub)):
            return sub, path
    try:
        tops = [e for e in evidence.scandir("") if e.is_dir]
    except StoragekitError:
        return None
    if len(tops) == 1:
        sub = evidence.sub(tops[0].path)
        if is_containerd_root(sub):
            return sub, tops[0].path
    return None


def _has_snapshots(source: Source) -> bool:
    """Whether any snapshotter of the root holds a snapshot directory."""
    try:
        names = [n for n in source.listdir("") if n.startswith(PREFIX)]
        return any(source.listdir(f"{n}/snapshots") for n in names
                   if source.is_dir(f"{n}/snapshots"))
    except StoragekitError:
        return False


class ContainerdEngine(Engine):
    """A containerd root read through :func:`read_root`, narrowed to some namespaces."""

    name: ClassVar[str] = "containerd"
    title: ClassVar[str] = "containerd"
    daemon: ClassVar[str] = "containerd"
    reclaim_applies: ClassVar[bool] = False
    absent: ClassVar[str] = (
        "not a containerd root (no io.containerd.metadata.v1.bolt/meta.db, "
        "no var/lib/containerd)"
    )

    def __init__(self, source: Source, evidence: str, location: str) -> None:
        self.source = source
        self.evidence = evidence
        self.location = location
        self.findings = Findings()
        self.namespaces: tuple[str, ...] = ()
        self.lent: dict[str, str] = {}
        self.borrowers: list[Engine] = []

    @classmethod
    def find(cls, evidence: Source, description: str) -> ContainerdEngine | None:
        """The containerd root in the evidence: at its top, one level down, or a host's."""
        found = find_root(evidence)
        if found is None:
            return None
        return cls(found[0], description, found[1])

    def attach(self, engines: Sequence[Engine]) -> None:
        """With Docker in the same evidence, namespace ``moby`` is Docker's image store."""
        borrowers = [e for e in engines if e is not self and e.name == DOCKER]
        if borrowers:
            self.lent = {MOBY: DOCKER}
            self.borrowers = borrowers

    def layer_stack(self, scope: str, driver: str, key: str) -> LayerStack | None:
        """The snapshot ``key`` of ``driver`` in namespace ``scope`` and its parents, mounted."""
        from storagekit.engines.containerd.chains import mounted_levels
        from storagekit.engines.containerd.views import layer_dirs_of

        state = self.state
        if scope not in state.namespaces:
            return None
        chain, problem = state.index.chain(scope, driver, key)
        if not chain:
            return None
        levels = mounted_levels(chain)
        where = f"{scope}/{driver}/{key}"
        dirs = layer_dirs_of(self.source, chain, self.findings, where, f"snapshot {where}")
        return LayerStack(
            dirs=tuple(dirs), paths=tuple(s.dir or "" for s in levels),
            keys=tuple(s.key for s in levels), ids=tuple(str(s.id) for s in levels),
            present=tuple(s.present for s in levels), root=self.location, problem=problem,
        )

    def verify_stack(self, scope: str, driver: str, key: str) -> list[Record] | None:
        """The image snapshots below ``key`` against their layer blobs, as ``verify`` does."""
        from storagekit.engines.containerd.verify import verify_chain

        state = self.state
        if scope not in state.namespaces:
            return None
        chain, _ = state.index.chain(scope, driver, key)
        return self._relabel(verify_chain(state, chain)) if chain else None

    def speaks_for(self) -> frozenset[str]:
        """Docker, when namespace ``moby`` is its image store."""
        return frozenset(self.lent.values())

    def _relabel(self, records: list[Record]) -> list[Record]:
        """Records of a namespace another engine owns carry that engine's name."""
        if not self.lent:
            return records
        return [{**r, "engine": self.lent[r["namespace"]]} if r.get("namespace") in self.lent
                else r for r in records]

    def narrow(self, namespaces: Sequence[str]) -> None:
        """Read only these namespaces (all when empty)."""
        self.namespaces = tuple(namespaces)
        old = self.__dict__.pop("state", None)
        if old is not None:
            old.root.close()

    def close(self) -> None:
        """Close the root's databases, then the evidence."""
        if "state" in self.__dict__:
            self.state.root.close()
        super().close()

    @cached_property
    def state(self) -> State:
        """The root, read once (an unreadable meta.db is one error finding)."""
        from storagekit.engines.containerd.root import read_root
        from storagekit.engines.containerd.state import State

        try:
            root = read_root(self.source, self.findings)
        except FormatError as exc:
            self.findings.error("damaged-metadata", exc.path, exc.message)
            from storagekit.engines.containerd.root import ContainerdRoot

            root = ContainerdRoot(None, self.findings)
        return State(self.source, root, self.findings, self.namespaces)

    # the model ---------------------------------------------------------------------------

    @property
    def containers(self) -> Mapping[str, Container]:  # noqa: D102 - see Engine
        return {k: core for k, (core, _) in self.state.core_containers.items()}

    @property
    def images(self) -> Sequence[Image]:  # noqa: D102 - see Engine
        return [core for core, _ in self.state.core_images]

    @property
    def volumes(self) -> Mapping[str, Volume]:  # noqa: D102 - see Engine
        return {}

    @property
    def recorded_path(self) -> str:  # noqa: D102 - see Engine
        return "/var/lib/containerd"

    def describe(self, obj: Container | Image) -> str:
        """How a container or image is named in a list of ambiguous matches."""
        from storagekit.engines.containerd.model import Container as CtrContainer

        rec = self.state.record_of(obj)
        what = "container" if isinstance(obj, Container) else "image"
        name = rec.id if isinstance(rec, CtrContainer) else rec.name
        return f"{self.name} {what} {rec.namespace}/{name} ({obj.id})"

    def identity(self, obj: Container | Image) -> str:
        """One image under several names of one namespace is one object (the same files)."""
        if isinstance(obj, Image):
            return f"image {self.state.record_of(obj).namespace} {obj.id}"
        return self.describe(obj)

    # records -----------------------------------------------------------------------------

    def container_records(self, *, sizes: bool) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.containerd import records

        return self._relabel(records.container_records(self.state, sizes=sizes))

    def image_records(self) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.containerd import records

        found = self._relabel(records.image_records(self.state))
        if self.borrowers:  # Docker's containers use the moby namespace's images
            users = Counter(c.image_id for e in self.borrowers for c in e.containers.values())
            found = [records.familiar_names(r) if r["namespace"] == MOBY else r for r in found]
            for r in found:
                if r["namespace"] == MOBY and r["id"]:
                    r["containers"] += users.get(r["id"], 0)
        return found

    def layer_records(self) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.containerd import records

        return self._relabel(records.layer_records(self.state))

    def volume_records(self) -> list[Record]:  # noqa: D102 - see Engine
        return []

    def chain_record(self, obj: Container | Image) -> Record:  # noqa: D102 - see Engine
        rec = self.state.record_of(obj)
        from storagekit.engines.containerd import records

        return records.chain_record(self.state, rec)

    def orphan_records(self) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.containerd.orphans import orphan_records

        return self._relabel(orphan_records(self.state))

    def reclaim_commands(self, orphans: Sequence[Record]) -> list[str]:
        """``ctr`` commands to run with the daemon: containerd removes the files itself."""
        from storagekit.engines.containerd.orphans import reclaim_commands

        return reclaim_commands(orphans, self.recorded_path)

    def df_record(self, *, verbose: bool) -> Record:  # noqa: D102 - see Engine
        from storagekit.engines.containerd.df import df_record

        return df_record(self.state, verbose=verbose, orphans=self.orphan_records())

    def audit_record(self, *, verify: bool = False) -> Record:  # noqa: D102 - see Engine
        from storagekit.analysis.integrity import integrity
        from storagekit.engines.containerd.df import df_record

        state = self.state
        containers = self.container_records(sizes=True)
        orphans = self.orphan_records()
        from storagekit.engines.containerd import records

        checked = integrity(self.verify_records(None) if verify else None, len(state.snapshots))
        chains = [records.chain_record(state, c) for c in state.containers]
        for c, chain in zip(state.containers, chains, strict=True):
            for problem in chain["problems"]:
                self.findings.error("broken-chain", c.path, problem)
        root = state.root
        return {
            "engine": self.name,
            "root": {
                "evidence": self.evidence,
                "location": self.location,
                "layout": "containerd",
                "stores": list(state.namespaces),
                "namespaces": list(state.namespaces),
                "snapshotters": list(root.snapshotters),
                "unread_snapshotters": list(root.unread_snapshotters),
                "databases": [
                    {"path": d.path, "txid": d.txid, "meta_page": d.page,
                     "other_page_valid": d.other_valid}
                    for d in root.databases
                ],
            },
            "drivers": list(root.snapshotters),
            "counts": {
                "images": len(state.images),
                "containers": len(containers),
                "containers_by_status": {"unknown": len(containers)} if containers else {},
                "layers": len(state.snapshots),
                "volumes": 0,
                "namespaces": len(state.namespaces),
                "blobs": len(state.blobs),
                "leases": len(state.leases),
            },
            "images": self.image_records(),
            "containers": containers,
            "layers": self.layer_records(),
            "volumes": [],
            "orphans": orphans,
            "usage": df_record(state, verbose=False, orphans=orphans),
            "findings": [f.record() for f in self.findings.sorted()],
            "integrity": checked,
        }

    # recovery ----------------------------------------------------------------------------

    def view(  # noqa: D102 - see Engine
        self, obj: Container | Image, *, with_mounts: bool = False
    ) -> RecoveryView:
        from storagekit.engines.containerd.model import Container as CtrContainer
        from storagekit.engines.containerd.views import chain_view

        state = self.state
        rec = state.record_of(obj)
        if isinstance(rec, CtrContainer):
            chain, problem = state.chain(rec)
            what = f"container {rec.namespace}/{rec.id}"
        else:
            chain, problem = state.image_chain(rec), None
            what = f"image {rec.namespace}/{rec.name}"
            if not chain:
                problem = "the image is not unpacked in any read snapshotter"
        if problem:
            self.findings.error("broken-chain", rec.path, f"{what}: {problem}")
        return chain_view(self.source, chain, self.findings, rec.path, what)

    def changes(self, container: Container) -> list[Change]:  # noqa: D102 - see Engine
        from storagekit.engines.containerd.model import Container as CtrContainer
        from storagekit.engines.containerd.views import snapshot_changes

        state = self.state
        rec = state.record_of(container)
        assert isinstance(rec, CtrContainer)
        chain, problem = state.chain(rec)
        what = f"container {rec.namespace}/{rec.id}"
        if problem:
            self.findings.error("broken-chain", rec.path, f"{what}: {problem}")
        return snapshot_changes(self.source, chain, self.findings, rec.path, what)

    def verify_records(self, obj: Container | Image | None) -> list[Record]:
        """Every blob re-hashed, layer blobs against diff IDs, snapshots against layer blobs."""
        from storagekit.engines.containerd.verify import verify

        rec = None if obj is None else self.state.record_of(obj)
        return self._relabel(verify(self.state, rec))

    def save(self, images: Sequence[Image], out: BinaryIO) -> list[Record]:
        """An OCI image layout archive ``ctr images import`` takes, blobs byte-exact."""
        from storagekit.engines.containerd.model import Image as CtrImage
        from storagekit.engines.containerd.save import save as save_images

        chosen = [rec for i in images if isinstance(rec := self.state.record_of(i), CtrImage)]
        return save_images(self.state, chosen, out)
