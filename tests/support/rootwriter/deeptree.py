"""A deep tree: one container on one image of many layers, as the union benchmark uses.

A Docker 20.10 overlay2 data root (as root: whiteouts are ``mknod`` 0/0 character devices,
opaque directories carry ``trusted.overlay.opaque=y``; docker-root-format.md §2, §4, §6.1):

* ``image/overlay2/layerdb/sha256/<chain>/{diff,parent,cache-id,size}`` with OCI chain IDs,
  ``imagedb/content/sha256/<hex>`` (a config whose SHA-256 is its name, ``rootfs.diff_ids``,
  ``history``), ``imagedb/metadata``, ``repositories.json`` (``bench/union:latest``). The DiffIDs
  are stand-ins (the SHA-256 of a description of the layer, not of a layer tar) and no
  ``tar-split.json.gz`` is written: nothing here reassembles layer tars;
* ``overlay2/<cache-id>/{diff/,link,lower,work/,committed}`` and ``overlay2/l/<LINK>`` links;
* the container ``containers/<id>/config.v2.json`` (name ``/bench``, exited),
  ``hostconfig.json``, ``layerdb/mounts/<id>/{mount-id,init-id,parent}``, the init layer
  ``<mount-id>-init`` with the files ``initlayer.Setup`` makes, and the read-write layer;
* the tree: see :mod:`.deeptree_plan`.

The same arguments give the same root, byte for byte (mtimes included).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.rootwriter import store
from tests.support.rootwriter.containers import container_dir, go_config, state
from tests.support.rootwriter.deeptree_plan import PlanStats, plan_layers
from tests.support.rootwriter.diffdir import write_diff
from tests.support.rootwriter.encoding import chain_ids, go_json, go_time, self_test
from tests.support.rootwriter.files import write
from tests.support.rootwriter.overlay2 import Overlay2, link_id

CONTAINER_NAME = "bench"
TAG = "bench/union:latest"


@dataclass
class BenchRoot:
    """A generated root and what is needed to mount its container."""

    path: Path
    layers: int
    files: int
    mount_id: str
    init_id: str
    links: dict[str, str]  # overlay id -> LINKID
    image_ids: list[str]  # overlay ids of the image layers, base first
    seconds: float = 0.0
    stats: PlanStats = field(default_factory=PlanStats)
    bytes: int = 0

    @property
    def ovl(self) -> Path:
        return self.path / "overlay2"

    def mount_options(self) -> str:
        """Docker's mount data for the container, relative to ``overlay2/``."""
        lowers = [self.init_id, *reversed(self.image_ids)]
        lower = ":".join(f"l/{self.links[i]}" for i in lowers)
        return (
            f"index=off,lowerdir={lower},upperdir={self.mount_id}/diff,workdir={self.mount_id}/work"
        )


