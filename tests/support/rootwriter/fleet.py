"""A fleet: many images on one shared base and many containers, as the inventory benchmark uses.

A Docker 20.10 overlay2 data root (docker-root-format.md §2, §3, §4, §6.1):

* ``images`` images: image 0 is a base image whose ``base_layers`` layers are shared by all the
  others; the remaining layers (``layers`` in all, distinct) are spread evenly over images
  1..N-1;
* every layer is a real small tar built in memory: its ``diff`` is the SHA-256 of the tar,
  ``tar-split.json.gz`` holds the tar's segments and the CRC-64/ISO of every payload (so the tar
  can be reassembled byte for byte), chain IDs follow the OCI rule, ``size`` is what overlay2's
  ``ApplyDiff`` records, and ``overlay2/<cache-id>/{diff,link,lower,work,committed}`` plus
  ``overlay2/l/<LINK>`` are laid out as dockerd does;
* image configs are Go-style compact JSON whose SHA-256 is their file name, with ``rootfs``,
  ``history`` (including empty layers), ``config``; tags in ``repositories.json``,
  ``lastUpdated`` metadata; a few images are left untagged;
* ``containers`` containers (see :mod:`.fleet_containers`) in a mix of states.

Host paths stored inside the root (``LogPath``, ``HostsPath`` …) name ``/var/lib/docker``, as in
a root copied from a host. Not written: the BoltDB files (``volumes/metadata.db``,
``network/files/local-kv.db``, buildkit's) and ``distribution/`` content. Everything random comes
from one seeded generator: the same arguments give the same root, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.rootwriter import store
from tests.support.rootwriter.containers import go_config
from tests.support.rootwriter.encoding import chain_ids, go_json, go_time, self_test
from tests.support.rootwriter.files import mkdir, write
from tests.support.rootwriter.fleet_containers import write_container
from tests.support.rootwriter.overlay2 import Overlay2, link_id
from tests.support.rootwriter.tarsplit import Member, build_layer


@dataclass
class RootStats:
    """What was generated, for the report."""

    path: str
    images: int = 0
    tagged_images: int = 0
    layers: int = 0
    containers: int = 0
    running: int = 0
    exited: int = 0
    created: int = 0
    max_depth: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    states: dict[str, int] = field(default_factory=dict)


class FleetWriter:
    """Write the fleet root (see the module docstring)."""

    DRIVER = "overlay2"
    HOST_ROOT = "/var/lib/docker"  # where the root lived on the host it was copied from
    PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    def __init__(
        self,
        root: Path,
        *,
        images: int,
        layers: int,
        base_layers: int,
        containers: int,
        seed: int,
    ) -> None:
        if images < 2 or base_layers < 1 or layers < base_layers + images - 1:
            raise ValueError("need >= 2 images, >= 1 base layer and >= 1 own layer per image")
        self.root = root
        self.n_images = images
        self.n_layers = layers
        self.n_base = base_layers
        self.n_containers = containers
        self.rng = random.Random(seed)
        self.t0 = dt.datetime(2024, 3, 1, 8, 0, 0, tzinfo=dt.UTC)
        self.stats = RootStats(path=str(root))
        self.store = f"{root}/image/{self.DRIVER}"
        self.ovl = Overlay2(str(root), self.DRIVER)
        self.layer_cache: dict[str, str] = {}  # chain-id -> cache-id
        self.has_children: set[str] = set()  # overlay ids that got a child
        self.image_ids: list[str] = []
        self.image_tags: dict[str, list[str]] = {}
        self.image_top: dict[str, str] = {}  # image id -> top chain id
        self.image_created: dict[str, dt.datetime] = {}

    # -- small helpers ----------------------------------------------------------------------

    def hex64(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def stamp(self, seconds: float) -> str:
        whole = int(seconds)
        nanos = int((seconds - whole) * 1e9) or self.rng.randrange(1, 10**9)
        return go_time(self.t0 + dt.timedelta(seconds=whole), nanos)

    # -- layers -----------------------------------------------------------------------------

    def layer_dir(
        self,
        parent: str | None,
        members: Iterable[Member] = (),
        *,
        oid: str | None = None,
        mtime: int = 0,
        symlinks: Iterable[tuple[str, str]] = (),
        mounted: bool = False,
    ) -> str:
        """``overlay2/<id>`` holding ``members`` (and ``symlinks``); returns the id."""
        oid = oid or self.hex64()
        diff = self.ovl.add(oid, link_id(self.rng), parent, work_work=mounted)
        if parent is not None:
            self.has_children.add(parent)
        for m in members:
            target = f"{diff}/{m.name.rstrip('/')}"
            if m.data is None:
                mkdir(target, 0o755)
            else:
                write(target, m.data, m.mode)
                self.stats.files += 1
                self.stats.bytes += len(m.data)
                if mtime:
                    os.utime(target, (mtime, mtime))
        for name, target in symlinks:
            os.symlink(target, f"{diff}/{name}")
        return oid

    def layer(
        self, parent_chain: str | None, members: Sequence[Member], mtime: int
    ) -> tuple[str, str]:
        """Register one read-only layer (layerdb + overlay2); returns (chain ID, diff ID)."""
        built = build_layer(members, mtime)
        # ChainID(k) = sha256("ChainID(k-1) Dk"): the parent's chain ID stands in for D1..Dk-1
        chain = chain_ids([parent_chain, built.diff_id] if parent_chain else [built.diff_id])[-1]
        parent_cache = self.layer_cache[parent_chain] if parent_chain else None
        oid = self.layer_dir(parent_cache, members, mtime=mtime)
        store.layer_record(
            self.store,
            chain,
            diff_id=built.diff_id,
            cache_id=oid,
            size=built.size,
            parent=parent_chain,
            tar_split=built.tar_split_gz,
        )
        self.layer_cache[chain] = oid
        self.stats.layers += 1
        return chain, built.diff_id

    def layer_members(self, image: int, index: int, base: bool) -> list[Member]:
        """A few small files, different in every layer (so every DiffID differs)."""
        rnd = self.rng
        if base:
            top, sub = "usr/", f"usr/lib/base{index:02d}/"
            dirs = [top, "usr/lib/", sub]
        else:
            top, sub = "opt/", f"opt/app{image:03d}/l{index:02d}/"
            dirs = [top, f"opt/app{image:03d}/", sub]
        files = [
            Member(
                f"{sub}{name}",
                (f"# image {image} layer {index} {name}\n" * rnd.randint(1, 8)).encode(),
                mode,
            )
            for name, mode in (("run.sh", 0o755), ("settings.conf", 0o644), ("README", 0o644))
        ]
        return [Member(d) for d in dirs] + files

    def image_config(
        self,
        diff_ids: list[str],
        created: list[str],
        commands: list[str],
        parent_cfg_image: str,
        env: list[str],
        cmd: list[str],
        labels: dict[str, str] | None,
        exposed: dict[str, dict[str, Any]] | None,
    ) -> bytes:
        def container_config(cmd_: list[str] | None, image: str) -> dict[str, Any]:
            return go_config(env=env, cmd=cmd_, image=image, labels=labels, exposed=exposed)

        history: list[dict[str, Any]] = [
            {"created": c, "created_by": f"/bin/sh -c {cmd_}"}
            for c, cmd_ in zip(created, commands, strict=True)
        ]
        last = created[-1]
        history.append(
            {
                "created": last,
                "created_by": f"/bin/sh -c #(nop)  ENV {env[-1]}",
                "empty_layer": True,
            }
        )
        history.append(
            {
                "created": last,
                "created_by": "/bin/sh -c #(nop)  CMD " + json.dumps(cmd).replace(", ", " "),
                "empty_layer": True,
            }
        )
        config = {
            "architecture": "amd64",
            "config": container_config(cmd, parent_cfg_image),
            "container": self.hex64(),
            "container_config": container_config(
                ["/bin/sh", "-c", "#(nop) ", "CMD " + json.dumps(cmd).replace(", ", " ")],
                parent_cfg_image,
            ),
            "created": last,
            "docker_version": "20.10.24+dfsg1",
            "history": history,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        return go_json(config)

    def image(
        self,
        index: int,
        parent_top: str | None,
        parent_diffs: list[str],
        own: int,
        tags: list[str],
        clock: float,
    ) -> tuple[str, str, list[str], float]:
        """Layers + config + metadata of one image; returns (image id, top chain, diffs, clock)."""
        base = index == 0
        top = parent_top
        diffs = list(parent_diffs)
        created: list[str] = []
        commands: list[str] = []
        for k in range(own):
            clock += self.rng.uniform(0.5, 30)
            mtime = int((self.t0 + dt.timedelta(seconds=clock)).timestamp())
            members = self.layer_members(index, k, base)
            top, diff_id = self.layer(top, members, mtime)
            diffs.append(diff_id)
            created.append(self.stamp(clock))
            commands.append(
                f"set -e; install -d /{members[2].name} && cp -a /src/. /{members[2].name}"
            )
        # the history of the base layers comes first, as in a real derived image
        base_created = [self.stamp(i) for i in range(len(parent_diffs))]
        base_cmds = [f"base layer {i}" for i in range(len(parent_diffs))]
        env = [self.PATH_ENV, f"APP_INDEX={index}"]
        cmd = ["/bin/sh"] if base else [f"/opt/app{index:03d}/l00/run.sh", "--serve"]
        labels = None if base else {"org.opencontainers.image.title": f"app{index:03d}"}
        exposed: dict[str, dict[str, Any]] | None = (
            None if base or index % 3 else {f"{8000 + index}/tcp": {}}
        )
        raw = self.image_config(
            diffs,
            base_created + created,
            base_cmds + commands,
            "" if base else self.image_ids[0],
            env,
            cmd,
            labels,
            exposed,
        )
        image_id = store.image_record(
            self.store, raw, last_updated=self.stamp(clock + 1) if tags else None
        )
        if tags:
            self.stats.tagged_images += 1
        self.image_ids.append(image_id)
        self.image_tags[image_id] = tags
        self.image_top[image_id] = top or ""
        self.image_created[image_id] = self.t0 + dt.timedelta(seconds=clock)
        self.stats.images += 1
        self.stats.max_depth = max(self.stats.max_depth, len(diffs))
        return image_id, top or "", diffs, clock

    # -- the whole root ---------------------------------------------------------------------

    def generate(self) -> RootStats:
        """Write the whole root; returns what was made."""
        began = time.perf_counter()
        self_test()
        store.skeleton(str(self.root), self.DRIVER)
        # base image: the shared chain
        base_id, base_top, base_diffs, clock = self.image(
            0, None, [], self.n_base, ["bench/base:1", "bench/base:latest"], 0.0
        )
        own_total = self.n_layers - self.n_base
        n_derived = self.n_images - 1
        per, extra = divmod(own_total, n_derived)
        for i in range(1, self.n_images):
            own = per + (1 if i <= extra else 0)
            repo = f"bench/app{i:03d}"
            tags = (
                [] if i % 25 == 0 else [f"{repo}:1.{i % 4}"] + ([f"{repo}:latest"] if i % 2 else [])
            )
            clock += 60
            _, _, _, clock = self.image(i, base_top, base_diffs, own, tags, clock)
        tagged = {tag: iid for iid, its in self.image_tags.items() for tag in its}
        store.repositories(self.store, store.by_repository(tagged))
        for c in range(self.n_containers):
            clock += self.rng.uniform(1, 120)
            image_id = self.image_ids[1 + c % n_derived] if c % 50 else base_id
            write_container(self, c, image_id, clock)
        # a layer that got a child is marked committed (overlay2 Create, v20.10+)
        for oid in self.has_children:
            self.ovl.commit(oid)
        self.stats.running = self.stats.states.get("running", 0)
        self.stats.exited = self.stats.states.get("exited", 0)
        self.stats.created = self.stats.states.get("created", 0)
        self.stats.seconds = time.perf_counter() - began
        return self.stats
