"""The podman readers against podman 4.3.1's own answers on real roots (``expected.json``).

Every sample is read twice: as the ``root.tar.xz`` archive and as the directory GNU tar
extracts from it (as root, so that whiteout devices and ``trusted.*`` xattrs survive).
"""

from __future__ import annotations

from storagekit import timefmt
from storagekit.engines.podman.common import to_container_id
from storagekit.engines.podman.images import read_image_config
from storagekit.engines.podman.layers import layer_chain
from storagekit.engines.podman.orphans import find_orphans
from storagekit.engines.podman.root import (
    container_id_maps,
    container_layer_dirs,
    image_layer_dirs,
)
from storagekit.engines.podman.rootless import rootless_mapping
from storagekit.entry import FileType
from storagekit.model import Findings
from tests.engines.podman.conftest import Sample
from tests.engines.podman.merge import export_listing, listing, merged


def _graph_root(s: Sample) -> str:
    return s.exp["info"]["store"]["graphRoot"]


def test_store_drivers_and_clean_root(sample: Sample) -> None:
    assert sample.root.drivers == (sample.driver,)
    assert sample.root.findings == ()
    assert sample.root.libpod is not None
    assert sample.root.libpod.backend == "bolt"
    assert sample.root.libpod.path == "libpod/bolt_state.db"


def test_runtime_config_matches_podman_info(sample: Sample) -> None:
    assert sample.root.libpod is not None
    rc, store = sample.root.libpod.runtime, sample.exp["info"]["store"]
    assert (rc.graph_driver, rc.graph_root, rc.run_root, rc.volume_path, rc.os) == (
        store["graphDriverName"],
        store["graphRoot"],
        store["runRoot"],
        store["volumePath"],
        "linux",
    )
    assert rc.static_dir == store["graphRoot"] + "/libpod"


def test_containers_match_podman_ps(sample: Sample) -> None:
    assert sample.root.libpod is not None
    got = {c.id: c for c in sample.libpod}
    assert sorted(got) == sorted(p["Id"] for p in sample.exp["ps"])
    for p in sample.exp["ps"]:
        c = got[p["Id"]]
        assert [c.name] == p["Names"]
        assert c.status == p["State"]
        assert c.exit_code == p["ExitCode"]
        assert list(c.command) == p["Command"]
        assert c.image_id == p["ImageID"]
        assert c.image_name == p["Image"]
        assert (c.pod or "") == p["Pod"]
        assert dict(c.labels) == (p["Labels"] or {})


def test_containers_match_podman_inspect(sample: Sample) -> None:
    assert sample.root.libpod is not None
    got = {c.id: c for c in sample.libpod}
    for i in sample.exp["containers"]:
        c = got[i["Id"]]
        assert c.created == timefmt.normalize(i["Created"])
        assert c.started == timefmt.normalize(i["State"]["StartedAt"])
        assert c.finished == timefmt.normalize(i["State"]["FinishedAt"])
        # podman's Path/Args: the command's head, then its tail (the whole command when it
        # has no tail: `true` shows Args ["true"])
        assert (c.command[0], list(c.command[1:]) or list(c.command)) == (i["Path"], i["Args"])
        assert c.raw_image_name == i["ImageName"]
        assert [(v.name, v.destination) for v in c.named_volumes] == [
            (m["Name"], m["Destination"]) for m in i["Mounts"] if m["Type"] == "volume"
        ]
        assert c.log_path == i["HostConfig"]["LogConfig"]["Path"]
        # exit-code bucket: written when the container exited, absent for "created" and for
        # one still running when the root was copied
        assert c.recorded_exit_code == (
            None if c.status in ("created", "running") else c.exit_code
        )


def test_storage_containers_agree_with_podman(sample: Sample) -> None:
    by_id = {c.id: c for c in sample.root.containers}
    assert sorted(by_id) == sorted(i["Id"] for i in sample.exp["containers"])
    for i in sample.exp["containers"]:
        s = by_id[i["Id"]]
        assert s.names == (i["Name"],)
        assert s.metadata_name == i["Name"]
        assert s.image == i["Image"]
        assert s.image_name == i["ImageName"]
        assert s.driver == sample.driver
        layer = sample.root.layer(s.layer or "")
        assert layer is not None
        assert layer.names == (f"{i['Name']}-layer",)
        assert not layer.is_image_layer
        assert not layer.has_tar_split


