"""inspect, history, listings and exposure against a real dockerd, on a fresh root.

Containers with varied configuration (env, labels, user, workdir, entrypoint and cmd, ports,
capabilities, privileged, host namespaces, restart policy, volumes, binds, tmpfs, read-only
root, security options), an image built by the classic builder and one that went through
``docker save`` / ``docker load`` (its history has ``<missing>`` steps). The engine's answers
are taken while it runs; storagekit reads the root after the daemon stopped.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storagekit.cli.tables import ps_command
from tests.support.engine import Dockerd, available, make_base_image

pytestmark = pytest.mark.engine

CONFIGURED = [
    "--name", "cfg", "--network", "none", "-e", "A=1", "-e", "B=two words",
    "--label", "team=blue", "--label", "tier=db", "-u", "1000:1000", "-w", "/tmp",
    "--entrypoint", "sh", "--restart", "on-failure:3", "-v", "named:/named",
    "-v", "/anon", "--tmpfs", "/run/t:size=1m", "--read-only", "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges", "--stop-signal", "SIGINT",
    "logbase:1", "-c", "echo configured",
]  # fmt: skip
RISKY = [
    "--name", "risky", "--privileged", "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
    "--pid", "host", "--ipc", "host", "--network", "host",
    "-v", "/var/run/docker.sock:/var/run/docker.sock:ro", "-v", "/:/host",
    "-v", "/etc:/host-etc", "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined", "logbase:1", "true",
]  # fmt: skip
PORTS = ["--name", "web", "-p", "127.0.0.1:8080:80/tcp", "-p", "9090:90/udp", "logbase:1", "true"]
DOCKERFILE = "FROM logbase:1\nENV X=1\nRUN echo built > /built.txt\nLABEL stage=two\n"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    if not available("overlay2"):
        if os.environ.get("STORAGEKIT_REQUIRE_ENGINE"):
            pytest.fail("a real dockerd is required here (STORAGEKIT_REQUIRE_ENGINE is set)")
        pytest.skip("needs root, dockerd and busybox-static")
    work = tmp_path_factory.mktemp("engine-analyst")
    with Dockerd(work / "d") as d:
        make_base_image(d, "logbase:1")
        ctx = work / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        d.docker("build", "-t", "built:1", str(ctx), env={"DOCKER_BUILDKIT": "0"})
        d.docker("save", "-o", str(work / "built.tar"), "built:1")
        d.docker("tag", "built:1", "loaded:1")
        d.docker("rmi", "built:1", "loaded:1")
        d.docker("load", "-i", str(work / "built.tar"))
        d.docker("run", *CONFIGURED)
        d.docker("create", *RISKY)
        d.docker("create", *PORTS)
        cids = d.docker("ps", "-a", "-q", "--no-trunc").split()
        iids = d.docker("images", "-a", "-q", "--no-trunc").split()
        answers = {
            "inspect": d.docker_json("inspect", *cids),
            "images_inspect": d.docker_json("image", "inspect", *sorted(set(iids))),
            "history": d.api("/images/built:1/history"),
            "ps_q": d.docker("ps", "-a", "-q"),
            "ps_q_notrunc": d.docker("ps", "-a", "-q", "--no-trunc"),
            "images_q": d.docker("images", "-q"),
            "images_aq": d.docker("images", "-a", "-q", "--no-trunc"),
            "images_q_notrunc": d.docker("images", "-q", "--no-trunc"),
            "ps_ports": d.docker("ps", "-a", "--format", "{{.ID}}\t{{.Ports}}"),
            "system_df": d.api("/system/df"),
        }
        d.stop()
        yield d.root, answers


def _ours(root: Path, *args: str) -> str:
    import subprocess

    r = subprocess.run(
        [sys.executable, "-m", "storagekit.cli.main", "-r", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    record = dict(record)
    if "Mounts" in record:
        record["Mounts"] = sorted(record["Mounts"], key=lambda m: m["Destination"])
    return record


def test_inspect_equals_docker_inspect(made):
    root, answers = made
    for theirs in answers["inspect"]:
        [ours] = json.loads(_ours(root, "inspect", theirs["Id"]))
        # a running daemon reports live state the stopped root cannot: the process was stopped
        theirs = dict(theirs, State=dict(theirs["State"]))
        ours = dict(ours, State=dict(ours["State"]))
        assert _comparable(ours) == _comparable(theirs), theirs["Name"]
    for theirs in answers["images_inspect"]:
        [ours] = json.loads(_ours(root, "inspect", theirs["Id"]))
        assert ours == theirs, theirs["RepoTags"]


def test_history_of_a_loaded_image_has_missing_steps(made):
    root, answers = made
    ours = json.loads(_ours(root, "history", "built:1", "--format", "json"))
    assert [(o["id"], o["created_by"], o["size"]) for o in ours] == [
        (t["Id"], t["CreatedBy"], t["Size"]) for t in answers["history"]
    ]
    assert ours[0]["id"].startswith("sha256:")
    assert {o["id"] for o in ours[1:]} == {"<missing>"}


def _by_second(ids: list[str], created: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Runs of IDs created in the same second, in order, each run's IDs sorted.

    The daemon sorts images by ``Created`` in whole seconds, and images of one second in the
    order it walked a Go map (moby v20.10 *daemon/images/images.go*): any order within a
    second is Docker's.
    """
    runs: list[tuple[str, list[str]]] = []
    for i in ids:
        second = created[i][:19]
        if runs and runs[-1][0] == second:
            runs[-1][1].append(i)
        else:
            runs.append((second, [i]))
    return [(second, sorted(found)) for second, found in runs]


