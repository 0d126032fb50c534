"""File recovery against the engine's own answers: docker diff, docker export, deletions."""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
from typing import Any

import pytest

from tests.conftest import NAMES, driver_of, expected_of

KINDS = {0: "C", 1: "A", 2: "D"}


def valid_docker_diff_order(lines: list[tuple[str, str]]) -> bool:
    """The contract's rule: a directory's own line starts its block, which holds every line
    below it, and the D lines of its direct children close the block."""
    paths = [p for _, p in lines]
    for i, (_, path) in enumerate(lines):
        inside = [j for j, p in enumerate(paths) if p.startswith(path + "/")]
        if not inside:
            continue
        if min(inside) < i or max(inside) - i != len(inside):
            return False  # the block is not contiguous right after the directory's line
        block = [lines[j] for j in range(i + 1, max(inside) + 1)]
        direct_d = [
            k for k, (kd, p) in enumerate(block) if kd == "D" and posixpath.dirname(p) == path
        ]
        if direct_d and direct_d != list(range(len(block) - len(direct_d), len(block))):
            return False
    return True


def test_order_rule_itself():
    assert valid_docker_diff_order([("C", "/a"), ("C", "/a/y"), ("A", "/a/y/z"), ("D", "/a/x")])
    assert not valid_docker_diff_order([("C", "/a"), ("D", "/a/x"), ("C", "/a/y")])
    assert not valid_docker_diff_order([("C", "/a"), ("A", "/b"), ("A", "/a/x")])


def check_diff(run, root: str, expected: dict[str, Any], cid: str, aufs: bool = False) -> list:
    """storagekit diff of one container equals the engine's docker diff."""
    r = run("-r", root, "diff", cid, "--format", "json")
    assert r.code == 0, r.err
    ours = [(x["kind"], x["path"]) for x in r.json()]
    theirs = [(KINDS[x["Kind"]], x["Path"]) for x in expected["diff"][cid] or []]
    assert sorted(ours) == sorted(theirs), cid
    if aufs:
        # aufs: Docker walks the rw branch in lexical order; that order is the only one.
        assert ours == theirs
    else:
        assert valid_docker_diff_order(ours), ours
    return ours


@pytest.mark.parametrize("name", NAMES)
def test_diff_equals_docker_diff(name, sample, run):
    root = sample(name)
    expected = expected_of(name)
    for c in expected["containers"]:
        ours = check_diff(run, root, expected, c["Id"], aufs=name.startswith("aufs"))
        table = run("-r", root, "diff", c["Name"])
        assert table.out.splitlines() == [f"{k} {p}" for k, p in ours]


