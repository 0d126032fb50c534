"""Image parents and children as libimage finds them (``libimage/layer_tree.go``).

An image's candidate parents are the images on its own top layer and on that layer's parent
layer (``layers.json`` ``parent``); a candidate is a parent when its history is the image's
less the last entry (``oci.go`` ``areParentAndChild``; the shared diff IDs follow from the
layers). libimage asks the two questions apart: ``parent`` returns the *first* candidate that
passes, ``children`` *every* image for which this one passes. They are not inverses: two
images with one history on one layer (the same tar imported twice with other settings) are
both parents of a child built on either, so both share all their size in ``podman system df``
and neither is dangling, while the child names only the first as its ``ParentId``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from storagekit.engines.podman.images import Image


def lineage(
    images: Sequence[Image],
    parent_layer: Callable[[Image], str | None],
    history: Callable[[str], tuple[str | None, ...]],
) -> tuple[dict[str, str | None], dict[str, list[str]]]:
    """(image ID -> its parent image ID or ``None``, image ID -> its children's IDs).

    ``images`` in ``images.json`` order (libimage's candidates come in that order);
    ``parent_layer`` gives the parent of an image's top layer; ``history`` an image's
    history as compared (each entry's ``created_by``).
    """
    on_layer: dict[str, list[Image]] = {}
    for i in images:
        if i.top_layer:
            on_layer.setdefault(i.top_layer, []).append(i)
    parents: dict[str, str | None] = {}
    children: dict[str, list[str]] = {}
    for img in images:
        top = img.top_layer
        candidates = list(on_layer.get(top or "", ()))
        below = parent_layer(img)
        if below and below != top:  # a layer that is its own parent: its images once
            candidates += on_layer.get(below, [])
        mine = history(img.id)
        found = [
            other.id
            for other in candidates
            if other.id != img.id
            and len(theirs := history(other.id)) + 1 == len(mine)
            and mine[:-1] == theirs
        ]
        parents[img.id] = found[0] if found else None
        for parent in found:
            children.setdefault(parent, []).append(img.id)
    return parents, children
