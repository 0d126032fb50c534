"""``inspect``: a container's or an image's record in ``docker inspect``'s shape, from disk alone.

A container's answer is built as moby's ``daemon/inspect.go`` (``getInspectData``) builds it,
from ``containers/<id>/config.v2.json`` (the ``container.Container`` struct: ``State``,
``Config``, ``NetworkSettings``, ``MountPoints``, paths and security options) and
``hostconfig.json`` (``HostConfig`` as written); ``GraphDriver.Data`` is what the driver's
``Metadata`` would answer, from the layer directories and the root's recorded host path.
An image's answer is ``LookupImage``'s (*daemon/images/image_inspect.go*): the image config
from ``imagedb/content``, its references, the layer store's sizes and ``lastUpdated``.

What only a live daemon knows is ``null``: ``ExecIDs`` (exec sessions live in memory);
``SizeRw`` / ``SizeRootFs`` are measured with ``--size`` only and otherwise left out, as
Docker leaves them out. What the evidence records is given as
recorded, ``State.Pid`` and the network endpoint of a container that was running included
(the state at the daemon's last checkpoint, as ``docker inspect`` would have printed it).
Timestamps are Docker's own strings, Go's zero time included, so the answer compares equal
with ``docker inspect``'s on every field.

References: moby v20.10 ``daemon/inspect.go``, ``daemon/images/image_inspect.go``,
``api/types/types.go`` (``ContainerJSON``, ``ImageInspect``), ``api/types/container/config.go``,
``daemon/graphdriver/overlay2/overlay.go`` / ``overlay/overlay.go`` ``GetMetadata``.
"""

from __future__ import annotations

from typing import Any

from storagekit.engines.docker.artefacts import as_dict, as_str, read_json
from storagekit.engines.docker.chains import container_layer_dirs, image_stack
from storagekit.engines.docker.containers import derive_status
from storagekit.engines.docker.imagedb import CONFIG_LIMIT
from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import SourceError
from storagekit.ids import chain_ids
from storagekit.jsontext import Record
from storagekit.model import Container, Image

ZERO_TIME = "0001-01-01T00:00:00Z"

#: ``container.Config`` fields in struct order with their zero values; ``None`` marks the
#: ``omitempty`` ones, left out when empty (as Go's encoder does).
CONFIG_FIELDS: list[tuple[str, Any]] = [
    ("Hostname", ""),
    ("Domainname", ""),
    ("User", ""),
    ("AttachStdin", False),
    ("AttachStdout", False),
    ("AttachStderr", False),
    ("ExposedPorts", None),
    ("Tty", False),
    ("OpenStdin", False),
    ("StdinOnce", False),
    ("Env", []),
    ("Cmd", []),
    ("Healthcheck", None),
    ("ArgsEscaped", None),
    ("Image", ""),
    ("Volumes", []),
    ("WorkingDir", ""),
    ("Entrypoint", []),
    ("NetworkDisabled", None),
    ("MacAddress", None),
    ("OnBuild", []),
    ("Labels", []),
    ("StopSignal", None),
    ("StopTimeout", None),
    ("Shell", None),
]


def go_config(raw: Any) -> dict[str, Any]:
    """A ``container.Config`` as Go re-encodes it: every field, ``null`` for empty slices/maps.

    An image config written by another tool may leave fields out; Docker decodes it into the
    struct and prints the struct. Unknown keys are dropped, as Go's decoder drops them.
    """
    given = as_dict(raw)
    out: dict[str, Any] = {}
    for key, zero in CONFIG_FIELDS:
        value = given.get(key)
        if zero is None:  # omitempty
            if value not in (None, "", False, 0, [], {}):
                out[key] = value
            continue
        if value is None:
            value = None if isinstance(zero, list) else zero
        if key in ("Cmd", "Entrypoint", "Shell") and isinstance(value, str):
            value = [value]  # strslice.StrSlice accepts one string
        out[key] = value
    return out


