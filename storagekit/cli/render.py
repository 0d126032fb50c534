"""Presentation: records as tables for people, in the Docker CLI's layout (:mod:`.tables`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from storagekit.cli.tables import render as _render
from storagekit.ids import is_hex64, short
from storagekit.jsontext import Record
from storagekit.termtext import display as display  # the one escaping function
from storagekit.termtext import human_size as human_size  # shared with progress bars


def df_table(report: Record) -> str:
    """``df``'s tables (storagekit.cli.dfview, imported only by the commands that print them)."""
    from storagekit.cli.dfview import df_table as table

    return table(report)

Column = tuple[str, Callable[[Record], Any]]


def table(records: Sequence[Record], columns: Sequence[Column]) -> str:
    """A plain table of ``records`` with the given (header, getter) columns."""
    rows = [[str(_cell(get(r))) for _, get in columns] for r in records]
    return _render([h for h, _ in columns], rows)


def scoped(records: Sequence[Record], columns: Sequence[Column]) -> list[Column]:
    """``columns``, led by NAMESPACE and ENGINE where the records need them.

    ENGINE when records come from several engines, NAMESPACE when any record has one.
    """
    out = list(columns)
    if any(r.get("namespace") for r in records):
        out.insert(0, ("NAMESPACE", lambda r: r.get("namespace") or "-"))
    if len({r.get("engine") for r in records}) > 1:
        out.insert(0, ("ENGINE", lambda r: r.get("engine") or "-"))
    return out


def _cell(value: Any) -> Any:
    return display(value) if isinstance(value, str) else value


def _layer(layer: str | None) -> str:
    """A layer ID shortened as Docker does; what a mount provides is shown as it is."""
    if not layer:
        return "-"
    return short(layer) if is_hex64(layer.removesuffix("-init")) else layer


def _intermediate(r: Record) -> bool:
    """An untagged image with children (a classic-builder step): ``docker images`` hides it."""
    return not (r["tags"] or r["digests"] or r["dangling"])


def _refs(r: Record) -> str:
    return ", ".join(r["tags"] + r["digests"]) or "<none>"


CONTAINER_COLUMNS: list[Column] = [
    ("CONTAINER ID", lambda r: short(r["id"])),
    ("NAME", lambda r: (r["name"] or "-").lstrip("/")),
    ("IMAGE", lambda r: r["image"]),
    ("STATUS", lambda r: r["status"] + (f" ({r['exit_code']})" if r["status"] == "exited" else "")),
    ("CREATED", lambda r: r["created"] or "-"),
    ("DRIVER", lambda r: r["driver"] or "-"),
    ("SIZE", lambda r: human_size(r["size_rw"])),
]

IMAGE_COLUMNS: list[Column] = [
    ("IMAGE ID", lambda r: short(r["id"]) if r["id"] else "-"),
    ("REFERENCES", _refs),
    ("CREATED", lambda r: r["created"] or "-"),
    ("LAYERS", lambda r: len(r["diff_ids"])),
    ("SIZE", lambda r: human_size(r["size"])),
    ("SHARED", lambda r: human_size(r["shared_size"])),
    ("CONTAINERS", lambda r: r["containers"]),
    ("DANGLING", lambda r: "yes" if r["dangling"] else ""),
]

LAYER_COLUMNS: list[Column] = [
    ("CHAIN ID", lambda r: short(r["chain_id"]) if r["chain_id"] else "-"),
    ("CACHE ID", lambda r: short(r["cache_id"]) if r["cache_id"] else "-"),
    ("DRIVER", lambda r: r["driver"]),
    ("SIZE", lambda r: human_size(r["size"])),
    ("PRESENT", lambda r: "yes" if r["present"] else "NO"),
    ("IMAGES", lambda r: len(r["images"])),
    ("CONTAINERS", lambda r: len(r["containers"])),
]

STACK_COLUMNS: list[Column] = [
    ("ROLE", lambda r: r["role"]),
    ("CACHE ID", lambda r: r["cache_id"] or "-"),
    ("CHAIN ID", lambda r: short(r["chain_id"]) if r["chain_id"] else "-"),
    ("PATH", lambda r: r["path"] or "-"),
    ("PRESENT", lambda r: "yes" if r["present"] else "NO"),
]

VOLUME_COLUMNS: list[Column] = [
    ("VOLUME NAME", lambda r: r["name"]),
    ("DRIVER", lambda r: r["driver"]),
    ("DATA", lambda r: "yes" if r["has_data"] else "no"),
    ("CONTAINERS", lambda r: len(r["containers"])),
]


def chain_table(record: Record) -> str:
    """The ``chain`` object for people."""
    agree = record["driver_parents_agree"]
    head = [
        display(f"{record['kind']} {record['ref']} ({record['driver']})"),
        table(record["layers"], STACK_COLUMNS),
        "driver parent records: "
        + {True: "agree with the layer store", False: "DISAGREE with the layer store"}.get(
            agree, "not kept by this driver"
        ),
    ]
    head += [display(f"problem: {p}") for p in record["problems"]]
    return "\n".join(head)


def integrity_line(record: Record) -> str:
    """The one line of ``audit``'s summary that says whether layer integrity was checked."""
    if not record["checked"]:
        return "Integrity: NOT CHECKED: image layers were not verified (audit --verify, or verify)"
    bad = record["not_matching"]
    if not bad:
        return f"Integrity: all {record['layers']} image layers match their diff IDs"
    return f"Integrity: {len(bad)} of {record['layers']} image layers DO NOT MATCH: " + ", ".join(
        f"{r['chain_id']} ({r['status']})" for r in bad
    )


