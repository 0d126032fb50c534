"""podman's containers-storage graph root as an :class:`~storagekit.engine.Engine`.

A graph root (``/var/lib/containers/storage``, rootless ``~/.local/share/containers/storage``,
found in the evidence by :func:`.locate.find_roots`) is read by :func:`.root.read_root`; this
class is the seam between it and the command line. Records carry ``"engine": "podman"``.

A whole host may hold several graph roots (the system's and each user's): each is an engine
of its own, all read at once by forked workers (:func:`storagekit.parallel.pmap`), listed
rootful first, then users' by name (:func:`.locate.find_roots`), whatever finishes first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, BinaryIO, ClassVar

from storagekit.engine import Engine
from storagekit.engines.podman.locate import find_roots
from storagekit.errors import UnknownReferenceError
from storagekit.jsontext import Record
from storagekit.model import Container, Findings, Image, Volume
from storagekit.source import Source

if TYPE_CHECKING:
    from storagekit.engines.podman.inspect_ctr import Documents
    from storagekit.engines.podman.root import PodmanRoot
    from storagekit.logs import LogEntry
    from storagekit.union.changes import Change
    from storagekit.union.mounted import RecoveryView


class PodmanEngine(Engine):
    """A containers-storage graph root with libpod's state."""

    name: ClassVar[str] = "podman"
    title: ClassVar[str] = "podman"
    daemon: ClassVar[str] = "podman (every podman process and its conmon)"
    absent: ClassVar[str] = (
        "not a podman graph root (no <driver>-layers/layers.json, no var/lib/containers/storage)"
    )

    def __init__(
        self, source: Source, evidence: str, location: str, root: PodmanRoot | None = None
    ) -> None:
        self.source = source
        self.evidence = evidence
        self.location = location
        # Imported here: every command asks whether the evidence holds a podman root, and
        # reading one (BoltDB, construct) costs start-up time only when it does.
        from storagekit.engines.podman.inventory import Inventory
        from storagekit.engines.podman.root import read_root

        self.findings = Findings()
        if root is None:  # its stores read on first use, their findings recorded here
            self.root = read_root(source, self.findings)
        else:
            self.root = root
            for f in root.findings:
                self.findings.add(f.code, f.severity, f.path, f.message)
        self.inv = Inventory(source, self.root, self.findings)

    @classmethod
    def find(cls, evidence: Source, description: str) -> PodmanEngine | None:
        """The first graph root in the evidence (rootful first)."""
        roots = find_roots(evidence)
        return cls(roots[0][0], description, roots[0][1]) if roots else None

    @classmethod
    def find_all(cls, evidence: Source, description: str) -> list[Engine]:
        """Every graph root in the evidence, each read by a worker of its own, in root order."""
        roots = find_roots(evidence)
        if len(roots) < 2:  # one root: read in this process, each part when first needed
            return [cls(src, description, loc) for src, loc in roots]
        from storagekit.engines.podman.root import read_root
        from storagekit.parallel import pmap

        read = pmap(
            read_root, [src for src, _ in roots], source=evidence, findings=Findings(), min_chunk=1
        )
        return [
            cls(src, description, loc, root)
            for (src, loc), root in zip(roots, read, strict=True)
        ]

    def settle(self) -> None:
        """Make the findings of every part no command has read yet (before printing)."""
        self.root.read_all()
        self.inv.check_libpod()

    def describe(self, obj: Container | Image) -> str:
        """Kind and ID, and which graph root holds it (a host may have several)."""
        return f"{super().describe(obj)} in {self.recorded_path}"

    def identity(self, obj: Container | Image) -> str:
        """Kind and ID: one image ID in two graph roots is the same image."""
        return super().describe(obj)

    @property
    def containers(self) -> Mapping[str, Container]:  # noqa: D102 - see Engine
        return self.inv.containers

    @property
    def images(self) -> Sequence[Image]:  # noqa: D102 - see Engine
        return self.inv.images

    @property
    def volumes(self) -> Mapping[str, Volume]:  # noqa: D102 - see Engine
        return self.inv.volumes

    @property
    def recorded_path(self) -> str:
        """Libpod's ``graph-root`` (the host path), else where it was found in the evidence."""
        if self.root.libpod is not None and self.root.libpod.runtime.graph_root:
            return self.root.libpod.runtime.graph_root
        return "/" + self.location if self.location else "/var/lib/containers/storage"

    def container_records(self, *, sizes: bool) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.podman import records

        return records.container_records(self.inv, sizes=sizes, graph_root=self.recorded_path)

    def container_records_json(self, *, sizes: bool) -> str:  # noqa: D102 - see Engine
        from storagekit.engines.podman import records

        return records.container_records_json(self.inv, sizes=sizes, graph_root=self.recorded_path)

    def image_records(self) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.podman import records

        return self._rooted(records.image_records(self.inv))

    def layer_records(self) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.podman import records

        return self._rooted(records.layer_records(self.inv))

    def volume_records(self) -> list[Record]:  # noqa: D102 - see Engine
        from storagekit.engines.podman import records

        return self._rooted(records.volume_records(self.inv))

    def _rooted(self, found: list[Record]) -> list[Record]:
        """Records with ``graph_root`` (the host path of their root) after ``engine``."""
        return [{"engine": r["engine"], "graph_root": self.recorded_path, **r} for r in found]

    def chain_record(self, obj: Container | Image) -> Record:  # noqa: D102 - see Engine
        from storagekit.engines.podman import records

        return records.chain_record(self.inv, obj)

    def df_record(self, *, verbose: bool) -> Record:  # noqa: D102 - see Engine
        from storagekit.engines.podman.df import df_record

        return df_record(self.inv, self._orphans, verbose=verbose)

    @cached_property
    def _orphans(self) -> list[Record]:
        from storagekit.engines.podman.orphanrecs import orphan_records

        return orphan_records(self.inv)

    def orphan_records(self) -> list[Record]:  # noqa: D102 - see Engine
        return list(self._orphans)

    def audit_record(self, *, verify: bool = False) -> Record:  # noqa: D102 - see Engine
        from storagekit.analysis.integrity import integrity
        from storagekit.engines.podman.orphanrecs import audit_record

        checked = integrity(
            self.verify_records(None) if verify else None,
            sum(1 for layer in self.root.layers if layer.diff_digest),
        )
        report = audit_record(self, self.inv, self._orphans)
        self.settle()
        report["findings"] = [f.record() for f in self.findings.sorted()]
        report["integrity"] = checked
        return report

    def view(  # noqa: D102 - see Engine
        self, obj: Container | Image, *, with_mounts: bool = False
    ) -> RecoveryView:
        from storagekit.engines.podman.views import container_view, image_view, mounted_view

        if isinstance(obj, Container):
            if with_mounts:
                return mounted_view(self.inv, obj)
            return container_view(self.inv, obj)
        return image_view(self.inv, obj)

    def changes(self, container: Container) -> list[Change]:
        """``podman diff``: the container layer's changes without podman's own files."""
        from storagekit.engines.podman.views import container_changes

        return container_changes(self.inv, container)

    def verify_records(self, obj: Container | Image | None) -> list[Record]:
        """Every image layer (of ``obj``'s image, or all) rebuilt from tar-split and hashed."""
        from storagekit.engines.podman.verify import verify_layers

        if obj is None:
            return verify_layers(self.inv, [x for x in self.root.layers if x.diff_digest])
        image_id = obj.image_id if isinstance(obj, Container) else obj.id
        if image_id not in self.inv.store_images:
            raise UnknownReferenceError("its image is not in this root")
        image = self.inv.store_images[image_id]
        chain = reversed(self.inv.image_chains.get(image_id, ()))
        found = verify_layers(
            self.inv, [x for lid in chain if (x := self.inv.layer(image.driver, lid)) is not None]
        )
        if isinstance(obj, Container):
            found.append(
                {
                    "engine": "podman",
                    "id": self.inv.store_containers[obj.id].layer
                    if obj.id in self.inv.store_containers
                    else None,
                    "chain_id": None,
                    "diff_id": None,
                    "cache_id": None,
                    "status": "container-changes",
                    "computed_diff_id": None,
                    "files": [
                        {
                            "path": c.path,
                            "change": {"A": "added", "C": "changed", "D": "deleted"}[c.kind],
                        }
                        for c in self.changes(obj)
                    ],
                }
            )
        return found

    def logs(self, container: Container) -> list[Record]:
        """The ``k8s-file`` log (``userdata/ctr.log``) as ``podman logs`` shows it."""
        from storagekit.engines.podman.logs import container_logs

        return container_logs(self.inv, container)

    def log_entries(self, container: Container) -> list[LogEntry]:
        """``logs``: the ``k8s-file`` log's messages, partial lines joined, oldest first."""
        from storagekit.logs import LogEntry, parse_rfc3339_ns  # noqa: F811 - used at run time

        return [
            LogEntry(
                r["stream"],
                parse_rfc3339_ns(r["time"]) or 0,
                (r["text"] + "\n").encode("utf-8", "surrogateescape"),
            )
            for r in self.logs(container)
        ]

    def history_records(self, image: Image) -> list[Record]:
        """``podman history``: libimage's walk of the config's history down the layer tree."""
        from storagekit.engines.podman.history import history_records

        return history_records(self.inv, image.id)

    def timeline_files(self) -> Iterator[Record]:
        """Every file of every layer directory of layers.json, each on its own."""
        from storagekit.engines.podman.timeline import file_records

        return file_records(self.inv)

    def timeline_events(self) -> list[Record]:
        """Images, layers, containers and volumes created (and containers run), unsorted."""
        from storagekit.engines.podman.timeline import event_records

        return event_records(self.inv)

    @cached_property
    def _documents(self) -> Documents:
        """The libpod documents of the containers inspected, each read once."""
        from storagekit.engines.podman.inspect_ctr import Documents

        return Documents(self.inv)

    def inspect_record(self, obj: Container | Image, *, size: bool = False) -> Record:
        """``podman container inspect`` / ``podman image inspect``'s record (no ``--size``)."""
        if isinstance(obj, Container):
            if size:
                raise self._unsupported("inspect --size of a container")
            from storagekit.engines.podman.inspect_ctr import container_inspect

            return container_inspect(self.inv, self._documents, obj.id, self.recorded_path)
        from storagekit.engines.podman.inspect import image_inspect

        return image_inspect(self.inv, obj.id, self.recorded_path)

    def save(self, images: Sequence[Image], out: BinaryIO) -> list[Record]:
        """A docker-archive that ``podman load`` accepts, layer tars byte-exact."""
        from storagekit.engines.podman.save import save

        return save(self.inv, images, out)
