"""``ls`` as a table, streamed at the speed of the JSON listing.

The table's lines are written straight from the merged rows, on every core, in the same plan
as ``ls --format json`` (:mod:`storagekit.union.stream`): the header and the first directory
appear before the rest of the tree is read. Column widths are fixed up front the way the
Docker CLI's ``tabwriter`` would pick them for usual values (minimum width 10, padding 3):
modes, types, owners, sizes up to a terabyte, second-precision times and short layer IDs
fit; a longer cell pushes its line's later cells right rather than making every line wait for
the widest one. The cells are those of the generic table (:mod:`storagekit.cli.render`
``LS_COLUMNS``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from storagekit.ids import is_hex64, short
from storagekit.source import Row
from storagekit.termtext import display as _display
from storagekit.timefmt import from_ns
from storagekit.union import forkstream
from storagekit.union.stream import Listing, _plan
from storagekit.union.view import UnionView

HEADERS = ("MODE", "TYPE", "UID", "GID", "SIZE", "MTIME", "LAYER", "PATH")
WIDTHS = (10, 11, 10, 10, 16, 23, 15)


def _layer(layer: str | None) -> str:
    if not layer:
        return "-"
    return short(layer) if is_hex64(layer.removesuffix("-init")) else layer


def header() -> str:
    """The table's first line."""
    return "".join(h.ljust(w) for h, w in zip(HEADERS, WIDTHS, strict=False)) + HEADERS[-1]


def _cells(values: Iterable[str]) -> str:
    out = []
    for value, width in zip(values, WIDTHS, strict=False):
        out.append(value.ljust(width) if len(value) + 3 <= width else value + "   ")
    return "".join(out)


class _LsTable(Listing):
    """``ls`` lines, batch by batch."""

    def __init__(self, view: UnionView, deleted: bool) -> None:
        super().__init__(view, deleted)
        self.layers = [_layer(lay.layer_id) for lay in view.layers]

    def entries(
        self, path: str, names: Iterable[str], rows: dict[str, tuple[Row, int]], gone: bool
    ) -> list[str]:
        pre = f"/{path}/" if path else "/"
        mark = "[deleted] " if gone else ""
        out: list[str] = []
        add = out.append
        for name in names:
            row, index = rows[name]
            kind, mode, uid, gid, size, mtime, _, _, _, link, _ = row
            cells = _cells(
                (
                    f"{mode:04o}",
                    kind._value_,
                    str(uid),
                    str(gid),
                    str(size),
                    from_ns(mtime)[:19] + "Z",
                    self.layers[index],
                )
            )
            target = "" if link is None else f" -> {_display(link)}"
            add(f"{cells}{mark}{_display(pre + name)}{target}\n")
        return out


def list_table(
    view: UnionView, top: str, recursive: bool, deleted: bool, write: Callable[[str], object]
) -> None:
    """Write ``ls`` of the directory ``top`` of ``view`` as a table, header first."""
    write(header() + "\n")

    def sink(batch: list[str]) -> None:
        write("".join(batch))

    forkstream.stream(_plan(view, top, recursive, sorted, _LsTable(view, deleted)), sink, view)