def normalise_export(entries: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """path -> (type, mode, uid, gid, size, link target, sha256), hard links resolved."""
    by_path = {e["path"].rstrip("/"): e for e in entries}
    out = {}
    for path, e in by_path.items():
        kind = e["type"]
        if kind == "hardlink":
            target = by_path[e["linkname"].rstrip("/")]
            e = {**target, "path": path, "mode": e["mode"], "uid": e["uid"], "gid": e["gid"]}
            kind = "file"
        link = e["linkname"] if kind == "symlink" else ""
        out[path] = (kind, e["mode"], e["uid"], e["gid"], e["size"], link, e.get("sha256"))
    return out


def tar_entries(path) -> list[dict[str, Any]]:
    types = {tarfile.REGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
             tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "chardev", tarfile.BLKTYPE: "blockdev",
             tarfile.FIFOTYPE: "fifo"}  # fmt: skip
    out = []
    with tarfile.open(path) as tf:
        for ti in tf:
            e = {"path": ti.name, "type": types[ti.type], "mode": f"{ti.mode:04o}", "uid": ti.uid,
                 "gid": ti.gid, "size": ti.size, "linkname": ti.linkname}  # fmt: skip
            if ti.isreg():
                e["sha256"] = hashlib.sha256(tf.extractfile(ti).read()).hexdigest()
            out.append(e)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_extract_tar_equals_docker_export(name, sample, run, tmp_path):
    root = sample(name)
    expected = expected_of(name)
    for c in expected["containers"]:
        out = tmp_path / f"{c['Id']}.tar"
        manifest = tmp_path / f"{c['Id']}.jsonl"
        r = run("-r", root, "extract", c["Id"], "--tar", str(out), "--manifest", str(manifest))
        assert r.code == 0, r.err
        ours = tar_entries(out)
        theirs = expected["export"][c["Id"]]
        assert normalise_export(ours) == normalise_export(theirs), c["Name"]
        # Docker's walk order too, so hard links point the same way.
        assert [e["path"] for e in ours] == [e["path"] for e in theirs]
        records = [json.loads(line) for line in manifest.read_text().splitlines()]
        assert len(records) == len(theirs)
        shas = {r["path"].lstrip("/"): r["sha256"] for r in records if r["sha256"]}
        assert shas == {e["path"]: e["sha256"] for e in theirs if e.get("sha256")}


def deletions_from_saved_layers(expected: dict[str, Any], image_id: str) -> set[str]:
    """What the image's build steps deleted, from the engine's `docker save` layer tars."""
    present: dict[str, int] = {}
    deleted: set[str] = set()
    for depth, layer in enumerate(expected["image_files"][image_id]["layers"]):
        names = [e["path"].rstrip("/") for e in layer["entries"]]
        for path in names:
            base = posixpath.basename(path)
            parent = posixpath.dirname(path)
            if base == ".wh..wh..opq":
                for p in [p for p in present if posixpath.dirname(p) == parent]:
                    if p not in names:
                        deleted.add(p)
                        for q in [q for q in present if q == p or q.startswith(p + "/")]:
                            del present[q]
            elif base.startswith(".wh."):
                p = posixpath.join(parent, base[4:])
                if p in present:
                    deleted.add(p)
                    for q in [q for q in present if q == p or q.startswith(p + "/")]:
                        del present[q]
        for path in names:
            if not posixpath.basename(path).startswith(".wh."):
                present[path] = depth
                deleted.discard(path)
    return {"/" + p for p in deleted}


@pytest.mark.parametrize(
    "name", ["overlay2-20.10", "aufs-modelled", "overlay-20.10", "fuse-overlayfs-20.10"]
)
def test_ls_deleted_lists_exactly_what_was_deleted(name, sample, run):
    root = sample(name)
    expected = expected_of(name)
    image = next(i for i in expected["images"] if "sk-app:1.0" in (i["RepoTags"] or []))
    build = deletions_from_saved_layers(expected, image["Id"])
    assert build  # the scenario deletes files in its build steps
    if name.startswith("overlay-"):
        # legacy overlay applied the build's deletions to complete root/ trees: they are
        # gone from the evidence, and only the container's own whiteouts hide anything
        build = set()
    r = run("-r", root, "ls", "sk-app:1.0", "/", "-R", "--deleted", "--format", "json")
    assert r.code == 0, r.err
    listed = r.json()
    assert {x["path"] for x in listed if x["deleted"]} == build
    visible = {x["path"] for x in listed if not x["deleted"]}
    assert not visible & build
    for c in expected["containers"]:
        if c["Image"] != image["Id"]:
            continue
        r = run("-r", root, "ls", c["Id"], "/", "-R", "--deleted", "--format", "json")
        ours = {x["path"] for x in r.json() if x["deleted"]}
        by_container = {x["Path"] for x in expected["diff"][c["Id"]] or [] if x["Kind"] == 2}
        assert ours == build | by_container, c["Name"]


@pytest.mark.parametrize("name", ["overlay2-20.10", "overlay-20.10", "fuse-overlayfs-20.10"])
def test_view_equals_the_captured_merged_mount(name, sample, run):
    """The root was copied while sk-running ran: its merged/ holds the kernel's view."""
    from storagekit.engines.docker.root import DockerRoot
    from storagekit.engines.docker.views import container_view
    from storagekit.union.recover import preorder

    driver = driver_of(name)
    with DockerRoot.open(sample(name)) as root:
        container = next(c for c in root.containers.values() if c.name == "/sk-running")
        rw = root.rw_layer(container)
        merged = root.source.sub(f"{driver}/{rw.mount_id}/merged")
        view = container_view(root, container)

        def listing(src):
            return {
                e.path: (e.type, e.mode, e.uid, e.gid, e.size if not e.is_dir else 0, e.link_target)
                for e in preorder(src, "")
            }

        kernel = listing(merged)
        ours = listing(view)
        # Volumes are mounted over the view's mount points in the live mount namespace only,
        # not in merged/ itself; everything else must be identical.
        assert ours == kernel
        export = expected_of(name)["export"][container.id]
        assert len(ours) == len(export)
        for path, (kind, *_) in ours.items():
            if kind.value == "file":
                assert view.read_bytes(path) == merged.read_bytes(path), path


def test_with_mounts_shows_volumes_and_generated_files(sample, run):
    root = sample("overlay2-20.10")
    r = run("-r", root, "ls", "sk-exited", "/named", "--with-mounts", "--format", "json")
    assert r.code == 0, r.err
    assert [(x["path"], x["layer"]) for x in r.json()] == [("/named/hello.txt", "volume:sk-named")]
    assert "bind mount at /bind" in r.err
    assert "[mount-not-in-evidence]" in r.err
    expected = expected_of("overlay2-20.10")
    c = next(c for c in expected["containers"] if c["Name"] == "/sk-exited")
    r = run("-r", root, "cat", "sk-exited", "/etc/hostname", "--with-mounts")
    assert r.out == c["Config"]["Hostname"] + "\n"
    # Without the flag: the container's own filesystem, as docker export has it.
    r = run("-r", root, "ls", "sk-exited", "/named", "--format", "json")
    assert r.json() == []
    r = run("-r", root, "ls", "sk-app:1.0", "--with-mounts")
    assert r.code == 2


def test_archive_without_xattrs_is_a_finding(tmp_path, run):
    """A copy made without --xattrs loses overlay opaque markers: say so, never silently."""
    import subprocess

    from tests.conftest import SAMPLES

    extracted = tmp_path / "x"
    extracted.mkdir()
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "-xJf",
         str(SAMPLES / "overlay2-20.10" / "root.tar.xz"), "-C", str(extracted)],
        check=True,
    )  # fmt: skip
    plain = tmp_path / "plain.tar"
    subprocess.run(["tar", "--no-xattrs", "-cf", str(plain), "-C", str(extracted), "."], check=True)
    r = run("-r", str(plain), "ls", "sk-exited", "/")
    assert r.code == 0, r.err
    assert "[xattrs-missing]" in r.err
    r = run("-r", str(SAMPLES / "overlay2-20.10" / "root.tar.xz"), "ls", "sk-exited", "/")
    assert "[xattrs-missing]" not in r.err