def _root_path(root: DockerRoot, container: Container | None = None) -> str:
    base = (container.data_root if container else "") or root.original_path
    return base.rstrip("/") or ""


def _overlay_data(
    root: DockerRoot, driver: str, base: str, top: str, lowers: list[str]
) -> dict[str, str] | None:
    """``GetMetadata`` of overlay2 / fuse-overlayfs (``lowers``: driver IDs below ``top``)."""
    data: dict[str, str] = {}
    if lowers:
        data["LowerDir"] = ":".join(f"{base}/{driver}/{i}/diff" for i in lowers)
    data["MergedDir"] = f"{base}/{driver}/{top}/merged"
    data["UpperDir"] = f"{base}/{driver}/{top}/diff"
    data["WorkDir"] = f"{base}/{driver}/{top}/work"
    return data


def _legacy_overlay_data(root: DockerRoot, base: str, top: str) -> dict[str, str] | None:
    """Legacy ``overlay``: an image layer has ``root``; an upper layer names its ``lower-id``."""
    where = f"overlay/{top}"
    if root.source.is_dir(f"{where}/root"):
        return {"RootDir": f"{base}/{where}/root"}
    try:
        lower = root.source.read_text(f"{where}/lower-id", 4096).strip()
    except SourceError:
        return None
    return {
        "LowerDir": f"{base}/overlay/{lower}/root",
        "MergedDir": f"{base}/{where}/merged",
        "UpperDir": f"{base}/{where}/upper",
        "WorkDir": f"{base}/{where}/work",
    }


def graph_driver_data(
    root: DockerRoot, driver: str, dirs: list[str | None], base: str
) -> dict[str, str] | None:
    """``GraphDriver.Data`` for a stack of driver IDs, top first (``None`` where Docker's is)."""
    if not dirs or dirs[0] is None or any(d is None for d in dirs):
        return None
    ids = [d for d in dirs if d is not None]
    if driver in ("overlay2", "fuse-overlayfs"):
        return _overlay_data(root, driver, base, ids[0], ids[1:])
    if driver == "overlay":
        return _legacy_overlay_data(root, base, ids[0])
    return None  # vfs, aufs, btrfs, zfs, devicemapper: Docker reports no data either


def _raw_container(root: DockerRoot, container: Container) -> tuple[dict[str, Any], dict[str, Any]]:
    config = as_dict(
        read_json(root.source, container.config_path, root.findings, what="container config")
    )
    host_path = f"containers/{container.id}/hostconfig.json"
    host = read_json(root.source, host_path, root.findings, what="host config", required=False)
    return config, as_dict(host)


def _state(raw: dict[str, Any]) -> dict[str, Any]:
    state = as_dict(raw.get("State"))
    out = {
        "Status": derive_status(state),
        "Running": bool(state.get("Running")),
        "Paused": bool(state.get("Paused")),
        "Restarting": bool(state.get("Restarting")),
        "OOMKilled": bool(state.get("OOMKilled")),
        "Dead": bool(state.get("Dead")),
        "Pid": state.get("Pid", 0),
        "ExitCode": state.get("ExitCode", 0),
        "Error": as_str(state.get("Error")),
        "StartedAt": as_str(state.get("StartedAt"), ZERO_TIME),
        "FinishedAt": as_str(state.get("FinishedAt"), ZERO_TIME),
    }
    health = state.get("Health")
    if isinstance(health, dict):
        out["Health"] = {
            "Status": health.get("Status", ""),
            "FailingStreak": health.get("FailingStreak", 0),
            "Log": health.get("Log"),
        }
    return out


