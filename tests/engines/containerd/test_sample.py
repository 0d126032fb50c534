"""The readers against containerd's own answers about a root it made (expected.json)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from storagekit.engines.containerd import ContainerdRoot, layer_dirs, snapshot_chain
from storagekit.entry import FileType
from storagekit.source import Source, join
from tests.engines.containerd.conftest import MADE_AT

SPEC_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/Spec"


def test_clean_root_has_no_findings(root: ContainerdRoot) -> None:
    assert root.findings == ()
    assert root.snapshotters == ("native", "overlayfs")
    assert root.unread_snapshotters == ("btrfs",)
    assert (root.orphan_snapshot_dirs, root.unrecorded_blobs) == ((), ())
    assert [(d.path, d.other_valid) for d in root.databases] == [
        ("io.containerd.metadata.v1.bolt/meta.db", True),
        ("io.containerd.snapshotter.v1.native/metadata.db", True),
        ("io.containerd.snapshotter.v1.overlayfs/metadata.db", True),
    ]


def test_namespaces(root: ContainerdRoot, expected: dict[str, Any]) -> None:
    assert [n.name for n in root.namespaces] == sorted(expected["namespaces"])
    assert all(n.labels == () for n in root.namespaces)


def test_image_records_match_ctr_images_ls(root: ContainerdRoot, expected: dict[str, Any]) -> None:
    for ns, exp in expected["ns"].items():
        ours = [(i.name, i.target.media_type, i.target.digest)
                for i in root.images if i.namespace == ns and i.target]
        assert ours == [(r["ref"], r["type"], r["digest"]) for r in exp["images"]]
        for image in (i for i in root.images if i.namespace == ns):
            assert image.target is not None
            assert image.target.size == exp["content"][image.target.digest]["size"]


def test_images_resolve_to_what_was_imported(
    root: ContainerdRoot, expected: dict[str, Any]
) -> None:
    sc = expected["scenario"]
    app, base, amd64 = sc["images"]["app"], sc["images"]["base"], sc["images"]["amd64"]
    by = {(i.namespace, i.name): i for i in root.images}
    for ns in ("default", "k8s.io"):
        image = by[(ns, "docker.io/library/sk-app:1")]
        assert image.manifest is not None
        assert image.manifest.digest == app["manifest"]
        assert image.id == app["config"]
        assert image.config is not None
        assert image.config.size == app["config_size"]
        assert list(image.diff_ids) == app["diff_ids"]
        assert list(image.layer_digests) == app["layer_digests"]
        assert image.chain_ids[-1] == sc["app_chain"]
        assert len(image.chain_ids) == 3
        assert image.chain_ids[0] == app["diff_ids"][0]
        assert image.unpacked == (("overlayfs", sc["app_chain"]),)
        assert image.platform is None
    for ns in ("default", "k8s.io", "moby"):
        image = by[(ns, "docker.io/library/sk-base:1")]
        # ctr converts a docker-archive to a schema 2 manifest: the config and layer are ours
        assert image.target is not None
        assert image.manifest == image.target
        assert image.target.media_type == "application/vnd.docker.distribution.manifest.v2+json"
        assert image.id == base["config"]
        assert image.diff_ids == image.chain_ids == (sc["base_chain"],)
        assert list(image.layer_digests) == base["layer_digests"]
    assert by[("default", "docker.io/library/sk-base:1")].unpacked == (
        ("native", sc["base_chain"]), ("overlayfs", sc["base_chain"]))
    for name in ("docker.io/library/sk-multi:1", "docker.io/library/sk-multi:oci-index"):
        image = by[("default", name)]
        assert image.target is not None
        assert image.target.media_type == "application/vnd.oci.image.index.v1+json"
        assert image.platform == "linux/amd64"
        assert image.manifest is not None
        assert image.manifest.digest == amd64["manifest"]
        assert image.id == amd64["config"]
        assert list(image.diff_ids) == amd64["diff_ids"]
        assert list(image.layer_digests) == amd64["layer_digests"]
    oci_index = by[("default", "docker.io/library/sk-multi:oci-index")]
    assert oci_index.annotations == ()
    assert dict(by[("default", "docker.io/library/sk-app:1")].annotations) == {
        "io.containerd.image.name": "docker.io/library/sk-app:1",
        "org.opencontainers.image.ref.name": "1",
    }


def test_content_matches_ctr_content(root: ContainerdRoot, expected: dict[str, Any]) -> None:
    for ns, exp in expected["ns"].items():
        blobs = {b.digest: b for b in root.blobs if b.namespace == ns}
        assert sorted(blobs) == sorted(exp["content"])
        for digest, truth in exp["content"].items():
            blob = blobs[digest]
            assert (blob.size, blob.disk_size, blob.present) == (truth["size"], truth["size"], True)
            assert dict(blob.labels) == truth["labels"]
            assert truth["sha256"] == digest
            assert blob.blob_path == "io.containerd.content.v1.content/blobs/sha256/" + digest[7:]
            assert blob.created is not None
            assert blob.updated is not None


def test_snapshots_match_ctr_snapshots_info(root: ContainerdRoot, expected: dict[str, Any]) -> None:
    count = 0
    for ns, exp in expected["ns"].items():
        for sn, snaps in exp["snapshots"].items():
            ours = {s.key: s for s in root.snapshots if (s.namespace, s.snapshotter) == (ns, sn)}
            assert sorted(ours) == sorted(snaps["items"])
            for key, truth in snaps["items"].items():
                s, info = ours[key], truth["info"]
                count += 1
                assert s.kind == info["Kind"].lower()
                assert s.parent == info.get("Parent")
                assert dict(s.labels) == info.get("Labels", {})
                assert (s.created, s.updated) == (info["Created"], info["Updated"])
                assert s.name is not None
                assert s.name.startswith(ns + "/")
                assert s.name.endswith("/" + key)
                assert s.present
                assert s.id is not None
                suffix = "/fs" if sn == "overlayfs" else ""
                assert s.dir == f"io.containerd.snapshotter.v1.{sn}/snapshots/{s.id}{suffix}"
                if s.kind == "committed":  # usage of a committed snapshot is the recorded one
                    assert (s.size, s.inodes) == (truth["usage"]["size"],
                                                  truth["usage"]["inodes"])
                else:
                    assert (s.size, s.inodes) == (None, None)
    assert count == len(root.snapshots) == 18


def test_containers_match_ctr_containers_info(
    root: ContainerdRoot, expected: dict[str, Any]
) -> None:
    for ns, exp in expected["ns"].items():
        ours = {c.id: c for c in root.containers if c.namespace == ns}
        assert sorted(ours) == sorted(exp["containers"])
        for cid, info in exp["containers"].items():
            c, spec = ours[cid], info["Spec"]
            assert c.image == info["Image"]
            assert (c.snapshotter, c.snapshot_key) == (info["Snapshotter"], info["SnapshotKey"])
            assert c.runtime == info["Runtime"]["Name"]
            assert dict(c.labels) == info["Labels"]
            assert (c.created, c.updated) == (info["CreatedAt"], info["UpdatedAt"])
            assert c.spec_type == SPEC_TYPE
            assert list(c.args) == spec["process"]["args"]
            assert list(c.env) == spec["process"]["env"]
            assert c.cwd == spec["process"]["cwd"]
            assert [(m.destination, m.type, m.source, list(m.options)) for m in c.mounts] == [
                (m["destination"], m.get("type"), m.get("source"), m.get("options", []))
                for m in spec["mounts"]
            ]
            assert c.extensions == ()


def test_cri_labels(root: ContainerdRoot, expected: dict[str, Any]) -> None:
    k8s = expected["scenario"]["k8s"]
    by = {c.id: c for c in root.containers}
    sandbox, app = by[k8s["sandbox"]], by[k8s["container"]]
    assert (sandbox.cri_kind, app.cri_kind) == ("sandbox", "container")
    assert sandbox.pod == app.pod
    assert app.pod is not None
    assert (app.pod.namespace, app.pod.name, app.pod.uid) == ("shop", "web-0", k8s["pod_uid"])
    assert (app.container_name, sandbox.container_name) == ("app", None)
    assert "MODE=prod" in app.env
    created = by["c-created"]
    assert created.pod is None
    assert created.cwd == "/data"
    assert "FOO=bar" in created.env
    host = [m for m in created.mounts if m.destination == "/host"]
    assert len(host) == 1
    assert host[0].type == "bind"
    assert host[0].options == ("rbind", "ro")


def test_leases(root: ContainerdRoot, expected: dict[str, Any]) -> None:
    for ns, exp in expected["ns"].items():
        ours = {le.id: le for le in root.leases if le.namespace == ns}
        assert sorted(ours) == sorted(exp["leases"])
        for lid, truth in exp["leases"].items():
            assert dict(ours[lid].labels) == truth["labels"]
            assert ours[lid].created is not None
            assert ours[lid].created[:19] + "Z" == truth["created_at"]  # ctr prints seconds
    by = {(le.namespace, le.id): le for le in root.leases}
    arm = expected["scenario"]["images"]["arm64"]["manifest"]
    lease = by[("default", "sk-lease")]
    assert (lease.content, lease.snapshots) == ((arm,), ())
    assert lease.expires == expected["ns"]["default"]["leases"]["sk-lease"]["labels"][
        "containerd.io/gc.expire"]
    forever = by[("default", "sk-forever")]
    assert (forever.expires, forever.snapshots) == (None, (("overlayfs", "dangling-active"),))
    cid = expected["scenario"]["moby"]["container"]
    moby = by[("moby", cid)]
    assert moby.snapshots == (("overlayfs", cid), ("overlayfs", cid + "-init"))


def test_moby_layout(root: ContainerdRoot, expected: dict[str, Any]) -> None:
    cid = expected["scenario"]["moby"]["container"]
    chain = snapshot_chain(root, "moby", "overlayfs", cid)
    assert [s.key for s in chain] == [cid, cid + "-init", expected["scenario"]["base_chain"]]
    assert [s.kind for s in chain] == ["active", "committed", "committed"]


def _active_truth(expected: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (ns, sn, key, item["merged"])
        for ns, exp in expected["ns"].items()
        for sn, snaps in exp["snapshots"].items()
        for key, item in snaps["items"].items()
        if "merged" in item
    ]


def test_layer_dirs_are_what_the_engine_mounts(
    root: ContainerdRoot, expected: dict[str, Any]
) -> None:
    truth = {(ns, sn, key): m["layers"] for ns, sn, key, m in _active_truth(expected)}
    assert len(truth) == 7
    for c in root.containers:
        assert c.snapshotter is not None
        assert c.snapshot_key is not None
        want = truth[(c.namespace, c.snapshotter, c.snapshot_key)]
        assert list(layer_dirs(root, c)) == [p.removeprefix(MADE_AT) for p in want]


def _merge(source: Source, layers: list[str]) -> dict[str, dict[str, Any]]:
    """overlayfs semantics, top layer first: 0/0 char devices hide, opaque dirs stop descent."""
    seen: dict[str, dict[str, Any]] = {}
    hidden: set[str] = set()

    def visit(layer: str, rel: str) -> None:
        for e in sorted(source.scandir(join(layer, rel) if rel else layer), key=lambda e: e.name):
            path = f"{rel}/{e.name}" if rel else e.name
            if path in hidden or any(path.startswith(h + "/") for h in hidden):
                continue
            if e.type is FileType.CHARDEV and e.rdev == (0, 0):
                hidden.add(path)
                continue
            if path not in seen:
                item = {"path": path, "type": e.type.value, "mode": f"{e.mode:04o}",
                        "uid": e.uid, "gid": e.gid, "size": e.size if e.is_file else 0,
                        "link_target": e.link_target}
                if e.is_file:
                    item["sha256"] = hashlib.sha256(source.read_bytes(e.path)).hexdigest()
                seen[path] = item
            elif seen[path]["type"] != "dir":
                continue
            if e.is_dir and seen[path]["type"] == "dir":
                visit(layer, path)
                if source.xattrs(e.path).get("trusted.overlay.opaque") == b"y":
                    hidden.add(path)

    for layer in layers:
        visit(layer, "")
    return seen


def test_union_of_layer_dirs_equals_the_kernels_view(
    source: Source, root: ContainerdRoot, expected: dict[str, Any]
) -> None:
    """layer_dirs + Source are all a union view needs: the kernel's overlay gives the same."""
    for ns, sn, key, merged in _active_truth(expected):
        chain = snapshot_chain(root, ns, sn, key)
        layers = [s.dir for s in (chain[:1] if sn == "native" else chain) if s.dir]
        ours = _merge(source, layers)
        want = {e["path"]: {k: v for k, v in e.items() if k != "mtime_ns"}
                for e in merged["entries"]}
        assert ours == want, (ns, key)


