"""Waiting on pseudo-terminals and pipes in tests, whatever the descriptors' numbers.

``select.select`` refuses descriptors past 1023, which a long test session can reach; ``poll``
has no such limit.
"""

from __future__ import annotations

import select
from collections.abc import Iterable


def readable(fds: Iterable[int], timeout: float | None = None) -> list[int]:
    """The descriptors of ``fds`` with data (or an end) to read, waiting up to ``timeout`` s."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return [fd for fd, _ in poller.poll(None if timeout is None else timeout * 1000)]
