"""The podman engine through the command line against podman 4.3.1's own answers.

Every sample root is read as its ``root.tar.xz`` and as the directory GNU tar extracts from it
(as root). Values are compared exactly with ``expected.json`` (``ps``, ``inspect``,
``images``, ``diff``, ``volume inspect``, ``system df -v``, the ``export`` member lists).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from storagekit.cli.main import main
from storagekit.cli.render import human_size
from storagekit.timefmt import normalize
from tests.engines.podman.conftest import PODMAN_NAMES, SAMPLES, expected_of
from tests.engines.podman.merge import export_listing


@dataclass
class Root:
    name: str
    form: str
    path: str
    exp: dict[str, Any]

    @property
    def driver(self) -> str:
        return self.name.rsplit("-", 1)[1]

    def run(self, *args: str) -> tuple[int, str, str]:
        raw = io.BytesIO()
        out, err = io.TextIOWrapper(raw, encoding="utf-8", write_through=True), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["-r", self.path, *args])
        out.flush()
        return code, raw.getvalue().decode("utf-8", "surrogateescape"), err.getvalue()

    def json(self, *args: str) -> Any:
        code, out, err = self.run(*args, "--format", "json")
        assert (code, err) == (0, ""), err
        return json.loads(out)


@pytest.fixture(
    params=[(n, f) for n in PODMAN_NAMES for f in ("archive", "directory")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def root(request: pytest.FixtureRequest, podman_extracted: dict[str, Path]) -> Root:
    name, form = request.param
    if form == "directory" and name not in podman_extracted:
        pytest.skip("extracting a root with device nodes and xattrs needs root")
    path = SAMPLES / name / "root.tar.xz" if form == "archive" else podman_extracted[name]
    return Root(name, form, str(path), expected_of(name))


def _df_text(exp: dict[str, Any]) -> dict[str, list[list[str]]]:
    """``podman system df -v``'s three tables as rows of columns."""
    sections: dict[str, list[list[str]]] = {}
    current = None
    for line in exp["system_df_v"].splitlines():
        if line.endswith("space usage:"):
            current = line.split(" space")[0]
            sections[current] = []
        elif line and current and not line.startswith(("REPOSITORY", "CONTAINER ID", "VOLUME")):
            sections[current].append(re.split(r"\s{2,}", line.strip()))
    return sections


def test_containers_match_podman_ps_and_inspect(root: Root) -> None:
    got = {c["id"]: c for c in root.json("containers", "-s")}
    assert sorted(got) == sorted(p["Id"] for p in root.exp["ps"])
    inspect = {i["Id"]: i for i in root.exp["containers"]}
    graph = root.exp["info"]["store"]["graphRoot"] + "/"
    for p in root.exp["ps"]:
        c, i = got[p["Id"]], inspect[p["Id"]]
        assert c["engine"] == "podman"
        assert (c["name"], c["status"], c["exit_code"]) == (
            p["Names"][0],
            p["State"],
            p["ExitCode"],
        )
        assert (c["image"], c["image_id"], c["pod"] or "") == (p["Image"], p["ImageID"], p["Pod"])
        assert c["exit_code"] == i["State"]["ExitCode"]
        assert c["driver"] == i["Driver"] == root.driver
        assert c["command"] == p["Command"]
        assert [
            (m["type"], m["name"], m["source"], m["destination"], m["read_only"])
            for m in c["mounts"]
        ] == [
            (m["Type"], m["Name"], m["Source"], m["Destination"], not m["RW"]) for m in i["Mounts"]
        ]
        assert all(m["present"] for m in c["mounts"])
        if root.driver == "overlay":
            data = i["GraphDriver"]["Data"]
            want = [data["UpperDir"], *data["LowerDir"].split(":")]
            assert [graph + d for d in c["layer_dirs"]] == want
            assert c["layer_dirs"][0] == f"overlay/{c['layer_id']}/diff"
        else:
            assert c["layer_dirs"][0] == f"vfs/dir/{c['layer_id']}"


