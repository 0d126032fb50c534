"""meta.db read lazily: a command reads only the kinds of records it prints, with the same answer.

``images`` never decodes a container (only each container's ``image`` value, for the count of
users) and reads only the content records its images name; ``containers`` never reads
``content/blob``. The records equal those made after the whole root has been read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from storagekit.engines.containerd.engine import ContainerdEngine
from storagekit.jsontext import Record
from storagekit.source import Source
from storagekit.sources import open_source
from tests.engines.containerd.conftest import SAMPLE

ARCHIVE = str(SAMPLE / "root.tar.xz")


@pytest.fixture(scope="module")
def evidence() -> Iterator[Source]:
    src = open_source(ARCHIVE)
    yield src
    src.close()


def _read(engine: ContainerdEngine) -> set[str]:
    """The kinds of meta.db records read so far."""
    meta = engine.state.root._meta
    assert meta is not None
    kinds = ("namespaces", "images", "content", "containers", "leases", "snapshots",
             "container_images")
    return {k for k in kinds if k in meta.__dict__}


@pytest.mark.parametrize(
    ("command", "kinds"),
    [
        (lambda e: e.image_records(), {"namespaces", "images", "container_images", "snapshots"}),
        (lambda e: e.container_records(sizes=False),
         {"namespaces", "images", "containers", "snapshots"}),
    ],
    ids=["images", "containers"],
)
def test_a_command_reads_only_what_it_needs_and_answers_the_same(
    evidence: Source, command: Callable[[ContainerdEngine], list[Record]], kinds: set[str]
) -> None:
    lazy = ContainerdEngine(evidence, ARCHIVE, "")
    got = command(lazy)
    assert _read(lazy) == kinds
    whole = ContainerdEngine(evidence, ARCHIVE, "")
    assert whole.state.root.findings == ()  # every part read
    assert "content" in whole.state.root._meta.__dict__  # type: ignore[union-attr]
    assert command(whole) == got
    assert lazy.findings.sorted() == whole.findings.sorted() == []
