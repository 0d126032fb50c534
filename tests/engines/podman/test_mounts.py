"""A podman container's mounts are listed as ``podman inspect`` lists them.

libpod's ``GetInspectMounts`` (with ``sortUserVolumes``, podman 4.x): nothing when the config's
``userVolumes`` is empty; else the named volumes, then the spec's mounts, each in
``userVolumes`` order (a Go map's order when podman made the container), tmpfs left out.
Checked live on roots podman 4.3.1 made (a container with two anonymous volumes, a labelled
named volume and a read-only bind: ``/anon``, ``/anon2``, ``/lab``, ``/x``).
"""

from __future__ import annotations

from storagekit.engines.podman.inventory import mount_points
from storagekit.engines.podman.libpod import (
    LibpodContainer,
    NamedVolume,
    SpecMount,
    make_container,
)
from storagekit.model import MountPoint


def _container(user_volumes: list[str] | None) -> LibpodContainer:
    config: dict[str, object] = {
        "namedVolumes": [
            {"volumeName": "vol-b", "dest": "/b", "options": ["rw"]},
            {"volumeName": "vol-a", "dest": "/a", "options": ["ro"]},
        ],
        "spec": {
            "mounts": [
                {"destination": "/etc/hosts", "type": "bind", "source": "/run/x/hosts"},
                {"destination": "/z", "type": "bind", "source": "/host/z", "options": ["ro"]},
                {"destination": "/c", "type": "bind", "source": "/host/c"},
                {"destination": "/t", "type": "tmpfs", "source": "tmpfs"},
            ]
        },
    }
    if user_volumes is not None:
        config["userVolumes"] = user_volumes
    return make_container("c" * 64, config, {"state": 4}, None, "x")


def test_named_volumes_then_mounts_in_user_volume_order() -> None:
    lp = _container(["/z", "/a", "/t", "/b", "/c", "/gone"])
    assert lp.user_volumes == ("/z", "/a", "/t", "/b", "/c", "/gone")
    assert mount_points(lp) == (
        MountPoint("volume", "vol-a", "", "/a", True, "local"),
        MountPoint("volume", "vol-b", "", "/b", False, "local"),
        MountPoint("bind", "", "/host/z", "/z", True),
        MountPoint("bind", "", "/host/c", "/c", False),
    )


def test_no_user_volumes_no_mounts() -> None:
    assert mount_points(_container(None)) == ()
    assert mount_points(_container([])) == ()


def test_the_records_kept_for_it() -> None:
    lp = _container(["/b"])
    assert lp.named_volumes == (
        NamedVolume("vol-b", "/b", ("rw",)),
        NamedVolume("vol-a", "/a", ("ro",)),
    )
    assert lp.mounts[1] == SpecMount("/z", "bind", "/host/z", ("ro",))


def test_destinations_that_are_not_text_name_nothing() -> None:
    """A config Go could not have decoded: no traceback, those entries name no mount."""
    from storagekit.engines.podman.inspect_mounts import user_volumes

    cfg = {
        "userVolumes": [["/b"], "/b", {"x": 1}, "/z"],
        "namedVolumes": [{"volumeName": "v", "dest": ["/b"]}, {"volumeName": "w", "dest": "/b"}],
    }
    spec = {"mounts": [{"destination": {"d": 1}, "type": "bind"}, {"destination": "/z"}]}
    assert user_volumes(cfg, spec) == (
        [{"volumeName": "w", "dest": "/b"}],
        [{"destination": "/z"}],
    )
