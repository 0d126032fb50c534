"""A Docker container's log, read from ``containers/<id>/`` as ``docker logs`` reads it.

The driver is ``hostconfig.json`` ``LogConfig.Type``:

* ``json-file``: ``<id>-json.log``, one JSON object per line (``log`` with its newline,
  ``stream``, ``time`` in RFC 3339 with nanoseconds); rotated files ``<id>-json.log.1`` …
  ``.N`` (``.N.gz`` with ``compress=true``), ``.1`` the newest of them.
* ``local``: ``local-logs/container.log`` (same rotation), framed protobuf entries
  (:mod:`storagekit.formats.dockerlog`); a complete message gets its newline back on reading.
* any other driver (journald, syslog, fluentd, gelf, awslogs, splunk, …): the messages left
  the host. Docker >= 20.10's "dual logging" keeps a copy in ``container-cached.log`` (the
  ``local`` format) that ``docker logs`` reads; without it the log is not in the evidence,
  which is one finding naming the driver. ``none`` keeps nothing.

Files are read oldest first (``.N`` … ``.1``, then the live file). A damaged line or frame is
a finding and the rest of the file is still read where it can be.

References: moby v20.10 ``daemon/logger/jsonfilelog/read.go``, ``jsonlog/jsonlogbytes.go``,
``daemon/logger/loggerutils/logfile.go`` (rotation, ``.gz``), ``daemon/logger/local/``,
``daemon/logs.go`` and ``container/container.go`` (``container-cached.log``).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, cast

from storagekit.engines.docker.artefacts import as_dict, as_str, read_json
from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import FormatError
from storagekit.formats.dockerlog import read_frames
from storagekit.logs import LogEntry, parse_rfc3339_ns
from storagekit.model import Container

#: Rotation keeps at most this many files in practice (``max-file``); a bound for hostile roots.
MAX_ROTATED = 10_000


def log_driver(root: DockerRoot, container: Container) -> str:
    """``LogConfig.Type`` of ``hostconfig.json`` (``json-file``, Docker's default, if unset)."""
    path = f"containers/{container.id}/hostconfig.json"
    host = read_json(root.source, path, root.findings, what="host config", required=False)
    return as_str(as_dict(as_dict(host).get("LogConfig")).get("Type")) or "json-file"


def log_entries(root: DockerRoot, container: Container) -> list[LogEntry]:
    """Every entry of the container's log, oldest first (findings for what cannot be read)."""
    driver = log_driver(root, container)
    base = f"containers/{container.id}"
    if driver == "json-file":
        return list(_files(root, f"{base}/{container.id}-json.log", _json_lines))
    if driver == "local":
        return list(_files(root, f"{base}/local-logs/container.log", _frames))
    cached = f"{base}/container-cached.log"
    if driver != "none" and root.source.is_file(cached):
        return list(_files(root, cached, _frames))
    where = f"{base}/hostconfig.json"
    if driver == "none":
        root.findings.info("log-not-kept", where, "the log driver is 'none': nothing was logged")
    else:
        root.findings.warning(
            "log-not-in-evidence",
            where,
            f"the log driver is {driver!r}: its messages were sent off the host "
            "and no local cache of them is in the evidence",
        )
    return []


Decoder = Callable[[DockerRoot, str, BinaryIO], Iterator[LogEntry]]


def _files(root: DockerRoot, live: str, decode: Decoder) -> Iterator[LogEntry]:
    """The entries of a rotated log, oldest file first."""
    rotated: list[str] = []
    for n in range(1, MAX_ROTATED):
        for name in (f"{live}.{n}", f"{live}.{n}.gz"):
            if root.source.is_file(name):
                rotated.append(name)
                break
        else:
            break
    for path in [*reversed(rotated), live]:
        if not root.source.is_file(path):
            continue
        try:
            with root.source.open(path) as raw:
                stream = cast(BinaryIO, gzip.GzipFile(fileobj=raw)) if path.endswith(".gz") else raw
                yield from decode(root, path, stream)
        except (OSError, EOFError, zlib.error) as exc:
            root.findings.error(
                "unreadable-log", path, f"log file cannot be read to its end: {exc}"
            )


def _json_lines(root: DockerRoot, path: str, stream: BinaryIO) -> Iterator[LogEntry]:
    """``json-file`` lines; a line that is not a log object is a finding, then skipped."""
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            text = record["log"]
            stream_name = record.get("stream", "")
            when = parse_rfc3339_ns(record.get("time", ""))
            if not isinstance(text, str) or when is None:
                raise ValueError("no log text or time")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            root.findings.error("bad-log-line", path, f"line {number} is not a json-file entry")
            continue
        yield LogEntry(stream_name, when, text.encode("utf-8", "surrogatepass"))


def _frames(root: DockerRoot, path: str, stream: BinaryIO) -> Iterator[LogEntry]:
    """``local`` entries; a broken frame ends the file's reading (its size is lost)."""
    try:
        for entry in read_frames(stream, path):
            data = entry.line if entry.partial else entry.line + b"\n"
            yield LogEntry(entry.source, entry.time_nano, data)
    except FormatError as exc:
        root.findings.error("bad-log-frame", path, str(exc).removeprefix(f"{path}").lstrip(": "))
