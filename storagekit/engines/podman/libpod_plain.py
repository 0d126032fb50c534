"""libpod's decoded containers as plain data: what a forked worker sends back with ``marshal``.

A worker that decodes part of libpod's containers (:mod:`.parts`) sends them back as nested
tuples of ``str``, ``int`` and ``None`` only, which ``marshal`` writes and reads several times
faster than ``pickle`` writes and reads the objects (``marshal`` takes exact tuples, not named
tuples or dataclasses, hence this form). The bytes are our own worker's, made from these tuples
(never evidence bytes): ``marshal.loads`` of them builds tuples and strings, nothing else.

:func:`plain` and :func:`container` are inverse: ``container(plain(c)) == c`` field by field,
with each nested record its own named tuple again (:class:`.libpod.NamedVolume`,
:class:`.libpod.SpecMount`, :class:`.common.IDMapping`).
"""

from __future__ import annotations

from typing import Any

from storagekit.engines.podman.common import IDMapping
from storagekit.engines.podman.libpod import LibpodContainer, NamedVolume, SpecMount

#: One container as :func:`plain` gives it (the fields of :class:`LibpodContainer` in order).
Plain = tuple[Any, ...]


def _tuples(records: tuple[tuple[Any, ...], ...]) -> tuple[tuple[Any, ...], ...]:
    return tuple(map(tuple, records))


def plain(c: LibpodContainer) -> Plain:
    """``c`` as exact tuples of ``str``, ``int`` and ``None``.

    ``labels``, ``command`` and the other tuples of strings are exact tuples already.
    """
    return (
        c.id, c.name, c.pod, c.image_id, c.image_name, c.raw_image_name, c.command,
        c.create_command, c.created, c.labels, _tuples(c.named_volumes), _tuples(c.mounts),
        c.state, c.status, c.exit_code, c.recorded_exit_code, c.recorded_exit_time, c.started,
        c.finished, c.log_path, _tuples(c.uidmap), _tuples(c.gidmap), c.config_path,
    )  # fmt: skip


def container(t: Plain) -> LibpodContainer:
    """The container :func:`plain` gave ``t`` for."""
    return LibpodContainer(
        t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9],
        tuple(NamedVolume._make(v) for v in t[10]),
        tuple(SpecMount._make(m) for m in t[11]),
        t[12], t[13], t[14], t[15], t[16], t[17], t[18], t[19],
        tuple(IDMapping._make(m) for m in t[20]),
        tuple(IDMapping._make(m) for m in t[21]),
        t[22],
    )  # fmt: skip
