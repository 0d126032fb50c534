"""Damaged and hostile containerd roots, built in memory next to the assertions."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from storagekit.engines.containerd import (
    NotAContainerdRootError,
    layer_dirs,
    read_root,
    snapshot_chain,
)
from storagekit.engines.containerd.metadb import read_metadb
from storagekit.errors import FormatError
from storagekit.formats.bolt import BoltDB
from storagekit.formats.containerd import put_uvarint, put_varint
from storagekit.model import Findings
from storagekit.sources import open_source
from storagekit.sources.memsource import MemorySource
from tests.engines.containerd.builders import OCI_INDEX, Root, Unsorted, bolt, digest
from tests.engines.containerd.conftest import SAMPLE

META = "io.containerd.metadata.v1.bolt/meta.db"
OVL = "io.containerd.snapshotter.v1.overlayfs"


def codes(root: Root) -> list[tuple[str, str | None, str]]:
    return [(f.code, f.path, f.message) for f in read_root(root.source()).findings]


def test_the_built_root_is_clean() -> None:
    r = Root()
    root = read_root(r.source())
    assert root.findings == ()
    (c,) = root.containers
    assert layer_dirs(root, c) == (f"{OVL}/snapshots/2/fs", f"{OVL}/snapshots/1/fs")
    (image,) = root.images
    assert (image.id, image.diff_ids, image.unpacked) == (
        digest(r.config), (r.diff,), (("overlayfs", r.diff),))
    assert c.args == ("sh", "-c", "true")
    assert root.namespaces[0].name == "default"
    assert [(d.page, d.txid, d.other_valid) for d in root.databases] == [
        (1, 11, True), (1, 11, True)]


def test_torn_meta_page_falls_back_and_says_so() -> None:
    r = Root()
    data = bytearray(bolt(r.meta))
    data[4096 + 16 + 60] ^= 0xFF  # meta 1 (txid 11, the newest): its checksum no longer holds
    r.meta_db = bytes(data)
    root = read_root(r.source())
    assert [(f.code, f.severity, f.path, f.message) for f in root.findings] == [
        ("torn-database", "warning", META,
         "meta page 1 is invalid (a torn copy?); meta page 0 (txid 10) was used")]
    assert (root.databases[0].page, root.databases[0].txid) == (0, 10)
    assert len(root.containers) == len(root.images) == 1


def test_torn_copy_of_the_real_meta_db() -> None:
    """containerd's own meta.db with its newest meta page torn: the previous tree is read."""
    with open_source(str(SAMPLE / "root.tar.xz")) as src:
        data = bytearray(src.read_bytes(META))
    db = BoltDB.from_bytes(bytes(data))
    newest = 0 if struct.unpack_from("<Q", data, 16 + 48)[0] == db.txid else 1
    data[newest * db.page_size + 16 + 48] ^= 0x01  # txid changed, checksum stale
    mem = MemorySource().add_file(META, bytes(data))
    root = read_root(mem)
    torn = [f for f in root.findings if f.code == "torn-database"]
    assert [f.message for f in torn] == [
        f"meta page {newest} is invalid (a torn copy?); meta page {1 - newest} "
        f"(txid {db.txid - 1}) was used"]
    meta = read_metadb(BoltDB.from_bytes(bytes(data)), Findings())
    assert [n.name for n in meta.namespaces] == ["default", "k8s.io", "moby"]
    assert len(meta.containers) == 5


def test_bad_varint_size() -> None:
    r = Root()
    d = digest(r.layer)
    r.ns[b"content"][b"blob"][d.encode()][b"size"] = b"\xff"  # type: ignore[index]
    root = read_root(r.source())
    assert [(f.code, f.path, f.message) for f in root.findings] == [
        ("bad-varint", f"{META}#v1/default/content/blob/{d}/size",
         "varint runs past the end of the value")]
    blob = next(b for b in root.blobs if b.digest == d)
    assert (blob.size, blob.present, blob.disk_size) == (None, True, len(r.layer))


def test_snapshot_id_that_is_a_path() -> None:
    r = Root()
    r.snaps[b"default/2/c1"][b"id"] = b"../"  # type: ignore[index]
    root = read_root(r.source())
    assert [(f.code, f.path, f.message) for f in root.findings] == [
        ("bad-varint", f"{OVL}/metadata.db#v1/snapshots/default/2/c1/id",
         "2 bytes follow the varint (value 2e2e2f)"),
    ]
    c1 = next(s for s in root.snapshots if s.key == "c1")
    assert (c1.id, c1.dir, c1.present, c1.kind) == (None, None, False, "active")
    assert layer_dirs(root, root.containers[0]) == (f"{OVL}/snapshots/1/fs",)
    assert all(".." not in (s.dir or "") for s in root.snapshots)


