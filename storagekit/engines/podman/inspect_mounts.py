"""The user's mounts of a podman container as ``podman container inspect`` lists them.

libpod keeps the destinations the user asked for in order (``ContainerConfig.userVolumes``);
each is a named volume's (``namedVolumes``: ``volumeName``, ``dest``, ``options``) or a mount of
the container's spec (by destination: the last of several, as a Go map keeps it), which is the
spec the runtime got once the container was initialised (``sortUserVolumes``). ``Mounts`` lists
the named volumes (with their driver and mount point), the image volumes, then the spec mounts
that are not tmpfs (``GetInspectMounts``); ``HostConfig.Binds`` and ``Tmpfs`` list the same
volumes and mounts as ``podman create`` options would name them.
"""

from __future__ import annotations

from typing import Any

from storagekit.engines.podman.common import as_dict, as_list, opt_str, sort_user_volumes

PROPAGATIONS = frozenset(
    "shared slave private rshared rslave rprivate unbindable runbindable".split()
)


def user_volumes(
    cfg: dict[str, Any], spec: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``sortUserVolumes``: the named volumes and spec mounts the user asked for, in order."""
    return sort_user_volumes(
        as_list(cfg.get("userVolumes")),
        map(as_dict, as_list(cfg.get("namedVolumes"))),
        _dest,
        map(as_dict, as_list(spec.get("mounts"))),
        _destination,
    )


def _dest(volume: dict[str, Any]) -> object:
    return volume.get("dest")


def _destination(mount: dict[str, Any]) -> object:
    return mount.get("destination")


def _options(options: list[str]) -> dict[str, Any]:
    """``parseMountOptionsForInspect``."""
    rw, propagation, mode, other = True, "", "", []
    for opt in options:
        if opt == "ro":
            rw = False
        elif opt == "rw":
            continue
        elif opt in PROPAGATIONS:
            propagation = opt
        elif opt in ("z", "Z"):
            mode = opt
        else:
            other.append(opt)
    return {"Mode": mode, "Options": other, "RW": rw, "Propagation": propagation}


def inspect_mounts(
    cfg: dict[str, Any], spec: dict[str, Any], volumes: dict[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """``GetInspectMounts``: named volumes, image volumes, then the user's non-tmpfs mounts.

    ``volumes``: each named volume's driver and mount point.
    """
    if not as_list(cfg.get("userVolumes")):
        return []
    vols, mounts = user_volumes(cfg, spec)
    out: list[dict[str, Any]] = []
    for v in vols:
        name = opt_str(v.get("volumeName")) or ""
        driver, source = volumes.get(name, ("", ""))
        out.append(
            {
                "Type": "volume",
                "Name": name,
                "Source": source,
                "Destination": v.get("dest"),
                "Driver": driver,
                **_options(as_list(v.get("options"))),
            }
        )
    for iv in as_list(cfg.get("imageVolumes")):
        item = as_dict(iv)
        out.append(
            {
                "Type": "image",
                "Source": item.get("source"),
                "Destination": item.get("dest"),
                "Driver": "",
                "Mode": "",
                "Options": None,
                "RW": item.get("rw") is True,
                "Propagation": "",
            }
        )
    for m in mounts:
        if m.get("type") == "tmpfs":
            continue
        out.append(
            {
                "Type": "bind",
                "Source": m.get("source"),
                "Destination": m.get("destination"),
                "Driver": "",
                **_options(as_list(m.get("options"))),
            }
        )
    return out


def binds_and_tmpfs(cfg: dict[str, Any], spec: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """``Binds`` (``name:dest[:options]``, ``src:dest[:options]``) and ``Tmpfs`` (dest: options)."""
    vols, mounts = user_volumes(cfg, spec)
    binds: list[str] = []
    tmpfs: dict[str, str] = {}
    for v in vols:
        opts = ",".join(as_list(v.get("options")))
        binds.append(":".join(x for x in (v.get("volumeName"), v.get("dest"), opts) if x))
    for m in mounts:
        opts = ",".join(as_list(m.get("options")))
        if m.get("type") == "tmpfs":
            tmpfs[str(m.get("destination"))] = opts
        else:
            binds.append(":".join(x for x in (m.get("source"), m.get("destination"), opts) if x))
    return binds, tmpfs
