"""A graph root as the shared model, with the relations podman derives from it.

:class:`Inventory` wraps a :class:`~.root.PodmanRoot` once per engine: the model objects the
command line resolves references against (:class:`storagekit.model.Container`, ``Image``,
``Volume``), layer stacks, image parents and children as libimage computes them
(``libimage/layer_tree.go``: a parent shares the child's layers, and its history is the child's
minus one entry), and image sizes as ``podman images`` prints them (``ImageSize``: the
uncompressed sizes of the image's layers plus the sizes of its big data items).
"""

from __future__ import annotations

from functools import cached_property
from operator import attrgetter
from typing import TYPE_CHECKING

from storagekit.engines.podman.common import IDMapping, sort_user_volumes
from storagekit.engines.podman.containers import StorageContainer as StoreContainer
from storagekit.engines.podman.images import Image as StoreImage
from storagekit.engines.podman.images import ImageConfig, read_image_config
from storagekit.engines.podman.layerdirs import layer_path
from storagekit.engines.podman.layers import Layer, layer_chain
from storagekit.engines.podman.libpod import LibpodContainer, LibpodVolume
from storagekit.engines.podman.libpod_read import Brief, brief, decode, read_containers
from storagekit.engines.podman.lineage import lineage
from storagekit.engines.podman.root import PodmanRoot, crosscheck
from storagekit.model import Container, Findings, Image, MountPoint, Volume
from storagekit.source import Source

if TYPE_CHECKING:
    from storagekit.engines.podman.rootless import RootlessMapping


