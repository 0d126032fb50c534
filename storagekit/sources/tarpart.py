"""The index of an archive's second half, made apart and joined to the first half's.

The forked reader of :mod:`~storagekit.sources.tarhalves` indexes the members from its start
to the end with a builder of its own, as if they were an archive: its records, children, hard
links and problems. The parent joins them to its own index with dictionary updates, instead of
adding each member again, which is what made joining the halves cost as much as a tenth of the
whole reading.

Joining gives exactly the index one builder makes of the whole archive, or is refused (then the
parent reads the second half itself):

* a path in both halves must be a directory in both. The second half's directory is either
  *implied* there (its members' parent, created by that builder; the first half's record
  stands) or a member re-stating the directory (its record replaces the first's, the children
  of both stay) — just as :meth:`.tarindex.IndexBuilder._put` treats a later member. Any other
  path in both (a file replaced, a member below what the first half made a file or a link)
  takes the one builder's way, so the join is refused;
* a hard link in the second half naming a file that half does not hold, and a hard-linked
  file replaced there (its names get numbered identities), refuse the join too.

A path in both halves is found with one set intersection; everything else moves with
:meth:`dict.update` straight from the columns and with list extensions. Records travel in
columns (:func:`pack`): pickled and rebuilt in C, where a dictionary of tuples is not.
"""

from __future__ import annotations

from dataclasses import dataclass

from storagekit.source import FileType
from storagekit.sources.tarindex import IMPLIED, IndexBuilder


@dataclass
class Part:
    """What the second half's builder made, ready to be pickled."""

    paths: tuple[str, ...]
    columns: tuple[tuple[object, ...], ...]  # the records' fields, one tuple per field
    kids: dict[str, list[str]]
    links: dict[str, int]
    implied: list[str]  # directories made only as parents of its members
    problems: list[str]
    unlisted: int
    xattr_members: int
    foreign: bool  # it met what only the whole archive's builder can tell


def pack(builder: IndexBuilder) -> Part:
    """The second half's index, from its builder."""
    records = builder.records
    implied = [path for path, rec in records.items() if rec is IMPLIED]
    return Part(
        tuple(records),
        tuple(zip(*records.values(), strict=True)),
        builder.kids,
        builder.links,
        implied,
        builder.problems,
        builder.unlisted,
        builder.xattr_members,
        builder.foreign or builder.serial > 0,
    )


def merge(builder: IndexBuilder, part: Part) -> bool:
    """Join the second half to ``builder`` (the first half's); False if it must be read again.

    Nothing in ``builder`` changes when the join is refused.
    """
    if part.foreign:
        return False
    paths, columns, records = part.paths, part.columns, builder.records
    common = records.keys() & paths  # a few directories at the top, as a rule
    kinds = _kinds(paths, columns[0], common)
    for path in common:
        if (
            records[path][0] is not FileType.DIR
            or kinds[path] is not FileType.DIR
            or path in builder.links
        ):
            return False
    implied = set(part.implied) if common else set()
    mine = {path: records[path] for path in common if path in implied}
    records.update(zip(paths, zip(*columns, strict=True), strict=True))  # restated: replaced
    records.update(mine)  # an implied one does not
    for path in common:
        if path:
            part.kids[path.rpartition("/")[0]].remove(path)
    kids = builder.kids
    for directory, children in part.kids.items():
        listed = kids.get(directory)
        if listed is None:
            kids[directory] = children
        else:
            listed.extend(children)
    builder.links.update(part.links)
    for problem in part.problems:
        builder.problem(problem)
    builder.unlisted += part.unlisted
    builder.xattr_members += part.xattr_members
    return True


def _kinds(
    paths: tuple[str, ...], kinds: tuple[object, ...], wanted: set[str]
) -> dict[str, object]:
    """The second half's types of the ``wanted`` paths (found by a scan in C when few)."""
    if len(wanted) <= 64:
        return {path: kinds[paths.index(path)] for path in wanted}
    return {path: kind for path, kind in zip(paths, kinds, strict=True) if path in wanted}
