"""The model: what a Docker root holds, in Docker's own vocabulary.

Immutable records built by the readers (``layerdb``, ``imagedb``, ``containers``,
``volumes``) and consumed by the analyses: named tuples, not frozen dataclasses, because every
command's start pays for defining them (importing this module with ten frozen slotted
dataclasses: 6.9 ms, their generated methods compiled one by one; with named tuples: 2.1 ms),
and forked workers pickle thousands of them (a named tuple is pickled as one tuple, not field
by field). Change one with ``_replace``. Every object carries the ``driver`` (or image store)
it belongs to and a ``*_path`` naming the artefact it was read from, relative to the Docker root,
so an analyst can always check the raw file. Timestamps are RFC 3339 UTC strings with Docker's
original precision (:mod:`storagekit.timefmt`); ``None`` means absent or Go's zero time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, NamedTuple

Severity = Literal["error", "warning", "info"]


class Finding(NamedTuple):
    """Something in the evidence that is missing, damaged, hostile or inconsistent.

    Attributes:
        code: a stable kebab-case identifier (``bad-cache-id``, ``chain-id-mismatch``, ...).
        severity: ``error`` (data is lost or unusable), ``warning`` (inconsistent but usable),
            ``info`` (worth knowing).
        path: the artefact inside the root, if there is one.
        message: one plain sentence that names what was expected.
        ids: the IDs involved (layers, containers, images the finding concerns).
        parts: further paths of the object the finding is about, after ``path`` (an
            orphaned overlay2 layer's directory and its ``l/`` link): what removing it removes.
        holds_data: whether the object occupies bytes worth measuring (a dangling link or a
            missing directory does not).
        consequence_of: the code of the finding that explains this one (incomplete evidence:
            ``evidence-incomplete``), else None.
    """

    code: str
    severity: Severity
    path: str | None
    message: str
    ids: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()
    holds_data: bool = True
    consequence_of: str | None = None

    def record(self) -> dict[str, str | None]:
        """The ``findings`` object of the contract (``consequence_of`` only when explained)."""
        record = {
            "severity": self.severity,
            "code": self.code,
            "path": self.path,
            "message": self.message,
        }
        if self.consequence_of:
            record["consequence_of"] = self.consequence_of
        return record


class Findings:
    """An ordered, de-duplicated collection of findings that readers append to."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str | None, str], Finding] = {}

    def add(self, code: str, severity: Severity, path: str | None, message: str) -> None:
        """Record a finding (the same code, path and message is recorded once)."""
        key = (code, path, message)
        if key not in self._items:
            self._items[key] = Finding(code, severity, path, message)

    def error(self, code: str, path: str | None, message: str) -> None:
        """Record an ``error`` finding."""
        self.add(code, "error", path, message)

    def warning(self, code: str, path: str | None, message: str) -> None:
        """Record a ``warning`` finding."""
        self.add(code, "warning", path, message)

    def info(self, code: str, path: str | None, message: str) -> None:
        """Record an ``info`` finding."""
        self.add(code, "info", path, message)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def since(self, mark: int) -> list[Finding]:
        """The findings recorded after the first ``mark`` ones."""
        if mark >= len(self._items):
            return []  # the usual case: asked after every batch of parallel work
        return list(self._items.values())[mark:]

    def truncate(self, mark: int) -> None:
        """Forget every finding recorded after the first ``mark`` ones."""
        self._items = dict(list(self._items.items())[:mark])

    def sorted(self) -> list[Finding]:
        """The findings in a deterministic order (path, code, message).

        A finding that explains others (``evidence-incomplete``) comes first, the findings it
        explains (:attr:`Finding.consequence_of`) last.
        """
        return sorted(self._items.values(), key=_rank)


def _rank(f: Finding) -> tuple[int, str, str, str]:
    first = f.code == "evidence-incomplete"
    return (0 if first else 2 if f.consequence_of else 1), f.path or "", f.code, f.message


class Layer(NamedTuple):
    """A read-only layer of the layer store (``image/<driver>/layerdb/sha256/<chain>``).

    Attributes:
        chain_id: ``sha256:<hex>``, the directory name.
        diff_id: the ``diff`` file (SHA-256 of the layer tar), ``None`` if unreadable.
        parent: the ``parent`` file (parent chain ID), ``None`` for a base layer.
        cache_id: the ``cache-id`` file (driver directory ID), ``None`` if missing or unsafe.
        size: the ``size`` file in bytes, ``None`` if missing or malformed.
        driver: the storage driver whose store holds it.
        has_tar_split: whether ``tar-split.json.gz`` is present.
        meta_path: the layerdb directory inside the root.
    """

    chain_id: str
    diff_id: str | None
    parent: str | None
    cache_id: str | None
    size: int | None
    driver: str
    has_tar_split: bool
    meta_path: str


class RWLayer(NamedTuple):
    """A container's read-write layer record (``image/<driver>/layerdb/mounts/<container-id>``).

    Attributes:
        container_id: the directory name.
        mount_id: driver ID of the writable layer (``mount-id``), ``None`` if missing or unsafe.
        init_id: driver ID of the init layer (``init-id``), ``None`` when absent.
        parent: chain ID of the image's top layer, ``None`` when the image has no layers.
        driver: the storage driver whose store holds it.
        meta_path: the layerdb directory inside the root.
    """

    container_id: str
    mount_id: str | None
    init_id: str | None
    parent: str | None
    driver: str
    meta_path: str


class Image(NamedTuple):
    """An image of the image store (``image/<driver>/imagedb/content/sha256/<hex>``).

    Attributes:
        id: ``sha256:<hex>`` of the config bytes.
        driver: the storage driver whose store holds it.
        created: the config's ``created``.
        parent: local build parent (``imagedb/metadata/sha256/<hex>/parent``).
        diff_ids: ``rootfs.diff_ids``, base first.
        tags: ``repo:tag`` references from ``repositories.json``, sorted.
        digests: ``repo@sha256:`` references from ``repositories.json``, sorted.
        os: the config's ``os``.
        architecture: the config's ``architecture``.
        last_updated: ``imagedb/metadata/sha256/<hex>/lastUpdated``.
        config_path: the config file inside the root.
    """

    id: str
    driver: str
    created: str | None
    parent: str | None
    diff_ids: tuple[str, ...]
    tags: tuple[str, ...] = ()
    digests: tuple[str, ...] = ()
    os: str | None = None
    architecture: str | None = None
    last_updated: str | None = None
    config_path: str = ""


class MountPoint(NamedTuple):
    """One entry of a container's ``MountPoints`` (``daemon/volume/mounts/mounts.go``).

    Attributes:
        type: ``volume``, ``bind``, ``tmpfs``, ``npipe``, ``cluster`` or ``image``.
        name: the volume name (empty for binds).
        source: the host path as Docker recorded it.
        destination: the path inside the container.
        read_only: ``not RW``.
        driver: the volume driver (``local``, a plugin, or empty).
        propagation: bind propagation, if any.
        mode: the user's mode string (``Relabel``, e.g. ``z``, ``ro``).
    """

    type: str
    name: str
    source: str
    destination: str
    read_only: bool
    driver: str = ""
    propagation: str = ""
    mode: str = ""


class Port(NamedTuple):
    """A container port as its engine lists it (Docker: ``NetworkSettings.Ports``).

    Attributes:
        private_port: the port inside the container.
        type: ``tcp``, ``udp`` or ``sctp``.
        ip: the host address it is published on ("" when only exposed).
        public_port: the host port (``None`` when only exposed).
    """

    private_port: int
    type: str
    ip: str = ""
    public_port: int | None = None


class Container(NamedTuple):
    """A container (``containers/<id>/config.v2.json``).

    Attributes:
        id: the 64-hex container ID.
        name: ``Name`` with Docker's leading ``/``.
        image: ``Config.Image``, the reference the user asked for.
        image_id: ``Image``, the image ID.
        status: Docker's derived ``State.Status``.
        exit_code: ``State.ExitCode``.
        running: ``State.Running`` as written (a crashed host leaves ``true``).
        pid: ``State.Pid``.
        created: ``Created``.
        started: ``State.StartedAt``.
        finished: ``State.FinishedAt``.
        driver: ``Driver``.
        mounts: ``MountPoints`` sorted by destination.
        labels: ``Config.Labels``.
        command: ``Path`` followed by ``Args``.
        log_path: ``LogPath`` as recorded (a host path).
        data_root: the host path of the Docker root as this container's recorded paths
            (``HostnamePath``, ``LogPath``, ...) name it, "" when they name none.
        config_path: ``config.v2.json`` inside the root.
        ports: the ports its engine lists (published ones only while it runs).
    """

    id: str
    name: str
    image: str
    image_id: str
    status: str
    exit_code: int
    running: bool
    pid: int
    created: str | None
    started: str | None
    finished: str | None
    driver: str
    mounts: tuple[MountPoint, ...]
    labels: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()
    log_path: str = ""
    data_root: str = ""
    config_path: str = ""
    ports: tuple[Port, ...] = ()


class Volume(NamedTuple):
    """A volume: ``volumes/metadata.db`` entries joined with ``volumes/<name>/`` directories.

    Attributes:
        name: the volume name (64 hex for anonymous volumes).
        driver: from the metadata DB (``local`` when only the directory exists).
        labels: from the metadata DB.
        options: from the metadata DB.
        in_metadata: listed in ``volumes/metadata.db``.
        has_data: ``volumes/<name>/_data`` is a directory.
        has_opts: ``volumes/<name>/opts.json`` holds non-empty options (a mount at run time).
        path: ``volumes/<name>`` inside the root.
    """

    name: str
    driver: str
    labels: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    in_metadata: bool = False
    has_data: bool = False
    has_opts: bool = False
    path: str = ""


class StackLayer(NamedTuple):
    """One level of a container's or image's layer stack, top first.

    Attributes:
        role: ``rw``, ``init`` or ``image``.
        cache_id: the driver directory ID.
        chain_id: the layer store chain ID (``None`` for rw and init layers).
        diff_id: the layer's diff ID (``None`` for rw and init layers).
        path: the directory inside the root that holds the layer's own files.
        present: whether that directory exists.
    """

    role: Literal["rw", "init", "image"]
    cache_id: str | None
    chain_id: str | None
    diff_id: str | None
    path: str | None
    present: bool


class Stack(NamedTuple):
    """A reconstructed stack: the layers of a container or image, top first.

    Attributes:
        driver: the storage driver.
        layers: the layers, top first (a container's rw layer, its init layer, then image
            layers down to the base).
        complete: ``False`` when a link of the chain is missing or broken.
        problems: what broke the chain, in plain words.
    """

    driver: str
    layers: tuple[StackLayer, ...]
    complete: bool = True
    problems: tuple[str, ...] = ()
