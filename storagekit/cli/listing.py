"""``containers`` and ``images`` with the Docker CLI's conventions.

``containers`` is ``docker ps -a``: newest first, ``-q`` IDs only, ``--no-trunc``, ``-s`` to
measure writable layers (``size_rw`` is ``null`` without it), ``--filter`` ``status=``,
``name=``, ``ancestor=``, ``label=``. ``images`` is ``docker images``: newest first, untagged
images with children (a classic builder's steps) hidden unless ``-a``, one row per
repository and tag, ``-q``, ``--no-trunc``, ``--digests``, ``--filter`` ``dangling=``,
``reference=``, ``label=``, ``before=``, ``since=``. Filters of one key are alternatives,
filters of different keys all apply (as the Docker daemon combines them). The JSON listing is
filtered and ordered the same way.

References: moby v20.10 ``daemon/list.go``, ``daemon/images/images.go``; docker/cli
``cli/command/formatter/container.go``, ``image.go``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

import click

from storagekit.cli import render, tables
from storagekit.cli.common import FORMAT, echo_json, emit_findings, gather, state
from storagekit.engine import Engine
from storagekit.ids import short
from storagekit.jsontext import Record, to_json
from storagekit.model import Image
from storagekit.refs import resolve
from storagekit.timefmt import order_key

FILTER = click.option(
    "-f",
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keep what matches (repeatable): status=, name=, label= ...",
)


def parse_filters(given: Iterable[str], allowed: Iterable[str]) -> dict[str, list[str]]:
    """``KEY=VALUE`` options by key; an unknown key is a usage error, as Docker's."""
    found: dict[str, list[str]] = {}
    keys = tuple(allowed)
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or key not in keys:
            raise click.UsageError(
                f"invalid filter {item!r}: expected one of {', '.join(k + '=' for k in keys)}"
            )
        found.setdefault(key, []).append(value)
    return found


def _labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for want in wanted:
        key, sep, value = want.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _short(value: str) -> str:
    return short(value.removeprefix("sha256:"))


# containers -------------------------------------------------------------------------------


