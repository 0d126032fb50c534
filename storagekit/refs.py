"""Resolving a command-line reference to a container or an image.

A reference may be a full ID, a unique ID prefix (with or without ``sha256:``), a container name
(with or without Docker's leading ``/``), or an image reference ``repo:tag`` / ``repo@digest``
(``repo`` alone means ``repo:latest``; ``docker.io/library/`` is implied, as Docker does).
"""

from __future__ import annotations

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


def resolve(
    root: Engine, ref: str, *, containers: bool = True, images: bool = True
) -> Container | Image:
    """The one container or image ``ref`` names.

    Raises:
        UnknownReferenceError: nothing, or more than one object, matches.
    """
    if containers:
        by_name = [c for c in root.containers.values() if c.name.lstrip("/") == ref.lstrip("/")]
        if len(by_name) == 1:
            return by_name[0]
    if images and ref:
        wanted = familiar(ref)
        tagged = [i for i in root.images if wanted in i.tags or wanted in i.digests]
        if len(tagged) == 1:
            return tagged[0]
    prefix = hex_of(ref) if ref.startswith("sha256:") else ref
    if len(prefix) >= 1 and set(prefix) <= _HEX:
        matches: list[Container | Image] = []
        if containers:
            matches += [c for c in root.containers.values() if c.id.startswith(prefix)]
        if images:
            matches += [i for i in root.images if hex_of(i.id).startswith(prefix)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UnknownReferenceError(
                f"{ref}: ambiguous, matches {len(matches)} objects; give more digits"
            )
    what = " or ".join(w for w, on in (("container", containers), ("image", images)) if on)
    raise UnknownReferenceError(f"{ref}: no such {what} in this root")