def test_hostile_names_never_become_paths() -> None:
    r = Root()
    evil = b"sha256:../../../../etc/passwd"
    r.ns[b"content"][b"blob"][evil] = {b"size": put_varint(5)}  # type: ignore[index]
    r.ns[b"snapshots"][b"../../x"] = {b"k": {b"name": b"default/9/k"}}  # type: ignore[index]
    root = read_root(r.source())
    blob = next(b for b in root.blobs if b.digest == evil.decode())
    assert (blob.blob_path, blob.present) == (None, False)
    snap = next(s for s in root.snapshots if s.snapshotter == "../../x")
    assert (snap.dir, snap.present) == (None, False)
    assert [(f.code, f.message) for f in root.findings] == [
        ("bad-digest", "content digest 'sha256:../../../../etc/passwd' is not valid")]


def test_truncated_spec_any() -> None:
    r = Root()
    c1 = r.ns[b"containers"][b"c1"]  # type: ignore[index]
    c1[b"spec"] = c1[b"spec"][:70]  # inside the JSON value  # type: ignore[index]
    root = read_root(r.source())
    assert codes(r) == [("bad-spec", f"{META}#v1/default/containers/c1/spec",
                         "protobuf field 2 runs past the end")]
    (c,) = root.containers
    assert (c.args, c.env, c.cwd, c.mounts, c.spec_type) == ((), (), None, (), None)
    assert c.image == "img:1"


def test_missing_blobs() -> None:
    r = Root()
    del r.blobs[digest(r.manifest)]
    root = read_root(r.source())
    path = "io.containerd.content.v1.content/blobs/sha256/" + digest(r.manifest)[7:]
    assert [(f.code, f.path) for f in root.findings] == [("missing-blob", path)] * 2
    assert [f.message for f in root.findings] == [
        f"content record {META}#v1/default/content/blob/{digest(r.manifest)} has no blob",
        "manifest of default/img:1 is not in the store",
    ]
    (image,) = root.images
    assert image.manifest is not None
    assert (image.config, image.diff_ids, image.chain_ids, image.unpacked) == (None, (), (), ())


def test_blob_size_mismatch_and_bad_json() -> None:
    r = Root()
    r.blobs[digest(r.config)] = b"{not json"
    root = read_root(r.source())
    path = "io.containerd.content.v1.content/blobs/sha256/" + digest(r.config)[7:]
    assert [(f.code, f.path) for f in root.findings] == [
        ("bad-blob", path), ("blob-size-mismatch", path)]
    assert root.images[0].diff_ids == ()


def test_snapshot_records_that_disagree() -> None:
    r = Root()
    del r.files[f"{OVL}/snapshots/2/fs"]
    r.snaps[b"default/7/gone"] = {b"id": put_uvarint(7), b"kind": b"\x02"}
    r.ns[b"snapshots"][b"overlayfs"][b"c2"] = {b"name": b"default/8/c2"}  # type: ignore[index]
    r.ns[b"snapshots"][b"overlayfs"][b"c1"][b"parent"] = b"other"  # type: ignore[index]
    assert codes(r) == [
        ("snapshot-parent-mismatch", f"{META}#v1/default/snapshots/overlayfs/c1",
         f"meta.db parent 'other', snapshotter parent 'default/1/{r.diff}'"),
        ("missing-snapshot", f"{META}#v1/default/snapshots/overlayfs/c2",
         "overlayfs has no snapshot named 'default/8/c2'"),
        ("snapshot-not-in-metadata", f"{OVL}/metadata.db#v1/snapshots/default/7/gone",
         "no namespace of meta.db names this snapshot"),
        ("missing-snapshot-dir", f"{OVL}/snapshots/2/fs", "snapshot 'c1' has no files"),
    ]


def test_orphan_snapshot_dirs_and_unrecorded_blobs() -> None:
    r = Root()
    r.files[f"{OVL}/snapshots/3/fs/left"] = b"gc leftover"
    r.files["io.containerd.content.v1.content/blobs/sha256/" + "ab" * 32] = b"stray"
    root = read_root(r.source())
    assert root.findings == ()
    assert root.orphan_snapshot_dirs == (f"{OVL}/snapshots/3",)
    assert root.unrecorded_blobs == ("io.containerd.content.v1.content/blobs/sha256/" + "ab" * 32,)