def test_container_sizes_match_podman_system_df(root: Root) -> None:
    got = {c["id"][:12]: c for c in root.json("containers", "-s")}
    rows = _df_text(root.exp)["Containers"]
    assert len(rows) == len(got)
    for row in rows:
        assert human_size(got[row[0]]["size_rw"]) == row[4]


def test_images_match_podman_images(root: Root) -> None:
    got = {i["id"]: i for i in root.json("images", "-a")}
    inspect = {i["Id"]: i for i in root.exp["images"]}
    assert sorted(got) == sorted(i["Id"] for i in root.exp["images_list"])
    for w in root.exp["images_list"]:
        i = got[w["Id"]]
        assert i["engine"] == "podman"
        # ``podman images --format json`` leaves RepoTags null: inspect has them
        assert i["tags"] == sorted(inspect[w["Id"]]["RepoTags"])
        assert i["digests"] == sorted(w["RepoDigests"] or [])
        assert i["digest"] == w["Digest"]
        assert i["parent"] == (w["ParentId"] or None)
        assert i["size"] == w["Size"]
        assert i["containers"] == w["Containers"]
        assert i["diff_ids"] == inspect[w["Id"]]["RootFS"]["Layers"]
        assert len(i["layer_ids"]) == len(i["diff_ids"])
        assert i["top_layer"] == i["layer_ids"][-1]
        assert i["intermediate"] == (not inspect[w["Id"]]["RepoTags"])
        assert i["dangling"] is False  # every untagged image here is a build step


def test_image_inspect_equals_podman_image_inspect(root: Root) -> None:
    want = root.exp["images"]
    code, out, err = root.run("inspect", "--type", "image", *(i["Id"] for i in want))
    assert (code, err) == (0, ""), err
    assert json.loads(out) == want  # every field, in podman's order of the references


def test_images_label_filter_reads_the_image_labels(root: Root) -> None:
    code, out, err = root.run("images", "-a", "-q", "--no-trunc", "--filter", "label=sk-none")
    assert (code, out, err) == (0, "", "")
    want = {i["Id"] for i in root.exp["images"] if (i["Labels"] or {}).get("io.buildah.version")}
    code, out, err = root.run(
        "images", "-a", "-q", "--no-trunc", "--filter", "label=io.buildah.version"
    )
    assert (code, err) == (0, "")
    assert {line.removeprefix("sha256:") for line in out.split()} == want
    assert len(want) == len(root.exp["images"]) - 1  # all but the base


def test_container_inspect_equals_podman_container_inspect(root: Root) -> None:
    want = deepcopy(root.exp["containers"])
    for c in want:
        if c["State"]["Running"]:  # read from the live process's /proc/<pid>/cgroup
            c["State"]["CgroupPath"] = None
    code, out, err = root.run("inspect", "--type", "container", *(c["Id"] for c in want))
    assert (code, err) == (0, ""), err
    assert json.loads(out) == want  # every other field of every container


def test_image_df_numbers_match_podman_system_df(root: Root) -> None:
    got = {i["id"][:12]: i for i in root.json("df", "-v")["images"]["items"]}
    for row in _df_text(root.exp)["Images"]:
        i = got[row[2]]
        assert [human_size(i[k]) for k in ("size", "shared_size", "unique_size")] == row[4:7]
        assert str(i["containers"]) == row[7]


def test_df_summary(root: Root) -> None:
    df = root.json("df")
    images = {i["Id"]: i for i in root.exp["images_list"]}
    assert df["engine"] == "podman"
    assert df["images"] == {
        "count": 7,
        "active": 2,
        "size": sum(i["Size"] for i in images.values()),
        "reclaimable": sum(i["Size"] for i in images.values() if not i["Containers"]),
    }
    # podman 4.3: active = running; reclaimable = the sizes of the others (sk-running's 14 B)
    assert df["containers"] == {"count": 6, "active": 1, "size": 82, "reclaimable": 68}
    assert df["volumes"] == {"count": 2, "active": 1, "size": 2, "reclaimable": 0}
    vols = [[v["name"], str(v["links"]), human_size(v["size"])]
            for v in root.json("df", "-v")["volumes"]["items"]]  # fmt: skip
    assert vols == _df_text(root.exp)["Local Volumes"]
    measured = df["measured"]
    assert measured["apparent"]["total"] == sum(
        measured["apparent"][k]
        for k in ("layers", "containers", "volumes", "image_metadata", "build_cache", "other")
    )
    assert measured["apparent"]["volumes"] > 0
    assert measured["apparent"]["layers"] > 1_900_000


