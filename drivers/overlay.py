"""Legacy overlay (``overlay``; Docker 1.12-23.0, deprecated 18.09): full image trees, one lower.

On disk::

    overlay/<id>/root/       image layers: the COMPLETE filesystem of the stack up to this layer
    overlay/<id>/upper/      init and container layers: the overlay upperdir
    overlay/<id>/lower-id    init and container layers: the ID of the image layer whose root/
                             is the single lowerdir (no newline)
    overlay/<id>/work/       overlay workdir (init and container layers)
    overlay/<id>/merged/     mount point; holds the union only while mounted

``<id>`` is a cache ID, a mount ID or ``<mount-id>-init``. An image layer's ``root/`` is its
parent's ``root/`` copied with every file hard-linked (``copy.DirCopy(..., Hardlink)``) and the
layer tar applied naively (``UnpackLayer``): deletions are real deletions, no whiteout exists
there, and ``st_nlink`` > 1 is normal. A layer created on an image layer (the init layer) gets
``upper/``, ``work/`` and ``lower-id`` = that layer; a layer created on an init layer (the
container) copies the init layer's ``lower-id`` and starts with a full copy of its ``upper/``.
So the kernel only ever mounts ``lowerdir=<lower-id>/root,upperdir=<id>/upper``: a container's
filesystem is its own ``upper/`` over its image's top ``root/`` — the init layer's files are
already in that ``upper/`` — and an image's filesystem is its top layer's ``root/`` alone
(:meth:`OverlayDriver.union_branches`). Whiteouts in ``upper/`` are the kernel overlay's (0/0
character devices, ``trusted.overlay.opaque=y``).

Parentage of image layers is kept only in the layer store (``image/overlay/layerdb``), as for
vfs; ``lower-id`` comes from the evidence and is validated before it names a directory: an
unusable value, a layer that does not exist or one without ``root/`` is a finding.

Docker wraps the driver in ``NaiveDiffDriver``: ``docker diff`` and ``SizeRw`` compare the
container's mounted view with its init layer's.

References: moby ``v23.0.0:daemon/graphdriver/overlay/overlay.go`` (``Create``, ``ApplyDiff``,
``Get``), ``daemon/graphdriver/fsdiff.go``, ``daemon/graphdriver/copy/copy.go``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, TypeVar

from storagekit.driver import ParentRecord
from storagekit.errors import SourceError
from storagekit.ids import is_safe_component
from storagekit.model import Findings
from storagekit.source import Source

from .layouts import DirectoryPerLayer, KernelOverlayDriver

ROOT = "overlay"
MAX_LOWER_ID = 1 << 12
T = TypeVar("T")


class OverlayDriver(KernelOverlayDriver, DirectoryPerLayer):
    """Reader for ``overlay/<id>/{root,upper,lower-id}``."""

    name: ClassVar[str] = "overlay"
    layers_dir: ClassVar[str] = ROOT
    naive_diff: ClassVar[bool] = True

    def __init__(self, source: Source, findings: Findings) -> None:
        super().__init__(source, findings)
        self._image_layer: dict[str, bool] = {}

    def _is_image_layer(self, layer_id: str) -> bool:
        """True unless the layer is a container or init layer (``upper/`` or ``lower-id``).

        A directory holding neither kind (damaged) counts as an image layer whose ``root/`` is
        missing. ``layer_id`` must already be validated.
        """
        known = self._image_layer.get(layer_id)
        if known is None:
            base = f"{ROOT}/{layer_id}"
            known = self.source.is_dir(f"{base}/root") or not (
                self.source.is_dir(f"{base}/upper") or self.source.exists(f"{base}/lower-id")
            )
            self._image_layer[layer_id] = known
        return known

    def _layer_path(self, layer_id: str) -> str:
        sub = "root" if self._is_image_layer(layer_id) else "upper"
        return f"{ROOT}/{layer_id}/{sub}"

    def layer_parts(self, layer_id: str) -> list[str]:
        """The whole ``<id>/`` directory (``root/`` or ``upper/``, ``work/``, ``lower-id``)."""
        self.layer_path(layer_id)  # validates the ID
        return [f"{ROOT}/{layer_id}"]

    def _read_parents(self, layer_id: str) -> ParentRecord | None:
        """``lower-id`` of a container or init layer; image layers keep no parent record."""
        if self._is_image_layer(layer_id):
            return None
        path = f"{ROOT}/{layer_id}/lower-id"
        try:
            text = self.source.read_bytes(path, MAX_LOWER_ID).decode("utf-8").strip()
        except SourceError:
            self.findings.warning(
                "missing-driver-parents", path, "overlay lower-id is missing or unreadable"
            )
            return ParentRecord((), complete=False, whole_chain=False)
        except UnicodeDecodeError:
            self.findings.error("bad-driver-parents", path, "overlay lower-id is not UTF-8 text")
            return ParentRecord((), complete=False, whole_chain=False)
        problem = self._lower_problem(text)
        if problem is not None:
            code, message = problem
            self.findings.error(code, path, message)
            return ParentRecord((), complete=False, whole_chain=False)
        return ParentRecord((text,), whole_chain=False)

    def _lower_problem(self, lower: str) -> tuple[str, str] | None:
        """(code, message) when ``lower-id`` cannot name the layer whose ``root/`` is mounted."""
        if not is_safe_component(lower):
            return "unsafe-id", f"overlay lower-id names an unusable layer ID: {lower!r}"
        if not self.source.is_dir(f"{ROOT}/{lower}"):
            return "broken-lower", f"overlay lower-id names no layer directory: {lower}"
        if not self.source.is_dir(f"{ROOT}/{lower}/root"):
            return (
                "broken-lower",
                f"overlay lower-id names layer {lower}, which has no root/ (not an image layer)",
            )
        return None

    def union_branches(self, levels: Sequence[T], writable: int) -> list[T]:
        """The top level over the image's top layer: one upper, one lower, never more.

        Lower image layers are complete trees already merged into the top one's ``root/``
        (layering them would resurrect files later layers deleted), and a container's
        ``upper/`` began as a copy of its init layer's (layering that would resurrect files
        the container deleted).
        """
        return [*levels[:1], *levels[writable : writable + 1]] if writable else [*levels[:1]]
