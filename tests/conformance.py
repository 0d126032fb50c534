"""Compare storagekit's answers with a real engine's own answers about the same root.

``expected`` is the dict ``tests.support.engine.capture_expected`` returns (and ``expected.json`` of
a sample root holds): raw ``docker inspect``, ``/system/df`` and friends. Used by the sample-root
conformance tests and by the live-engine tests.
"""

from __future__ import annotations

from typing import Any

from storagekit.timefmt import normalize


def _ids_from_graphdriver(data: dict[str, Any] | None, driver: str) -> list[str] | None:
    """Driver directory IDs, top first, from ``GraphDriver.Data`` (None where Docker gives none).

    Legacy overlay names only what it mounts: ``UpperDir`` and the single ``LowerDir`` (the
    image's top ``root/``) of a container, ``RootDir`` of an image.
    """
    if not data:
        return None
    dirs = []
    for key in ("UpperDir", "LowerDir", "RootDir"):
        for path in filter(None, (data.get(key) or "").split(":")):
            # <data-root>/<driver>/<id>/diff (overlay: .../upper, .../root)
            *_, drv, layer_id, _diff = path.rstrip("/").split("/")
            assert drv == driver, path
            dirs.append(layer_id)
    return dirs or None


def _df_containers(expected: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["Id"]: c for c in expected["system_df"].get("Containers") or []}


def _df_images(expected: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["Id"]: i for i in expected["system_df"].get("Images") or []}


def check_containers(records: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    """Every container field the engine reports equals storagekit's."""
    ours = {r["id"]: r for r in records}
    theirs = {c["Id"]: c for c in expected["containers"]}
    assert sorted(ours) == sorted(theirs)
    df = _df_containers(expected)
    for cid, c in theirs.items():
        r = ours[cid]
        state = c["State"]
        assert r["name"] == c["Name"]
        assert r["status"] == state["Status"], cid
        assert r["exit_code"] == state["ExitCode"]
        assert r["image_id"] == c["Image"]
        assert r["image"] == c["Config"]["Image"]
        assert r["created"] == normalize(c["Created"])
        assert r["started"] == normalize(state["StartedAt"])
        assert r["finished"] == normalize(state["FinishedAt"])
        assert r["driver"] == c["Driver"]
        dirs = _ids_from_graphdriver(c["GraphDriver"].get("Data"), c["Driver"])
        if dirs is not None and c["Driver"] == "overlay":
            # the read-write upper over the image's top root/; the init layer comes between
            assert [r["layer_dirs"][0], r["layer_dirs"][2]] == dirs, cid
            assert r["mount_id"] == dirs[0]
            assert r["layer_dirs"][1] == r["init_id"]
        elif dirs is not None:
            assert r["layer_dirs"] == dirs, cid
            assert r["mount_id"] == dirs[0]
            assert r["init_id"] == dirs[1]
        else:
            assert r["mount_id"] is not None
            assert r["layer_dirs"][:2] == [r["mount_id"], r["init_id"]]
        assert r["init_id"] == f"{r['mount_id']}-init"
        mounts = sorted(
            (m["Type"], m.get("Name", ""), m["Source"], m["Destination"], not m["RW"])
            for m in c["Mounts"]
        )
        assert (
            sorted(
                (m["type"], m["name"], m["source"], m["destination"], m["read_only"])
                for m in r["mounts"]
            )
            == mounts
        )
        if cid in df:
            assert r["size_rw"] == df[cid].get("SizeRw", 0), cid


def check_images(records: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    """Every image field the engine reports equals storagekit's."""
    ours = {r["id"]: r for r in records}
    theirs = {i["Id"]: i for i in expected["images"]}
    assert sorted(ours) == sorted(theirs)
    df = _df_images(expected)
    for iid, i in theirs.items():
        r = ours[iid]
        assert r["tags"] == sorted(i["RepoTags"] or [])
        assert r["digests"] == sorted(i["RepoDigests"] or [])
        assert r["parent"] == (i["Parent"] or None)
        assert r["created"] == normalize(i["Created"])
        assert r["diff_ids"] == i["RootFS"].get("Layers", [])
        assert r["size"] == i["Size"]
        dirs = _ids_from_graphdriver(i["GraphDriver"].get("Data"), i["GraphDriver"]["Name"])
        if dirs is not None and i["GraphDriver"]["Name"] == "overlay":
            assert r["cache_ids"][-1:] == dirs, iid  # the top layer's root/ alone
        elif dirs is not None:
            assert list(reversed(r["cache_ids"])) == dirs, iid
        if iid in df:
            assert r["shared_size"] == df[iid]["SharedSize"], iid
            assert r["containers"] == df[iid]["Containers"], iid
            assert r["unique_size"] == df[iid]["Size"] - df[iid]["SharedSize"]
            untagged = df[iid]["RepoTags"] in (None, [], ["<none>:<none>"])
            undigested = df[iid]["RepoDigests"] in (None, [], ["<none>@<none>"])
            assert r["dangling"] == (untagged and undigested), iid
        else:
            # Docker leaves intermediate build parents out of df: they have children.
            assert r["dangling"] is False


def check_layers(
    layers: list[dict[str, Any]], images: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    """Every image layer is known, present, and referenced by exactly the images using it."""
    by_chain = {lay["chain_id"]: lay for lay in layers if lay["chain_id"]}
    for image in images:
        for chain, cache in zip(image["chain_ids"], image["cache_ids"], strict=True):
            assert by_chain[chain]["cache_id"] == cache
            assert by_chain[chain]["present"] is True
            assert image["id"] in by_chain[chain]["images"]
    assert expected["system_df"]["LayersSize"] == sum(
        {
            c: by_chain[c]["size"]
            for i in images
            if i["tags"] or i["digests"] or i["dangling"]
            for c in i["chain_ids"]
        }.values()
    )