def test_layers(root: Root) -> None:
    layers = {x["id"]: x for x in root.json("layers")}
    images = {i["id"]: i for i in root.json("images", "-a")}
    containers = root.json("containers", "-s")
    assert len(layers) == 4 + len(containers)
    for i in images.values():
        assert [layers[lid]["diff_id"] for lid in i["layer_ids"]] == i["diff_ids"]
        for lid in i["layer_ids"]:
            assert i["id"] in layers[lid]["images"]
    for c in containers:
        own = layers[c["layer_id"]]
        assert own["names"] == [f"{c['name']}-layer"]
        assert own["diff_id"] is None
        assert own["containers"] == [c["id"]]
        assert own["parent"] == images[c["image_id"]]["top_layer"]
    for x in layers.values():
        assert x["present"]
        assert x["engine"] == "podman"
        assert x["path"] == (
            f"overlay/{x['id']}/diff" if root.driver == "overlay" else f"vfs/dir/{x['id']}"
        )


def test_volumes_match_podman_volume_inspect(root: Root) -> None:
    got = root.json("volumes")
    users = root.exp["scenario"]["containers"]
    assert [(v["name"], v["driver"], v["labels"], v["options"], v["mountpoint"]) for v in got] == [
        (w["Name"], w["Driver"], w["Labels"], w["Options"], w["Mountpoint"])
        for w in root.exp["volumes"]
    ]
    assert [v["containers"] for v in got] == [[users["sk-vol"]], []]


def test_diff_equals_podman_diff(root: Root) -> None:
    for cid, want in root.exp["diff"].items():
        got = root.json("diff", cid)
        assert sorted((c["kind"], c["path"]) for c in got) == sorted(
            [("A", p) for p in want.get("added") or []]
            + [("C", p) for p in want.get("changed") or []]
            + [("D", p) for p in want.get("deleted") or []]
        )


def _tar_listing(data: bytes) -> dict[str, dict[str, Any]]:
    kinds = {tarfile.DIRTYPE: "dir", tarfile.REGTYPE: "file", tarfile.SYMTYPE: "symlink",
             tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "chardev"}  # fmt: skip
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            item: dict[str, Any] = {
                "type": kinds.get(m.type, str(m.type)),
                "mode": f"{m.mode & 0o7777:04o}",
                "uid": m.uid,
                "gid": m.gid,
                "linkname": m.linkname,
            }
            if m.isfile():
                f = tf.extractfile(m)
                assert f is not None
                item["size"], item["sha256"] = m.size, hashlib.sha256(f.read()).hexdigest()
            out[m.name.rstrip("/")] = item
    return out


def test_export_equals_podman_export(root: Root, tmp_path: Path) -> None:
    """Rootless roots too: owners as the container saw them, not the subordinate IDs."""
    for cid, export in root.exp["export"].items():
        out = tmp_path / f"{cid}.tar"
        assert root.run("export", cid, "-o", str(out))[0] == 0
        assert _tar_listing(out.read_bytes()) == export_listing(export["members"])
        ext = tmp_path / f"{cid}-x.tar"
        code, _, err = root.run("extract", cid, "--tar", str(ext))
        assert code == 0
        assert err.startswith("extracted ")
        assert _tar_listing(ext.read_bytes()) == export_listing(export["members"])