def audit_table(report: Record, title: str) -> str:
    """The ``audit`` report for people: summary, then each section (``title``: of the root)."""
    root = report["root"]
    counts = report["counts"]
    lines = [
        display(
            f"Evidence: {root['evidence']}"
            + (f" ({title} root at {root['location']})" if root["location"] else "")
        ),
        display(
            f"Layout:   {root['layout']}; stores: {', '.join(root['stores']) or '-'}; "
            f"drivers on disk: {', '.join(report['drivers']) or '-'}"
        ),
        f"Images: {counts['images']}  Layers: {counts['layers']}  "
        f"Containers: {counts['containers']} "
        + "("
        + ", ".join(f"{k} {v}" for k, v in counts["containers_by_status"].items())
        + ")"
        + f"  Volumes: {counts['volumes']}",
        integrity_line(report["integrity"]),
        *(
            ["EVIDENCE INCOMPLETE: every answer below is partial (see the first finding)"]
            if any(f["code"] == "evidence-incomplete" for f in report["findings"])
            else []
        ),
        "",
        *exposure_section(report.get("exposure")),
        "IMAGES (tagged, and dangling; intermediate build images: "
        f"{sum(1 for i in report['images'] if _intermediate(i))}, see `images`)",
        table([i for i in report["images"] if not _intermediate(i)], IMAGE_COLUMNS),
        "",
        "CONTAINERS",
        table(report["containers"], CONTAINER_COLUMNS),
        "",
        "VOLUMES",
        table(report["volumes"], VOLUME_COLUMNS),
        "",
        "DISK USAGE",
        df_table(report["usage"]),
        "",
        f"ORPHANED OR BROKEN STORAGE ({len(report['orphans'])})",
        table(report["orphans"], ORPHAN_COLUMNS) if report["orphans"] else "none",
        "",
        f"FINDINGS ({len(report['findings'])})",
    ]
    lines += [finding_line(f) for f in report["findings"]] or ["none"]
    return "\n".join(lines)


EXPOSURE_COLUMNS: list[Column] = [
    ("SEVERITY", lambda r: r["severity"]),
    ("CONTAINER", lambda r: display(r["name"].lstrip("/")) or short(r["container"])),
    ("SETTING", lambda r: r["setting"]),
    (
        "VALUE",
        lambda r: (
            ", ".join(r["value"]) if isinstance(r["value"], list) else display(str(r["value"]))
        ),
    ),
    ("WHY IT MATTERS", lambda r: r["message"]),
]


def exposure_section(found: list[Record] | None) -> list[str]:
    """The audit's first section: settings that open a container to its host, if reported."""
    if found is None:
        return []
    head = f"EXPOSURE ({len(found)}: containers' settings that weaken isolation from the host)"
    return [head, table(found, EXPOSURE_COLUMNS) if found else "none", ""]


LS_COLUMNS: list[Column] = [
    ("MODE", lambda r: r["mode"]),
    ("TYPE", lambda r: r["type"]),
    ("UID", lambda r: r["uid"]),
    ("GID", lambda r: r["gid"]),
    ("SIZE", lambda r: r["size"]),
    ("MTIME", lambda r: r["mtime"][:19] + "Z"),
    ("LAYER", lambda r: _layer(r["layer"])),
    (
        "PATH",
        lambda r: (
            ("[deleted] " if r.get("deleted") else "")
            + display(r["path"])
            + (f" -> {display(r['link_target'])}" if r["link_target"] is not None else "")
        ),
    ),
]


ORPHAN_COLUMNS: list[Column] = [
    ("KIND", lambda r: r["kind"]),
    ("BYTES", lambda r: human_size(r["bytes"])),
    ("PATH", lambda r: display(r["path"])),
    ("REASON", lambda r: r["reason"]),
]


VERIFY_COLUMNS: list[Column] = [
    (
        "CHAIN ID",
        lambda r: (
            short(r["chain_id"])
            if r["chain_id"]
            else (f"blob {short(r['digest'])}" if r.get("digest") else "(rw layer)")
        ),
    ),
    ("CACHE ID", lambda r: short(r["cache_id"]) if r["cache_id"] else "-"),
    ("STATUS", lambda r: r["status"]),
    ("CHANGE", lambda r: r["change"]),
    ("FILE", lambda r: r["file"]),
]


def verify_rows(records: Sequence[Record]) -> list[Record]:
    """One row per layer and, for a layer with changed files, one row per file.

    The rows below a layer's first row are marked ``blank``: its cells are not repeated.
    """
    rows = []
    for r in records:
        files = r.get("files") or [{"change": "-", "path": "-"}]
        rows += [
            {**r, "change": f["change"], "file": f["path"], "blank": i > 0}
            for i, f in enumerate(files)
        ]
    return rows


def _blank_below(column: Column) -> Column:
    header, get = column
    keep = header in ("CHANGE", "FILE")
    return header, lambda r: get(r) if keep or not r["blank"] else ""


def verify_table(records: Sequence[Record]) -> str:
    """``verify`` for people: each changed file on its own row, under its layer."""
    columns = [_blank_below(c) for c in scoped(records, VERIFY_COLUMNS)]
    return table(verify_rows(records), columns)


def finding_line(f: Record) -> str:
    """One finding as a line for stderr or a table."""
    where = f"{f['path']}: " if f["path"] else ""
    cause = f" (a consequence of {f['consequence_of']})" if f.get("consequence_of") else ""
    return display(f"{f['severity']}: {where}{f['message']} [{f['code']}]{cause}")
