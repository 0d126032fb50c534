"""``df`` for people: ``docker system df [-v]``'s tables, then what Docker does not show.

The summary and the ``-v`` sections carry ``docker system df -v``'s columns (*docker/cli
cli/command/formatter/disk_usage.go*): images as REPOSITORY (the first reference), TAG, IMAGE
ID, CREATED, SIZE, SHARED SIZE, UNIQUE SIZE, CONTAINERS; containers as CONTAINER ID, IMAGE,
COMMAND, LOCAL VOLUMES, SIZE, CREATED, STATUS, NAMES; volumes as VOLUME NAME, LINKS, SIZE;
then the build cache. Image and container sizes have three significant digits, the others
four, as the Docker CLI prints them; times are RFC 3339 to the second (Docker's "2 days ago"
means nothing offline). An engine whose own command prints a cell its own way gives that text
in the item (``command_text``, ``status_text``, ``size_text``: podman's unquoted command, bare
state and four-digit image size).
Notes under the summary say why figures that look alike differ.
"""

from __future__ import annotations

from collections.abc import Sequence

from storagekit.cli import tables
from storagekit.cli.tables import Column, human_size, seconds
from storagekit.ids import short
from storagekit.jsontext import Record
from storagekit.termtext import display
from storagekit.termtext import human_size as _size  # go-units HumanSize, "-" when unknown

ROWS = [
    ("Images", "images"),
    ("Containers", "containers"),
    ("Local Volumes", "volumes"),
    ("Build Cache", "build_cache"),
    ("Orphaned storage", "orphans"),
]


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _percent(part: int | None, whole: int | None) -> str:
    if part is None or not whole:
        return _size(part)
    return f"{_size(part)} ({part * 100 // whole}%)"


def _repository(r: Record) -> tuple[str, str]:
    """Repository and tag of an image item: its own, else split from its ``name``."""
    if "repository" in r:
        return r["repository"], r["tag"]
    name = r.get("name") or ""
    repo, sep, tag = name.rpartition(":")
    if not name or not sep or "/" in tag:
        return name or "<none>", "<none>"
    return repo, tag


def _status(r: Record) -> str:
    return tables.status_label(r) if "exit_code" in r else "-"


IMAGE_COLUMNS: list[Column] = [
    ("REPOSITORY", lambda r: _repository(r)[0]),
    ("TAG", lambda r: _repository(r)[1]),
    ("IMAGE ID", lambda r: short(r["id"].removeprefix("sha256:")) if r["id"] else "-"),
    ("CREATED", lambda r: seconds(r.get("created"))),
    ("SIZE", lambda r: r.get("size_text") or human_size(r["size"])),
    ("SHARED SIZE", lambda r: _size(r["shared_size"])),
    ("UNIQUE SIZE", lambda r: _size(r["unique_size"])),
    ("CONTAINERS", lambda r: r["containers"]),
]
CONTAINER_COLUMNS: list[Column] = [
    ("CONTAINER ID", lambda r: short(r["id"])),
    ("IMAGE", lambda r: r.get("image") or "-"),
    ("COMMAND", lambda r: r.get("command_text") or tables.quoted_command(r.get("command"), True)),
    ("LOCAL VOLUMES", lambda r: _count(r.get("local_volumes"))),
    ("SIZE", lambda r: human_size(r["size_rw"])),
    ("CREATED", lambda r: seconds(r.get("created"))),
    ("STATUS", lambda r: r.get("status_text") or _status(r)),
    ("NAMES", lambda r: (r.get("name") or "").lstrip("/")),
]
VOLUME_COLUMNS: list[Column] = [
    ("VOLUME NAME", lambda r: r["name"]),
    ("LINKS", lambda r: r["links"]),
    ("SIZE", lambda r: _size(r["size"])),
]
BUILD_CACHE_HEADERS = ["CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE", "SHARED"]


def _table(records: Sequence[Record], columns: Sequence[Column]) -> str:
    """A table in the Docker CLI's layout, led by NAMESPACE where items have one."""
    if any(r.get("namespace") for r in records):
        columns = [("NAMESPACE", lambda r: r.get("namespace") or "-"), *columns]
    return tables.render([h for h, _ in columns], tables.cells(records, columns))