class DeepTreeWriter:
    """Writes the plan as a Docker 20.10 overlay2 data root (see the module docstring)."""

    def __init__(self, root: Path, layers: int, files: int, seed: int) -> None:
        self.root = root
        self.n_layers = layers
        self.n_files = files
        self.rng = random.Random(seed + 1)
        self.seed = seed
        self.t0 = dt.datetime(2024, 3, 1, 8, 0, 0, tzinfo=dt.UTC)
        self.bytes = 0

    def hex64(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def stamp(self, seconds: float) -> str:
        whole = int(seconds)
        return go_time(self.t0 + dt.timedelta(seconds=whole), self.rng.randrange(1, 10**9))

    def layer_ns(self, index: int) -> int:
        return int((self.t0.timestamp() + 600 * index) * 1e9) + self.rng.randrange(10**9)

    def layer_dir(
        self, ovl: Overlay2, oid: str, parent: str | None, *, work_work: bool = False
    ) -> str:
        """``overlay2/<id>`` on ``parent`` (then marked committed); returns its ``diff/``."""
        diff = ovl.add(oid, link_id(self.rng), parent, work_work=work_work)
        if parent is not None:
            ovl.commit(parent)
        return diff

    def generate(self) -> BenchRoot:
        """Plan the layers and write the root; returns what is needed to mount it."""
        began = time.perf_counter()
        self_test()
        plans, stats = plan_layers(self.n_layers, self.n_files, self.seed)
        root = str(self.root)
        store_dir = store.skeleton(root, "overlay2", builders=False)
        ovl = Overlay2(root)
        image_oids: list[str] = []
        diff_ids: list[str] = []
        parent: str | None = None
        old_umask = os.umask(0)
        try:
            for k in range(self.n_layers):
                oid = self.hex64()
                diff = self.layer_dir(ovl, oid, parent)
                size = write_diff(diff, plans[k], self.layer_ns(k), self.rng)
                self.bytes += size
                diff_id = (
                    "sha256:"
                    + hashlib.sha256(
                        f"storagekit bench_union seed {self.seed} layer {k} of {self.n_layers} "
                        f"files {self.n_files}".encode()
                    ).hexdigest()
                )
                diff_ids.append(diff_id)
                store.layer_record(
                    store_dir,
                    chain_ids(diff_ids)[-1],
                    diff_id=diff_id,
                    cache_id=oid,
                    size=size,
                    parent=chain_ids(diff_ids[:-1])[-1] if k else None,
                )
                image_oids.append(oid)
                parent = oid
            top_chain = chain_ids(diff_ids)[-1]
            image_id = self.image_config(store_dir, diff_ids)
            mount_id = self.hex64()
            init_id = f"{mount_id}-init"
            diff = self.layer_dir(ovl, init_id, parent)
            init_ns = self.layer_ns(self.n_layers)
            self.bytes += write_diff(diff, plans[self.n_layers], init_ns, self.rng)
            diff = self.layer_dir(ovl, mount_id, init_id, work_work=True)
            rw_ns = self.layer_ns(self.n_layers + 2)
            self.bytes += write_diff(diff, plans[self.n_layers + 1], rw_ns, self.rng)
            self.container(store_dir, image_id, mount_id, init_id, top_chain)
        finally:
            os.umask(old_umask)
        return BenchRoot(
            self.root,
            self.n_layers,
            self.n_files,
            mount_id,
            init_id,
            ovl.links,
            image_oids,
            time.perf_counter() - began,
            stats,
            self.bytes,
        )

    def image_config(self, store_dir: str, diff_ids: list[str]) -> str:
        history = [
            {
                "created": self.stamp(600 * k),
                "created_by": f"/bin/sh -c install-layer {k}",
            }
            for k in range(len(diff_ids))
        ]
        path = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        cfg = go_config(env=path, cmd=["/bin/sh"], image="", labels=None)
        config = {
            "architecture": "amd64",
            "config": cfg,
            "container": self.hex64(),
            "container_config": cfg,
            "created": history[-1]["created"],
            "docker_version": "20.10.24+dfsg1",
            "history": history,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        image_id = store.image_record(
            store_dir, go_json(config), last_updated=self.stamp(600 * len(diff_ids))
        )
        store.repositories(store_dir, store.by_repository({TAG: image_id}))
        return image_id

    def container(
        self, store_dir: str, image_id: str, mount_id: str, init_id: str, top_chain: str
    ) -> None:
        cid = self.hex64()
        host = f"/var/lib/docker/containers/{cid}"
        created = 600 * (self.n_layers + 1)
        doc = {
            "StreamConfig": {},
            "State": state(
                False,
                pid=0,
                exit_code=0,
                started=self.stamp(created + 2),
                finished=self.stamp(created + 3600),
                error="",
                health=None,
                OOMKilled=False,
                RemovalInProgress=False,
                Dead=False,
            ),
            "ID": cid,
            "Created": self.stamp(created),
            "Managed": False,
            "Path": "/bin/sh",
            "Args": [],
            "Config": {
                "Hostname": cid[:12],
                "Domainname": "",
                "User": "",
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
                "Image": TAG,
                "Volumes": None,
                "WorkingDir": "",
                "Entrypoint": None,
                "OnBuild": None,
                "Labels": {},
            },
            "Image": image_id,
            "LogPath": f"{host}/{cid}-json.log",
            "Name": f"/{CONTAINER_NAME}",
            "Driver": "overlay2",
            "OS": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "RestartCount": 0,
            "HasBeenStartedBefore": True,
            "HasBeenManuallyStopped": True,
            "MountPoints": {},
            "AppArmorProfile": "docker-default",
            "HostnamePath": f"{host}/hostname",
            "HostsPath": f"{host}/hosts",
            "ShmPath": f"{host}/mounts/shm",
            "ResolvConfPath": f"{host}/resolv.conf",
        }
        hostconfig = {
            "Binds": None,
            "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": "default",
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "ShmSize": 67108864,
            "Runtime": "runc",
        }
        cdir = container_dir(str(self.root), cid, doc, hostconfig)
        write(f"{cdir}/hostname", cid[:12] + "\n")
        store.mount_record(store_dir, cid, mount_id=mount_id, init_id=init_id, parent=top_chain)
