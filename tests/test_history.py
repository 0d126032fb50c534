"""``history``: equal to ``docker history`` (the API's answer, saved by dockerd 20.10)."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.conftest import NAMES, expected_of


def _as_docker(entry):
    """Our JSON object in the API's shape: Created in Unix seconds, Tags null when none."""
    seconds = int(datetime.fromisoformat(entry["created"][:19] + "+00:00").timestamp())
    return {
        "Comment": entry["comment"],
        "Created": seconds,
        "CreatedBy": entry["created_by"],
        "Id": entry["id"],
        "Size": entry["size"],
        "Tags": entry["tags"] or None,
    }


@pytest.mark.parametrize("name", NAMES)
def test_history_equals_docker_history(name, sample, run):
    root = sample(name)
    expected = expected_of(name)["history"]
    assert expected
    for image_id, wanted in expected.items():
        r = run("-r", root, "history", image_id, "--format", "json")
        assert (r.code, r.err) == (0, "")
        assert [_as_docker(e) for e in r.json()] == wanted


def test_history_table_as_docker_prints_it(sample, run):
    r = run("-r", sample("overlay2-20.10"), "history", "sk-base:1")
    assert r.code == 0
    assert r.out.splitlines() == [
        "IMAGE          CREATED                CREATED BY   SIZE      COMMENT",
        "79d35027f0ea   2026-11-28T02:47:49Z                1.98MB    "
        "storagekit sample base (busybox-static)",
    ]
    q = run("-r", sample("overlay2-20.10"), "history", "-q", "--no-trunc", "sk-base:1")
    assert q.out == "sha256:79d35027f0ea31b9e77ec7461312cb5d5a9eb5c627ab5ccdb763f111ed8cb3fd\n"


def test_history_flags_empty_layers_and_sizes(sample, run):
    r = run("-r", sample("overlay2-20.10"), "history", "sk-app:1.0", "--format", "json")
    got = [(e["id"][:19], e["empty_layer"], e["size"]) for e in r.json()]
    assert got[:3] == [
        ("sha256:e243ffdcea9a", True, 0),
        ("sha256:405459752c61", True, 0),
        ("sha256:a6c6f3d0cdf6", False, 3),
    ]
    assert len(got) == 12
