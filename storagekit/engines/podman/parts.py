"""Read a big graph root's parts on two cores: libpod's containers here, the stores in a worker.

What an inventory command reads comes from two independent sources: containers-storage's
``layers.json``, ``images.json`` and ``containers.json`` (and the image configs among the
images' big data), and libpod's database with its ``ContainerConfig`` and ``ContainerState``
documents (some 12 KB of JSON per container, most of the work). :func:`read_parts` reads
groups of them at once: one forked worker (:func:`~storagekit.parallel.pmap`, where the source
is fork-safe) takes one group while this process takes the other, and the worker sends its
records back (named tuples, pickled as tuples). Splitting by source, not by container, keeps
what crosses the pipe small, and nothing is read twice: the cross-check of the two views
(:func:`.root.crosscheck`) is made afterwards, here.

The findings are those the same reads make in one process (each group's are recorded in
group order, and the command prints them sorted). A root whose libpod database is smaller
than :data:`PARALLEL_BYTES` is read here alone (a fork costs more than its parts take then),
and so is any root when no core is idle (``spare_only``: on busy cores the worker only slows
this process and costs CPU: measured 0.39 s against 0.27 s of CPU, no wall time gained).
A failing worker leaves its parts to this process, read on first use: the same records, or
the error a sequential read meets, as one line rather than a worker's traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

from storagekit.engines.podman.inventory import Inventory
from storagekit.errors import SourceError

#: Size of libpod's database from which two processes pay (its ``ctr/<id>`` buckets are some
#: 16 KiB a container: about 150 containers; a bbolt file also keeps freed pages).
PARALLEL_BYTES = 150 * 16 * 1024

#: Where each part is kept once read: the root (the stores) or the inventory.
ROOT_PARTS = frozenset({"layers", "images", "containers"})

#: What ``containers`` reads: libpod's containers whole; the stores its records join them to.
CONTAINERS = (("decoded",), ("layers", "containers", "images"))
#: ``images`` and ``layers`` are read in one process: their libpod part (the cross-check's
#: view) is some 60 ms, their stores' 45; two processes gave no wall time and 50-60 ms more
#: CPU (bench root, load 1.9).

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


def read_parts(inv: Inventory, groups: Sequence[tuple[str, ...]]) -> None:
    """Read each group of parts (attributes read on first use) in one process, at once.

    Each group is read in order by one process; a part already read is not read again.
    """
    todo = [g for g in groups if any(p not in vars(_holder(inv, p)) for p in g)]
    if len(todo) < 2 or not worth_forking(inv):
        return
    from storagekit.parallel import WorkerError, pmap

    def read(group: tuple[str, ...]) -> tuple[object, ...]:
        return tuple(getattr(_holder(inv, p), p) for p in group)

    try:
        found = pmap(read, todo, source=inv.source, findings=inv.findings, min_chunk=1,
                     spare_only=True)
    except WorkerError:  # read here on first use instead
        return
    for group, values in zip(todo, found, strict=True):
        for part, value in zip(group, values, strict=True):
            vars(_holder(inv, part)).setdefault(part, value)
