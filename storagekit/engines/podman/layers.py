"""containers-storage layers: ``<driver>-layers/layers.json`` and ``<id>.tar-split.gz``.

``layers.json`` is a JSON array of ``storage.Layer`` records (containers/storage ``layers.go``,
struct ``Layer``; JSON keys as tagged there)::

    {"id", "names", "parent", "metadata", "mountlabel", "created",
     "compressed-diff-digest", "compressed-size", "diff-digest", "diff-size", "compression",
     "uidset", "gidset", "flags", "uidmap", "gidmap", "big-data-names"}

Image layers carry digests and sizes (``diff-digest`` is the diff ID); a container's writable
layer has only ``{id, names: ["<ctr>-layer"], parent, created}``. Layer IDs are random for
``podman build`` layers; an imported single layer got its diff ID's hex as ID. For every image
layer an ``<id>.tar-split.gz`` next to ``layers.json`` holds the tar headers needed to rebuild
the exact layer tar from the layer directory (``layers.go``, ``tspath``). A second
``layers.json`` in the run root (``volatile`` layers) lives on tmpfs and is never in a copy.

uidmap/gidmap are present only for layers created with an ID mapping (``--uidmap``, auto user
namespaces): the on-disk owners are then host IDs (:func:`~.common.to_container_id`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from storagekit import timefmt
from storagekit.engines.podman.common import (
    IDMapping,
    hex_id,
    json_records,
    load_json,
    opt_int,
    opt_str,
    parse_idmap,
    safe_id,
    str_pairs,
    str_tuple,
)
from storagekit.model import Findings
from storagekit.source import Source


class Layer(NamedTuple):
    """One ``layers.json`` record.

    A named tuple, not a frozen dataclass: made by the thousand, several times faster.

    Attributes:
        id: the layer ID (also its driver directory name).
        driver: the graph driver whose store holds it (``overlay``, ``vfs``, ...).
        parent: the parent layer ID, ``None`` for a base layer (or an unsafe value).
        names: ``names`` (a container layer is named ``<container-name>-layer``).
        created: ``created`` as RFC 3339 UTC.
        diff_digest: ``diff-digest`` (the diff ID), ``None`` for container layers.
        diff_size: ``diff-size`` in bytes.
        compressed_digest: ``compressed-diff-digest``.
        compressed_size: ``compressed-size``.
        uidset: ``uidset``: the owners seen in the layer (image layers).
        gidset: ``gidset``.
        uidmap: ``uidmap``: how on-disk owners map to container IDs (empty = identity).
        gidmap: ``gidmap``.
        flags: ``flags`` as sorted (key, value) pairs, non-strings JSON-encoded.
        metadata: ``metadata`` as written.
        mount_label: ``mountlabel`` (SELinux).
        big_data_names: ``big-data-names``.
        has_tar_split: ``<id>.tar-split.gz`` exists beside ``layers.json``.
        meta_path: ``layers.json`` inside the root.
    """

    id: str
    driver: str
    parent: str | None
    names: tuple[str, ...]
    created: str | None
    diff_digest: str | None
    diff_size: int | None
    compressed_digest: str | None
    compressed_size: int | None
    uidset: tuple[int, ...]
    gidset: tuple[int, ...]
    uidmap: tuple[IDMapping, ...]
    gidmap: tuple[IDMapping, ...]
    flags: tuple[tuple[str, str], ...]
    metadata: str | None
    mount_label: str | None
    big_data_names: tuple[str, ...]
    has_tar_split: bool
    meta_path: str

    @property
    def is_image_layer(self) -> bool:
        """Whether it records a diff digest (image layers do, container layers do not)."""
        return self.diff_digest is not None


def _ints(value: object) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    for v in value:  # nearly always all integers: one pass, then the tuple in C
        if type(v) is not int:  # a bool (or anything else) is dropped
            return tuple(v for v in value if isinstance(v, int) and not isinstance(v, bool))
    return tuple(value)


def tar_split_path(driver: str, layer_id: str) -> str:
    """Where the tar-split of an (already validated) layer ID is kept."""
    return f"{driver}-layers/{layer_id}.tar-split.gz"


def read_layers(source: Source, driver: str, findings: Findings) -> list[Layer]:
    """Every record of ``<driver>-layers/layers.json``, in file order.

    Records with an unsafe or missing ``id`` are findings and skipped; an unsafe ``parent``
    is a finding and becomes ``None``; a duplicate ID keeps the first record.
    """
    path = f"{driver}-layers/layers.json"
    try:
        present = set(source.listdir(f"{driver}-layers"))
    except OSError:
        present = set()
    records = json_records(load_json(source, path, findings), findings, path)
    return layers_of(records, driver, path, present, findings)


def layers_of(
    records: list[dict[str, Any]],
    driver: str,
    path: str,
    present: set[str],
    findings: Findings,
) -> list[Layer]:
    """The layers of ``layers.json``'s records (``present``: the names beside it).

    A record whose ``id`` and ``parent`` are plain IDs (64 hex digits, :func:`.common.hex_id`;
    a parent may also be an ID already taken, which was checked as safe) and whose ``id`` is new
    is made here, each field as :func:`_layer` makes it, without its calls: an absent field
    (``get`` gives ``None``) is what the helper answers for ``None``; a present one goes
    through the same helper; ``opt_str``/``opt_int`` are the type tests they make (``json``
    makes only exact ``str``/``int``/``bool``, so ``type(v) is int`` is "an int, not a bool").
    Such a record can make no finding. Any other record is made by :func:`_layer`, in its
    turn, so findings keep their order.
    """
    out: list[Layer] = []
    seen: set[str] = set()
    new = tuple.__new__
    normalize = timefmt.normalize
    for i, rec in enumerate(records):
        get = rec.get
        layer_id = get("id")
        parent = get("parent")
        if not (
            hex_id(layer_id)
            and layer_id not in seen
            and (parent is None or (type(parent) is str and parent in seen) or hex_id(parent))
        ):
            layer = _layer(i, rec, driver, path, present, seen, findings)
            if layer is not None:
                out.append(layer)
            continue
        seen.add(layer_id)
        names, digest, size, cdigest, csize, uids, gids = (
            get("names"),
            get("diff-digest"),
            get("diff-size"),
            get("compressed-diff-digest"),
            get("compressed-size"),
            get("uidset"),
            get("gidset"),
        )
        uidmap, gidmap, flags, meta, label, big = (
            get("uidmap"),
            get("gidmap"),
            get("flags"),
            get("metadata"),
            get("mountlabel"),
            get("big-data-names"),
        )
        out.append(
            new(
                Layer,
                (
                    layer_id,
                    driver,
                    parent,
                    () if names is None else str_tuple(names),
                    normalize(get("created")),
                    digest if type(digest) is str and digest else None,
                    size if type(size) is int else None,
                    cdigest if type(cdigest) is str and cdigest else None,
                    csize if type(csize) is int else None,
                    () if uids is None else _ints(uids),
                    () if gids is None else _ints(gids),
                    () if uidmap is None else parse_idmap(uidmap),
                    () if gidmap is None else parse_idmap(gidmap),
                    () if flags is None else str_pairs(flags),
                    meta if type(meta) is str and meta else None,
                    label if type(label) is str and label else None,
                    () if big is None else str_tuple(big),
                    f"{layer_id}.tar-split.gz" in present,
                    path,
                ),
            )
        )
    return out


def _layer(
    i: int,
    rec: dict[str, Any],
    driver: str,
    path: str,
    present: set[str],
    seen: set[str],
    findings: Findings,
) -> Layer | None:
    """Record ``i`` as a layer, any JSON in any field; ``None`` (and a finding) to skip it."""
    layer_id = safe_id(rec.get("id"), findings, path, f"layer record {i} id")
    if layer_id is None:
        return None
    if layer_id in seen:
        findings.error("duplicate-id", path, f"layer {layer_id} is recorded twice")
        return None
    seen.add(layer_id)
    parent = None
    if rec.get("parent"):
        parent = safe_id(rec["parent"], findings, path, f"layer {layer_id} parent")
    return Layer(
        id=layer_id,
        driver=driver,
        parent=parent,
        names=str_tuple(rec.get("names")),
        created=timefmt.normalize(rec.get("created")),
        diff_digest=opt_str(rec.get("diff-digest")),
        diff_size=opt_int(rec.get("diff-size")),
        compressed_digest=opt_str(rec.get("compressed-diff-digest")),
        compressed_size=opt_int(rec.get("compressed-size")),
        uidset=_ints(rec.get("uidset")),
        gidset=_ints(rec.get("gidset")),
        uidmap=parse_idmap(rec.get("uidmap")),
        gidmap=parse_idmap(rec.get("gidmap")),
        flags=str_pairs(rec.get("flags")),
        metadata=opt_str(rec.get("metadata")),
        mount_label=opt_str(rec.get("mountlabel")),
        big_data_names=str_tuple(rec.get("big-data-names")),
        has_tar_split=f"{layer_id}.tar-split.gz" in present,
        meta_path=path,
    )


def layer_chain(
    layers: dict[str, Layer],
    top: str,
    findings: Findings,
    path: str | None = None,
    whole: dict[str, tuple[str, ...]] | None = None,
) -> tuple[tuple[str, ...], bool]:
    """Layer IDs from ``top`` down to the base by ``parent``, and whether the chain is whole.

    A parent that ``layers.json`` does not know, or a loop, ends the chain with a finding.
    ``whole``: chains already found whole, by their top layer, kept up to date by this walk
    (a thousand containers stand on a hundred images): reaching one ends the walk the way
    the walk itself would have ended, with no finding on the way (parents never change, and
    a layer of the walk so far cannot be in it, else that chain would loop).

    The walk's usual answers are given first, without it: ``top`` known whole (what the walk
    would copy), or a layer whose parent's chain is known (a container's layer on its image's
    top): ``top`` and that chain, kept by ``top`` only, as the walk keeps it (the walk would
    also keep the parent's chain again, an equal tuple).
    """
    if whole is not None:
        known = whole.get(top)
        if known is not None:
            return known, True
        layer = layers.get(top)
        below = None if layer is None or layer.parent is None else whole.get(layer.parent)
        if below is not None:
            known = whole[top] = (top, *below)
            return known, True
    chain: list[str] = []
    current: str | None = top
    while current is not None:
        if whole is not None and current in whole:
            return _known(whole, (*chain, *whole[current])), True
        if current in chain:
            findings.error("layer-loop", path, f"layer parents loop at {current}")
            return tuple(chain), False
        layer = layers.get(current)
        if layer is None:
            findings.error("missing-layer", path, f"layer {current} is not in layers.json")
            return tuple(chain), False
        chain.append(current)
        current = layer.parent
    return (tuple(chain) if whole is None else _known(whole, tuple(chain))), True


def _known(whole: dict[str, tuple[str, ...]], chain: tuple[str, ...]) -> tuple[str, ...]:
    """Keep a whole chain by its top and by its second layer (a container's image top).

    Not by every layer: that would cost the square of a (hostile) chain's length.
    """
    whole[chain[0]] = chain
    if len(chain) > 1:
        whole[chain[1]] = chain[1:]
    return chain
