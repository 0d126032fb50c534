"""Report records: the model and analyses as JSON-ready dicts with the contract's keys.

One function per command. Records hold plain data (str, int, bool, None, lists, dicts) in the
key order of ``cli-contract.md``; lists are sorted so output is deterministic. Rendering them as
tables or JSON is :mod:`storagekit.cli.render`'s job.
"""

from __future__ import annotations

from collections import Counter

from storagekit.engines.docker.chains import (
    container_layer_dirs,
    container_stack,
    image_stack,
    parents_agree,
)
from storagekit.engines.docker.containers import each_container
from storagekit.engines.docker.inventory import read_with_containers
from storagekit.engines.docker.root import DockerRoot
from storagekit.engines.docker.usage import (
    children_of,
    container_size_rw,
    image_sizes,
)
from storagekit.ids import chain_ids, is_safe_component
from storagekit.jsontext import Record, to_json
from storagekit.model import Container, Image, Stack, StackLayer
from storagekit.timefmt import order_key


def container_record(root: DockerRoot, container: Container, *, sizes: bool = True) -> Record:
    """One ``containers`` object."""
    rw = root.rw_layer(container)
    mounts = []
    for m in container.mounts:
        # A name that is not one path component was reported when the config was read.
        safe = m.type == "volume" and is_safe_component(m.name)
        present = safe and root.source.is_dir(f"volumes/{m.name}/_data")
        source = m.source
        if safe and not source and m.driver in ("local", ""):
            # Docker fills this in at inspect time from the volume's mountpoint.
            base = container.data_root or root.original_path
            source = f"{base.rstrip('/')}/volumes/{m.name}/_data"
        mounts.append(
            {
                "type": m.type,
                "name": m.name,
                "source": source,
                "destination": m.destination,
                "read_only": m.read_only,
                "present": present,
            }
        )
    return {
        "engine": "docker",
        "id": container.id,
        "name": container.name,
        "image": container.image,
        "image_id": container.image_id,
        "status": container.status,
        "exit_code": container.exit_code,
        "created": container.created,
        "started": container.started,
        "finished": container.finished,
        "driver": container.driver,
        "mount_id": rw.mount_id if rw else None,
        "init_id": rw.init_id if rw else None,
        "layer_dirs": container_layer_dirs(root, container),
        "mounts": mounts,
        "size_rw": container_size_rw(root, container) if sizes else None,
        "command": list(container.command),
        "labels": dict(container.labels),
        "ports": [
            {"ip": p.ip, "private_port": p.private_port, "public_port": p.public_port,
             "type": p.type}
            for p in container.ports
        ],  # fmt: skip
    }


def container_records(root: DockerRoot, *, sizes: bool = True, adopt: bool = True) -> list[Record]:
    """Every ``containers`` object, newest first (as ``docker ps``), ties by ID.

    With ``adopt``, the containers read on the way are kept on ``root`` (and their sizes
    remembered) for the reports that follow; a command that prints only these records
    passes ``False`` and the workers send back the records alone.
    """
    if root.containers_read():
        records = [container_record(root, c, sizes=sizes) for c in root.containers.values()]
    else:
        # One pass per container, on every core: its config, its read-write layer record,
        # the driver's parent record and its size, without reading the whole layer store.
        _ = root.stores, root.drivers  # shared by the workers: set up before they fork

        def pair(container: Container) -> tuple[Container | None, Record]:
            return (container if adopt else None), container_record(root, container, sizes=sizes)

        done = each_container(root.source, root.findings, pair, "containers")
        records = [record for _, record in done]
        if adopt:
            kept = [(c, record) for c, record in done if c is not None]
            root.adopt_containers({c.id: c for c, _ in kept})
            if sizes:  # the workers' measurements, so df and audit do not walk them again
                for container, record in kept:
                    container_size_rw.seed(root, record["size_rw"], container)
    records.sort(key=_creation_order, reverse=True)
    return records


def _creation_order(record: Record) -> tuple[str, str]:
    return order_key(record["created"]), record["id"]


def container_records_json(root: DockerRoot, *, sizes: bool = True) -> str:
    """The JSON array of :func:`container_records` (``adopt=False``), same bytes.

    Each object is rendered by the worker that read its container: the parent only sorts and
    joins texts, instead of receiving every record and encoding the whole list itself.
    """
    if root.containers_read():
        return to_json(container_records(root, sizes=sizes))
    _ = root.stores, root.drivers  # shared by the workers: set up before they fork

    def rendered(container: Container) -> tuple[tuple[str, str], str]:
        record = container_record(root, container, sizes=sizes)
        return _creation_order(record), to_json(record)

    done = each_container(root.source, root.findings, rendered, "containers")
    done.sort(key=lambda pair: pair[0], reverse=True)
    return "[" + ",".join(text for _, text in done) + "]"