def test_overlay_layer_dirs_match_graph_driver_data(sample: Sample) -> None:
    if sample.driver != "overlay":
        vfs = {"Data": None, "Name": "vfs"}
        assert all(i["GraphDriver"] == vfs for i in sample.exp["containers"])
        return
    prefix = _graph_root(sample) + "/"
    for i in sample.exp["containers"]:
        findings = Findings()
        dirs = container_layer_dirs(sample.source, sample.root, i["Id"], findings)
        data = i["GraphDriver"]["Data"]
        want = [data["UpperDir"], *data["LowerDir"].split(":")]
        assert [prefix + (d.path or "") for d in dirs] == want
        assert [d.role for d in dirs] == ["container"] + ["image"] * (len(dirs) - 1)
        assert all(d.present for d in dirs)
        assert list(findings) == []


def test_layer_dirs_merge_to_podman_export(sample: Sample) -> None:
    maps = rootless_mapping(sample.source, sample.root)
    uidmap, gidmap = (maps.uidmap, maps.gidmap) if maps else ((), ())
    for cid, export in sample.exp["export"].items():
        findings = Findings()
        dirs = container_layer_dirs(sample.source, sample.root, cid, findings)
        tree = merged(sample.source, dirs, overlay=sample.driver == "overlay")
        assert listing(sample.source, tree, uidmap, gidmap) == export_listing(export["members"])
        assert list(findings) == []


def test_deleted_file_is_a_whiteout_only_on_overlay(sample: Sample) -> None:
    cid = sample.exp["scenario"]["containers"]["sk-exited"]
    assert sample.exp["diff"][cid]["deleted"] == ["/app/hello.txt"]
    top, parent = container_layer_dirs(sample.source, sample.root, cid, Findings())[:2]
    assert top.path is not None
    assert parent.path is not None
    if sample.driver == "overlay":
        e = sample.source.stat(f"{top.path}/app/hello.txt")
        assert (e.type, e.rdev) == (FileType.CHARDEV, (0, 0))
    else:
        assert not sample.source.exists(f"{top.path}/app/hello.txt")
        assert sample.source.is_file(f"{parent.path}/app/hello.txt")


def test_images_match_podman_image_inspect(sample: Sample) -> None:
    imgs = {i.id: i for i in sample.root.images}
    assert sorted(imgs) == sorted(i["Id"] for i in sample.exp["images_list"])
    layers = {x.id: x for x in sample.root.layers}
    for i in sample.exp["images"]:
        img = imgs[i["Id"]]
        assert list(img.names) == i["RepoTags"]
        assert list(img.names_history) == (i["NamesHistory"] or [])
        assert img.digest == i["Digest"]
        assert img.created == timefmt.normalize(i["Created"])
        assert img.intermediate == (not i["RepoTags"])
        cfg = read_image_config(sample.source, img, Findings())
        assert cfg is not None
        assert cfg.digest_matches
        assert list(cfg.diff_ids) == i["RootFS"]["Layers"]
        assert cfg.os == i["Os"]
        assert cfg.architecture == i["Architecture"]
        assert dict(cfg.labels) == (i["Labels"] or {})
        chain, whole = layer_chain(layers, img.top_layer or "", Findings())
        assert whole
        assert [layers[x].diff_digest for x in reversed(chain)] == i["RootFS"]["Layers"]
        assert all(layers[x].has_tar_split for x in chain)
        assert all(b.present for b in img.big_data)
        assert {b.key for b in img.big_data} == {
            f"sha256:{img.id}",
            "manifest",
            f"manifest-sha256:{hex_of(i['Digest'])}",
            f"signature-{hex_of(i['Digest'])}",
        }


def hex_of(digest: str) -> str:
    return digest.removeprefix("sha256:")


