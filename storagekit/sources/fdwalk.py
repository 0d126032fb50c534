"""The ``du`` walk of a directory tree below an open descriptor: sizes only, no entries.

What :meth:`DirSource.file_sizes <storagekit.sources.dirsource.DirSource.file_sizes>` does,
apart from finding the top directory: one ``listdir`` and one ``fstatat`` (not following links)
per entry — what ``du`` costs too — and no Entry objects. Each entry gives ``(identity, st_size,
st_blocks * 512)``, the identity ``(st_dev, st_ino)`` for files with several names so a caller
can count them once. Depth first; a directory's descriptor stays open only while children of it
are still to be visited, so at most one descriptor per level of the tree is open, however deep.
Unreadable directories and entries that vanish are skipped.
"""

from __future__ import annotations

import os
import stat as st
from collections.abc import Iterator

from storagekit.sources.fdread import DIR_FLAGS, open_noatime


def walk_sizes(
    top: int, *, dirs: bool = False, linked_only: bool = False
) -> Iterator[tuple[object, int, int | None]]:
    """Sizes below the directory open as ``top`` (this descriptor is closed at the end).

    ``dirs``: directories are counted too (their own blocks, identity ``None``), the top one
    included. ``linked_only``: entries with one name come summed, one tuple per directory with
    identity ``None``; only files with several names come one by one.
    """
    stat, isdir = os.stat, st.S_ISDIR
    # (parent, name): parent is a [fd, pending children] holder; None for the top.
    stack: list[tuple[list[int] | None, str]] = [(None, "")]
    opened = {top}
    try:
        if dirs:
            yield None, 0, os.fstat(top).st_blocks * 512
        while stack:
            parent, name = stack.pop()
            try:
                if parent is None:
                    fd = top
                else:
                    fd = open_noatime(name, DIR_FLAGS, dir_fd=parent[0])
                    opened.add(fd)
            except OSError:
                fd = -1
            finally:
                if parent is not None:
                    parent[1] -= 1
                    if parent[1] == 0:
                        opened.discard(parent[0])
                        os.close(parent[0])
            if fd < 0:
                continue
            holder = [fd, 0]
            try:
                names = os.listdir(fd)
            except OSError:
                names = []
            size_sum = blocks_sum = 0  # entries without identity, when linked_only
            for child in names:
                try:
                    s = stat(child, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    continue  # vanished or unreadable
                if isdir(s.st_mode):
                    stack.append((holder, child))
                    holder[1] += 1
                    if not dirs:
                        continue
                    if linked_only:
                        blocks_sum += s.st_blocks
                    else:
                        yield None, 0, s.st_blocks * 512
                elif s.st_nlink > 1 or not linked_only:
                    yield (s.st_dev, s.st_ino), s.st_size, s.st_blocks * 512
                else:
                    size_sum += s.st_size
                    blocks_sum += s.st_blocks
            if size_sum or blocks_sum:
                yield None, size_sum, blocks_sum * 512
            if holder[1] == 0:
                opened.discard(fd)
                os.close(fd)
    finally:
        for fd in opened:
            os.close(fd)
