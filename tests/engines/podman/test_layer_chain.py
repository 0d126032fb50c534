"""layer_chain with chains kept by top: the same chains and findings as walking each anew."""

from __future__ import annotations

import itertools

from storagekit.engines.podman.layers import Layer, layer_chain
from storagekit.model import Findings


def layer(lid: str, parent: str | None) -> Layer:
    return Layer(lid, "overlay", parent, (), None, None, None, None, None, (), (), (), (), (),
                 None, None, (), False, "overlay-layers/layers.json")  # fmt: skip


# base <- a <- b <- c1, c2 (two containers on one image); x -> gone; loop1 <-> loop2; l3 -> loop1;
# self -> self
LAYERS = {
    x.id: x
    for x in (
        layer("base", None),
        layer("a", "base"),
        layer("b", "a"),
        layer("c1", "b"),
        layer("c2", "b"),
        layer("x", "gone"),
        layer("y", "x"),
        layer("loop1", "loop2"),
        layer("loop2", "loop1"),
        layer("l3", "loop1"),
        layer("self", "self"),
    )
}
TOPS = ["c1", "c2", "b", "a", "base", "x", "y", "loop1", "l3", "missing", "self"]


def test_kept_chains_change_nothing_in_any_order() -> None:
    alone = Findings()
    expected = [layer_chain(LAYERS, top, alone, f"p/{top}") for top in TOPS]
    for order in itertools.islice(itertools.permutations(range(len(TOPS))), 0, None, 9973):
        kept: dict[str, tuple[str, ...]] = {}
        found = Findings()
        got = {i: layer_chain(LAYERS, TOPS[i], found, f"p/{TOPS[i]}", kept) for i in order}
        assert [got[i] for i in range(len(TOPS))] == expected
        assert sorted(f.record()["message"] for f in found) == sorted(
            f.record()["message"] for f in alone
        )
        assert kept["c2"] == ("c2", "b", "a", "base")
        assert "x" not in kept
        assert "loop1" not in kept