def _ancestors(root: Engine, images: list[Record], ref: str) -> set[str]:
    """The image ``ref`` names and every image built on it (``ancestor=`` matches them all)."""
    top = resolve(root, ref, containers=False)
    found = {top.id}
    children: dict[str, list[str]] = {}
    for record in images:
        if record.get("parent"):
            children.setdefault(record["parent"], []).append(record["id"])
    todo = [top.id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def filter_containers(
    root: Engine, records: list[Record], filters: dict[str, list[str]]
) -> list[Record]:
    """The container records that pass every filter."""
    kept = records
    if "status" in filters:
        kept = [r for r in kept if r["status"] in filters["status"]]
    if "name" in filters:
        patterns = [re.compile(v) for v in filters["name"]]
        kept = [r for r in kept if any(p.search(r["name"]) for p in patterns)]
    if "label" in filters:
        kept = [r for r in kept if _labels_match(r.get("labels") or {}, filters["label"])]
    if "ancestor" in filters:
        images = root.image_records()
        ids: set[str] = set()
        for ref in filters["ancestor"]:
            ids |= _ancestors(root, images, ref)
        kept = [r for r in kept if r["image_id"] in ids or r["image"] in filters["ancestor"]]
    return kept


def container_columns(trunc: bool, size: bool) -> list[tables.Column]:
    """``docker ps``'s columns; CREATED as an RFC 3339 UTC time."""
    columns: list[tables.Column] = [
        ("CONTAINER ID", lambda r: short(r["id"]) if trunc else r["id"]),
        ("IMAGE", lambda r: r["image"]),
        ("COMMAND", lambda r: tables.quoted_command(r.get("command"), trunc)),
        ("CREATED", lambda r: tables.seconds(r["created"])),
        ("STATUS", tables.status_label),
        ("PORTS", lambda r: tables.ports_text(r.get("ports") or [])),
        ("NAMES", lambda r: (r["name"] or "").lstrip("/")),
    ]
    if size:
        columns.append(("SIZE", lambda r: tables.human_size(r["size_rw"])))
    return columns


@click.command()
@click.option("-a", "--all", "_all", is_flag=True, help="Accepted: every container is listed.")
@click.option("-q", "--quiet", is_flag=True, help="Only container IDs.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate IDs and commands.")
@click.option("-s", "--size", is_flag=True, help="Measure each read-write layer (size_rw).")
@click.option("--no-size", is_flag=True, hidden=True, help="Deprecated: sizes are opt-in now.")
@FILTER
@FORMAT
@click.pass_context
def containers(
    ctx: click.Context,
    _all: bool,
    quiet: bool,
    no_trunc: bool,
    size: bool,
    no_size: bool,
    filters: tuple[str, ...],
    fmt: str,
) -> None:
    """Containers, newest first, as docker ps -a lists them."""
    wanted = parse_filters(filters, ("status", "name", "ancestor", "label"))
    engines, names = state(ctx).engines(), state(ctx).engine_names
    sizes = size and not no_size
    if fmt == "json" and not wanted and not quiet and not names:
        parts = [e.container_records_json(sizes=sizes) for e in engines]
        if len(parts) == 1:  # 2.7 MB for 1,000 containers: not copied again
            echo_json(parts[0])
        else:
            echo_json("[" + ",".join(p[1:-1] for p in parts if len(p) > 2) + "]")
        emit_findings(engines)
        return
    records = gather(
        engines,
        lambda e: filter_containers(e, e.container_records(sizes=sizes), wanted),
        names,
    )
    if quiet:
        for r in records:
            click.echo(r["id"] if no_trunc else short(r["id"]))
    elif fmt == "json":
        click.echo(to_json(records))
    else:
        columns = render.scoped(records, container_columns(not no_trunc, sizes))
        tables.write_table(columns, records, _out)
    emit_findings(engines)


def _out(text: str) -> None:
    click.echo(text, nl=False)


# images -----------------------------------------------------------------------------------


def _intermediate(r: Record) -> bool:
    """Untagged with children: a build step ``docker images`` hides without ``-a``."""
    # .get: an engine without local build parents may leave these keys out
    return not (r.get("tags") or r.get("digests") or r.get("dangling", True))


def _newest_first(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (order_key(r["created"]), r["id"]), reverse=True)


def _split_tag(ref: str) -> tuple[str, str]:
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "<none>"
    return name, tag


def _reference_match(pattern: str, r: Record) -> bool:
    """``reference=``: the familiar name or name:tag matches the pattern (path.Match rules)."""
    for ref in r["tags"] + r["digests"]:
        name = ref.split("@", 1)[0]
        name = _split_tag(name)[0]
        for candidate in (ref, name):
            if _path_match(pattern, candidate):
                return True
    return False


def _path_match(pattern: str, value: str) -> bool:
    """Go's ``path.Match``: ``*`` and ``?`` do not cross ``/``."""
    parts, values = pattern.split("/"), value.split("/")
    return len(parts) == len(values) and all(
        fnmatch.fnmatchcase(v, p) for p, v in zip(parts, values, strict=True)
    )


def filter_images(
    root: Engine, records: list[Record], filters: dict[str, list[str]], *, show_all: bool
) -> list[Record]:
    """The image records ``docker images`` would list, newest first."""
    kept = _newest_first(records)
    if not show_all:
        kept = [r for r in kept if not _intermediate(r)]
    if "dangling" in filters:
        value = filters["dangling"][-1].lower()
        if value not in ("true", "false", "1", "0"):
            raise click.UsageError(f"invalid filter 'dangling={value}': expected true or false")
        dangling = value in ("true", "1")
        if dangling:  # untagged (a digest-only image included), as the daemon filters
            kept = [r for r in kept if not r["tags"]]
        else:
            kept = [r for r in kept if r["tags"] or r["digests"]]
    if "reference" in filters:
        kept = [r for r in kept if any(_reference_match(p, r) for p in filters["reference"])]
    for ref in filters.get("before", []):
        pivot = _created(root, ref)
        kept = [r for r in kept if r["created"] and r["created"] < pivot]
    for ref in filters.get("since", []):
        pivot = _created(root, ref)
        kept = [r for r in kept if r["created"] and r["created"] > pivot]
    if "label" in filters:
        by_id = {i.id: i for i in root.images}
        kept = [
            r
            for r in kept
            if _labels_match(_image_labels(root, by_id.get(r["id"])), filters["label"])
        ]
    return kept


def _created(root: Engine, ref: str) -> str:
    pivot = resolve(root, ref, containers=False)
    assert isinstance(pivot, Image)
    return pivot.created or ""


def _image_labels(root: Engine, image: Image | None) -> dict[str, str]:
    if image is None:
        return {}
    config = root.inspect_record(image).get("Config") or {}
    return config.get("Labels") or {}


def image_rows(records: list[Record], *, digests: bool) -> Iterable[Record]:
    """One row per repository and tag (and digest with ``digests``), as ``docker images``."""
    for r in records:
        tags: dict[str, list[str]] = {}
        sums: dict[str, list[str]] = {}
        for ref in r["tags"]:
            repo, tag = _split_tag(ref)
            tags.setdefault(repo, []).append(tag)
        for ref in r["digests"]:
            repo, _, digest = ref.partition("@")
            sums.setdefault(repo, []).append(digest)
        if not tags and not sums:
            yield {**r, "repository": "<none>", "tag": "<none>", "digest": "<none>"}
            continue
        for repo, names in tags.items():
            found = sums.pop(repo, []) if digests else []
            sums.pop(repo, None)
            for tag in names:
                for digest in found or ["<none>"]:
                    yield {**r, "repository": repo, "tag": tag, "digest": digest}
        for repo, found in sums.items():
            for digest in found if digests else ["<none>"]:
                yield {**r, "repository": repo, "tag": "<none>", "digest": digest}


def image_columns(trunc: bool, digests: bool) -> list[tables.Column]:
    """``docker images``'s columns; CREATED as an RFC 3339 UTC time."""
    columns: list[tables.Column] = [
        ("REPOSITORY", lambda r: r["repository"]),
        ("TAG", lambda r: r["tag"]),
    ]
    if digests:
        columns.append(("DIGEST", lambda r: r["digest"]))
    columns += [
        ("IMAGE ID", lambda r: _short(r["id"]) if trunc else r["id"]),
        ("CREATED", lambda r: tables.seconds(r["created"])),
        ("SIZE", lambda r: tables.human_size(r["size"])),
    ]
    return columns


@click.command()
@click.option("-a", "--all", "show_all", is_flag=True, help="Also intermediate build images.")
@click.option("-q", "--quiet", is_flag=True, help="Only image IDs.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate IDs.")
@click.option("--digests", is_flag=True, help="Show digests.")
@FILTER
@FORMAT
@click.pass_context
def images(
    ctx: click.Context,
    show_all: bool,
    quiet: bool,
    no_trunc: bool,
    digests: bool,
    filters: tuple[str, ...],
    fmt: str,
) -> None:
    """Images, newest first, as docker images lists them."""
    wanted = parse_filters(filters, ("dangling", "reference", "label", "before", "since"))
    engines, names = state(ctx).engines(), state(ctx).engine_names
    records = gather(
        engines,
        lambda e: filter_images(e, e.image_records(), wanted, show_all=show_all),
        names,
    )
    if quiet:
        for row in image_rows(records, digests=False):
            click.echo(row["id"] if no_trunc else _short(row["id"]))
    elif fmt == "json":
        click.echo(to_json(records))
    else:
        rows = image_rows(records, digests=digests)
        tables.write_table(render.scoped(records, image_columns(not no_trunc, digests)), rows, _out)
    emit_findings(engines)


COMMANDS = (containers, images)
