"""``containers`` and ``images`` follow the Docker CLI: order, -q, -a, --no-trunc, --filter.

Compared with ``docker ps -a`` and ``docker images -a --digests`` as dockerd 20.10 answered on
the same roots (``expected.json`` ``ps`` and ``images_list``).
"""

from __future__ import annotations

import pytest

from tests.conftest import NAMES, expected_of


def _rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines()[1:]]


def _by_second(rows):
    """Rows grouped by creation second, in order: Docker sorts by whole seconds only."""
    groups: list[tuple[str, set]] = []
    for second, row in rows:
        if not groups or groups[-1][0] != second:
            groups.append((second, set()))
        groups[-1][1].add(row)
    return groups


@pytest.mark.parametrize("name", NAMES)
def test_containers_in_docker_ps_order(name, sample, run):
    expected = expected_of(name)
    r = run("-r", sample(name), "containers", "-a", "-q", "--no-trunc")
    assert r.out.split() == [c["ID"] for c in expected["ps"]]
    short = run("-r", sample(name), "containers", "-q")
    assert short.out.split() == [c["ID"][:12] for c in expected["ps"]]


@pytest.mark.parametrize("name", NAMES)
def test_images_in_docker_images_order(name, sample, run):
    expected = expected_of(name)
    r = run("-r", sample(name), "images", "-a", "--no-trunc", "--digests")
    assert r.code == 0
    ours = [(f"{row[4]}", (row[3], row[0], row[1], row[2])) for row in _rows(r.out)]
    theirs = [
        (
            i["CreatedAt"][:10] + "T" + i["CreatedAt"][11:19] + "Z",
            (i["ID"], i["Repository"], i["Tag"], i["Digest"]),
        )
        for i in expected["images_list"]
    ]
    assert _by_second(ours) == _by_second(theirs)


@pytest.mark.parametrize("name", NAMES)
def test_images_hide_intermediate_images_without_all(name, sample, run):
    expected = expected_of(name)
    parents = {i["Parent"] for i in expected["images"]}
    shown = {
        i["Id"]
        for i in expected["images"]
        if i["RepoTags"] or i["RepoDigests"] or i["Id"] not in parents
    }
    r = run("-r", sample(name), "images", "-q", "--no-trunc")
    assert set(r.out.split()) == shown
    listed = run("-r", sample(name), "images", "--format", "json").json()
    assert sorted(i["id"] for i in listed) == sorted(shown)
    created = [i["created"] for i in listed]
    assert created == sorted(created, reverse=True)


def test_container_sizes_are_opt_in(sample, run):
    root = sample("overlay2-20.10")
    plain = run("-r", root, "containers", "--format", "json").json()
    sized = run("-r", root, "containers", "-s", "--format", "json").json()
    assert [c["size_rw"] for c in plain] == [None] * 5
    assert [(c["name"], c["size_rw"]) for c in sized] == [
        ("/sk-running", 10),
        ("/sk-tmpfs", 2),
        ("/sk-basec", 6),
        ("/sk-exited", 29),
        ("/sk-created", 0),
    ]


def test_container_filters(sample, run):
    root = sample("overlay2-20.10")

    def names(*args: str) -> list[str]:
        r = run("-r", root, "containers", "--format", "json", *args)
        assert r.code == 0, r.err
        return [c["name"] for c in r.json()]

    assert names("--filter", "status=exited") == ["/sk-tmpfs", "/sk-basec", "/sk-exited"]
    assert names("--filter", "status=running", "--filter", "status=created") == [
        "/sk-running",
        "/sk-created",
    ]
    assert names("--filter", "name=sk-.*ed$") == ["/sk-exited", "/sk-created"]
    assert names("--filter", "ancestor=sk-base:1", "--filter", "status=exited") == [
        "/sk-tmpfs",
        "/sk-basec",
        "/sk-exited",
    ]
    assert names("--filter", "ancestor=sk-app") == [
        "/sk-running",
        "/sk-tmpfs",
        "/sk-exited",
        "/sk-created",
    ]
    assert names("--filter", "label=org.example.variant=v2", "-f", "status=exited") == [
        "/sk-tmpfs",
        "/sk-exited",
    ]
    assert names("--filter", "label=nope") == []
    bad = run("-r", root, "containers", "--filter", "colour=red")
    assert bad.code == 2
    assert "invalid filter 'colour=red'" in bad.err


def test_image_filters(sample, run):
    root = sample("overlay2-20.10")

    def ids(*args: str) -> list[str]:
        r = run("-r", root, "images", "-q", *args)
        assert r.code == 0, r.err
        return r.out.split()

    assert ids() == ["e243ffdcea9a"] * 3 + ["5263ee362cfc"] + ["79d35027f0ea"] * 2
    assert ids("--filter", "dangling=true") == ["5263ee362cfc"]
    assert ids("--filter", "dangling=false") == ["e243ffdcea9a"] * 3 + ["79d35027f0ea"] * 2
    assert ids("--filter", "reference=sk-*") == ["e243ffdcea9a"] * 3 + ["79d35027f0ea"] * 2
    assert ids("--filter", "reference=*/sk/*") == ["79d35027f0ea"] * 2
    assert ids("--filter", "label=org.example.variant=v2") == ["e243ffdcea9a"] * 3
    assert ids("--filter", "before=sk-app:1.0") == ["5263ee362cfc"] + ["79d35027f0ea"] * 2
    assert ids("--filter", "since=sk-base:1", "--filter", "dangling=true") == ["5263ee362cfc"]


def test_images_table_one_row_per_reference(sample, run):
    r = run("-r", sample("overlay2-20.10"), "images")
    assert r.out.splitlines() == [
        "REPOSITORY                    TAG       IMAGE ID       CREATED                SIZE",
        "example.local:5000/team/app   v1        e243ffdcea9a   2026-11-28T02:47:54Z   1.98MB",
        "sk-app                        1.0       e243ffdcea9a   2026-11-28T02:47:54Z   1.98MB",
        "sk-app                        latest    e243ffdcea9a   2026-11-28T02:47:54Z   1.98MB",
        "<none>                        <none>    5263ee362cfc   2026-11-28T02:47:53Z   1.98MB",
        "127.0.0.1:5000/sk/base        1         79d35027f0ea   2026-11-28T02:47:49Z   1.98MB",
        "sk-base                       1         79d35027f0ea   2026-11-28T02:47:49Z   1.98MB",
    ]
