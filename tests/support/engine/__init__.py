"""Drive a private, real dockerd to make sample roots and collect the engine's own answers.

Ground truth for storagekit (design principle 6): a reader is right when its answers equal what
Docker itself says about the same root. :mod:`.daemon` starts a throw-away daemon with its own
data root, exec root and socket (it never talks to a system daemon), :mod:`.scenario` builds a
scenario of images, containers and volumes without network access, and :mod:`.truth` records the
engine's answers (``docker inspect``, ``docker diff``, ``/system/df``, ``docker export`` …) and
archives the data root.

Test support, stdlib only (it never imports storagekit)::

    from tests.support.engine import Dockerd, build_scenario, capture_expected, archive_root
"""

from tests.support.engine.daemon import DRIVER_TOOLS, Dockerd, EngineError, available
from tests.support.engine.scenario import (
    APPLETS,
    BASE_MTIME,
    BASE_TAG,
    base_rootfs_tar,
    build_scenario,
    make_base_image,
)
from tests.support.engine.truth import archive_root, capture_expected, tar_listing

__all__ = [
    "APPLETS",
    "BASE_MTIME",
    "BASE_TAG",
    "DRIVER_TOOLS",
    "Dockerd",
    "EngineError",
    "archive_root",
    "available",
    "base_rootfs_tar",
    "build_scenario",
    "capture_expected",
    "make_base_image",
    "tar_listing",
]
