"""Model the Docker >= 29 data root for the moby namespace of sample_roots/containerd-1.6.

Docker 29 keeps images and container filesystems in containerd (namespace ``moby``); its own data
root keeps only ``containers/<id>/`` (``config.v2.json`` with ``Driver`` set to the snapshotter
and ``ImageManifest`` set, ``hostconfig.json``), ``volumes/`` and the rest. The containerd side
is real (made by containerd 1.6.20 through the calls dockerd makes: a lease named after the
container, ``<id>-init`` committed over the image's top chain ID, ``<id>`` prepared on it). This
script writes the Docker side, modelled on the records of the overlay2-20.10 sample root, as
``sample_roots/containerd-docker29/root.tar.xz``; Docker >= 29 cannot run here.

Usage: python -m tools.make_docker29_sample
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent.parent / "sample_roots"
OUT = SAMPLES / "containerd-docker29"
CONTAINER = "05210a7df3966a3d84fc3b10057d5e93c2232ab12a5f2f5dbc7a23b247a1de1a"
IMAGE_ID = "sha256:1829616e0f3e224cee24010f4401f625188f9519245c1c207465b59790a02882"
MANIFEST = {
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "digest": "sha256:3b6b381f72e626e0d94b9b96015a11f42b2ed0f1a8bee7ff8ca845d37edd9146",
    "size": 400,
}
CREATED = "2026-12-06T03:53:52.185803944Z"
MTIME = 1796529232


def config() -> dict[str, Any]:
    """``containers/<id>/config.v2.json`` as Docker 29 writes it for an exited container."""
    return {
        "StreamConfig": {},
        "State": {
            "Running": False, "Paused": False, "Restarting": False, "OOMKilled": False,
            "RemovalInProgress": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": "2026-12-06T03:53:53.001002003Z",
            "FinishedAt": "2026-12-06T03:53:54.004005006Z", "Health": None,
        },
        "ID": CONTAINER,
        "Created": CREATED,
        "Managed": False,
        "Path": "sh",
        "Args": [],
        "Config": {
            "Hostname": CONTAINER[:12], "Domainname": "", "User": "", "AttachStdin": False,
            "AttachStdout": False, "AttachStderr": False, "Tty": True, "OpenStdin": True,
            "StdinOnce": False,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"], "Image": "sk-base:1", "Volumes": None, "WorkingDir": "",
            "Entrypoint": None, "OnBuild": None, "Labels": {"org.example.role": "docker29"},
        },
        "Image": IMAGE_ID,
        "ImageManifest": MANIFEST,
        "NetworkSettings": {"Bridge": "", "SandboxID": "", "Networks": {}},
        "LogPath": f"/var/lib/docker/containers/{CONTAINER}/{CONTAINER}-json.log",
        "Name": "/sk-moby",
        "RestartCount": 0,
        "Driver": "overlayfs",
        "OS": "linux",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": {},
        "MountPoints": {},
        "SecretReferences": None,
        "ConfigReferences": None,
        "HostnamePath": f"/var/lib/docker/containers/{CONTAINER}/hostname",
        "HostsPath": f"/var/lib/docker/containers/{CONTAINER}/hosts",
        "ResolvConfPath": f"/var/lib/docker/containers/{CONTAINER}/resolv.conf",
        "ShmPath": "",
        "SeccompProfile": "",
        "NoNewPrivileges": False,
        "LocalLogCacheMeta": {"HaveNotifyEnabled": False},
    }


def hostconfig() -> dict[str, Any]:
    """A minimal ``hostconfig.json``."""
    return {"Binds": None, "NetworkMode": "bridge", "LogConfig": {"Type": "json-file"},
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False}


def _add(tar: tarfile.TarFile, name: str, data: bytes | None, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.mtime, info.mode, info.uid, info.gid = MTIME, mode, 0, 0
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def main() -> None:
    """Write root.tar.xz (the modelled Docker data root) beside its PROVENANCE.md."""
    OUT.mkdir(exist_ok=True)
    base = f"containers/{CONTAINER}"
    files: list[tuple[str, bytes | None, int]] = [
        ("containers", None, 0o710),
        (base, None, 0o710),
        (f"{base}/config.v2.json", json.dumps(config(), separators=(",", ":")).encode(), 0o600),
        (f"{base}/hostconfig.json", json.dumps(hostconfig()).encode(), 0o600),
        (f"{base}/hostname", CONTAINER[:12].encode() + b"\n", 0o644),
        (f"{base}/hosts", b"127.0.0.1\tlocalhost\n", 0o644),
        (f"{base}/resolv.conf", b"nameserver 10.0.2.3\n", 0o644),
        (f"{base}/{CONTAINER}-json.log", b"", 0o640),
        ("volumes", None, 0o701),
        ("image", None, 0o700),
        ("tmp", None, 0o700),
    ]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in files:
            _add(tar, name, data, mode)
    import lzma

    (OUT / "root.tar.xz").write_bytes(lzma.compress(buf.getvalue(), preset=9))


if __name__ == "__main__":
    main()
