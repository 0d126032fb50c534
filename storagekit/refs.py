"""Resolving a command-line reference to a container or an image.

A reference may be a full ID, a unique ID prefix (with or without ``sha256:``), a container name
(with or without Docker's leading ``/``), or an image reference ``repo:tag`` / ``repo@digest``
(``repo`` alone means ``repo:latest``; ``docker.io/library/`` is implied, as Docker does).
"""

from __future__ import annotations

from collections.abc import Sequence

from storagekit.engine import Engine
from storagekit.errors import UnknownReferenceError
from storagekit.ids import hex_of
from storagekit.model import Container, Image

_HEX = set("0123456789abcdef")


def familiar(ref: str) -> str:
    """Docker's familiar form of an image reference, with ``:latest`` when no tag or digest."""
    for prefix in (
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
            break
    name = ref.split("@", 1)[0]
    if "@" not in ref and ":" not in name.rsplit("/", 1)[-1]:
        ref += ":latest"
    return ref


Obj = Container | Image


def _tiers(root: Engine, ref: str, containers: bool, images: bool) -> list[list[Obj]]:
    """The matches of ``ref`` in one engine: by name, by image reference, by ID prefix."""
    by_name: list[Obj] = []
    tagged: list[Obj] = []
    by_id: list[Obj] = []
    if containers:
        by_name = [c for c in root.containers.values() if c.name.lstrip("/") == ref.lstrip("/")]
    if images and ref:
        wanted = familiar(ref)
        tagged = [i for i in root.images if wanted in i.tags or wanted in i.digests]
    prefix = hex_of(ref) if ref.startswith("sha256:") else ref
    if len(prefix) >= 1 and set(prefix) <= _HEX:
        if containers:
            by_id += [c for c in root.containers.values() if c.id.startswith(prefix)]
        if images:
            by_id += [i for i in root.images if hex_of(i.id).startswith(prefix)]
    return [by_name, tagged, by_id]


def _named(engine: Engine, obj: Obj, how: str) -> str:
    """``engine.describe(obj)`` or ``identity``; a bare reader without them names the ID."""
    method = getattr(engine, how, None)
    if method is None:
        return f"{'container' if isinstance(obj, Container) else 'image'} {obj.id}"
    return str(method(obj))


def _narrowing(engines: Sequence[Engine], hits: Sequence[int]) -> str:
    """How to narrow an ambiguous name (``hits``: the engines of the matches, by index).

    ``--engine`` or ``--namespace``, unless two matches are in two roots of one engine (a host's
    graph roots): only their IDs tell those apart.
    """
    kinds = [engines[n].name for n in sorted(set(hits))]
    if len(kinds) != len(set(kinds)):
        return "give the ID (--engine and --namespace cannot tell two roots of one engine apart)"
    return "narrow with --engine or --namespace"


def resolve_in(
    engines: Sequence[Engine], ref: str, *, containers: bool = True, images: bool = True
) -> tuple[Engine, Obj]:
    """The one container or image ``ref`` names in any of ``engines``, with its engine.

    Matches by name, then by image reference, then by ID prefix: the first kind of match that
    finds anything decides. Matches that are the same object (one image under two names in one
    namespace) count once; several objects are ambiguous, and the error lists them.

    Raises:
        UnknownReferenceError: nothing, or more than one object, matches.
    """
    per_engine = [(e, _tiers(e, ref, containers, images)) for e in engines]
    for tier in range(3):
        found: dict[tuple[int, str], tuple[Engine, Obj]] = {}
        for n, (engine, tiers) in enumerate(per_engine):
            for obj in tiers[tier]:
                found.setdefault((n, _named(engine, obj, "identity")), (engine, obj))
        if len(found) == 1:
            return next(iter(found.values()))
        if len(found) > 1:
            names = "; ".join(sorted(_named(e, o, "describe") for e, o in found.values()))
            hint = "give more digits" if tier == 2 else _narrowing(engines, [n for n, _ in found])
            raise UnknownReferenceError(
                f"{ref}: ambiguous, matches {len(found)} objects; {hint}: {names}"
            )
    what = " or ".join(w for w, on in (("container", containers), ("image", images)) if on)
    raise UnknownReferenceError(f"{ref}: no such {what} in this root")


def resolve(
    root: Engine, ref: str, *, containers: bool = True, images: bool = True
) -> Container | Image:
    """The one container or image ``ref`` names in one engine (see :func:`resolve_in`).

    Raises:
        UnknownReferenceError: nothing, or more than one object, matches.
    """
    return resolve_in([root], ref, containers=containers, images=images)[1]