def test_ls_and_cat(root: Root) -> None:
    cid = root.exp["scenario"]["containers"]["sk-exited"]
    listing = {e["path"]: e for e in root.json("ls", cid, "/app")}
    assert "/app/hello.txt" not in listing
    assert "/app/new.txt" in listing
    assert (listing["/app/owned.txt"]["uid"], listing["/app/owned.txt"]["gid"]) == (1000, 1000)
    code, out, _ = root.run("cat", "sk-vol", "/root/w.txt")
    assert (code, out) == (0, "w\n")
    code, out, _ = root.run("cat", "sk-vol", "/data/v.txt", "--with-mounts")
    assert (code, out) == (0, "v\n")


def test_chain_orphans_audit_verify(root: Root) -> None:
    cid = root.exp["scenario"]["containers"]["sk-exited"]
    chain = root.json("chain", cid)
    assert [x["role"] for x in chain["layers"]] == ["rw"] + ["image"] * 4
    assert chain["complete"] is True
    assert chain["driver_parents_agree"] is (True if root.driver == "overlay" else None)
    orphans = root.json("orphans")
    assert [(o["kind"], o["path"], o["ids"]) for o in orphans] == [
        ("unused-volume", "volumes/sk-unused", ["sk-unused"])
    ]
    audit = root.json("audit")
    assert audit["findings"] == []
    assert audit["counts"] == {
        "images": 7,
        "containers": 6,
        "containers_by_status": {"created": 1, "exited": 4, "running": 1},
        "layers": 10,
        "volumes": 2,
    }
    assert audit["root"]["rootless"] is None if "rootless" not in root.name else (
        audit["root"]["rootless"]["uidmap"] == [[0, 1500, 1], [1, 100000, 65536]]
    )  # fmt: skip
    verify = root.json("verify")
    assert [v["status"] for v in verify] == ["ok"] * 4
    assert all(v["computed_diff_id"] == v["diff_id"] for v in verify)


def test_save_is_byte_exact(root: Root, tmp_path: Path) -> None:
    out = tmp_path / "save.tar"
    code, _, err = root.run("save", "localhost/sk-app:1", "-o", str(out))
    assert (code, err) == (0, f"saved 1 image(s) to {out}\n")
    want = next(i for i in root.exp["images"] if i["RepoTags"] == ["localhost/sk-app:1"])
    with tarfile.open(out) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        [entry] = manifest
        assert entry["RepoTags"] == ["localhost/sk-app:1"]
        config = tf.extractfile(entry["Config"]).read()  # type: ignore[union-attr]
        assert hashlib.sha256(config).hexdigest() == want["Id"]
        digests = [
            "sha256:" + hashlib.sha256(tf.extractfile(n).read()).hexdigest()  # type: ignore[union-attr]
            for n in entry["Layers"]
        ]
    assert digests == want["RootFS"]["Layers"]


def test_verify_names_changed_and_planted_files(
    tmp_path: Path, podman_extracted: dict[str, Path]
) -> None:
    name = "podman-4.3-overlay"
    if name not in podman_extracted:
        pytest.skip("needs the extracted root")
    copy = tmp_path / "root"
    subprocess.run(["cp", "-a", str(podman_extracted[name]), str(copy)], check=True)
    r = Root(name, "directory", str(copy), expected_of(name))
    layers = {x["id"]: x for x in r.json("layers")}
    app = next(i for i in r.json("images", "-a") if i["tags"] == ["localhost/sk-app:1"])
    top = app["layer_ids"][-1]
    (copy / layers[top]["path"] / "app" / "planted").write_text("x")
    victim = next(p for p in (copy / layers[top]["path"]).rglob("*") if p.is_file())
    victim.write_bytes(victim.read_bytes() + b"!")
    code, out, err = r.run("verify", "--format", "json")
    assert code == 4  # as sha256sum -c fails
    assert err == "storagekit: 1 of 4 layers do not match their diff ID or their tar-split\n"
    got = {v["id"]: v for v in json.loads(out)}
    assert got[top]["status"] == "modified"
    rel = "/" + str(victim.relative_to(copy / layers[top]["path"]))
    assert {(f["path"], f["change"]) for f in got[top]["files"]} == {
        (rel, "size"),
        ("/app/planted", "added"),
    }
    assert [v["status"] for k, v in got.items() if k != top] == ["ok"] * 3


