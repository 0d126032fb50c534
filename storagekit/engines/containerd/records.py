"""Report records of a containerd root: the contract's keys, plus containerd's own.

Every object carries ``engine`` (``containerd``) and ``namespace``. Keys of the Docker contract
that containerd has no such thing for are ``null``, never a guess (``cli-contract.md``, "Every
engine"): a container's ``status`` is ``unknown`` (task state lives in tmpfs), its
``exit_code``, ``started`` and ``finished`` are ``null``.
"""

from __future__ import annotations

from storagekit.engines.containerd.chains import mounted_levels
from storagekit.engines.containerd.cri import cri_status
from storagekit.engines.containerd.model import Container, Descriptor, Image, Snapshot
from storagekit.engines.containerd.state import State
from storagekit.jsontext import Record
from storagekit.refs import familiar

ENGINE = "containerd"


def _descriptor(d: Descriptor | None) -> Record | None:
    if d is None:
        return None
    return {"digest": d.digest, "media_type": d.media_type, "size": d.size}


def _snapshot_bytes(state: State, snap: Snapshot) -> int | None:
    """An active snapshot's bytes as measured (allocated, else apparent).

    What ``ctr snapshots usage`` reports for it. (Imported here: without sizes, ``containers``
    measures nothing.)
    """
    from storagekit.analysis.diskusage import path_usage

    if snap.dir is None or not snap.present:
        return None
    allocated, apparent = path_usage(state.source, snap.dir)
    return apparent if allocated is None else allocated


def container_record(
    state: State, c: Container, *, sizes: bool, size_rw: int | None = None
) -> Record:
    """One ``containers`` object (``size_rw``: measured already, with ``sizes``)."""
    image = state.image_of(c)
    chain, _ = state.chain(c)
    top = chain[0] if chain else None
    cri = (cri_status(state.source, c.id, state.findings)
           if c.cri_kind and c.id in state.cri_ids else None)
    if sizes and size_rw is None and top is not None:
        size_rw = _snapshot_bytes(state, top)
    return {
        "engine": ENGINE,
        "namespace": c.namespace,
        "id": c.id,
        "name": c.container_name,
        "image": c.image,
        "image_id": image.id if image else None,
        "status": cri.state if cri else "unknown",
        "exit_code": cri.exit_code if cri and cri.state == "exited" else None,
        "created": c.created,
        "started": cri.started if cri else None,
        "finished": cri.finished if cri else None,
        "driver": c.snapshotter,
        "mount_id": str(top.id) if top and top.id is not None else None,
        "init_id": None,
        "layer_dirs": state.layer_dirs(c, chain),
        "mounts": [
            {
                "type": m.type,
                "name": None,
                "source": m.source,
                "destination": m.destination,
                "read_only": "ro" in m.options,
                "present": False,
            }
            for m in c.mounts
        ],
        "size_rw": size_rw if sizes else None,
        "snapshotter": c.snapshotter,
        "snapshot_key": c.snapshot_key,
        "labels": dict(c.labels),
        "runtime": c.runtime,
        "pod": None if c.pod is None else
        {"namespace": c.pod.namespace, "name": c.pod.name, "uid": c.pod.uid},
        "cri_kind": c.cri_kind,
        "command": list(c.args),
        "path": c.path,
    }


def container_records(state: State, *, sizes: bool) -> list[Record]:
    """Every ``containers`` object, by namespace, then creation time, then ID."""
    state.root.read_parts(("containers", "snapshots", "images"))
    measured: list[int | None] = [None] * len(state.containers)
    if sizes:  # each active snapshot walked on a worker
        from storagekit.parallel import pmap

        def measure(c: Container) -> int | None:
            chain, _ = state.chain(c)
            return _snapshot_bytes(state, chain[0]) if chain else None

        state.index  # noqa: B018 - read the snapshots once, here, not in each worker
        measured = pmap(measure, list(state.containers), source=state.source,
                        findings=state.findings, label="measuring containers")
    records = [container_record(state, c, sizes=sizes, size_rw=m)
               for c, m in zip(state.containers, measured, strict=True)]
    records.sort(key=lambda r: (r["namespace"], r["created"] or "", r["id"]))
    return records


def _repo(name: str) -> str:
    """The repository of an image name (``docker.io/library/x:1`` -> ``docker.io/library/x``)."""
    base = name.split("@", 1)[0]
    head, _, last = base.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def image_record(state: State, image: Image) -> Record:
    """One ``images`` object: one per image record (``ctr images ls`` row)."""
    chain = state.image_chain(image)
    by_key = {s.key: s for s in chain}
    users = state.users[(image.namespace, image.name)]
    dangling = image.name.startswith("moby-dangling@")
    return {
        "engine": ENGINE,
        "namespace": image.namespace,
        "id": image.id,
        "tags": [] if dangling else [image.name],
        "digests": [f"{_repo(image.name)}@{image.target.digest}"]
        if image.target and not dangling else [],
        "created": image.created,
        "parent": None,
        "diff_ids": list(image.diff_ids),
        "chain_ids": list(image.chain_ids),
        "cache_ids": [str(s.id) if (s := by_key.get(c)) and s.id is not None else None
                      for c in image.chain_ids],
        "size": state.image_size(image),
        "shared_size": None,
        "unique_size": None,
        "containers": users,
        "dangling": dangling,
        "target": _descriptor(image.target),
        "manifest": _descriptor(image.manifest),
        "config": _descriptor(image.config),
        "platform": image.platform,
        "layer_digests": list(image.layer_digests),
        "unpacked": state.unpacked_in(image),
        "labels": dict(image.labels),
        "path": image.path,
    }


