"""Reference resolution: IDs, prefixes, names, tags."""

from __future__ import annotations

import pytest

from storagekit.engines.docker.root import DockerRoot
from storagekit.errors import UnknownReferenceError
from storagekit.refs import familiar, resolve
from storagekit.sources.dirsource import DirSource
from tests.rootbuilder import RootBuilder, diff_id


def test_familiar():
    assert familiar("busybox") == "busybox:latest"
    assert familiar("docker.io/library/busybox:1") == "busybox:1"
    assert familiar("docker.io/user/app") == "user/app:latest"
    assert familiar("localhost:5000/app") == "localhost:5000/app:latest"
    assert familiar("localhost:5000/app:2") == "localhost:5000/app:2"
    assert familiar("app@sha256:" + "a" * 64) == "app@sha256:" + "a" * 64


@pytest.fixture
def root(tmp_path):
    b = RootBuilder(tmp_path)
    one = b.add_image([diff_id("a")], tags=("app:1", "app:latest"))
    two = b.add_image([diff_id("b")], tags=("docker.io/other:2",))
    cid = b.add_container(one, "web")
    return DockerRoot(DirSource(tmp_path)), one, two, cid


def test_resolve(root):
    r, one, two, cid = root
    assert resolve(r, "web").id == cid
    assert resolve(r, "/web").id == cid
    assert resolve(r, cid).id == cid
    assert resolve(r, cid[:12]).id == cid
    assert resolve(r, "app").id == one
    assert resolve(r, "docker.io/library/app:1").id == one
    assert resolve(r, one).id == one
    assert resolve(r, one[7:19]).id == one
    with pytest.raises(UnknownReferenceError, match="no such image"):
        resolve(r, "web", containers=False)
    with pytest.raises(UnknownReferenceError, match="no such container or image"):
        resolve(r, "app:2")


def test_ambiguous_prefix(tmp_path):
    b = RootBuilder(tmp_path)
    image = b.add_image([diff_id("a")])
    b.add_container(image, "one", cid="abc1" + "0" * 60)
    b.add_container(image, "two", cid="abc2" + "0" * 60)
    r = DockerRoot(DirSource(tmp_path))
    with pytest.raises(UnknownReferenceError, match="ambiguous, matches 2 objects"):
        resolve(r, "abc")
    assert resolve(r, "abc2").name == "/two"