def test_truncated_layers_json_is_a_finding(
    tmp_path: Path, podman_extracted: dict[str, Path]
) -> None:
    name = "podman-4.3-vfs"
    if name not in podman_extracted:
        pytest.skip("needs the extracted root")
    copy = tmp_path / "root"
    subprocess.run(["cp", "-a", str(podman_extracted[name]), str(copy)], check=True)
    lj = copy / "vfs-layers" / "layers.json"
    lj.write_bytes(lj.read_bytes()[:100])
    before = sorted(p.name for p in copy.rglob("*"))
    r = Root(name, "directory", str(copy), expected_of(name))
    code, out, err = r.run("containers", "--format", "json")
    assert code == 0
    assert "Traceback" not in err
    assert "malformed-json" in err
    assert "vfs-layers/layers.json" in err
    assert len(json.loads(out)) == 6
    code, _, err = r.run("audit")
    assert code == 0
    assert "Traceback" not in err
    assert sorted(p.name for p in copy.rglob("*")) == before


def test_sqlite_state_gives_the_same_records(
    tmp_path: Path, podman_extracted: dict[str, Path]
) -> None:
    """A root whose libpod state is a (MODELLED, see sqlitemodel) ``db.sql`` instead of BoltDB."""
    import sqlite3

    from tests.engines.podman.sqlitemodel import fill

    name = "podman-4.3-overlay"
    if name not in podman_extracted:
        pytest.skip("needs the extracted root")
    bolt = Root(name, "directory", str(podman_extracted[name]), expected_of(name))
    copy = tmp_path / "root"
    subprocess.run(["cp", "-a", str(podman_extracted[name]), str(copy)], check=True)
    db = copy / "libpod" / "bolt_state.db"
    with sqlite3.connect(copy / "libpod" / "db.sql") as conn:
        fill(conn, db.read_bytes())
    conn.close()
    db.unlink()
    before = sorted(str(p) for p in copy.rglob("*"))
    sql = Root(name, "directory", str(copy), bolt.exp)
    for command in (["containers"], ["volumes"], ["df", "-v"], ["orphans"]):
        got, want = sql.json(*command), bolt.json(*command)
        if command[0] == "df":
            got.pop("measured"), want.pop("measured")
        assert got == want
    test_containers_match_podman_ps_and_inspect(sql)
    test_container_inspect_equals_podman_container_inspect(sql)
    assert sql.json("audit")["root"]["libpod"] == {"backend": "sqlite", "path": "libpod/db.sql"}
    assert sorted(str(p) for p in copy.rglob("*")) == before  # no journal, WAL or shm file


def test_planted_orphans_are_found_exactly(
    tmp_path: Path, podman_extracted: dict[str, Path]
) -> None:
    name = "podman-4.3-overlay"
    if name not in podman_extracted:
        pytest.skip("needs the extracted root")
    copy = tmp_path / "root"
    subprocess.run(["cp", "-a", str(podman_extracted[name]), str(copy)], check=True)
    exp = expected_of(name)
    stray = "9" * 64
    (copy / "overlay" / stray / "diff").mkdir(parents=True)
    (copy / "overlay" / stray / "diff" / "junk").write_bytes(b"x" * 5000)
    (copy / "overlay" / stray / "link").write_text("Z" * 26)
    (copy / "overlay" / "l" / ("Z" * 26)).symlink_to(f"../{stray}/diff")
    ctrs_path = copy / "overlay-containers" / "containers.json"
    ctrs = json.loads(ctrs_path.read_text())
    gone = exp["scenario"]["containers"]["sk-basec"]
    dropped = next(c for c in ctrs if c["id"] == gone)
    ctrs_path.write_text(json.dumps([c for c in ctrs if c["id"] != gone]))
    missing = next(c for c in ctrs if c["id"] == exp["scenario"]["containers"]["sk-created"])
    subprocess.run(["rm", "-rf", str(copy / "overlay" / missing["layer"])], check=True)
    r = Root(name, "directory", str(copy), exp)
    code, out, err = r.run("orphans", "--format", "json")
    assert code == 0
    assert "[orphan-container]" in err  # also a finding of the cross-check
    got = [(o["kind"], o["path"], o["ids"], o["bytes"] > 0) for o in json.loads(out)]
    assert got == [
        ("missing-layer-dir", f"overlay/{missing['layer']}/diff", [missing["layer"]], False),
        ("orphan-container", "libpod/bolt_state.db", [gone], False),
        ("orphan-driver-dir", f"overlay/{stray}", [stray], True),
        ("orphan-layer", "overlay-layers/layers.json", [dropped["layer"]], True),
        ("unused-volume", "volumes/sk-unused", ["sk-unused"], True),
    ]
    code, plan, _ = r.run("reclaim")
    assert code == 0
    assert f"overlay/{stray}" in plan
    assert f"overlay/l/{'Z' * 26}" in plan


