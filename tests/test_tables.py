"""Tables as the Docker CLI lays them out, written before the last row is read."""

from __future__ import annotations

from storagekit.cli import tables

COLUMNS = [("ID", lambda r: r["id"]), ("NAME", lambda r: r["name"]), ("LAST", lambda r: r["x"])]


def test_layout_as_tabwriter_minwidth_10_padding_3():
    text = tables.render(["ID", "NAME", "LAST"], [["abc", "a-rather-long-name", "z"]])
    assert text.splitlines() == [
        "ID        NAME                 LAST",
        "abc       a-rather-long-name   z",
    ]


def test_rows_stream_before_the_records_end():
    written: list[str] = []
    seen_when_written: list[int] = []
    consumed = 0

    def records():
        nonlocal consumed
        for i in range(10):
            consumed += 1
            yield {"id": str(i), "name": "n" * (i + 1), "x": "x"}

    def write(text: str) -> None:
        written.append(text)
        seen_when_written.append(consumed)

    tables.write_table(COLUMNS, records(), write, batch=3)
    assert seen_when_written[:4] == [3, 3, 3, 3]  # header and the first batch, 3 records read
    # the first batch fixes the widths; a later cell too long for its column widens it
    assert "".join(written).splitlines() == [
        "ID        NAME      LAST",
        "0         n         x",
        "1         nn        x",
        "2         nnn       x",
        "3         nnnn      x",
        "4         nnnnn     x",
        "5         nnnnnn    x",
        "6         nnnnnnn   x",
        "7         nnnnnnnn   x",
        "8         nnnnnnnnn   x",
        "9         nnnnnnnnnn   x",
    ]


def test_few_rows_and_none():
    out: list[str] = []
    tables.write_table(COLUMNS, [], out.append)
    assert out == ["ID        NAME      LAST\n"]


def test_ellipsis_and_sizes_as_docker_prints_them():
    assert tables.ellipsis("abcdef", 4) == "abc…"
    assert tables.ellipsis("abcd", 4) == "abcd"
    assert [tables.human_size(n) for n in (0, 999, 1000, 1982667, 1_500_000_000)] == [
        "0B",
        "999B",
        "1kB",
        "1.98MB",
        "1.5GB",
    ]
    assert tables.human_size(1982667, 4) == "1.983MB"


def test_streamed_ls_table_has_the_generic_cells(sample, run):
    from storagekit.cli.render import LS_COLUMNS

    root = sample("overlay2-20.10")
    for ref, count in (("sk-exited", 90), ("sk-app:1.0", 76)):
        table = run("-r", root, "ls", ref, "/", "-R", "--deleted")
        records = run("-r", root, "ls", ref, "/", "-R", "--deleted", "--format", "json").json()
        lines = table.out.splitlines()
        assert lines[0].split() == ["MODE", "TYPE", "UID", "GID", "SIZE", "MTIME", "LAYER", "PATH"]
        assert [line.split(None, 7) for line in lines[1:]] == [
            [str(get(r)) for _, get in LS_COLUMNS] for r in records
        ]
        assert len(records) == count
