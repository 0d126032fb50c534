"""libpod's decoded containers as plain data: what a forked worker sends back with ``marshal``.

A worker that decodes part of libpod's containers (:mod:`.parts`) sends them back as nested
tuples of ``str``, ``int`` and ``None`` only, which ``marshal`` writes and reads several times
faster than ``pickle`` writes and reads the objects (``marshal`` takes exact tuples, not named
tuples, hence this form). The bytes are our own worker's, made from these tuples
(never evidence bytes): ``marshal.loads`` of them builds tuples and strings, nothing else.

:func:`plain` and :func:`container` are inverse: ``container(plain(c)) == c`` field by field,
with each nested record its own named tuple again (:class:`.libpod.NamedVolume`,
:class:`.libpod.SpecMount`, :class:`.common.IDMapping`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storagekit.engines.podman.common import IDMapping
from storagekit.engines.podman.libpod import LibpodContainer, NamedVolume, SpecMount

#: One container as :func:`plain` gives it (the fields of :class:`LibpodContainer` in order).
Plain = tuple[Any, ...]


def _tuples(records: tuple[tuple[Any, ...], ...]) -> tuple[tuple[Any, ...], ...]:
    return tuple(map(tuple, records)) if records else ()


def plain(c: LibpodContainer) -> Plain:
    """``c`` as exact tuples of ``str``, ``int`` and ``None``.

    ``labels``, ``command`` and the other tuples of strings are exact tuples already.
    """
    return (
        *c[:10], _tuples(c.named_volumes), _tuples(c.mounts), *c[12:20], _tuples(c.uidmap),
        _tuples(c.gidmap), c.config_path, c.user_volumes,
    )  # fmt: skip


def _named(make: Callable[[Any], Any], records: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    return tuple(map(make, records)) if records else ()


def container(t: Plain) -> LibpodContainer:
    """The container :func:`plain` gave ``t`` for."""
    return LibpodContainer._make(
        (
            *t[:10], _named(NamedVolume._make, t[10]), _named(SpecMount._make, t[11]),
            *t[12:20], _named(IDMapping._make, t[20]), _named(IDMapping._make, t[21]), t[22],
            t[23],
        )
    )  # fmt: skip
