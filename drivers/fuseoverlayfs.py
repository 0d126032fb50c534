"""fuse-overlayfs: overlay2's layout, merged in userspace, layers in the aufs whiteout format.

On disk (the same tree as overlay2, :mod:`storagekit.drivers.overlay2`)::

    fuse-overlayfs/l/<LINKID> -> ../<id>/diff     short symlinks
    fuse-overlayfs/<id>/diff/                      the layer's own files (upperdir when writable)
    fuse-overlayfs/<id>/{link,lower,work,merged,committed}

What differs is how whiteouts look:

* image layers are untarred with ``WhiteoutFormat: AUFSWhiteoutFormat`` (``ApplyDiff``), so
  their ``diff/`` holds the tar's literal ``.wh.<name>`` files and ``.wh..wh..opq`` markers;
* the userspace filesystem itself writes container and init layers: a deleted name becomes a
  0/0 character device (or a ``.wh.<name>`` file when it may not ``mknod``); a directory made
  opaque gets ``trusted.overlay.opaque`` (``user.overlay.opaque`` or
  ``user.fuseoverlayfs.opaque`` when unprivileged) = ``y`` *and* an empty ``.wh..wh..opq`` file,
  next to a 0/0 device named ``.wh..opq`` [observed: Docker 20.10.24, fuse-overlayfs 1.10,
  ``/dev/shm`` and ``/dev/pts`` of every init layer, a volume mount point of a container].

:class:`~storagekit.driver.KernelOverlayDriver`'s rules accept every one of them.

Docker wraps the driver in ``NaiveDiffDriver`` for ``Diff``, ``Changes`` and ``DiffSize``:
``docker diff`` and ``SizeRw`` compare the container's mounted view with its init layer's
(``docker-root-format.md`` §6.2, §10.1, §10.3), never the size of its ``diff/``.

References: moby ``v20.10.24:daemon/graphdriver/fuse-overlayfs/fuseoverlayfs.go`` (``Init``,
``ApplyDiff``, ``DiffSize``, ``Changes``), ``daemon/graphdriver/fsdiff.go``,
``pkg/archive/archive.go`` (``AUFSWhiteoutFormat``); containers/fuse-overlayfs ``main.c``
(``create_whiteout``, ``set_fd_opaque``).
"""

from __future__ import annotations

from typing import ClassVar

# relative: this package is storagekit.drivers when installed, drivers to mypy
from .overlay2 import Overlay2Driver


class FuseOverlayfsDriver(Overlay2Driver):
    """Reader for ``fuse-overlayfs/<id>/{diff,link,lower}`` and ``fuse-overlayfs/l``."""

    name: ClassVar[str] = "fuse-overlayfs"
    root: ClassVar[str] = "fuse-overlayfs"
    naive_diff: ClassVar[bool] = True