class Inventory:
    """The model of one graph root and what several records need, computed once."""

    def __init__(self, source: Source, root: PodmanRoot, findings: Findings) -> None:
        self.source = source
        self.root = root
        self.findings = findings
        self._chain_ids: dict[tuple[str, str], str | None] = {}
        self._whole_chains: dict[str, dict[str, tuple[str, ...]]] = {}
        self._below: dict[tuple[str, tuple[str, ...]], list[str | None]] = {}
        self._checked = root.libpod is None

    @cached_property
    def layers(self) -> dict[tuple[str, str], Layer]:
        """(driver, layer ID) -> layer record."""
        return {(x.driver, x.id): x for x in self.root.layers}

    @cached_property
    def store_images(self) -> dict[str, StoreImage]:
        """Image ID -> ``images.json`` record."""
        return {i.id: i for i in self.root.images}

    @cached_property
    def store_containers(self) -> dict[str, StoreContainer]:
        """Container ID -> ``containers.json`` record."""
        return {c.id: c for c in self.root.containers}

    # libpod's containers -------------------------------------------------------------------

    @cached_property
    def decoded(self) -> list[LibpodContainer]:
        """The containers of libpod, read whole (not cross-checked: :attr:`libpod` does that)."""
        assert self.root.libpod is not None
        return read_containers(self.source, self.root.libpod, self.findings, decode)

    @cached_property
    def briefs(self) -> list[Brief]:
        """What the cross-check compares of libpod's containers, with the same findings."""
        assert self.root.libpod is not None
        return read_containers(self.source, self.root.libpod, self.findings, brief)

    @cached_property
    def libpod(self) -> dict[str, LibpodContainer]:
        """The containers of libpod by ID, read and cross-checked on first use."""
        if self.root.libpod is None:
            return {}
        found = self.decoded
        if not self._checked:
            crosscheck(self.root.containers, found, self.findings)
            self._checked = True
        return {c.id: c for c in found}

    def check_libpod(self) -> None:
        """Make libpod's findings (damage, cross-check) without keeping its containers.

        For commands that need nothing else of libpod: the findings are those reading the
        containers whole would make, at the cost of parsing their documents only.
        """
        if self._checked or "libpod" in self.__dict__:
            return
        found = self.decoded if "decoded" in self.__dict__ else self.briefs
        crosscheck(self.root.containers, found, self.findings)
        self._checked = True

    # stacks ------------------------------------------------------------------------------

    def chain(self, driver: str, top: str | None, where: str | None) -> tuple[str, ...]:
        """Layer IDs from ``top`` down to the base (problems become findings)."""
        if top is None:
            return ()
        whole = self._whole_chains.setdefault(driver, {})
        return layer_chain(self.by_driver.get(driver, {}), top, self.findings, where, whole)[0]

    def layer_dirs(self, driver: str, chain: tuple[str, ...]) -> list[str | None]:
        """The directory of each layer of ``chain`` (top first), a new list each time.

        The layers below the top are an image's stack, which its containers share: their
        directories are made once per stack (a thousand containers on a hundred images).
        """
        if not chain:
            return []
        top, below = self.stack_dirs(driver, chain)
        return [top, *below]

    def stack_dirs(
        self, driver: str, chain: tuple[str, ...]
    ) -> tuple[str | None, list[str | None]]:
        """(the top layer's directory, those of the layers below it) of a non-empty ``chain``.

        The second is one list for every chain with the same layers below its top, kept as
        long as this inventory: not to be changed.
        """
        below = self._below.get((driver, chain[1:]))
        if below is None:
            below = self._below[(driver, chain[1:])] = [layer_path(driver, x) for x in chain[1:]]
        return layer_path(driver, chain[0]), below

    @cached_property
    def by_driver(self) -> dict[str, dict[str, Layer]]:
        """Driver -> layer ID -> layer record."""
        out: dict[str, dict[str, Layer]] = {}
        for (drv, lid), lay in self.layers.items():
            out.setdefault(drv, {})[lid] = lay
        return out

    def layer(self, driver: str, layer_id: str) -> Layer | None:
        """The layer record."""
        return self.layers.get((driver, layer_id))

    def chain_id(self, driver: str, layer_id: str) -> str | None:
        """The OCI ChainID of a layer from its and its parents' diff digests (image layers)."""
        from storagekit.ids import chain_id

        key = (driver, layer_id)
        if key in self._chain_ids:
            return self._chain_ids[key]
        # walk down to a known layer (or the base), then compute upwards: no recursion, and a
        # loop or a missing parent leaves every layer above it without a chain ID
        path: list[str] = []
        lid: str | None = layer_id
        below: str | None = None
        whole = True
        by_id = self.by_driver.get(driver, {})
        while lid is not None:
            if (driver, lid) in self._chain_ids:
                below = self._chain_ids[(driver, lid)]
                whole = below is not None
                break
            layer = by_id.get(lid)
            if layer is None or lid in path:
                whole = False
                break
            path.append(lid)
            lid = layer.parent
        for lid in reversed(path):
            digest = by_id[lid].diff_digest
            if not whole or digest is None:
                whole = False
                self._chain_ids[(driver, lid)] = None
                continue
            below = chain_id(below, digest)
            self._chain_ids[(driver, lid)] = below
        return self._chain_ids[key]

    @cached_property
    def image_chains(self) -> dict[str, tuple[str, ...]]:
        """Image ID -> its layer IDs, top first."""
        return {i.id: self.chain(i.driver, i.top_layer, i.meta_path) for i in self.root.images}

    @cached_property
    def container_chains(self) -> dict[str, tuple[str, ...]]:
        """Container ID -> its layer IDs (its own layer first)."""
        return {c.id: self.chain(c.driver, c.layer, c.meta_path) for c in self.root.containers}

    @cached_property
    def configs(self) -> dict[str, ImageConfig | None]:
        """Image ID -> its config (read from its big data)."""
        return {i.id: read_image_config(self.source, i, self.findings) for i in self.root.images}

    # images ------------------------------------------------------------------------------

    def _history(self, image_id: str) -> tuple[str | None, ...]:
        cfg = self.configs.get(image_id)
        return tuple(h.created_by for h in cfg.history) if cfg else ()

    @cached_property
    def _lineage(self) -> tuple[dict[str, str | None], dict[str, list[str]]]:
        def parent_layer(img: StoreImage) -> str | None:
            lay = self.layer(img.driver, img.top_layer) if img.top_layer else None
            return lay.parent if lay is not None else None

        return lineage(self.root.images, parent_layer, self._history)

    @cached_property
    def parents(self) -> dict[str, str | None]:
        """Image ID -> its parent image ID (libimage's ``Parent``), or ``None``."""
        return self._lineage[0]

    @cached_property
    def children(self) -> dict[str, list[str]]:
        """Image ID -> the IDs of the images it is a parent of (libimage's ``Children``)."""
        return self._lineage[1]

    def image_size(self, image_id: str) -> int:
        """``podman images`` size: its layers' uncompressed sizes plus its big data sizes.

        Its layers are those below its top layer and below each ``mapped-layers`` copy (a top
        layer chowned for a container's ``--uidmap``), each once (storage ``ImageSize``).
        """
        img = self.store_images[image_id]
        ids = self.image_chains[image_id]
        for top in img.mapped_top_layers:
            ids = (*ids, *self.chain(img.driver, top, img.meta_path))
        layers = [self.layer(img.driver, lid) for lid in dict.fromkeys(ids)]
        return sum((x.diff_size or 0) for x in layers if x) + sum(b.size or 0 for b in img.big_data)

    @cached_property
    def users(self) -> dict[str, list[str]]:
        """Image ID -> IDs of containers made from it (containers.json ``image``)."""
        out: dict[str, list[str]] = {}
        for c in self.root.containers:
            if c.image:
                out.setdefault(c.image, []).append(c.id)
        return out

    # the model ---------------------------------------------------------------------------

    @cached_property
    def images(self) -> list[Image]:
        """Every image as the shared model, by ID."""
        out = []
        for i in sorted(self.root.images, key=lambda i: i.id):
            cfg = self.configs.get(i.id)
            out.append(
                Image(
                    id=i.id,
                    driver=i.driver,
                    created=i.created,
                    parent=self.parents.get(i.id),
                    diff_ids=cfg.diff_ids if cfg else (),
                    tags=tuple(sorted(i.names)),
                    digests=tuple(sorted(repo_digests(i))),
                    os=cfg.os if cfg else None,
                    architecture=cfg.architecture if cfg else None,
                    config_path=i.meta_path,
                )
            )
        return out

    @cached_property
    def containers(self) -> dict[str, Container]:
        """Every container (libpod's and containers.json's) as the shared model, by ID."""
        out: dict[str, Container] = {}
        for cid in sorted(self.store_containers.keys() | self.libpod.keys()):
            out[cid] = self._container(cid)
        return out

    def _container(self, cid: str) -> Container:
        st = self.store_containers.get(cid)
        lp = self.libpod.get(cid)
        name = (lp.name if lp else None) or (st.names[0] if st and st.names else "")
        # podman ps and inspect: rootfsImageName (an image given by ID: its first name then)
        image = (lp.image_name or lp.raw_image_name if lp else None) or (
            st.image_name if st else None
        )
        return Container(
            id=cid,
            name=name,
            image=image or "",
            image_id=(lp.image_id if lp else None) or (st.image if st else None) or "",
            status=lp.status if lp else "storage",
            exit_code=exit_code(lp) or 0,
            running=bool(lp and lp.status == "running"),
            pid=0,
            created=(lp.created if lp else None) or (st.created if st else None),
            started=lp.started if lp else None,
            finished=lp.finished if lp else None,
            driver=st.driver if st else (self.root.drivers[0] if self.root.drivers else ""),
            mounts=mount_points(lp) if lp else (),
            labels=lp.labels if lp else (),
            command=lp.command if lp else (),
            log_path=(lp.log_path or "") if lp else "",
            config_path=lp.config_path if lp else (st.meta_path if st else ""),
        )

    @cached_property
    def volumes(self) -> dict[str, Volume]:
        """Libpod's volumes and ``volumes/<name>`` directories, by name."""
        dirs = {d.name: d for d in self.root.volume_dirs}
        known = {v.name: v for v in self.root.libpod.volumes} if self.root.libpod else {}
        out = {}
        for name in sorted(dirs.keys() | known.keys()):
            v, d = known.get(name), dirs.get(name)
            out[name] = Volume(
                name=name,
                driver=(v.driver if v else None) or "local",
                labels=v.labels if v else (),
                options=v.options if v else (),
                in_metadata=v is not None,
                has_data=bool(d and d.has_data),
                path=f"volumes/{name}",
            )
        return out

    @cached_property
    def libpod_volumes(self) -> dict[str, LibpodVolume]:
        """The volumes of libpod's database by name (the first record of a name)."""
        out: dict[str, LibpodVolume] = {}
        for v in self.root.libpod.volumes if self.root.libpod else ():
            out.setdefault(v.name, v)
        return out

    @cached_property
    def rootless(self) -> RootlessMapping | None:
        """The inferred rootless ID mapping, ``None`` for a rootful root."""
        from storagekit.engines.podman.rootless import rootless_mapping

        return rootless_mapping(self.source, self.root)

    def id_maps(self, cid: str | None) -> tuple[tuple[IDMapping, ...], tuple[IDMapping, ...]]:
        """The (uid, gid) maps from on-disk owners to a container's (or an image's) IDs."""
        from storagekit.engines.podman.root import container_id_maps

        if cid is not None:
            maps = container_id_maps(self.root, cid, self.libpod.get(cid))
            if maps != ((), ()):
                return maps
        if self.rootless is not None:
            return self.rootless.uidmap, self.rootless.gidmap
        return (), ()