def test_logs_of_k8s_file_containers(root: Root) -> None:
    """``podman logs`` of every container: sk-exited's stderr line, sk-running's stdout line."""
    got = root.json("logs", "sk-exited")
    assert [(r["stream"], r["text"]) for r in got] == [("stderr", "to-stderr")]
    assert got[0]["time"].startswith("20")
    assert root.json("logs", "sk-created") == []
    for cid, want in root.exp["logs"].items():
        got = root.json("logs", cid)
        for stream in ("stdout", "stderr"):
            assert [r["text"] for r in got if r["stream"] == stream] == [
                x for x in want[stream].splitlines() if not x.startswith('time="')
            ]


def test_running_when_copied(root: Root) -> None:
    """sk-running ran while the root was copied: running, as libpod's state DB holds it."""
    cid = root.exp["scenario"]["containers"]["sk-running"]
    [p] = [p for p in root.exp["ps"] if p["Id"] == cid]
    [i] = [i for i in root.exp["containers"] if i["Id"] == cid]
    [c] = root.json("containers", "--filter", "status=running")
    assert (c["id"], c["status"], p["State"], i["State"]["Status"]) == (cid, *["running"] * 3)
    assert (c["exit_code"], c["started"]) == (0, i["State"]["StartedAt"].replace("+00:00", "Z"))
    assert sorted((x["kind"], x["path"]) for x in root.json("diff", cid)) == [
        ("A", "/app/run.txt"), ("C", "/app"), ("C", "/etc"), ("D", "/app/owned.txt")
    ]  # fmt: skip


def test_history_equals_podman_history(root: Root) -> None:
    """``podman history --no-trunc --format json`` of every image: IDs, times, sizes, steps."""
    assert root.exp["history"]
    for iid, want in root.exp["history"].items():
        got = root.json("history", iid)
        assert [(h["id"], h["created"], h["created_by"], h["size"], h["comment"]) for h in got] == [
            (w["id"], w.get("created"), w.get("CreatedBy", ""), w["size"], w.get("comment", ""))
            for w in want
        ]
        code, out, err = root.run("history", "--no-trunc", "-q", iid)
        assert (code, err, out.split()) == (0, "", [w["id"] for w in want])


def _when(value: str) -> str | None:
    """An inspect time as the timeline prints it (UTC), ``None`` for Go's zero time."""
    return None if value.startswith("0001-01-01") else normalize(value)


