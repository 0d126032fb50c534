"""The inventory benchmark's Docker fleet rewritten as a podman graph root: the same work.

``tools.bench_inventory --generate-only`` writes a Docker 20.10 overlay2 root (1,000 containers,
2,000 layers, 100 images; ``tests/support/rootwriter/fleet.py``). :func:`podman_fleet` lays the
same layers, images and containers out as containers-storage and libpod keep them
(containerd-podman-format.md §4), so that both engines are timed on equal roots:

* every image layer's ``overlay2/<cache-id>`` (``diff/``, ``link``, ``lower``) is copied to
  ``overlay/<cache-id>`` (podman's overlay driver has overlay2's layout) with its ``l/`` link;
  ``overlay-layers/layers.json`` records it (ID = cache ID, parent, diff digest and size, as
  ``podman pull`` records them) and its ``tar-split.json.gz`` becomes ``<id>.tar-split.gz``;
* every image is an ``overlay-images/images.json`` record with its tags as names and big data
  ``sha256:<id>`` (the same config bytes) and ``manifest`` (a Docker schema 2 manifest);
* every container's read-write layer (its mount ID's ``diff/``, the same files) is its podman
  container layer, directly on the image's top layer (podman has no init layer: ``lower``
  loses the init layer's link); ``containers.json`` records it;
* libpod's ``bolt_state.db`` holds each container's config and state (the real podman 4.3.1
  documents of the ``podman-4.3-overlay`` sample's ``sk-exited``, with this container's ID,
  name, image, times, command and state: running, exited with its code, or created) and its
  exit code. It is laid out as bbolt lays out podman's commits (:mod:`tools.podman_bolt`): a
  B+tree of 4 KiB pages, each ``ctr/<id>`` bucket a leaf page of its own with overflow pages,
  small buckets inline, as in the sample.

Every JSON document is written as Go writes it (compact, ``go_json``): libpod's config is then
11.5 KB as in the sample (12.7 KB with Python's default separators).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from storagekit.formats.bolt import BoltBucket, BoltDB
from storagekit.sources import open_source
from tests.support.rootwriter.encoding import go_json
from tools.podman_bolt import bolt_tree

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_roots" / "podman-4.3-overlay"
HOST_ROOT = "/var/lib/containers/storage"
STATES = {"created": 1, "running": 3, "exited": 6}
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def _tree(bucket: BoltBucket) -> dict[bytes, Any]:
    return {k: _tree(v) if isinstance(v, BoltBucket) else v for k, v in bucket.items()}


def _template() -> tuple[dict[bytes, Any], dict[str, Any], dict[str, Any]]:
    """The sample's BoltDB as a tree, and sk-exited's config and state documents."""
    exp = json.loads((SAMPLE / "expected.json").read_text())
    cid = exp["scenario"]["containers"]["sk-exited"]
    with open_source(str(SAMPLE / "root.tar.xz")) as src:
        db = BoltDB.from_bytes(src.read_bytes("libpod/bolt_state.db"))
    tree = {k: _tree(v) if isinstance(v, BoltBucket) else v for k, v in db.root.items()}
    ctr = tree[b"ctr"][cid.encode()]
    return tree, json.loads(ctr[b"config"]), json.loads(ctr[b"state"])


def _image_records(docker: Path, dest: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """images.json records and big data; returns them and image ID -> top layer ID."""
    store = docker / "image/overlay2"
    tags: dict[str, list[str]] = {}
    for repo in json.loads((store / "repositories.json").read_text())["Repositories"].values():
        for tag, iid in repo.items():
            tags.setdefault(iid.removeprefix("sha256:"), []).append(tag)
    records, tops = [], {}
    for cfg_path in sorted((store / "imagedb/content/sha256").iterdir()):
        iid, raw = cfg_path.name, cfg_path.read_bytes()
        cfg = json.loads(raw)
        chain = None
        for diff in cfg["rootfs"]["diff_ids"]:
            chain = diff if chain is None else "sha256:" + hashlib.sha256(
                f"{chain} {diff}".encode()).hexdigest()  # fmt: skip
        assert chain is not None
        top = (store / "layerdb/sha256" / chain.removeprefix("sha256:") / "cache-id").read_text()
        tops[iid] = top
        manifest = go_json({
            "schemaVersion": 2, "mediaType": MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": len(raw), "digest": f"sha256:{iid}"},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar",
                        "size": 0, "digest": d} for d in cfg["rootfs"]["diff_ids"]],
        })  # fmt: skip
        big = {f"sha256:{iid}": raw, "manifest": manifest}
        (dest / "overlay-images" / iid).mkdir(parents=True)
        for key, data in big.items():
            name = key if key == "manifest" else "=" + base64.b64encode(key.encode()).decode()
            (dest / "overlay-images" / iid / name).write_bytes(data)
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        records.append({
            "id": iid, "digest": digest, "names": sorted(tags.get(iid, [])), "layer": top,
            "metadata": "{}", "big-data-names": list(big),
            "big-data-sizes": {k: len(v) for k, v in big.items()},
            "big-data-digests": {k: "sha256:" + hashlib.sha256(v).hexdigest()
                                 for k, v in big.items()},
            "created": cfg["created"],
        })  # fmt: skip
    return records, tops


def _layer_records(docker: Path, dest: Path) -> list[dict[str, Any]]:
    """Image layers: directories, ``l/`` links, tar-splits and layers.json records."""
    store = docker / "image/overlay2/layerdb/sha256"
    records = []
    for d in sorted(store.iterdir()):
        cache = (d / "cache-id").read_text()
        parent = (d / "parent").read_text() if (d / "parent").exists() else None
        shutil.copytree(docker / "overlay2" / cache, dest / "overlay" / cache, symlinks=True)
        link = (dest / "overlay" / cache / "link").read_text()
        os.symlink(f"../{cache}/diff", dest / "overlay/l" / link)
        shutil.copyfile(d / "tar-split.json.gz", dest / "overlay-layers" / f"{cache}.tar-split.gz")
        size = int((d / "size").read_text())
        diff = (d / "diff").read_text()
        records.append({
            "id": cache, "created": "2024-03-01T08:00:00Z",
            "compressed-diff-digest": diff, "compressed-size": size,
            "diff-digest": diff, "diff-size": size, "uidset": [0], "gidset": [0],
            "parent": (store / parent.removeprefix("sha256:") / "cache-id").read_text()
            if parent else None,
        })  # fmt: skip
    for r in records:
        if r["parent"] is None:
            del r["parent"]
    return records


def podman_fleet(docker: Path, dest: Path) -> dict[str, int]:
    """Write the podman root of the Docker fleet root ``docker`` into ``dest``; counts."""
    for d in ("overlay/l", "overlay-layers", "overlay-images", "overlay-containers", "libpod",
              "volumes"):  # fmt: skip
        (dest / d).mkdir(parents=True)
    layers = _layer_records(docker, dest)
    images, tops = _image_records(docker, dest)
    tree, config0, state0 = _template()
    for key in (b"ctr", b"all-ctrs", b"exit-code", b"exit-code-time-stamp", b"id-registry",
                b"name-registry", b"allPods", b"pod", b"allVolumes", b"vol", b"volume-ctrs"):
        tree[key] = {}  # fmt: skip
    ctrs = []
    for cdir in sorted((docker / "containers").iterdir()):
        cfg = json.loads((cdir / "config.v2.json").read_text())
        cid, name, st = cfg["ID"], cfg["Name"].lstrip("/"), cfg["State"]
        mounts = docker / "image/overlay2/layerdb/mounts" / cid
        mount = (mounts / "mount-id").read_text()
        iid = cfg["Image"].removeprefix("sha256:")
        lower = (docker / "overlay2" / mount / "lower").read_text().split(":")[1:]
        shutil.copytree(docker / "overlay2" / mount, dest / "overlay" / mount, symlinks=True)
        (dest / "overlay" / mount / "lower").write_text(":".join(lower))
        link = (dest / "overlay" / mount / "link").read_text()
        os.symlink(f"../{mount}/diff", dest / "overlay/l" / link)
        layers.append({"id": mount, "names": [f"{name}-layer"], "parent": tops[iid],
                       "created": cfg["Created"]})  # fmt: skip
        meta = {"image-name": cfg["Config"]["Image"], "image-id": iid, "name": name,
                "created-at": 1709280000}  # fmt: skip
        ctrs.append({"id": cid, "names": [name], "image": iid, "layer": mount, "flags": {},
                     "metadata": go_json(meta).decode(), "created": cfg["Created"]})  # fmt: skip
        (dest / "overlay-containers" / cid / "userdata").mkdir(parents=True)
        status = "running" if st["Running"] else ("exited" if st["StartedAt"][:4] != "0001"
                                                  else "created")  # fmt: skip
        command = [cfg["Path"], *cfg["Args"]]
        config = {**config0, "id": cid, "name": name, "rootfsImageID": iid,
                  "rootfsImageName": cfg["Config"]["Image"], "RawImageName": cfg["Config"]["Image"],
                  "createdTime": cfg["Created"], "namedVolumes": None, "pod": "",
                  "spec": {**config0["spec"], "process": {**config0["spec"]["process"],
                                                          "args": command}},
                  "labels": cfg["Config"]["Labels"], "command": command,
                  "logPath": f"{HOST_ROOT}/overlay-containers/{cid}/userdata/ctr.log"}  # fmt: skip
        state = {**state0, "state": STATES[status],
                 "startedTime": st["StartedAt"], "finishedTime": st["FinishedAt"],
                 "exitCode": st["ExitCode"], "exited": status == "exited"}  # fmt: skip
        tree[b"ctr"][cid.encode()] = {
            b"config": go_json(config),
            b"state": go_json(state),
            b"dependencies": {},
        }
        tree[b"all-ctrs"][cid.encode()] = name.encode()
        tree[b"id-registry"][cid.encode()] = name.encode()
        tree[b"name-registry"][name.encode()] = cid.encode()
        if status == "exited":
            tree[b"exit-code"][cid.encode()] = str(st["ExitCode"]).encode()
            tree[b"exit-code-time-stamp"][cid.encode()] = st["FinishedAt"].encode()
    tree[b"runtime-config"] = {
        **tree[b"runtime-config"], b"graph-root": HOST_ROOT.encode(),
        b"static-dir": f"{HOST_ROOT}/libpod".encode(),
        b"volume-path": f"{HOST_ROOT}/volumes".encode(),
    }  # fmt: skip
    (dest / "libpod/bolt_state.db").write_bytes(bolt_tree(tree))
    (dest / "overlay-layers/layers.json").write_bytes(go_json(layers))
    (dest / "overlay-images/images.json").write_bytes(go_json(images))
    (dest / "overlay-containers/containers.json").write_bytes(go_json(ctrs))
    image_layers = sum(1 for x in layers if "diff-digest" in x)
    return {"images": len(images), "layers": image_layers, "containers": len(ctrs)}