def test_parent_loop_ends() -> None:
    r = Root()
    r.ns[b"snapshots"][b"overlayfs"][r.diff.encode()][b"parent"] = b"c1"  # type: ignore[index]
    root = read_root(r.source())
    assert [s.key for s in snapshot_chain(root, "default", "overlayfs", "c1")] == ["c1", r.diff]


def test_damaged_bucket_is_a_finding_and_neighbours_are_read() -> None:
    r = Root()
    r.ns[b"containers"] = Unsorted({b"b": {b"image": b"x"}, b"a": {b"image": b"y"}})
    root = read_root(r.source())
    assert codes(r) == [("damaged-metadata", f"{META}#v1/default/containers",
                         "container: bucket 'v1/default/containers': key b'a' is out of order")]
    assert root.containers == ()
    assert len(root.images) == 1


def test_index_without_a_usable_platform() -> None:
    r = Root()
    index = (b'{"mediaType":"%s","manifests":[{"digest":"%s","platform":{"os":"linux",'
             b'"architecture":"arm64"}},{"digest":"%s","platform":{"os":"windows",'
             b'"architecture":"amd64"}}]}') % (OCI_INDEX.encode(), digest(r.manifest).encode(),
                                               digest(r.manifest).encode())
    r.blobs[digest(index)] = index
    target = r.ns[b"images"][b"img:1"][b"target"]  # type: ignore[index]
    target[b"digest"], target[b"mediatype"] = digest(index).encode(), OCI_INDEX.encode()
    root = read_root(r.source())
    assert [f.code for f in root.findings] == ["no-platform-manifest"]
    assert (root.images[0].manifest, root.images[0].config) == (None, None)


def test_other_snapshotters_are_named_unread() -> None:
    r = Root()
    r.files["io.containerd.snapshotter.v1.zfs/snapshots/1/x"] = b"data"
    r.files["io.containerd.snapshotter.v1.devmapper"] = None
    root = read_root(r.source())
    assert root.unread_snapshotters == ("devmapper", "zfs")
    assert [(f.code, f.severity, f.path) for f in root.findings] == [
        ("unread-snapshotter", "info", "io.containerd.snapshotter.v1.zfs")]


def test_not_a_root_and_unreadable_meta(tmp_path: Path) -> None:
    with pytest.raises(NotAContainerdRootError):
        read_root(MemorySource())
    with pytest.raises(FormatError, match="no valid meta page"):
        read_root(MemorySource().add_file(META, b"\0" * 8192))
    with pytest.raises(FormatError, match="no v1 bucket"):
        read_root(MemorySource().add_file(META, bolt({b"v2": {}})))


@pytest.mark.parametrize(
    ("link", "target", "present"),
    [
        (None, None, {"c1": True, "diff": True}),
        (f"{OVL}/snapshots/2", "1", {"c1": False, "diff": True}),
        (f"{OVL}/snapshots/2/fs", "../1/fs", {"c1": False, "diff": True}),
        (f"{OVL}/snapshots", "/tmp", {"c1": False, "diff": False}),
    ],
    ids=["real", "snapshot-dir-link", "fs-link", "snapshots-link"],
)
def test_snapshot_directories_that_are_links_are_absent(
    tmp_path: Path, link: str | None, target: str | None, present: dict[str, bool]
) -> None:
    """A snapshot's directory is there only as a real directory (one listing of ``snapshots/``,
    then ``fs`` alone), on a host directory and in any other source alike."""
    r = Root()
    if link is not None:
        for path in [p for p in r.files if p == link or p.startswith(link + "/")]:
            del r.files[path]
        if link.endswith("/snapshots"):
            r.files[f"{OVL}/metadata.db.keep"] = b""  # the snapshotter's directory stays
    mem = r.source()
    top = r.write(tmp_path / "root")
    if link is not None and target is not None:
        mem.add_symlink(link, target)
        (top / link).parent.mkdir(parents=True, exist_ok=True)
        (top / link).symlink_to(target)
    for source in (mem, open_source(str(top))):
        root = read_root(source)
        got = {("c1" if s.key == "c1" else "diff"): s.present for s in root.snapshots}
        assert got == present
        missing = sorted(f.path or "" for f in root.findings if f.code == "missing-snapshot-dir")
        assert missing == sorted(f"{OVL}/snapshots/{s.id}/fs" for s in root.snapshots
                                 if not s.present)
        root.close()