def test_timeline_events_equal_podman_inspect(root: Root) -> None:
    """Events at the times podman's inspect prints; every container's diff in its own layer."""
    code, out, err = root.run("timeline", "--format", "jsonl")
    assert (code, err) == (0, "")
    rows = [json.loads(x) for x in out.splitlines()]
    events = {
        (r["timestamp_desc"], r.get("container") or r.get("image") or r.get("volume")): r
        for r in rows
        if "holder" not in r and r["timestamp_desc"] != "Layer Created"
    }
    want = {("Image Created", i["Id"]): _when(i["Created"]) for i in root.exp["images"]}
    want |= {("Volume Created", v["Name"]): _when(v["CreatedAt"]) for v in root.exp["volumes"]}
    for c in root.exp["containers"]:
        for desc, when in (
            ("Container Created", c["Created"]),
            ("Container Started", c["State"]["StartedAt"]),
            ("Container Finished", c["State"]["FinishedAt"]),
        ):
            if _when(when) is not None:
                want[(desc, c["Id"])] = _when(when)
    assert {k: r["datetime"] for k, r in events.items()} == want
    files = {(r["holder"], r["path"]): r["deleted"] for r in rows if "holder" in r}
    names = {c["Id"]: c["Name"] for c in root.exp["containers"]}
    for cid, diff in root.exp["diff"].items():
        holder = f"container:{names[cid]}"
        for path in (diff.get("added") or []) + (diff.get("changed") or []):
            assert files[(holder, path)] is False
        for path in diff.get("deleted") or []:  # overlay: a whiteout; vfs: a copy without it
            assert files.get((holder, path)) is (True if root.driver == "overlay" else None)


@pytest.mark.skipif(shutil.which("mactime") is None, reason="the Sleuth Kit's mactime is absent")
def test_timeline_bodyfile_is_read_by_mactime(root: Root, tmp_path: Path) -> None:
    """Every line of the bodyfile is one file mactime lists (its m and its unknown a/c/b)."""
    code, out, err = root.run("timeline")
    assert (code, err) == (0, "")
    body = tmp_path / "body"
    body.write_text(out)
    r = subprocess.run(["mactime", "-b", str(body), "-z", "UTC", "-d"], capture_output=True)
    assert (r.returncode, r.stderr) == (0, b"")
    listed = {line.rsplit(',"', 1)[1].rstrip('"') for line in r.stdout.decode().splitlines()[1:]}
    assert listed == {line.split("|")[1] for line in out.splitlines()}
    assert len(out.splitlines()) == len(r.stdout.splitlines()) // 2


def test_timeline_counts_and_deletions_of_the_overlay_sample() -> None:
    """Every event of podman-4.3-overlay counted; the whiteouts as the deleted paths."""
    root = Root(
        "podman-4.3-overlay",
        "archive",
        str(SAMPLES / "podman-4.3-overlay" / "root.tar.xz"),
        expected_of("podman-4.3-overlay"),
    )
    code, out, err = root.run("timeline", "--format", "jsonl")
    assert (code, err) == (0, "")
    rows = [json.loads(x) for x in out.splitlines()]
    assert [r["datetime"] for r in rows] == sorted(r["datetime"] for r in rows)
    assert collections.Counter(r["timestamp_desc"] for r in rows) == {
        "Content Modification Time": 108,
        "File Deleted": 5,
        "Image Created": 7,
        "Layer Created": 4,
        "Container Created": 6,
        "Container Started": 5,
        "Container Finished": 4,
        "Volume Created": 2,
    }
    assert sorted(r["message"] for r in rows if r["timestamp_desc"] == "File Deleted") == [
        "container:sk-basec:/etc/passwd (deleted)",
        "container:sk-exited:/app/hello.txt (deleted)",
        "container:sk-running:/app/owned.txt (deleted)",
        "layer:44d6fdb04fa2:/app/gone.txt (deleted)",
        "layer:44d6fdb04fa2:/etc/group (deleted)",
    ]
    steps = [r["message"] for r in rows if r["timestamp_desc"] == "Layer Created"]
    assert [s.split(" in ")[0][:30] for s in steps] == [
        "/bin/sh -c #(nop) ADD file:ea4",
        "/bin/sh -c mkdir -p /app/data ",
        "/bin/sh -c rm /app/gone.txt &&",
        "/bin/sh -c #(nop) COPY file:e7",
    ]


def test_container_inspect_size_is_refused_in_one_line(root: Root) -> None:
    cid = root.exp["containers"][0]["Id"]
    code, out, err = root.run("inspect", "--size", "--type", "container", cid)
    assert (code, out) == (1, "")
    assert err == "storagekit: error: podman: inspect --size of a container is not supported\n"