def _mount_points(root: DockerRoot, container: Container, raw: dict[str, Any]) -> list[Record]:
    """``Mounts`` as ``GetMountPoints``; a local volume's source is its mount point."""
    base = _root_path(root, container)
    mounts = []
    for dest, value in sorted(as_dict(raw.get("MountPoints")).items()):
        m = as_dict(value)
        kind = as_str(m.get("Type")) or ("volume" if m.get("Name") else "bind")
        source = as_str(m.get("Source"))
        if kind == "volume" and not source and as_str(m.get("Driver")) in ("local", ""):
            source = f"{base}/volumes/{m.get('Name')}/_data"
        mount: Record = {"Type": kind}
        if m.get("Name"):
            mount["Name"] = m["Name"]
        mount["Source"] = source
        mount["Destination"] = as_str(m.get("Destination"), dest)
        if m.get("Driver"):
            mount["Driver"] = m["Driver"]
        mount["Mode"] = as_str(m.get("Relabel")) or as_str(m.get("Mode"))
        mount["RW"] = bool(m.get("RW"))
        mount["Propagation"] = as_str(m.get("Propagation"))
        mounts.append(mount)
    return mounts


_ENDPOINT_DEFAULTS = (
    ("EndpointID", ""),
    ("Gateway", ""),
    ("GlobalIPv6Address", ""),
    ("GlobalIPv6PrefixLen", 0),
    ("IPAddress", ""),
    ("IPPrefixLen", 0),
    ("IPv6Gateway", ""),
    ("MacAddress", ""),
)


def _network_settings(raw: dict[str, Any]) -> dict[str, Any]:
    settings = as_dict(raw.get("NetworkSettings"))
    networks = {
        name: {k: v for k, v in as_dict(ep).items() if k != "IPAMOperational"}
        for name, ep in as_dict(settings.get("Networks")).items()
    }
    bridge = networks.get("bridge", {})
    out: dict[str, Any] = {
        "Bridge": as_str(settings.get("Bridge")),
        "SandboxID": as_str(settings.get("SandboxID")),
        "HairpinMode": bool(settings.get("HairpinMode")),
        "LinkLocalIPv6Address": as_str(settings.get("LinkLocalIPv6Address")),
        "LinkLocalIPv6PrefixLen": settings.get("LinkLocalIPv6PrefixLen", 0),
        "Ports": settings.get("Ports") if settings.get("Ports") is not None else {},
        "SandboxKey": as_str(settings.get("SandboxKey")),
        "SecondaryIPAddresses": settings.get("SecondaryIPAddresses"),
        "SecondaryIPv6Addresses": settings.get("SecondaryIPv6Addresses"),
    }
    for key, zero in _ENDPOINT_DEFAULTS:
        out[key] = bridge.get(key, zero)
    out["Networks"] = networks
    return out


def container_inspect(root: DockerRoot, container: Container, *, size: bool = False) -> Record:
    """``docker inspect CONTAINER`` (``size``: ``--size``, measuring the writable layer)."""
    raw, host = _raw_container(root, container)
    dirs = container_layer_dirs(root, container)
    driver = as_str(raw.get("Driver"), container.driver)
    record: Record = {
        "Id": container.id,
        "Created": as_str(raw.get("Created"), ZERO_TIME),
        "Path": as_str(raw.get("Path")),
        "Args": raw.get("Args") if isinstance(raw.get("Args"), list) else [],
        "State": _state(raw),
        "Image": as_str(raw.get("Image")),
        "ResolvConfPath": as_str(raw.get("ResolvConfPath")),
        "HostnamePath": as_str(raw.get("HostnamePath")),
        "HostsPath": as_str(raw.get("HostsPath")),
        "LogPath": as_str(raw.get("LogPath")),
        "Name": as_str(raw.get("Name")),
        "RestartCount": raw.get("RestartCount", 0),
        "Driver": driver,
        "Platform": as_str(raw.get("OS")) or "linux",
        "MountLabel": as_str(raw.get("MountLabel")),
        "ProcessLabel": as_str(raw.get("ProcessLabel")),
        "AppArmorProfile": as_str(raw.get("AppArmorProfile")),
        "ExecIDs": None,
        "HostConfig": host,
        "GraphDriver": {
            "Data": graph_driver_data(root, driver, dirs, _root_path(root, container)),
            "Name": driver,
        },
        "Mounts": _mount_points(root, container, raw),
        "Config": raw.get("Config"),
        "NetworkSettings": _network_settings(raw),
    }
    if size:  # docker inspect --size; without it Docker leaves both keys out
        from storagekit.engines.docker.usage import container_size_rw, image_sizes

        rw = container_size_rw(root, container)
        store = root.store_for(container)
        image = store.images.get(container.image_id) if store else None
        below = image_sizes(root).get((image.driver, image.id)) if image else None
        sized: Record = {}
        for key, value in record.items():
            if key == "Mounts":
                sized["SizeRw"] = rw
                sized["SizeRootFs"] = None if rw is None else rw + (below.size if below else 0)
            sized[key] = value
        record = sized
    return record