def summary(report: Record) -> str:
    """``docker system df``'s table, with storagekit's orphaned storage as a fifth line."""
    rows = [
        [
            label,
            _count(report[key]["count"]),
            _count(report[key]["active"]),
            _size(report[key]["size"]),
            _percent(report[key]["reclaimable"], report[key]["size"]),
        ]
        for label, key in ROWS
    ]
    return tables.render(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows)


def notes(report: Record) -> list[str]:
    """Why figures that look alike differ: each note only where it applies."""
    found = []
    measured = report.get("measured") or {}
    if report["containers"]["size"] and "layers" in measured:
        found.append(
            "Containers: SIZE is their writable layers' data (as the engine's system df); on disk "
            "those layers are measured under MEASURED layers, MEASURED containers is their "
            "configs and logs"
        )
    left = report["volumes"].get("uncounted") or []
    if left:
        names = ", ".join(f"{v['name']} ({v['reason']})" for v in left)
        found.append(
            f"Local Volumes: {report['volumes']['count']} of "
            f"{report['volumes']['count'] + len(left)} volumes, as the engine counts them; "
            f"not counted: {names}"
        )
    orphans = report["orphans"]
    if (orphans["size"] or 0) > (orphans["reclaimable"] or 0):
        found.append(
            f"Orphaned storage: {_size(orphans['size'])} held, "
            f"{_size(orphans['reclaimable'])} of it removable by reclaim; the rest (dangling "
            "images, unused volumes) is for the engine's own prune commands, which keep "
            "what they still list"
        )
    if report["build_cache"].get("note"):
        found.append(f"Build Cache: {report['build_cache']['note']}")
    return [display(f"  {n}") for n in found]


def measured_lines(report: Record) -> list[str]:
    """Bytes measured on disk per area."""
    measured = report["measured"]
    kind = "allocated on disk" if measured["allocation_known"] else "apparent (archive)"
    lines = ["", f"MEASURED ({kind}, hard links counted once)"]
    for area in [a for a in measured["apparent"] if a != "total"]:
        value = measured[area] if measured["allocation_known"] else measured["apparent"][area]
        lines.append(f"  {area:<15} {_size(value)}")
    total = measured["total"] if measured["allocation_known"] else measured["apparent"]["total"]
    lines.append(f"  {'total':<15} {_size(total)}")
    return lines


def namespaces_lines(report: Record) -> list[str]:
    """Content-store and snapshot bytes, in all and per namespace."""
    snaps = report["snapshots"]
    rows = [
        [display(ns), str(v["images"]), str(v["containers"]), _size(v["content_bytes"]),
         _size(v["snapshots_committed_bytes"]), _size(v["snapshots_active_bytes"])]
        for ns, v in report["namespaces"].items()
    ]  # fmt: skip
    headers = ["NAMESPACE", "IMAGES", "CONTAINERS", "CONTENT", "COMMITTED", "ACTIVE"]
    return [
        "",
        f"CONTENT STORE: {report['content']['blobs']} blobs, "
        f"{_size(report['content']['bytes'])}; SNAPSHOTS: "
        f"{snaps['committed']['count']} committed ({_size(snaps['committed']['bytes'])} "
        f"as recorded), {snaps['active']['count']} active "
        f"({_size(snaps['active']['bytes'])} measured)",
        tables.render(headers, rows),
    ]


def verbose_lines(report: Record) -> list[str]:
    """``docker system df -v``'s sections."""
    cache = report["build_cache"]
    return [
        "",
        "Images space usage:",
        "",
        _table(report["images"]["items"], IMAGE_COLUMNS),
        "",
        "Containers space usage:",
        "",
        _table(report["containers"]["items"], CONTAINER_COLUMNS),
        "",
        "Local Volumes space usage:",
        "",
        _table(report["volumes"]["items"], VOLUME_COLUMNS),
        "",
        f"Build cache usage: {_size(cache['size'])}",
        "",
        tables.render(BUILD_CACHE_HEADERS, []),
    ]


def df_table(report: Record) -> str:
    """``df`` for people: the summary, its notes, measured bytes, and ``-v``'s sections."""
    lines = [summary(report)]
    found = notes(report)
    if found:
        lines += ["", "Notes:", *found]
    lines += measured_lines(report)
    if "namespaces" in report:  # an engine with content and snapshot stores per namespace
        lines += namespaces_lines(report)
    if "items" in report["images"]:
        lines += verbose_lines(report)
    return "\n".join(lines)
