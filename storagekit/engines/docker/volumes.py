"""Volumes: ``volumes/metadata.db`` (BoltDB) joined with the ``volumes/<name>/`` directories.

On disk::

    volumes/metadata.db         BoltDB, bucket "volumes": name -> JSON {"Name", "Driver",
                                "Labels", "Options"} (values may be empty in old versions)
    volumes/<name>/_data/       the volume's contents (local driver)
    volumes/<name>/opts.json    mount options; a volume with options is a mount made at run
                                time (nfs, tmpfs): _data is then only a mount point
    volumes/backingFsBlockDev   device node for XFS project quotas (not a volume)

The local driver counts a sub-directory as a volume if it holds ``_data`` or ``opts.json``.
Reference counts are not stored: a volume is in use if a container's ``MountPoints`` names it.

References: moby ``daemon/volume/service/db.go``, ``daemon/volume/local/local.go``,
``local_unix.go``.
"""

from __future__ import annotations

import json
from typing import Any

from storagekit.engines.docker.artefacts import as_dict, as_str, read_json
from storagekit.errors import FormatError, SourceError
from storagekit.ids import is_safe_component
from storagekit.model import Findings, Volume
from storagekit.source import Source

DB_PATH = "volumes/metadata.db"


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in as_dict(value).items() if isinstance(v, str)))


def read_volume_db(source: Source, findings: Findings) -> dict[str, dict[str, Any]]:
    """The ``volumes`` bucket of ``metadata.db``: name -> decoded JSON (``{}`` when empty)."""
    try:
        size = source.stat(DB_PATH).size
        file = source.open(DB_PATH)
    except SourceError:
        return {}
    # Imported here: construct costs start-up time that commands without volumes never need.
    from storagekit.formats.bolt import BoltDB

    with file:  # only the pages the walk visits are read (a sparse 1 GiB file costs nothing)
        try:
            bucket = BoltDB.from_file(file, size, DB_PATH).bucket(b"volumes")
        except FormatError as exc:
            findings.error("bad-boltdb", DB_PATH, f"volume metadata cannot be read: {exc.message}")
            return {}
        if bucket is None:
            return {}
        try:
            items = list(bucket.items())
        except FormatError as exc:
            findings.error("bad-boltdb", DB_PATH, f"volume metadata is damaged: {exc.message}")
            items = []
    result: dict[str, dict[str, Any]] = {}
    for key, value in items:
        name = key.decode("utf-8", "surrogateescape")
        if not isinstance(value, bytes):
            continue
        if not value:
            result[name] = {}
            continue
        try:
            result[name] = as_dict(json.loads(value))
        except (ValueError, RecursionError):  # not UTF-8, not JSON, a 5,000-digit number
            findings.error("bad-json", DB_PATH, f"volume {name!r}: metadata value is not JSON")
            result[name] = {}
    return result


def read_volumes(source: Source, findings: Findings) -> dict[str, Volume]:
    """Every volume known to the metadata DB or present as a directory, by name."""
    meta = read_volume_db(source, findings)
    on_disk: dict[str, tuple[bool, bool]] = {}
    try:
        entries = [e for e in source.scandir("volumes") if e.is_dir]
    except SourceError:
        entries = []
    for entry in entries:
        has_data = source.is_dir(f"{entry.path}/_data")
        opts_path = f"{entry.path}/opts.json"
        has_opts = False
        if source.is_file(opts_path):
            opts = as_dict(read_json(source, opts_path, findings, what="volume opts.json"))
            has_opts = any(v for v in opts.values())
        if has_data or source.is_file(opts_path):
            on_disk[entry.name] = (has_data, has_opts)
    volumes = {}
    for name in sorted(set(meta) | set(on_disk)):
        if not is_safe_component(name):
            findings.error("unsafe-id", DB_PATH, f"volume name cannot be a path: {name!r}")
            continue
        info = meta.get(name, {})
        has_data, has_opts = on_disk.get(name, (False, False))
        volumes[name] = Volume(
            name=name,
            driver=as_str(info.get("Driver"), "local") or "local",
            labels=_pairs(info.get("Labels")),
            options=_pairs(info.get("Options")),
            in_metadata=name in meta,
            has_data=has_data,
            has_opts=has_opts,
            path=f"volumes/{name}",
        )
    return volumes
