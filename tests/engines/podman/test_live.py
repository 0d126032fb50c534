"""Live podman: a fresh graph root made by the real podman, read through the command line and
compared with podman's own answers; a saved image loaded into another fresh podman.

The root read is a copy of the graph root taken while one container runs (its overlay mounted),
as a responder copies a live host. Slow (a podman build and six containers per driver);
selected with ``-m engine``. Needs root and podman (``real-engine.md``); the private podman of
``tools/podman_engine.py`` never touches a system store.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engines.podman import test_engine_cli as cli
from tools.make_podman_roots import build_scenario, capture_expected
from tools.podman_engine import Podman, copy_live, stop_pause_process, stop_running, unmount_all

pytestmark = pytest.mark.engine


def _available() -> bool:
    return os.geteuid() == 0 and shutil.which("podman") is not None


#: The unprivileged user with subordinate IDs for the rootless root (as the sample roots').
USER = os.environ.get("STORAGEKIT_PODMAN_USER", "skrootless")


def _has_user() -> bool:
    import pwd

    try:
        pwd.getpwnam(USER)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="module", params=["overlay", "vfs", "rootless-overlay"])
def fresh(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[cli.Root, Podman]]:
    if not _available():
        if os.environ.get("STORAGEKIT_REQUIRE_ENGINE"):
            pytest.fail("podman is required here (STORAGEKIT_REQUIRE_ENGINE is set)")
        pytest.skip("needs root and podman")
    # podman refuses a run root longer than 50 characters: a short private directory
    rootless = request.param.startswith("rootless-")
    if rootless and not _has_user():
        pytest.skip(f"needs the user {USER} with subordinate IDs")
    work = Path(tempfile.mkdtemp(prefix="skp-", dir="/tmp"))
    work.chmod(0o755)  # the rootless user reaches its own directory below
    driver = request.param.removeprefix("rootless-")
    p = Podman(work / "w", driver, USER if rootless else None)
    try:
        ids = build_scenario(p)
        exp: dict[str, Any] = capture_expected(p)
        exp["scenario"] = ids
        # what a responder copies: the graph root while sk-running runs (its overlay mounted)
        copy = copy_live(p, work / "copy")
    finally:
        stop_running(p)
        unmount_all(p)
        stop_pause_process(p)
    yield cli.Root(f"fresh-{request.param}", "directory", str(copy), exp), p
    unmount_all(p)
    stop_pause_process(p)  # tests ran podman again (logs): a new rootless pause process
    shutil.rmtree(work)


CHECKS = [
    cli.test_containers_match_podman_ps_and_inspect,
    cli.test_container_inspect_equals_podman_container_inspect,
    cli.test_container_sizes_match_podman_system_df,
    cli.test_images_match_podman_images,
    cli.test_image_inspect_equals_podman_image_inspect,
    cli.test_image_df_numbers_match_podman_system_df,
    cli.test_layers,
    cli.test_volumes_match_podman_volume_inspect,
    cli.test_diff_equals_podman_diff,
    cli.test_chain_orphans_audit_verify,
    cli.test_running_when_copied,
    cli.test_df_summary,
    cli.test_history_equals_podman_history,
    cli.test_timeline_events_equal_podman_inspect,
    cli.test_logs_of_k8s_file_containers,  # podman logs, captured while sk-running ran
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__.removeprefix("test_"))
def test_fresh_root_equals_podman(fresh: tuple[cli.Root, Podman], check: Any) -> None:
    check(fresh[0])


def test_fresh_export_equals_podman_export(fresh: tuple[cli.Root, Podman], tmp_path: Path) -> None:
    cli.test_export_equals_podman_export(fresh[0], tmp_path)


def test_saved_image_loads_into_a_fresh_podman(
    fresh: tuple[cli.Root, Podman], tmp_path: Path
) -> None:
    root, _ = fresh
    out = tmp_path / "save.tar"
    assert root.run("save", "localhost/sk-app:1", "localhost/sk-base:1", "-o", str(out))[0] == 0
    work = Path(tempfile.mkdtemp(prefix="skl-", dir="/tmp"))
    other = Podman(work / "w", "vfs")
    try:
        other("load", "-i", str(out), record=False)
        for ref in ("localhost/sk-app:1", "localhost/sk-base:1"):
            [got] = other.json("image", "inspect", ref)
            want = next(i for i in root.exp["images"] if i["RepoTags"] == [ref])
            assert got["Id"] == want["Id"]
            assert got["RootFS"]["Layers"] == want["RootFS"]["Layers"]
    finally:
        unmount_all(other)
        shutil.rmtree(work)