def exit_code(lp: LibpodContainer | None) -> int | None:
    """The exit code podman reports: the state's, else the separate exit-code record."""
    if lp is None:
        return None
    if lp.exit_code is not None:
        return lp.exit_code
    return lp.recorded_exit_code


def repo_digests(image: StoreImage) -> list[str]:
    """``RepoDigests`` as podman prints them: each name's repository with each digest."""
    digests = list(dict.fromkeys([*image.digests, *([image.digest] if image.digest else [])]))
    out = []
    for name in image.names:
        repo = name.split("@", 1)[0]
        if ":" in repo.rsplit("/", 1)[-1]:
            repo = repo.rsplit(":", 1)[0]
        out += [f"{repo}@{d}" for d in digests]
    return list(dict.fromkeys(out))


def mount_points(lp: LibpodContainer) -> tuple[MountPoint, ...]:
    """The user's mounts as ``podman inspect`` lists them: named volumes, then bind mounts.

    libpod ``GetInspectMounts`` with ``sortUserVolumes`` (4.x): none when ``userVolumes`` is
    empty; else, in ``userVolumes`` order, each destination that is a named volume's, then each
    that is a spec mount's (by destination, the last of several: Go maps), tmpfs left out. The
    spec's bind mounts are the only spec mounts kept (:attr:`.libpod.LibpodContainer.mounts`),
    so a user mount of another type (``--mount type=devpts``), which podman lists as a bind,
    is not listed. podman's own mounts (``/etc/hosts``, ``/dev/shm`` ...) are not user volumes.
    """
    if not lp.user_volumes:
        return ()
    dest = attrgetter("destination")
    vols, binds = sort_user_volumes(lp.user_volumes, lp.named_volumes, dest, lp.mounts, dest)
    return (
        *(
            MountPoint("volume", v.name, "", v.destination, "ro" in v.options, "local")
            for v in vols
        ),
        *(MountPoint("bind", "", m.source or "", m.destination, "ro" in m.options) for m in binds),
    )
