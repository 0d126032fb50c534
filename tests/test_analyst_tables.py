"""The analyst's tables: docker ps's PORTS, docker system df -v's columns, verify's rows.

Expected values are the Docker CLI 28.2's own output against dockerd 20.10.24 (containers on
a bridge network, copied while running; ``docker system df -v`` of the sample root) and the
sample root's recorded ``/system/df`` answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from storagekit.cli import render, tables
from storagekit.engines.docker.containers import ports
from tests.support.ttys import readable

SAMPLES = Path(__file__).resolve().parent.parent / "sample_roots"

#: ``NetworkSettings.Ports`` of a running container made with ``-p 38081:80
#: -p 127.0.0.1:38053:53/udp -p 38100-38101:100-101 --expose 7000`` on an image that exposes
#: 80, 443/tcp and 53/udp, and what ``docker ps`` printed for it.
RUNNING = {
    "100/tcp": [{"HostIp": "0.0.0.0", "HostPort": "38100"}, {"HostIp": "::", "HostPort": "38100"}],
    "101/tcp": [{"HostIp": "0.0.0.0", "HostPort": "38101"}, {"HostIp": "::", "HostPort": "38101"}],
    "443/tcp": None,
    "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "38053"}],
    "7000/tcp": None,
    "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "38081"}, {"HostIp": "::", "HostPort": "38081"}],
}
RUNNING_PS = (
    "443/tcp, 7000/tcp, 127.0.0.1:38053->53/udp, 0.0.0.0:38081->80/tcp, [::]:38081->80/tcp, "
    "0.0.0.0:38100->100/tcp, [::]:38100->100/tcp, 0.0.0.0:38101->101/tcp, [::]:38101->101/tcp"
)


def _records(recorded):
    return [
        {"ip": p.ip, "private_port": p.private_port, "public_port": p.public_port, "type": p.type}
        for p in ports(recorded)
    ]


def test_ports_of_a_running_container_as_docker_ps():
    assert tables.ports_text(_records(RUNNING)) == RUNNING_PS


def test_exposed_ports_group_as_docker_ps_groups_them():
    exposed = {"443/tcp": None, "53/udp": None, "80/tcp": None}
    assert tables.ports_text(_records(exposed)) == "80/tcp, 53/udp, 443/tcp"
    same = {
        "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
        "8081/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8081"}],
        "9000/tcp": None,
        "9001/tcp": None,
    }
    assert tables.ports_text(_records(same)) == "0.0.0.0:8080-8081->8080-8081/tcp, 9000-9001/tcp"
    both = {  # -p 38090:38090 -p 38091:38091 -p 127.0.0.1:38095:38095/udp, running
        f"{n}/tcp": [{"HostIp": "0.0.0.0", "HostPort": n}, {"HostIp": "::", "HostPort": n}]
        for n in ("38090", "38091")
    } | {"38095/udp": [{"HostIp": "127.0.0.1", "HostPort": "38095"}]}
    assert tables.ports_text(_records(both)) == (  # as docker ps (CLI 28.2) printed it
        "0.0.0.0:38090-38091->38090-38091/tcp, [::]:38090-38091->38090-38091/tcp, "
        "127.0.0.1:38095->38095/udp"
    )


def test_a_stopped_container_lists_no_ports():
    # the daemon empties NetworkSettings.Ports when the container stops: docker ps shows none
    assert _records({}) == []
    assert tables.ports_text([]) == ""
    assert _records({"80/tcp": [{"HostIp": "", "HostPort": "x"}], "bad": None}) == []


def _ours(*args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "storagekit.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def overlay2() -> tuple[str, dict]:
    root = SAMPLES / "overlay2-20.10"
    return str(root / "root.tar.xz"), json.loads((root / "expected.json").read_text())


def test_df_v_items_carry_docker_system_df_fields(overlay2):
    archive, expected = overlay2
    ours = json.loads(_ours("-r", archive, "df", "-v", "--format", "json"))
    theirs = expected["system_df"]
    assert [(i["id"], f"{i['repository']}:{i['tag']}", i["containers"]) for i in
            ours["images"]["items"]] == [
        (i["Id"], i["RepoTags"][0], i["Containers"]) for i in theirs["Images"]
    ]  # fmt: skip
    assert [
        (c["id"], c["image"], tables.ps_command(c["command"]), c["local_volumes"], c["status"])
        for c in ours["containers"]["items"]
    ] == [
        (c["Id"], c["Image"], c["Command"], sum(m.get("Driver") == "local" for m in c["Mounts"]),
         c["State"])
        for c in theirs["Containers"]
    ]  # fmt: skip
    assert ours["volumes"]["uncounted"] == [
        {
            "name": "sk-tmpfs-opts",
            "reason": "created with options (mounted when a container starts)",
        }
    ]


def test_df_v_table_has_docker_columns_and_notes(overlay2):
    archive, _ = overlay2
    lines = _ours("-r", archive, "df", "-v").splitlines()
    images = lines.index("Images space usage:")
    assert lines[images + 2 : images + 4] == [
        "REPOSITORY               TAG       IMAGE ID       CREATED                SIZE      "
        "SHARED SIZE   UNIQUE SIZE   CONTAINERS",
        "sk-app                   1.0       e243ffdcea9a   2026-11-28T02:47:54Z   1.98MB    "
        "1.983MB       3B            4",
    ]
    containers = lines.index("Containers space usage:")
    assert lines[containers + 2 : containers + 4] == [
        "CONTAINER ID   IMAGE        COMMAND                   LOCAL VOLUMES   SIZE      "
        "CREATED                STATUS       NAMES",
        '2d4ba822b0d2   sk-app:1.0   "sleep 3600"              2               10B       '
        "2026-11-28T02:47:57Z   Up           sk-running",
    ]
    assert "Build cache usage: 0B" in lines
    notes = lines[lines.index("Notes:") + 1 : lines.index("Notes:") + 4]
    assert [n.split(":")[0].strip() for n in notes] == [
        "Containers",
        "Local Volumes",
        "Orphaned storage",
    ]
    assert "not counted: sk-tmpfs-opts" in notes[1]
    assert notes[2].startswith("  Orphaned storage: 13.8kB held, 0B of it removable by reclaim")


def test_verify_table_has_one_row_per_changed_file():
    records = [
        {"chain_id": "sha256:" + "a" * 64, "cache_id": "b" * 64, "status": "ok", "files": []},
        {
            "chain_id": None,
            "cache_id": "c" * 64,
            "status": "container-changes",
            "files": [{"change": "added", "path": "/x"}, {"change": "deleted", "path": "/y z"}],
        },
    ]
    assert render.verify_table(records).splitlines() == [
        "CHAIN ID       CACHE ID       STATUS              CHANGE    FILE",
        "aaaaaaaaaaaa   bbbbbbbbbbbb   ok                  -         -",
        "(rw layer)     cccccccccccc   container-changes   added     /x",
        "                                                  deleted   /y z",
    ]


def test_root_after_the_subcommand(overlay2):
    archive, _ = overlay2
    before = _ours("-r", archive, "containers", "-q")
    assert _ours("containers", "-r", archive, "-q") == before
    assert _ours("containers", f"--root={archive}", "-q") == before
    assert before.split()[0] == "2d4ba822b0d2"


def test_help_names_arguments_and_keeps_summaries_whole():
    from storagekit.cli.main import cli

    commands = cli.commands
    texts = [_ours("--help")] + [_ours(name, "--help") for name in sorted(commands)]
    assert not [t for t in texts if " TEXT" in t]
    assert "..." not in texts[0].split("Commands:")[1]
    assert "  -r, --root ROOT" in texts[0]


def test_cat_of_a_volume_path_hints_at_with_mounts(overlay2):
    archive, _ = overlay2
    r = subprocess.run(
        [sys.executable, "-m", "storagekit.cli.main", "-r", archive, "cat", "sk-exited",
         "/named/hello.txt"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr.splitlines()[0] == (
        "storagekit: error: container /sk-exited: /named/hello.txt: no such file or directory "
        "(/named is a volume sk-named of the container: add --with-mounts to read it)"
    )


def _sections(text: str) -> dict[str, list[list[str]]]:
    """``podman system df -v``'s text: each section's rows, cells split at 2+ spaces."""
    import re

    found: dict[str, list[list[str]]] = {}
    current = None
    for line in text.splitlines():
        if line.endswith("space usage:"):
            current = found.setdefault(line, [])
        elif line.strip() and current is not None:
            current.append(re.split(r"\s{2,}", line.strip()))
    return found


@pytest.mark.parametrize("sample", ["podman-4.3-vfs", "podman-4.3-overlay"])
def test_podman_df_v_items_as_podman_system_df_v(sample):
    root = SAMPLES / sample
    theirs = _sections(json.loads((root / "expected.json").read_text())["system_df_v"])
    text = _ours("-r", str(root / "root.tar.xz"), "df", "-v")
    ours = _sections(text.split("\n\n", 1)[1].split("Build cache usage:")[0])
    # CREATED (relative in podman's text) left out
    assert [r[:3] + r[4:] for r in ours["Images space usage:"]] == [
        r[:3] + r[4:] for r in theirs["Images space usage:"]
    ]
    assert [r[:5] + r[6:] for r in ours["Containers space usage:"]] == [
        r[:5] + r[6:] for r in theirs["Containers space usage:"]
    ]
    assert ours["Local Volumes space usage:"] == theirs["Local Volumes space usage:"]


def _on_a_terminal(*args: str) -> str:
    """What a terminal shows when stdout and stderr both go to it."""
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "storagekit.cli.main", *args],
        stdout=slave,
        stderr=slave,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    out = b""
    while readable([master], 60):
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait() == 0
    return out.decode().replace("\r\n", "\n")


def test_audit_shows_each_finding_once_on_a_terminal():
    archive = str(SAMPLES / "containerd-docker29" / "root.tar.xz")
    seen = _on_a_terminal("-r", archive, "audit")
    tag = "[no-image-store]"
    assert [line.endswith(tag) for line in seen.splitlines()].count(True) == 1
    # redirected, the report keeps its section and stderr keeps the finding
    r = subprocess.run(
        [sys.executable, "-m", "storagekit.cli.main", "-r", archive, "audit"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert [r.stdout.count(tag), r.stderr.count(tag)] == [1, 1]


def test_extract_counts_the_same_files_to_a_directory_and_to_a_tar(overlay2, tmp_path):
    archive, _ = overlay2
    said = []
    for target in (["-o", str(tmp_path / "d")], ["--tar", str(tmp_path / "t.tar")]):
        r = subprocess.run(
            [sys.executable, "-m", "storagekit.cli.main", "-r", archive, "extract", "sk-exited",
             *target],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        said.append((r.returncode, r.stdout, r.stderr.splitlines()[-1]))
    assert said == [(0, "", "extracted 23 files, 1982493 bytes")] * 2
    listed = subprocess.run(
        ["tar", "-tf", str(tmp_path / "t.tar")], capture_output=True, check=False
    )  # GNU tar reads the non-UTF-8 name without a word on hdrcharset
    assert (listed.returncode, listed.stderr) == (0, b"")
    assert b"\\377" in listed.stdout  # GNU tar quotes the byte it cannot print