def image_config(root: DockerRoot, image: Image) -> dict[str, Any]:
    """The image's config JSON as stored (``{}`` and a finding when it cannot be read)."""
    raw = read_json(root.source, image.config_path, root.findings, what="image config")
    return as_dict(raw) if raw is not None else {}


def _full_name(ref: str) -> str:
    """A familiar reference normalised as the reference store sorts it (``docker.io/...``)."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if rest else f"docker.io/library/{ref}"


def repo_order(refs: tuple[str, ...] | list[str]) -> list[str]:
    """References in the reference store's order (sorted by their full name)."""
    return sorted(refs, key=_full_name)


def image_inspect(root: DockerRoot, image: Image) -> Record:
    """``docker image inspect IMAGE``."""
    config = image_config(root, image)
    store = root.stores.get(image.driver)
    size = 0
    for chain in chain_ids(image.diff_ids):
        layer = store.layers.get(chain) if store else None
        size += layer.size if layer is not None and layer.size is not None else 0
    comment = as_str(config.get("comment"))
    history = config.get("history")
    if not comment and isinstance(history, list) and history:
        comment = as_str(as_dict(history[-1]).get("comment"))
    rootfs: Record = {"Type": as_str(as_dict(config.get("rootfs")).get("type"), "layers")}
    if image.diff_ids:
        rootfs["Layers"] = list(image.diff_ids)
    stack = image_stack(root, image)
    dirs = [lay.cache_id for lay in stack.layers]
    record: Record = {
        "Id": image.id,
        "RepoTags": repo_order(image.tags),
        "RepoDigests": repo_order(image.digests),
        "Parent": image.parent or "",
        "Comment": comment,
        "Created": as_str(config.get("created"), ZERO_TIME),
        "Container": as_str(config.get("container")),
        "ContainerConfig": go_config(config.get("container_config")),
        "DockerVersion": as_str(config.get("docker_version")),
        "Author": as_str(config.get("author")),
        "Config": go_config(config.get("config")) if config.get("config") is not None else None,
        "Architecture": as_str(config.get("architecture")),
    }
    if config.get("variant"):
        record["Variant"] = config["variant"]
    record["Os"] = as_str(config.get("os")) or "linux"
    if config.get("os.version"):
        record["OsVersion"] = config["os.version"]
    record |= {
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": {
            "Data": graph_driver_data(root, image.driver, dirs, _root_path(root)),
            "Name": image.driver,
        },
        "RootFS": rootfs,
        "Metadata": {"LastTagTime": _last_tag_time(root, image)},
    }
    return record


def _last_tag_time(root: DockerRoot, image: Image) -> str:
    """``imagedb/metadata/.../lastUpdated`` as written (Go's zero time when there is none)."""
    path = image.config_path.replace("/content/sha256/", "/metadata/sha256/") + "/lastUpdated"
    try:
        return root.source.read_text(path, CONFIG_LIMIT).strip() or ZERO_TIME
    except (SourceError, UnicodeDecodeError):
        return ZERO_TIME
