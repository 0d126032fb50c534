"""Read a big graph root on two cores: libpod's containers split in slices, and the stores.

What an inventory command reads comes from two independent sources: containers-storage's
``layers.json``, ``images.json`` and ``containers.json`` (and the image configs among the
images' big data), and libpod's database with its ``ContainerConfig`` and ``ContainerState``
documents (some 12 KB of JSON per container, most of the work: decoding 1,000 of them takes
twice as long as reading the stores). :func:`read_parts` lists libpod's containers here, then
forks one worker (:func:`~storagekit.parallel.pmap_started`, where the source is fork-safe and
a core is idle), which starts on :data:`SLICES` slices of the containers while this process
reads the stores, then takes the slices left: the two end together whatever the share, and
the stores, which this process keeps, are never sent (when the worker could take them first,
on a busy machine it often did, and pickling them back cost more than it saved). The database
is in this process's memory before the fork (read whole or mapped,
:class:`.libpod_bolt.BoltContainers`; SQLite's rows), so the worker reads no file for it. What
the worker decodes comes back as plain tuples with ``marshal`` (:mod:`.libpod_plain`: for 500
containers some 3 ms to write and read, against 17 ms for pickling the objects).

The records are those one process makes, in ID order; the findings too, recorded in the order
the listing's, the stores', each slice's where one process records them in the order it meets
them, and every command prints them sorted. A root whose libpod database is smaller than
:data:`PARALLEL_BYTES` is read here alone (a fork costs more than its parts take then), and so
is any root when no core is idle (``spare_only``: on busy cores a worker only slows this process
and costs CPU). A failing worker is forgotten with everything done meanwhile (its findings
too): the parts are read here on first use, as one process reads them.
"""

from __future__ import annotations

import gc
import marshal
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, NamedTuple, cast

from storagekit.engines.podman.inventory import Inventory
from storagekit.engines.podman.libpod_plain import container, plain
from storagekit.engines.podman.libpod_read import Brief, brief, decode, open_records, turn
from storagekit.errors import SourceError

#: Size of libpod's database from which two processes pay (its ``ctr/<id>`` buckets are some
#: 16 KiB a container: about 150 containers; a bbolt file also keeps freed pages).
PARALLEL_BYTES = 150 * 16 * 1024
#: How many slices libpod's containers are cut into (each a task of the queue): 62 of 1,000
#: containers take some 3-4 ms, so the two processes end within that of each other.
SLICES = 16

#: Where each part is kept once read: the root (the stores) or the inventory.
ROOT_PARTS = frozenset({"layers", "images", "containers"})

#: How deep each command reads libpod's containers: whole (``containers``), or only what the
#: cross-check compares (``images``, ``layers``: :attr:`.inventory.Inventory.briefs`).
Depth = Literal["decoded", "briefs"]
#: What ``containers`` reads of the stores, and the layer chains made of them (which need
#: nothing of libpod: made beside the decoding, not after it).
CONTAINER_STORES = ("layers", "containers", "images", "container_chains")
#: What ``images`` reads of the stores: the image configs too.
IMAGE_STORES = ("layers", "images", "containers", "configs", "image_chains")
#: What ``layers`` reads of the stores: both kinds of chains.
LAYER_STORES = ("layers", "images", "containers", "image_chains", "container_chains")


class Slice(NamedTuple):
    """Containers ``start:stop`` of those listed."""

    start: int
    stop: int


class Codec(NamedTuple):
    """How a depth is decoded, and sent back from a worker as plain tuples."""

    how: Callable[..., Any]
    plain: Callable[[Any], tuple[Any, ...]]
    back: Callable[[tuple[Any, ...]], Any]


CODECS: dict[str, Codec] = {
    "decoded": Codec(decode, plain, container),
    "briefs": Codec(brief, tuple, Brief._make),
}


def _holder(inv: Inventory, part: str) -> object:
    return inv.root if part in ROOT_PARTS else inv


def worth_forking(inv: Inventory) -> bool:
    """Whether libpod's database is big enough for two processes to pay."""
    state = inv.root.libpod
    if state is None or inv.root.recorded is not inv.findings:
        return False  # nothing of libpod to read, or findings that pmap cannot bring back
    if state.rows is not None:
        return len(state.rows) * 16 * 1024 >= PARALLEL_BYTES
    try:
        return inv.source.stat(state.path).size >= PARALLEL_BYTES
    except SourceError:
        return False


def slices(count: int) -> list[Slice]:
    """``count`` containers cut into at most :data:`SLICES` slices of nearly equal size."""
    n = max(1, min(SLICES, count))
    return [Slice(count * k // n, count * (k + 1) // n) for k in range(n) if count]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The garbage collector off while the parts are read, and what they made frozen after.

    The read makes a few objects per record (some 100,000 for 1,000 containers on 3,000
    layers), no reference cycles, and keeps them until the command ends; each collection
    meanwhile walked them again (68 collections, 8-16 ms of a fresh ``containers``' 190 ms in
    this process, as much in the worker, whose walks also copy pages). Where the program has
    frozen what it opened (``gc.freeze``, as the command line's entry point does), what was
    read is frozen too, else the next collection would walk it all once more; elsewhere
    (a test, a library call) the collector is only put back as it was.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count():
                gc.freeze()
            gc.enable()


def read_parts(inv: Inventory, depth: Depth, stores: Sequence[str]) -> None:
    """Read libpod's containers at ``depth`` and the parts ``stores`` on two cores, if worth it.

    Parts already read are not read again. For a small root nothing is read now (each part
    is read on first use); otherwise libpod's containers and the stores are read now: on two
    cores when a core is idle and the database is held in memory, else here in turn.
    """
    if depth in vars(inv) or not worth_forking(inv):
        return
    with _collector_paused():
        _read(inv, depth, stores)


def _read(inv: Inventory, depth: Depth, stores: Sequence[str]) -> None:
    """:func:`read_parts` once it is worth reading now."""
    assert inv.root.libpod is not None
    findings, codec = inv.findings, CODECS[depth]
    mark = len(findings)
    records = open_records(inv.source, inv.root.libpod)
    try:
        ids = records.ids(findings)
        group = tuple(p for p in stores if p not in vars(_holder(inv, p)))
        tasks = slices(len(ids))
        if not records.in_memory:
            vars(inv)[depth] = turn(records, ids, codec.how, findings)
            return
        from storagekit.parallel import WorkerError, pmap_started

        here = os.getpid()

        def work(task: Slice) -> object:
            done = turn(records, ids[task.start : task.stop], codec.how, findings)
            return done if os.getpid() == here else marshal.dumps([*map(codec.plain, done)])

        try:
            finish = pmap_started(work, tasks, source=inv.source, findings=findings,
                                  min_chunk=1, spare_only=True)  # fmt: skip
            try:  # the stores, here while the worker decodes; then the slices left
                for part in group:
                    getattr(_holder(inv, part), part)
            finally:
                found = finish()
        except WorkerError:  # forget it all: read here on first use, as one process does
            findings.truncate(mark)
            for part in group:
                vars(_holder(inv, part)).pop(part, None)
            return
    finally:
        records.close()
    out: list[Any] = []
    for value in found:
        if isinstance(value, list):  # decoded here
            out += value
        else:  # by the worker, as plain data
            out += map(codec.back, marshal.loads(cast(bytes, value)))
    vars(inv)[depth] = out