def containers_per_image(root: DockerRoot) -> Counter[str]:
    """Image ID -> how many containers use it.

    When the containers have not been read yet (``images`` alone), each is read on a worker
    that sends back only its image ID, in the same pass as the stores' layers and images.
    """
    if root.containers_read():
        return Counter(c.image_id for c in root.containers.values())
    return Counter(read_with_containers(root, lambda c: c.image_id))


def image_records(root: DockerRoot) -> list[Record]:
    """Every ``images`` object, sorted by ID."""
    users = containers_per_image(root)  # first: it reads the stores in the same pass
    sizes = image_sizes(root)
    kids = children_of(root)
    records = []
    for image in root.images:
        store = root.stores[image.driver]
        chains = list(chain_ids(image.diff_ids))
        layers = [store.layers.get(c) for c in chains]
        size = sizes[(image.driver, image.id)]
        records.append(
            {
                "engine": "docker",
                "id": image.id,
                "driver": image.driver,
                "tags": list(image.tags),
                "digests": list(image.digests),
                "created": image.created,
                "parent": image.parent,
                "diff_ids": list(image.diff_ids),
                "chain_ids": chains,
                "cache_ids": [lay.cache_id if lay else None for lay in layers],
                "size": size.size,
                "shared_size": size.shared_size,
                "unique_size": size.unique_size,
                "containers": users.get(image.id, 0),
                "dangling": not image.tags
                and not image.digests
                and not kids.get((image.driver, image.id)),
            }
        )
    return records


def layer_records(root: DockerRoot) -> list[Record]:
    """Every layer of the layer stores, then driver directories no store knows."""
    on_chain: dict[tuple[str, str], list[str]] = {}
    for image in root.images:
        for chain in chain_ids(image.diff_ids):
            on_chain.setdefault((image.driver, chain), []).append(image.id)
    stacked: dict[tuple[str, str], list[str]] = {}
    known: set[tuple[str, str]] = set()
    for container in root.containers.values():
        stack = container_stack(root, container)
        for lay in stack.layers:
            if lay.cache_id:
                known.add((stack.driver, lay.cache_id))
            if lay.chain_id:
                stacked.setdefault((stack.driver, lay.chain_id), []).append(container.id)
    for store in root.stores.values():
        for rw in store.rw_layers.values():
            known.update((store.driver, i) for i in (rw.mount_id, rw.init_id) if i)
    records = []
    for layer in root.layers:
        driver = root.driver(layer.driver)
        key = (layer.driver, layer.chain_id)
        if layer.cache_id:
            known.add((layer.driver, layer.cache_id))
        records.append(
            {
                "engine": "docker",
                "chain_id": layer.chain_id,
                "diff_id": layer.diff_id,
                "parent": layer.parent,
                "cache_id": layer.cache_id,
                "driver": layer.driver,
                "size": layer.size,
                "present": bool(driver and layer.cache_id and driver.has_layer(layer.cache_id)),
                "images": sorted(set(on_chain.get(key, []))),
                "containers": sorted(set(stacked.get(key, []))),
            }
        )
    for name, driver in sorted(root.drivers.items()):
        for layer_id in driver.layer_ids():
            if (name, layer_id) in known or layer_id.endswith("-removing"):
                continue
            records.append(
                {
                    "engine": "docker",
                    "chain_id": None,
                    "diff_id": None,
                    "parent": None,
                    "cache_id": layer_id,
                    "driver": name,
                    "size": None,
                    "present": True,
                    "images": [],
                    "containers": [],
                }
            )
    return records


def _stack_layer(lay: StackLayer) -> Record:
    return {
        "role": lay.role,
        "cache_id": lay.cache_id,
        "chain_id": lay.chain_id,
        "diff_id": lay.diff_id,
        "path": lay.path,
        "present": lay.present,
    }


def stack_of(root: DockerRoot, obj: Container | Image) -> Stack:
    """The layer stack of a container or an image."""
    if isinstance(obj, Container):
        return container_stack(root, obj)
    return image_stack(root, obj)


def chain_record(root: DockerRoot, obj: Container | Image) -> Record:
    """The ``chain`` object for a container or an image."""
    stack = stack_of(root, obj)
    return {
        "ref": obj.id,
        "kind": "container" if isinstance(obj, Container) else "image",
        "driver": stack.driver,
        "layers": [_stack_layer(lay) for lay in stack.layers],
        "driver_parents_agree": parents_agree(root, stack),
        "complete": stack.complete,
        "problems": list(stack.problems),
    }


