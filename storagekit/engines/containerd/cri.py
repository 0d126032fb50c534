"""CRI state of a Kubernetes container, where the evidence holds it.

The CRI plugin keeps each container's status on disk beside its other files:
``io.containerd.grpc.v1.cri/containers/<id>/status``, the JSON of ``versionedStatus``
(``{"Version": "v1", "Status": {"Pid", "CreatedAt", "StartedAt", "FinishedAt", "ExitCode",
"Reason", "Message", ...}}``, times in Unix nanoseconds). Its state is derived as the CRI plugin
derives it (``Status.State``): finished -> ``exited``, started -> ``running``, created ->
``created``, else ``unknown``. A host that went down with a container running leaves
``running``. From containerd's source (``pkg/cri/store/container/status.go``,
``StoreStatus``/``LoadStatus``); no real CRI root was available to verify it here. A listed
container directory without a readable status, or a status that is not such JSON (times that
are not non-negative int64 nanoseconds, an exit code that is not an integer) is a
``bad-cri-status`` finding; what can be read of it is still used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from storagekit.errors import SourceError
from storagekit.ids import is_safe_component
from storagekit.model import Findings
from storagekit.source import Source

CRI_CONTAINERS = "io.containerd.grpc.v1.cri/containers"
MAX_STATUS = 1 << 20


@dataclass(frozen=True, slots=True)
class CriStatus:
    """A container's CRI status: state, exit code, times (RFC 3339, ``None`` when unset)."""

    state: str
    exit_code: int | None
    created: str | None
    started: str | None
    finished: str | None
    reason: str | None


def _time(status: dict[str, object], field: str, problems: list[str]) -> str | None:
    """``status[field]`` (Unix nanoseconds; absent or 0: unset) as RFC 3339.

    A value the plugin never writes (not an int64, negative, beyond year 9999) is a problem.
    """
    ns = status.get(field)
    if ns is None or ns == 0:
        return None
    if not isinstance(ns, int) or isinstance(ns, bool) or ns < 0:
        problems.append(f"{field} is {_short(ns)}, not Unix nanoseconds")
        return None
    seconds, nanos = divmod(ns, 1_000_000_000)
    try:
        text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        problems.append(f"{field} {_short(ns)} is out of range")
        return None
    frac = f"{nanos:09d}".rstrip("0")
    return f"{text}.{frac}Z" if frac else f"{text}Z"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def cri_container_ids(source: Source) -> frozenset[str]:
    """The containers the CRI plugin keeps a directory for (one listing, not a stat each)."""
    try:
        return frozenset(source.listdir(CRI_CONTAINERS))
    except SourceError:
        return frozenset()


def cri_status(source: Source, cid: str, findings: Findings) -> CriStatus | None:
    """The CRI status of container ``cid``, or ``None`` when the evidence holds none."""
    if not is_safe_component(cid):
        return None
    path = f"{CRI_CONTAINERS}/{cid}/status"
    try:
        raw = source.read_bytes(path, MAX_STATUS)
    except SourceError:  # its directory is listed (cri_container_ids): the file is not
        findings.warning("bad-cri-status", path,
                         "the container's CRI directory holds no readable status file")
        return None
    try:
        doc = json.loads(raw)
        status = doc.get("Status") if isinstance(doc, dict) else None
        if not isinstance(status, dict):
            raise ValueError("no Status object")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        findings.warning("bad-cri-status", path, f"CRI status is not readable: {exc}")
        return None
    problems: list[str] = []
    created, started, finished = (_time(status, k, problems)
                                  for k in ("CreatedAt", "StartedAt", "FinishedAt"))
    state = ("exited" if finished else "running" if started else "created" if created
             else "unknown")
    code = status.get("ExitCode")
    if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
        problems.append(f"ExitCode is {_short(code)}, not an integer")
        code = None
    reason = status.get("Reason")
    for problem in problems:
        findings.warning("bad-cri-status", path, f"CRI status: {problem}")
    return CriStatus(state, code, created, started, finished,
                     reason if isinstance(reason, str) and reason else None)
