"""Commands imported when they run: the names the group knows are each module's commands."""

from __future__ import annotations

import subprocess
import sys

from storagekit.cli import analyst, recover
from storagekit.cli.main import ANALYST_NAMES, RECOVER_NAMES, cli


def test_lazy_names_are_the_modules_commands() -> None:
    assert RECOVER_NAMES == tuple(c.name for c in recover.COMMANDS)
    assert ANALYST_NAMES == tuple(c.name for c in analyst.COMMANDS)
    assert set(cli.list_commands(None)) >= {*RECOVER_NAMES, *ANALYST_NAMES, "containers"}  # type: ignore[arg-type]


def test_an_inventory_command_imports_no_recovery_or_analyst_code(tmp_path) -> None:
    code = (
        "import sys; from storagekit.cli.main import main\n"
        "try: main(['-r', sys.argv[1], 'containers', '-q'])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m in ('storagekit.cli.recover', "
        "'storagekit.cli.analyst', 'storagekit.analysis.diskusage', 'storagekit.union.changes',"
        " 'tarfile', 'sqlite3')))"
    )
    root = tmp_path / "empty"
    (root / "image").mkdir(parents=True)
    out = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_another_engines_root_imports_no_docker_reader() -> None:
    """Telling that the evidence holds no Docker root imports none of Docker's readers."""
    from pathlib import Path

    sample = Path(__file__).resolve().parent.parent / "sample_roots" / "podman-4.3-overlay"
    code = (
        "import sys; from storagekit.cli.main import main\n"
        "try: main(['-r', sys.argv[1], 'containers', '-q'])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('storagekit.engines.docker.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(sample / "root.tar.xz")],
        capture_output=True,
        text=True,
        check=True,
    )
    docker = ["storagekit.engines.docker.engine", "storagekit.engines.docker.locate"]
    assert out.stdout.strip().splitlines()[-1] == repr(docker)
