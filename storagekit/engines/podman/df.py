"""``df`` for podman: ``podman system df [-v]`` numbers, orphans, and bytes measured on disk.

podman's figures (podman 4.3 ``cmd/podman/system/df.go`` over ``libimage/disk_usage.go`` and
``pkg/domain/infra/abi/system.go``):

* images: one entry per image; ``SIZE`` is the sum of the image sizes (shared layers counted
  in every image that has them, as podman 4.3 prints it: checked against ``podman system df`` on
  the vfs sample root); an image's size, shared and unique size as :func:`.records.image_sizes`;
  active = images with containers; reclaimable = the sizes of images no container uses (podman's
  own man page warns that it can exceed what a prune frees).
* ``-v`` items carry ``podman system df -v``'s columns: images (in the store's order) with the
  repository and tag of their first name; containers (in libpod's BoltDB order, by ID) with the
  image ID, the command and the state as podman prints them, local volumes, created, names;
  an image's SIZE as podman prints it (``HumanSize``, four digits, where Docker's CLI has three).
* containers: ``RWSize`` each (:func:`.records.size_rw`); active = running; reclaimable = the
  sizes of the containers not running.
* volumes: the apparent size of each volume's ``_data`` (``util.SizeOfPath``) and the number of
  containers using it (``LINKS``); active = volumes with links; reclaimable = the sizes of
  volumes without.

``measured`` divides the graph root into podman's own areas (:data:`AREAS`).
"""

from __future__ import annotations

from storagekit.analysis.diskusage import OTHER, Areas, measure
from storagekit.engines.podman.inventory import Inventory
from storagekit.engines.podman.records import image_sizes, size_rw
from storagekit.ids import short
from storagekit.jsontext import Record
from storagekit.model import Container
from storagekit.termtext import human_size
from storagekit.union.changes import directory_size


def areas(inv: Inventory) -> Areas:
    """Podman's areas: layer directories, container data, volumes, store metadata, other."""
    top: dict[str, str] = {"volumes": "volumes", "libpod": "image_metadata"}
    for drv in inv.root.drivers:
        top[drv] = "layers"
        top[f"{drv}-layers"] = "layers"
        top[f"{drv}-images"] = "image_metadata"
        top[f"{drv}-containers"] = "containers"
    return Areas(("layers", "containers", "volumes", "image_metadata", "build_cache", OTHER), top)


def volume_size(inv: Inventory, name: str) -> int:
    """``SizeOfPath`` of the volume's ``_data``: apparent sizes of its non-directories."""
    path = f"volumes/{name}/_data"
    return directory_size(inv.source, path) if inv.source.is_dir(path) else 0


def podman_df(inv: Inventory, verbose: bool) -> Record:
    """The images, containers, volumes and build cache lines of ``podman system df``."""
    img_items = []
    stored = {i.id: n for n, i in enumerate(inv.root.images)}  # images.json order, as podman
    for image in sorted(inv.images, key=lambda i: stored.get(i.id, len(stored))):
        size, shared, unique = image_sizes(inv, image.id)
        users = len(inv.users.get(image.id, []))
        repository, tag = "<none>", "<none>"
        if image.tags:
            repository, _, tag = image.tags[0].rpartition(":")
        img_items.append(
            {"id": image.id, "repository": repository, "tag": tag, "created": image.created,
             "size": size, "shared_size": shared, "unique_size": unique, "containers": users,
             "size_text": human_size(size)}  # podman: four digits (the Docker CLI: three)
        )  # fmt: skip
    images: Record = {
        "count": len(img_items),
        "active": sum(1 for i in img_items if i["containers"]),
        "size": sum(i["size"] for i in img_items),
        "reclaimable": sum(i["size"] for i in img_items if not i["containers"]),
    }
    ctr_items = []
    for c in sorted(inv.containers.values(), key=lambda c: c.id):  # libpod's BoltDB key order
        ctr_items.append({"id": c.id, "size_rw": size_rw(inv, c), "status": c.status,
                          "exit_code": c.exit_code, "local_volumes": _volumes(c),
                          "name": c.name, "image": short(c.image_id), "command": list(c.command),
                          "created": c.created,
                          # podman prints these its own way: the command unquoted and uncut,
                          # the state as it is (podman 4.3 cmd/podman/system/df.go)
                          "command_text": " ".join(c.command),
                          "status_text": c.status})  # fmt: skip
    containers: Record = {
        "count": len(ctr_items),
        "active": sum(1 for c in ctr_items if c["status"] == "running"),
        "size": sum(c["size_rw"] or 0 for c in ctr_items),
        "reclaimable": sum(c["size_rw"] or 0 for c in ctr_items if c["status"] != "running"),
    }
    vol_items = []
    for lv in inv.root.libpod.volumes if inv.root.libpod else ():
        vol_items.append(
            {"name": lv.name, "size": volume_size(inv, lv.name), "links": len(lv.containers)}
        )
    volumes: Record = {
        "count": len(vol_items),
        "active": sum(1 for v in vol_items if v["links"]),
        "size": sum(v["size"] for v in vol_items),
        "reclaimable": sum(v["size"] for v in vol_items if not v["links"]),
    }
    build: Record = {"count": 0, "active": 0, "size": 0, "reclaimable": 0}
    if verbose:
        images["items"], containers["items"], volumes["items"] = img_items, ctr_items, vol_items
        build["items"] = []
    return {"images": images, "containers": containers, "volumes": volumes, "build_cache": build}


def _volumes(c: Container) -> int:
    return sum(1 for m in c.mounts if m.type == "volume")


def df_record(inv: Inventory, orphans: list[Record], *, verbose: bool) -> Record:
    """The ``df`` object."""
    from storagekit.analysis.orphans import summarize

    record: Record = {"engine": "podman", **podman_df(inv, verbose)}
    record["orphans"] = summarize(orphans)
    if verbose:
        record["orphans"]["items"] = orphans
    parts = [record[k] for k in ("images", "containers", "volumes", "build_cache", "orphans")]
    record["totals"] = {
        key: sum(a[key] or 0 for a in parts) for key in ("count", "active", "size", "reclaimable")
    }
    record["measured"] = measure(inv.source, areas(inv), inv.findings)
    return record
