"""libpod's containers, read only when a command needs them and decoded on every core.

A container's records are most of libpod's database: a ``ContainerConfig`` document of some
12 KB (the whole OCI spec) and a ``ContainerState`` of about 1 KB each, against a few hundred
bytes for a pod or a volume. :func:`.root.read_root` reads the rest of the database at once;
the containers are read here, on demand, in one of two depths:

* :func:`decode` — the whole :class:`~.libpod.LibpodContainer` (``containers``, ``chain``,
  references by name ...);
* :func:`brief` — only what :func:`.root.crosscheck` compares (name, image), for commands
  that need nothing else of libpod (``images``, ``layers``) but must report the same findings:
  both parse both documents, so a damaged one is the same finding either way.

Each container is fetched and decoded from the database held in memory: BoltDB from the file
read once (:class:`.libpod_bolt.BoltContainers`), SQLite rows as fetched by one query when the
database was opened (:attr:`.libpod.LibpodState.rows`). Listed once (:meth:`ids`), they can be
decoded in slices (:func:`turn`) by any process that holds them: :mod:`.parts` has a forked
worker decode some slices for a big root, each 0.1 ms a container.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

from storagekit.engines.podman.common import opt_str
from storagekit.engines.podman.libpod import (
    LibpodContainer,
    LibpodState,
    RawContainer,
    config_name,
    make_container,
    parse_doc,
)
from storagekit.engines.podman.libpod_json import CONFIGS
from storagekit.model import Findings
from storagekit.source import Source

T = TypeVar("T")


class Brief(NamedTuple):
    """What :func:`.root.crosscheck` compares of a libpod container."""

    id: str
    name: str | None
    image_id: str | None
    config_path: str


class ContainerRecords(Protocol):
    """Where a database keeps its containers: listed once, fetched one by one anywhere."""

    def ids(self, findings: Findings) -> list[str]: ...  # noqa: D102 - see the class
    def fetch(self, cid: str, findings: Findings) -> RawContainer: ...  # noqa: D102
    def close(self) -> None: ...  # noqa: D102
    @property
    def in_memory(self) -> bool: ...  # noqa: D102 - nothing open a fork would share


class Rows:
    """Containers already fetched with the database (SQLite's one query)."""

    def __init__(self, rows: tuple[RawContainer, ...]) -> None:
        self._rows = {r.id: r for r in rows}

    def ids(self, findings: Findings) -> list[str]:  # noqa: ARG002 - checked when fetched
        """The IDs, in the query's order."""
        return list(self._rows)

    def fetch(self, cid: str, findings: Findings) -> RawContainer:  # noqa: ARG002
        """The row of ``cid``."""
        return self._rows[cid]

    def close(self) -> None:
        """Nothing is held open."""

    @property
    def in_memory(self) -> bool:
        """Always: the rows were fetched with the database."""
        return True


def documents(
    raw: RawContainer, findings: Findings
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The config and state documents of a container (damage is a finding)."""
    if not raw.read:
        return None, None
    config = parse_doc(raw.config, findings, raw.where, CONFIGS.loads)
    state = parse_doc(raw.state, findings, raw.state_where)
    if state is not None and "state" not in state and isinstance(raw.state_number, int):
        state["state"] = raw.state_number
    return config, state


def brief(raw: RawContainer, findings: Findings) -> Brief:
    """What the cross-check needs of a container, with every finding :func:`decode` makes."""
    cfg = documents(raw, findings)[0] or {}
    return Brief(raw.id, config_name(cfg, raw.name), opt_str(cfg.get("rootfsImageID")), raw.where)


def decode(raw: RawContainer, findings: Findings) -> LibpodContainer:
    """The container of a database's undecoded records (damage is a finding)."""
    config, state = documents(raw, findings)
    return make_container(
        raw.id,
        config,
        state,
        raw.exit_code,
        raw.where,
        name=raw.name,
        pod=raw.pod,
        recorded_exit_time=raw.exit_time,
    )


def open_records(source: Source, state: LibpodState) -> ContainerRecords:
    """Where ``state``'s database keeps its containers (nothing is read yet)."""
    if state.rows is not None:
        return Rows(state.rows)
    from storagekit.engines.podman.libpod_bolt import BoltContainers

    return BoltContainers(source, state.path)


def turn(
    records: ContainerRecords,
    ids: Sequence[str],
    how: Callable[[RawContainer, Findings], T],
    findings: Findings,
) -> list[T]:
    """The containers ``ids`` of ``records``, each fetched and turned by ``how``."""
    return [how(records.fetch(cid, findings), findings) for cid in ids]


def read_containers(
    source: Source,
    state: LibpodState,
    findings: Findings,
    how: Callable[[RawContainer, Findings], T],
) -> list[T]:
    """Every container of ``state``'s database, each fetched and turned by ``how`` (by ID).

    ``how`` is :func:`decode` or :func:`brief`.
    """
    records = open_records(source, state)
    try:
        return turn(records, records.ids(findings), how, findings)
    finally:
        records.close()