@pytest.mark.parametrize("key", ["c-ran"])
def test_ran_container_changes_are_in_its_upper(root: ContainerdRoot, source: Source,
                                                key: str) -> None:
    snap = next(s for s in root.snapshots if s.key == key)
    assert snap.dir is not None
    upper = snap.dir
    assert source.stat(join(upper, "bin/wc")).rdev == (0, 0)
    assert source.stat(join(upper, "data/new.txt")).rdev == (0, 0)
    assert source.xattrs(join(upper, "opt/cache")).get("trusted.overlay.opaque") == b"y"
    assert source.read_bytes(join(upper, "data/fresh.txt")) == b"fresh\n"


def test_snapshotter_usage_is_stored_as_signed_varints(
    source: Source, root: ContainerdRoot, expected: dict[str, Any]
) -> None:
    """containerd 1.6.20 writes ``inodes`` and ``size`` with ``PutVarint`` (``putUsage``), not
    ``PutUvarint``: read unsigned, every recorded usage would come out doubled."""
    from storagekit.formats.bolt import BoltDB
    from storagekit.formats.containerd import put_varint, uvarint

    path = "io.containerd.snapshotter.v1.overlayfs/metadata.db"
    db = BoltDB.from_bytes(source.read_bytes(path, 1 << 24), path)
    snaps = db.bucket(b"v1", b"snapshots")
    assert snaps is not None
    checked = 0
    for s in root.snapshots:
        if s.snapshotter != "overlayfs" or s.kind != "committed":
            continue
        usage = expected["ns"][s.namespace]["snapshots"]["overlayfs"]["items"][s.key]["usage"]
        assert s.name is not None
        record = snaps.bucket(s.name.encode())
        assert record is not None
        for key in ("inodes", "size"):
            raw = record.get(key.encode())
            assert raw == put_varint(usage[key]), (s.key, key)
            assert uvarint(raw) == 2 * usage[key]
        checked += 1
    assert checked == 10