def familiar_names(record: Record) -> Record:
    """An ``images`` object with Docker's familiar names (``alpine:latest``, ``alpine@sha256:…``).

    Docker >= 29 keeps full names in namespace ``moby`` (``docker.io/library/alpine:latest``,
    what ``ctr -n moby images ls`` shows) and prints them as ``reference.FamiliarString`` does
    (``docker images``, ``RepoTags``, ``RepoDigests``); plain containerd keeps the full form.
    """
    out = dict(record)
    out["tags"] = [familiar(t) for t in record["tags"]]
    out["digests"] = [f"{_repo(familiar(d.split('@', 1)[0]))}@{d.split('@', 1)[1]}"
                      for d in record["digests"]]
    return out


def image_records(state: State) -> list[Record]:
    """Every ``images`` object, by namespace then name."""
    state.root.read_parts(("snapshots", "images", "container_images"))
    return [image_record(state, i) for i in state.images]


def layer_records(state: State) -> list[Record]:
    """Every snapshot of the read snapshotters, then snapshot directories no database names."""
    chains: dict[tuple[str, str], list[str]] = {}
    diff_of: dict[tuple[str, str], str] = {}
    for image in state.images:
        for chain_id, diff_id in zip(image.chain_ids, image.diff_ids, strict=False):
            if image.id:
                chains.setdefault((image.namespace, chain_id), []).append(image.id)
            diff_of[(image.namespace, chain_id)] = diff_id
    stacked: dict[tuple[str, str, str], list[str]] = {}
    for c in state.containers:
        for snap in state.chain(c)[0]:
            stacked.setdefault((snap.namespace, snap.snapshotter, snap.key), []).append(c.id)
    leased: dict[tuple[str, str, str], list[str]] = {}
    for le in state.leases:
        for sn, key in le.snapshots:
            leased.setdefault((le.namespace, sn, key), []).append(le.id)
    records = []
    for s in state.snapshots:
        image_key = (s.namespace, s.key)
        is_layer = s.kind == "committed" and image_key in diff_of
        full = (s.namespace, s.snapshotter, s.key)
        records.append({
            "engine": ENGINE,
            "namespace": s.namespace,
            "chain_id": s.key if is_layer else None,
            "diff_id": diff_of.get(image_key) if is_layer else None,
            "parent": s.parent,
            "cache_id": str(s.id) if s.id is not None else None,
            "driver": s.snapshotter,
            "size": s.size if s.kind == "committed" else None,
            "present": s.present,
            "images": sorted(set(chains.get(image_key, []))) if is_layer else [],
            "containers": sorted(set(stacked.get(full, []))),
            "key": s.key,
            "id": s.id,
            "kind": s.kind,
            "snapshotter": s.snapshotter,
            "path": s.dir,
            "inodes": s.inodes if s.kind == "committed" else None,
            "leases": sorted(leased.get(full, [])),
            "live": full in state.live_snapshots,
        })
    for path in state.root.orphan_snapshot_dirs:
        sn = path.split("/", 1)[0].rsplit(".", 1)[-1]
        records.append({
            "engine": ENGINE, "namespace": None, "chain_id": None, "diff_id": None,
            "parent": None, "cache_id": path.rsplit("/", 1)[-1], "driver": sn, "size": None,
            "present": True, "images": [], "containers": [], "key": None, "id": None,
            "kind": None, "snapshotter": sn, "path": path, "inodes": None, "leases": [],
            "live": False,
        })
    return records


def _stack_layer(s: Snapshot, role: str, state: State) -> Record:
    image_key = {c: d for i in state.images if i.namespace == s.namespace
                 for c, d in zip(i.chain_ids, i.diff_ids, strict=False)}
    diff = image_key.get(s.key) if role == "image" else None
    return {
        "role": role,
        "cache_id": str(s.id) if s.id is not None else None,
        "chain_id": s.key if diff else None,
        "diff_id": diff,
        "path": s.dir,
        "present": s.present,
        "key": s.key,
        "kind": s.kind,
    }


def chain_record(state: State, obj: Container | Image) -> Record:
    """The ``chain`` object of a container (its active snapshot down) or an image."""
    if isinstance(obj, Container):
        chain, problem = state.chain(obj)
        ref, kind, sn = obj.id, "container", obj.snapshotter
    else:
        chain, problem = state.image_chain(obj), None
        if not chain:
            problem = "the image is not unpacked in any read snapshotter"
        ref, kind, sn = obj.name, "image", chain[0].snapshotter if chain else None
    mounted = mounted_levels(chain)
    layers = [
        _stack_layer(s, "rw" if kind == "container" and n == 0 and s.kind == "active"
                     else "image", state)
        for n, s in enumerate(mounted)
    ]
    return {
        "engine": ENGINE,
        "namespace": obj.namespace,
        "ref": ref,
        "kind": kind,
        "driver": sn,
        "layers": layers,
        "driver_parents_agree": None,
        "complete": problem is None and all(s.present for s in mounted),
        "problems": [problem] if problem else [],
    }