def test_history_matches_podman_history(sample: Sample) -> None:
    for img in sample.root.images:
        cfg = read_image_config(sample.source, img, Findings())
        assert cfg is not None
        want = sample.exp["history"][img.id]
        got = list(reversed(cfg.history))
        assert [h.created_by for h in got] == [w["CreatedBy"] for w in want]
        assert [h.comment or "" for h in got] == [w["comment"] for w in want]
        assert [h.created for h in got] == [timefmt.normalize(w["created"]) for w in want]


def test_volumes_match_podman_volume_inspect(sample: Sample) -> None:
    assert sample.root.libpod is not None
    vols = {v.name: v for v in sample.root.libpod.volumes}
    assert sorted(vols) == [v["Name"] for v in sample.exp["volumes"]]
    for w in sample.exp["volumes"]:
        v = vols[w["Name"]]
        assert (v.driver, dict(v.labels), v.mount_point, dict(v.options)) == (
            w["Driver"],
            w["Labels"],
            w["Mountpoint"],
            w["Options"],
        )
        assert v.created == timefmt.normalize(w["CreatedAt"])
    users = sample.exp["scenario"]["containers"]
    assert vols["sk-named"].containers == (users["sk-vol"],)
    assert vols["sk-unused"].containers == ()
    assert [(d.name, d.has_data, d.path) for d in sample.root.volume_dirs] == [
        ("sk-named", True, "volumes/sk-named"),
        ("sk-unused", True, "volumes/sk-unused"),
    ]
    assert sample.source.read_bytes("volumes/sk-named/_data/v.txt") == b"v\n"


def test_pods_match_podman_pod_inspect(sample: Sample) -> None:
    assert sample.root.libpod is not None
    (w,) = sample.exp["pods"]
    (p,) = sample.root.libpod.pods
    assert (p.id, p.name, dict(p.labels), p.created) == (
        w["Id"],
        w["Name"],
        w["Labels"],
        timefmt.normalize(w["Created"]),
    )
    assert p.containers == tuple(c["Id"] for c in w["Containers"])
    assert p.infra_container_id is None


def test_id_maps(sample: Sample) -> None:
    # the store records no mapping, rootless or not (podman runs inside the user namespace)
    lp = {c.id: c for c in sample.libpod}
    for c in sample.root.containers:
        assert container_id_maps(sample.root, c.id, lp.get(c.id)) == ((), ())
    assert all(not x.uidmap and not x.gidmap for x in sample.root.layers)
    sets = sorted({(x.uidset, x.gidset) for x in sample.root.layers if x.is_image_layer})
    assert sets == [((0,), (0,)), ((0, 1000), (0, 1000))]  # the Containerfile's chown 1000:1000
    maps = rootless_mapping(sample.source, sample.root)
    if not sample.rootless:
        assert maps is None
        return
    assert maps is not None
    info = sample.exp["info"]["host"]["idMappings"]
    for got, want in ((maps.uidmap, info["uidmap"]), (maps.gidmap, info["gidmap"])):
        assert [(m.container_id, m.host_id, m.size) for m in got] == [
            (w["container_id"], w["host_id"], w["size"]) for w in want
        ]
    assert (maps.owner_uid, maps.owner_gid) == (info["uidmap"][0]["host_id"],) * 2
    assert to_container_id(info["uidmap"][1]["host_id"] + 999, maps.uidmap) == 1000


def test_image_layer_dirs_match_graph_driver_data(sample: Sample) -> None:
    prefix = _graph_root(sample) + "/"
    for i in sample.exp["images"]:
        findings = Findings()
        dirs = image_layer_dirs(sample.source, sample.root, i["Id"], findings)
        assert list(findings) == []
        assert all(d.present and d.role == "image" for d in dirs)
        assert len(dirs) == len(i["RootFS"]["Layers"])
        if sample.driver == "overlay":
            data = i["GraphDriver"]["Data"]
            lower = data["LowerDir"].split(":") if "LowerDir" in data else []
            assert [prefix + (d.path or "") for d in dirs] == [data["UpperDir"], *lower]


def test_orphans(sample: Sample) -> None:
    # nothing unused but the volume made for that purpose
    ids = [c.id for c in sample.libpod]
    assert [(o.kind, o.id, o.path) for o in find_orphans(sample.source, sample.root, ids)] == [
        ("unused-volume", "sk-unused", "volumes/sk-unused")
    ]
