"""A toy engine and a toy driver, registered through entry points like any third-party package.

Nothing in storagekit knows them: a distribution's ``entry_points.txt`` on ``sys.path`` names
them in the ``storagekit.engines`` and ``storagekit.drivers`` groups, and ``containers``, ``ls``
and ``orphans`` then work on their storage with no core change (``docs/extending.md``).

The toy engine's root: ``toy.json`` (``{"containers": {"<id>": {"name", "layers": [top..]}}}``)
and one directory per layer in ``toyfs/<id>/``. The toy driver marks a deleted name with a
file ``<name>.gone`` and a directory hiding everything below with ``.opaque``; it is also
read by the Docker engine for a Docker root whose image store names it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from storagekit import registry
from storagekit.ids import chain_ids
from tests.rootbuilder import RootBuilder, diff_id, write

DRIVER = '''
"""toyfs: one directory per layer; ``<name>.gone`` hides a name, ``.opaque`` a directory."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from storagekit.driver import StorageDriver, Whiteout
from storagekit.errors import SourceError
from storagekit.source import Entry, FileType, Source


class ToyDriver(StorageDriver):
    name: ClassVar[str] = "toyfs"

    @classmethod
    def detect(cls, source: Source) -> bool:
        return source.is_dir("toyfs")

    def layer_ids(self) -> list[str]:
        try:
            return self.source.subdirs("toyfs")[0]
        except SourceError:
            return []

    def _layer_path(self, layer_id: str) -> str:
        return f"toyfs/{layer_id}"

    def whiteout_candidate(self, name: str, kind: FileType) -> bool:
        return name.endswith(".gone") or name == ".opaque"

    def whiteout(self, entry: Entry, xattrs: Callable[[], dict[str, bytes]]) -> Whiteout:
        if entry.name == ".opaque":
            return Whiteout.OPAQUE_MARKER
        return Whiteout.FILE if entry.name.endswith(".gone") else Whiteout.NONE

    def hidden_name(self, entry: Entry) -> str:
        return entry.name.removesuffix(".gone")
