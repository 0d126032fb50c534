"""What a progress step counts: bytes and items, here and in forked workers.

A :class:`Bar` is one step of a command's progress (:mod:`storagekit.progress` draws it).
Forked workers cannot add to their parent's integers, so each gets a slot of 16 bytes (bytes and
items counted since the fork) in an anonymous ``MAP_SHARED`` mapping made before the fork
(:class:`Team`); the parent adds the slots to its own counts when it draws, and keeps their sum
once the workers are reaped. Each worker writes only its own slot, so no lock is needed.
"""

from __future__ import annotations

import mmap
import struct
import time
from collections.abc import Callable
from typing import Protocol

#: A worker's slot: bytes and items counted since the fork.
_SLOT = struct.Struct("<qq")


class Owner(Protocol):
    """What a bar tells when its step ends (the reporter)."""

    def end(self, bar: Bar) -> None:
        """The step ``bar`` is over."""


class Bar:
    """One step: its label, bytes done of ``total``, and items (``noun``) of ``items_total``.

    Attributes:
        done: bytes counted so far in this process.
        items: items counted so far in this process.
        team: the workers counting into this step, while they run.
    """

    __slots__ = (
        "label",
        "total",
        "noun",
        "items_total",
        "done",
        "items",
        "started",
        "team",
        "_owner",
    )

    def __init__(
        self,
        owner: Owner | None,
        label: str,
        total: int | None,
        noun: str,
        items_total: int | None,
    ) -> None:
        self.label = label
        self.total = total
        self.noun = noun
        self.items_total = items_total
        self.done = 0
        self.items = 0
        self.started = time.monotonic()
        self.team: Team | None = None
        self._owner = owner

    def advance(self, n: int) -> None:
        """Count ``n`` more bytes done."""
        self.done += n

    def item(self, n: int = 1) -> None:
        """Count ``n`` more items done."""
        self.items += n

    def count(self, noun: str, n: int) -> None:
        """Count ``n`` more items done if this step counts ``noun``."""
        if noun == self.noun:
            self.items += n

    def counts(self) -> tuple[int, int]:
        """(done, items) of this process and of the workers counting into this step."""
        if self.team is None:
            return self.done, self.items
        done, items = self.team.counts()
        return self.done + done, self.items + items

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owner is not None:
            self._owner.end(self)


class _NoBar(Bar):
    """The bar of a command without a terminal: counts nothing."""

    __slots__ = ()

    def advance(self, n: int) -> None:  # noqa: D102 - nothing to count
        pass

    def item(self, n: int = 1) -> None:  # noqa: D102 - nothing to count
        pass

    def count(self, noun: str, n: int) -> None:  # noqa: D102 - nothing to count
        pass


NO_BAR = _NoBar(None, "", None, "", None)


class Team:
    """Forked workers counting into one step: a slot each in memory shared with them."""

    def __init__(self, bar: Bar, n: int, as_worker: Callable[[Team], None]) -> None:
        self._as_worker = as_worker
        self.bar = bar
        self.n = n
        self._mem = mmap.mmap(-1, _SLOT.size * n)
        self._slot: int | None = None
        self._base = (0, 0)

    def enter(self, k: int) -> None:
        """In worker ``k`` (0 ≤ k < n), right after the fork: count into slot ``k``."""
        self._slot = k
        self._base = (self.bar.done, self.bar.items)
        self._as_worker(self)

    def publish(self) -> None:
        """In a worker: write what it counted since the fork into its slot."""
        if self._slot is not None:
            done, items = self._base
            _SLOT.pack_into(
                self._mem, _SLOT.size * self._slot, self.bar.done - done, self.bar.items - items
            )

    def counts(self) -> tuple[int, int]:
        """(done, items) the workers have published."""
        done = items = 0
        for d, i in _SLOT.iter_unpack(self._mem):
            done += d
            items += i
        return done, items

    def close(self) -> None:
        """In the parent, the workers reaped: their counts become the step's own."""
        if self._slot is not None:
            return
        done, items = self.counts()
        self.bar.team = None
        self.bar.done += done
        self.bar.items += items
        self._mem.close()

    def __enter__(self) -> Team:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NoTeam(Team):
    """Workers of a command without a terminal: nothing shared, nothing counted."""

    def __init__(self) -> None:  # no mapping
        self._slot = None

    def enter(self, k: int) -> None:  # noqa: D102 - nothing to count
        pass

    def publish(self) -> None:  # noqa: D102 - nothing to count
        pass

    def close(self) -> None:  # noqa: D102 - nothing to release
        pass


NO_TEAM = _NoTeam()
