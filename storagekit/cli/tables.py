"""Tables laid out as the Docker CLI lays them out, written row by row.

The Docker CLI pads columns with Go's ``tabwriter`` (minimum width 10, padding 3, the last
column unpadded) and truncates long cells with ``…``. Widths here are chosen the same way
from the header and the rows seen so far: a listing that knows its widths up front (IDs,
timestamps) streams its first row before the last one is read. :func:`write_table` takes an
iterator and a flush interval; everything printed for people goes through it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from storagekit import termtext
from storagekit.jsontext import Record
from storagekit.termtext import display

MIN_WIDTH = 10
PADDING = 3

Getter = Callable[[Record], Any]
Column = tuple[str, Getter]


def ellipsis(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with ``…`` at the end, as the Docker CLI cuts."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…"


def seconds(value: str | None) -> str:
    """An RFC 3339 UTC time to the second; ``N/A`` when absent.

    ``docker ps`` prints a relative time instead, which means nothing offline.
    """
    return value[:19] + "Z" if value else "N/A"


def status_label(r: Record) -> str:
    """``docker ps``'s STATUS without its relative time: ``Exited (3)``, ``Up``, ``Created``."""
    status = str(r["status"])
    if status == "exited":
        return f"Exited ({r['exit_code']})"
    labels = {
        "running": "Up",
        "paused": "Up (Paused)",
        "restarting": f"Restarting ({r['exit_code']})",
        "created": "Created",
        "removing": "Removal In Progress",
        "dead": "Dead",
    }
    return labels.get(status, status)


def ps_command(parts: Sequence[str]) -> str:
    """``docker ps``'s command: path and arguments, those with a space in single quotes."""
    if not parts:
        return ""
    args = [f"'{a}'" if " " in a else a for a in parts[1:]]
    return " ".join([parts[0], *args])


def quoted_command(parts: Sequence[str] | None, trunc: bool) -> str:
    """``docker ps``'s COMMAND cell: the command in double quotes, cut to 20 characters."""
    text = ps_command(parts or [])
    return json.dumps(ellipsis(text, 20) if trunc else text, ensure_ascii=False)


def ports_text(ports: Sequence[Record]) -> str:
    """``docker ps``'s PORTS (docker/cli ``DisplayablePorts``).

    Ports in order, consecutive ports of one protocol (and host address, when published on
    the same number) as a range, then each published port ``IP:PUBLIC->PRIVATE/proto``
    (IPv6 addresses in brackets, as the Docker CLI 28 prints them).
    """
    ordered = sorted(
        ports, key=lambda p: (p["private_port"], p["ip"] or "", p["public_port"] or 0, p["type"])
    )
    groups: dict[str, list[int]] = {}
    result: list[str] = []
    mapped: list[str] = []
    for port in ordered:
        current, key = port["private_port"], port["type"]
        if port["ip"]:
            if port["public_port"] != current:
                mapped.append(
                    f"{_host(port['ip'])}:{port['public_port']}->{current}/{port['type']}"
                )
                continue
            key = f"{port['ip']}/{port['type']}"
        group = groups.get(key)
        if group is not None and current == group[1] + 1:
            group[1] = current
            continue
        if group is not None:
            result.append(_group(key, *group))
        groups[key] = [current, current]  # a key keeps the place of its first group
    result += [_group(key, *group) for key, group in groups.items()]
    return ", ".join(result + mapped)


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _group(key: str, first: int, last: int) -> str:
    ip, _, kind = key.rpartition("/")
    text = str(first) if first == last else f"{first}-{last}"
    if ip:
        text = f"{_host(ip)}:{text}->{text}"
    return f"{text}/{kind}"


def human_size(value: float | None, precision: int = 3) -> str:
    """go-units ``HumanSizeWithPrecision`` as the Docker CLI's tables print it ("N/A": unknown)."""
    return termtext.human_size(value, precision, missing="N/A")


def layout(rows: Sequence[Sequence[str]]) -> list[int]:
    """Column widths as ``tabwriter`` (minwidth 10, padding 3) picks them for ``rows``."""
    widths: list[int] = []
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            want = max(len(cell) + PADDING, MIN_WIDTH)
            if i == len(widths):
                widths.append(want)
            elif want > widths[i]:
                widths[i] = want
    return widths


def line(row: Sequence[str], widths: Sequence[int]) -> str:
    """One row padded to ``widths``; the last cell as it is (tabwriter leaves it unpadded)."""
    cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
    return "".join(cells) + (row[-1] if row else "")


def render(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A whole table as text (no trailing newline)."""
    rows = [list(headers), *[list(r) for r in rows]]
    widths = layout(rows)
    return "\n".join(line(r, widths).rstrip() if r else "" for r in rows)


def cells(records: Iterable[Record], columns: Sequence[Column]) -> Iterable[list[str]]:
    """The string cells of each record, escaped for a terminal (names come from the evidence)."""
    for r in records:
        yield [display(str(get(r))) for _, get in columns]


def write_table(
    columns: Sequence[Column],
    records: Iterable[Record],
    write: Callable[[str], object],
    *,
    batch: int = 64,
) -> None:
    """Write a table of ``records`` as rows arrive: widths from the header and first batch.

    Later rows widen a column only when they must (a cell longer than its column); the
    first ``batch`` rows fix the layout, so a long listing starts printing at once.
    """
    headers = [h for h, _ in columns]
    pending: list[list[str]] = []
    widths: list[int] | None = None
    for row in cells(records, columns):
        if widths is None:
            pending.append(row)
            if len(pending) < batch:
                continue
            widths = layout([headers, *pending])
            write(line(headers, widths).rstrip() + "\n")
            for r in pending:
                write(line(r, widths).rstrip() + "\n")
            pending = []
            continue
        widths = [max(w, len(c) + PADDING) for w, c in zip(widths, row, strict=False)]
        write(line(row, widths).rstrip() + "\n")
    if widths is None:
        widths = layout([headers, *pending])
        write(line(headers, widths).rstrip() + "\n")
        for r in pending:
            write(line(r, widths).rstrip() + "\n")