def test_listing_ids_equal_the_docker_cli(made):
    root, answers = made
    # containers: by Created to the nanosecond, newest first (daemon/list.go byCreatedDescending)
    assert _ours(root, "containers", "-q") == answers["ps_q"]
    assert _ours(root, "containers", "-q", "--no-trunc") == answers["ps_q_notrunc"]
    created = {i["Id"]: i["Created"] for i in answers["images_inspect"]}
    assert _by_second(_ours(root, "images", "-q", "--no-trunc").split(), created) == _by_second(
        answers["images_q_notrunc"].split(), created
    )
    assert _ours(root, "images", "-q") == "".join(
        i.removeprefix("sha256:")[:12] + "\n"
        for i in _ours(root, "images", "-q", "--no-trunc").split()
    )
    assert sorted(_ours(root, "images", "-a", "-q", "--no-trunc").split()) == sorted(
        answers["images_aq"].split()
    )


def test_ports_column_equals_docker_ps(made):
    root, answers = made
    lines = _ours(root, "containers").splitlines()
    start, end = lines[0].index("PORTS"), lines[0].index("NAMES")
    ours = [(line[:12], line[start:end].rstrip()) for line in lines[1:]]
    theirs = [tuple(line.split("\t")) for line in answers["ps_ports"].splitlines()]
    assert ours == theirs
    names = [line[end:].strip() for line in lines[1:]]
    assert ("web", "") in [(n, p) for n, (_, p) in zip(names, ours, strict=True)]


def test_df_v_items_equal_docker_system_df(made):
    root, answers = made
    ours = json.loads(_ours(root, "df", "-v", "--format", "json"))
    theirs = answers["system_df"]
    created = {i["Id"]: i["Created"] for i in answers["images_inspect"]}
    ours_images = [i["id"] for i in ours["images"]["items"]]
    assert _by_second(ours_images, created) == _by_second(
        [i["Id"] for i in theirs["Images"]], created
    )
    by_id = {i["Id"]: i for i in theirs["Images"]}
    for item in ours["images"]["items"]:
        image = by_id[item["id"]]
        tags = image["RepoTags"] or []
        first = tags[0] if tags and tags[0] != "<none>:<none>" else "<none>:<none>"
        assert (f"{item['repository']}:{item['tag']}", item["size"], item["containers"]) == (
            first,
            image["Size"],
            image["Containers"],
        )
    assert [
        (c["id"], c["image"], ps_command(c["command"]), c["local_volumes"], c["status"],
         c["name"], c["size_rw"])
        for c in ours["containers"]["items"]
    ] == [
        (c["Id"], c["Image"], c["Command"],
         sum(m.get("Driver") == "local" for m in c["Mounts"]), c["State"], c["Names"][0],
         c.get("SizeRw", 0))
        for c in theirs["Containers"]
    ]  # fmt: skip
    assert sorted((v["name"], v["links"], v["size"]) for v in ours["volumes"]["items"]) == sorted(
        (v["Name"], v["UsageData"]["RefCount"], v["UsageData"]["Size"]) for v in theirs["Volumes"]
    )


def test_exposure_names_exactly_the_risky_settings(made):
    root, _ = made
    report = json.loads(_ours(root, "audit", "--format", "json"))
    got = sorted((e["name"], e["setting"], str(e["value"])) for e in report["exposure"])
    assert got == sorted(
        [
            ("/risky", "Privileged", "True"),
            ("/risky", "CapAdd", "SYS_ADMIN"),
            ("/risky", "CapAdd", "NET_ADMIN"),
            ("/risky", "PidMode", "host"),
            ("/risky", "NetworkMode", "host"),
            ("/risky", "IpcMode", "host"),
            ("/risky", "Mounts", "/var/run/docker.sock -> /var/run/docker.sock"),
            ("/risky", "Mounts", "/ -> /host"),
            ("/risky", "Mounts", "/etc -> /host-etc"),
            ("/risky", "SecurityOpt", "seccomp=unconfined"),
            ("/risky", "SecurityOpt", "apparmor=unconfined"),
            ("/risky", "NoNewPrivileges", "False"),
            ("/web", "PortBindings", "['127.0.0.1:8080->80/tcp', '0.0.0.0:9090->90/udp']"),
            ("/web", "NoNewPrivileges", "False"),
        ]
    )