def chain_findings(root: DockerRoot) -> None:
    """Check every container and image chain: broken ones and driver records that disagree.

    Building a stack records its problems as ``broken-chain`` findings; this adds the
    driver's own parent records that do not match the layer store.
    """
    stacks = [(c.config_path, container_stack(root, c)) for c in root.containers.values()]
    stacks += [(i.config_path, image_stack(root, i)) for i in root.images]
    for where, stack in stacks:
        if parents_agree(root, stack) is False:
            root.findings.warning(
                "driver-parents-disagree",
                where,
                "the driver's own parent record does not match the layer store",
            )


def volume_records(root: DockerRoot) -> list[Record]:
    """Every volume, with the containers that reference it."""
    users: dict[str, list[str]] = {}
    for c in root.containers.values():
        for m in c.mounts:
            if m.type == "volume" and m.name:
                users.setdefault(m.name, []).append(c.id)
    return [
        {
            "engine": "docker",
            "name": v.name,
            "driver": v.driver,
            "labels": dict(v.labels),
            "options": dict(v.options),
            "in_metadata": v.in_metadata,
            "has_data": v.has_data,
            "path": v.path,
            "containers": sorted(users.get(v.name, [])),
        }
        for v in root.volumes.values()
    ]


def df_record(
    root: DockerRoot, *, verbose: bool = False, orphans: list[Record] | None = None
) -> Record:
    """``df``: Docker's ``system df`` numbers, the orphans, totals, and bytes measured on disk."""
    # Imported here: the inventory commands, which never need them, start faster.
    from storagekit.analysis.orphans import data_paths, orphan_record, summarize
    from storagekit.engines.docker.df import (
        EARLY_MARKS,
        docker_df,
        layout_marks,
        measured,
        measured_started,
        size_marks,
    )
    from storagekit.engines.docker.orphans import orphan_findings

    # One walk of the whole root measures it and, on the way, every directory the figures
    # below size: writable layers, volumes and orphans are not read a second time.
    early = [] if orphans is not None or root.containers_read() else layout_marks(root)
    if 0 < len(early) <= EARLY_MARKS:
        # Nothing read yet: the walk's workers start first, the metadata is read meanwhile.
        usage_of = measured_started(root, early)
        found = orphan_findings(root)
        _ = root.containers, root.volumes
        usage = usage_of()
    else:  # audit: the metadata is in hand, and the marks are exactly what is sized next
        found = orphan_findings(root) if orphans is None else []
        usage = measured(root, size_marks(root) + data_paths(root.source, found))
    docker = docker_df(root, verbose)
    if orphans is None:
        orphans = [orphan_record(root.source, f) for f in found]
    record: Record = {**docker, "orphans": summarize(orphans)}
    if verbose:
        record["orphans"]["items"] = orphans
    areas = [record[k] for k in ("images", "containers", "volumes", "build_cache", "orphans")]
    record["totals"] = {
        key: sum(a[key] or 0 for a in areas) for key in ("count", "active", "size", "reclaimable")
    }
    record["measured"] = usage
    return record


def _layout(root: DockerRoot) -> str:
    """``graphdriver`` (Docker >= 1.10), ``graph`` (the graph/ layout of <= 1.9), or unknown."""
    kinds = {getattr(store, "kind", "graphdriver") for store in root.stores.values()}
    if not kinds:
        return "unknown"
    return "graph" if kinds == {"graph"} else "graphdriver"


def audit_record(root: DockerRoot, *, verify: bool = False) -> Record:
    """The ``audit`` report: everything above plus chain health, integrity and findings."""
    from storagekit.engines.docker.exposure import exposure_records
    from storagekit.engines.docker.incomplete import mark_records, settle
    from storagekit.engines.docker.orphans import find_orphans
    from storagekit.engines.docker.verify import integrity

    containers = container_records(root)
    images = image_records(root)
    layers = layer_records(root)
    volumes = volume_records(root)
    orphans = mark_records(root, find_orphans(root))
    usage = df_record(root, orphans=orphans)
    chain_findings(root)
    checked = integrity(root, verify)
    settle(root)
    statuses: dict[str, int] = {}
    for c in containers:
        statuses[c["status"]] = statuses.get(c["status"], 0) + 1
    return {
        "root": {
            "evidence": root.evidence,
            "location": root.location,
            "layout": _layout(root),
            "stores": sorted(root.stores),
        },
        "drivers": sorted(root.drivers),
        "counts": {
            "images": len(images),
            "containers": len(containers),
            "containers_by_status": dict(sorted(statuses.items())),
            "layers": sum(1 for lay in layers if lay["chain_id"]),
            "volumes": len(volumes),
        },
        "exposure": exposure_records(root),
        "images": images,
        "containers": containers,
        "layers": layers,
        "volumes": volumes,
        "orphans": orphans,
        "usage": usage,
        "findings": [f.record() for f in root.findings.sorted()],
        "integrity": checked,
    }