'''

ENGINE = '''
"""toy: containers in toy.json, their layers in toyfs/<id>/ (read by the toyfs driver)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import BinaryIO, ClassVar

from storagekit.analysis.orphans import orphan_record
from storagekit.engine import Engine
from storagekit.errors import SourceError, StoragekitError
from storagekit.jsontext import Record
from storagekit.model import Container, Finding, Findings, Image, Volume
from storagekit.registry import driver_classes
from storagekit.source import Source
from storagekit.union.changes import Change, Tree, changes
from storagekit.union.view import LayerDir, UnionView


class ToyEngine(Engine):
    name: ClassVar[str] = "toy"
    title: ClassVar[str] = "Toy"
    daemon: ClassVar[str] = "toyd"
    absent: ClassVar[str] = "not a toy root (no toy.json)"

    def __init__(self, source: Source, description: str) -> None:
        self.source = source
        self.evidence = description
        self.location = ""
        self.findings = Findings()
        self.driver = driver_classes()["toyfs"](source, self.findings)

    @classmethod
    def find(cls, evidence: Source, description: str) -> ToyEngine | None:
        return cls(evidence, description) if evidence.is_file("toy.json") else None

    @cached_property
    def _doc(self) -> dict:
        return json.loads(self.source.read_bytes("toy.json", 1 << 20))["containers"]

    @property
    def containers(self) -> Mapping[str, Container]:
        return {
            cid: Container(id=cid, name=c["name"], image="", image_id="", status="exited",
                           exit_code=0, running=False, pid=0, created=None, started=None,
                           finished=None, driver="toyfs", mounts=(), config_path="toy.json")
            for cid, c in self._doc.items()
        }

    @property
    def images(self) -> Sequence[Image]:
        return []

    @property
    def volumes(self) -> Mapping[str, Volume]:
        return {}

    @property
    def recorded_path(self) -> str:
        return "/var/lib/toy"

    def container_records(self, *, sizes: bool) -> list[Record]:
        return [
            {"id": cid, "name": c["name"], "engine": self.name, "layer_dirs": c["layers"]}
            for cid, c in sorted(self._doc.items())
        ]

    def image_records(self) -> list[Record]:
        return []

    def layer_records(self) -> list[Record]:
        return []

    def volume_records(self) -> list[Record]:
        return []

    def chain_record(self, obj: Container | Image) -> Record:
        return {"ref": obj.id, "layers": self._doc[obj.id]["layers"]}

    def df_record(self, *, verbose: bool) -> Record:
        raise StoragekitError("toy: no df")

    def orphan_records(self) -> list[Record]:
        used = {lay for c in self._doc.values() for lay in c["layers"]}
        return [
            orphan_record(
                self.source,
                Finding("orphan-driver-dir", "info", self.driver.layer_path(lay),
                        "no container uses it", (lay,)),
            )
            for lay in self.driver.layer_ids()
            if lay not in used
        ]

    def audit_record(self) -> Record:
        return {"containers": self.container_records(sizes=False)}

    def view(self, obj: Container | Image, *, with_mounts: bool = False) -> UnionView:
        layers = self._doc[obj.id]["layers"]
        return self._view(layers, obj.id)

    def _view(self, layers: list[str], what: str) -> UnionView:
        dirs = [LayerDir(self.source, self.driver.layer_path(i), i, self.driver) for i in layers]
        if not dirs:
            raise SourceError(f"{what}: no layers")
        return UnionView(dirs, what)

    def changes(self, container: Container) -> list[Change]:
        layers = self._doc[container.id]["layers"]
        new, old = self._view(layers, "new"), self._view(layers[1:], "old")
        return changes(Tree(new, ""), Tree(old, ""))

    def verify_records(self, obj: Container | Image | None) -> list[Record]:
        return []

    def save(self, images: Sequence[Image], out: BinaryIO) -> list[Record]:
        raise StoragekitError("toy: no save")
'''


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """The toy distribution on sys.path, registered as a third-party package would be."""
    site = tmp_path / "site"
    (site / "toyplugins-0.1.dist-info").mkdir(parents=True)
    (site / "toyplugins-0.1.dist-info" / "entry_points.txt").write_text(
        "[storagekit.engines]\ntoy = toyengine:ToyEngine\n\n"
        "[storagekit.drivers]\ntoyfs = toydriver:ToyDriver\n"
    )
    (site / "toyengine.py").write_text(textwrap.dedent(ENGINE))
    (site / "toydriver.py").write_text(textwrap.dedent(DRIVER))
    monkeypatch.syspath_prepend(str(site))
    registry.clear()
    yield
    registry.clear()


def toy_root(top: Path) -> Path:
    """Two containers over a shared base layer, and one layer nobody uses."""
    files = {
        "base": {"etc/passwd": "root:x:0:0\n", "etc/motd": "hi\n", "opt/a/x": "1", "opt/a/y": "2"},
        "mid": {"etc/motd.gone": "", "opt/a/.opaque": "", "opt/a/z": "3"},
        "web": {"srv/index.html": "<p>\n", "etc/passwd": "root:x:0:0\nweb:x:1:1\n"},
        "db": {"var/db": "rows"},
        "stale": {"junk": "x" * 100},
    }
    for layer, tree in files.items():
        for rel, text in tree.items():
            path = top / "toyfs" / layer / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    doc = {
        "containers": {
            "c1": {"name": "web", "layers": ["web", "mid", "base"]},
            "c2": {"name": "db", "layers": ["db", "base"]},
        }
    }
    (top / "toy.json").write_text(json.dumps(doc))
    return top


def test_toy_engine_containers(plugins, tmp_path, run):
    root = str(toy_root(tmp_path / "root"))
    r = run("-r", root, "containers", "--format", "json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == [
        {"id": "c1", "name": "web", "engine": "toy", "layer_dirs": ["web", "mid", "base"]},
        {"id": "c2", "name": "db", "engine": "toy", "layer_dirs": ["db", "base"]},
    ]


def test_toy_engine_ls_applies_the_toy_drivers_whiteouts(plugins, tmp_path, run):
    root = str(toy_root(tmp_path / "root"))
    r = run("-r", root, "ls", "web", "/", "-R", "--format", "json")
    assert (r.code, r.err) == (0, "")
    listing = {e["path"]: e["layer"] for e in r.json()}
    assert listing == {
        "/etc": "web",
        "/etc/passwd": "web",
        "/opt": "mid",
        "/opt/a": "mid",
        "/opt/a/z": "mid",
        "/srv": "web",
        "/srv/index.html": "web",
    }
    cat = run("-r", root, "cat", "c1", "/etc/passwd")
    assert cat.out == "root:x:0:0\nweb:x:1:1\n"
    diff = run("-r", root, "diff", "web", "--format", "json")
    assert diff.json() == [
        {"kind": "C", "path": "/etc"},
        {"kind": "C", "path": "/etc/passwd"},
        {"kind": "A", "path": "/srv"},
        {"kind": "A", "path": "/srv/index.html"},
    ]


def test_toy_engine_orphans(plugins, tmp_path, run):
    root = str(toy_root(tmp_path / "root"))
    r = run("-r", root, "orphans", "--format", "json")
    assert (r.code, r.err) == (0, "")
    [orphan] = r.json()
    assert {k: orphan[k] for k in ("kind", "path", "paths", "reason", "ids")} == {
        "kind": "orphan-driver-dir",
        "path": "toyfs/stale",
        "paths": ["toyfs/stale"],
        "reason": "no container uses it",
        "ids": ["stale"],
    }
    assert orphan["bytes"] > 100


def test_without_the_plugin_the_root_is_not_recognised(tmp_path, run):
    registry.clear()
    root = str(toy_root(tmp_path / "root"))
    r = run("-r", root, "containers")
    assert r.code == 1
    assert r.err == f"storagekit: error: {root}: " + (
        "not a containerd root (no io.containerd.metadata.v1.bolt/meta.db, no var/lib/containerd)"
        "; not a Docker data root (no image/<driver>/ store, no containers/ beside driver data, "
        "no var/lib/docker); "
        "not a podman graph root (no <driver>-layers/layers.json, no var/lib/containers/storage)\n"
    )


class ToyDockerRoot(RootBuilder):
    """A Docker root whose layer directories the toyfs driver keeps (``toyfs/<id>/``)."""

    def driver_dir(self, layer_id: str, parents: list[str], files: dict[str, bytes]) -> None:
        for name, data in files.items():
            write(self.root / "toyfs" / layer_id / name, data)
        (self.root / "toyfs" / layer_id).mkdir(parents=True, exist_ok=True)


def test_docker_engine_reads_a_plugin_driver(plugins, tmp_path, run):
    """The Docker engine takes a third-party driver through the same entry points."""
    b = ToyDockerRoot(tmp_path / "docker", driver="toyfs")
    image = b.add_image([diff_id("base"), diff_id("top")], tags=("img:1",))
    cid = b.add_container(image, "box")
    write(b.root / "toyfs" / b.built.containers[cid] / "f0.gone", b"")
    root = str(b.root)
    r = run("-r", root, "ls", "box", "/", "--format", "json")
    assert (r.code, r.err) == (0, "")
    assert [(e["path"], e["layer"]) for e in r.json()] == [
        ("/.dockerenv", f"{b.built.containers[cid]}-init"),
        ("/f1", b.built.layers[list(chain_ids([diff_id("base"), diff_id("top")]))[-1]]),
        ("/written", b.built.containers[cid]),
    ]
    containers = run("-r", root, "containers", "--format", "json")
    assert [(c["id"], c["driver"]) for c in containers.json()] == [(cid, "toyfs")]
    assert containers.err == ""
