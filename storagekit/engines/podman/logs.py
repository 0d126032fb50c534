"""``logs`` of podman containers with the ``k8s-file`` log driver (podman's default).

conmon writes ``<driver>-containers/<id>/userdata/ctr.log`` (libpod ``logPath``; the CRI log
format, conmon ``src/ctr_logging.c``): one line per chunk,
``<RFC 3339 nano time> <stdout|stderr> <F|P> <text>``, where ``P`` marks a partial line that the
next chunk continues and ``F`` ends it. ``podman logs`` joins the partial chunks (podman
``libpod/logs/log.go``). A line that does not parse is a finding; nothing else stops the read.
"""

from __future__ import annotations

from storagekit.engines.podman.inventory import Inventory
from storagekit.errors import SourceError, StoragekitError
from storagekit.jsontext import Record
from storagekit.model import Container

#: Largest log read (conmon rotates at ``log_size_max`` when set; unlimited by default).
MAX_LOG = 1 << 30


def log_path(inv: Inventory, container: Container) -> str | None:
    """The container's ``ctr.log`` inside the root, or ``None`` when it is not there."""
    st = inv.store_containers.get(container.id)
    if st is None:
        return None
    path = f"{st.userdata_path}/ctr.log"
    return path if inv.source.is_file(path) else None


def container_logs(inv: Inventory, container: Container) -> list[Record]:
    """The log's messages as ``podman logs`` shows them: ``time``, ``stream``, ``text``.

    Raises:
        StoragekitError: the container has no ``k8s-file`` log in the evidence.
    """
    path = log_path(inv, container)
    if path is None and container.status == "created":
        return []  # conmon has not run yet: podman logs prints nothing either
    if path is None:
        where = container.log_path or "no recorded path"
        raise StoragekitError(f"container {container.name}: no k8s-file log here ({where})")
    try:
        raw = inv.source.read_bytes(path, MAX_LOG)
    except SourceError as exc:
        raise StoragekitError(f"{path}: cannot read: {exc}") from None
    out: list[Record] = []
    pending: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(raw.decode("utf-8", "surrogateescape").split("\n"), 1):
        if not line:
            continue
        parts = line.split(" ", 3)
        if len(parts) < 3 or parts[1] not in ("stdout", "stderr") or parts[2] not in ("F", "P"):
            inv.findings.warning("bad-log-line", path, f"line {number} is not a k8s-file line")
            continue
        time, stream, tag = parts[:3]
        text = parts[3] if len(parts) == 4 else ""
        start, before = pending.pop(stream, (time, ""))
        if tag == "P":
            pending[stream] = (start, before + text)
            continue
        out.append({"time": start, "stream": stream, "text": before + text})
    for stream, (start, text) in pending.items():
        out.append({"time": start, "stream": stream, "text": text})
    return out
