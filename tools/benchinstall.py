"""Installs for the benchmarks: storagekit as users get it (this checkout, or a git revision
for ``--compare``), and docker-explorer from PyPI, each in its own virtualenv."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path.home() / ".cache" / "storagekit-bench"
DEPENDENCIES = ("construct>=2.10", "click>=8.1", "tabulate>=0.9")
DE_PACKAGE = "docker-explorer"


class CommandFailed(RuntimeError):
    """A benchmarked command exited non-zero."""


def log(*args: object) -> None:
    print(*args, file=sys.stderr)


def _pip(python: Path, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        check=True,
        capture_output=True,
    )


def install_storagekit(venv: Path, source: Path = REPO) -> str:
    """Install ``source`` (a checkout) into ``venv`` as users get it (a wheel, not editable).

    docker-explorer runs from a normal install too; an editable install adds an import hook
    that costs every run some 20 ms. Reinstalled on every benchmark, so the figures are for the
    code as it is now. Returns the ``storagekit`` executable.
    """
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    log(f"installing storagekit from {source} into {venv} …")
    _pip(python, "--force-reinstall", "--no-deps", str(source))
    _pip(python, *DEPENDENCIES)
    return str(venv / "bin" / "storagekit")


def export_revision(rev: str) -> tuple[str, Path]:
    """``git archive`` of ``rev`` under the cache; returns (short commit, directory)."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dest = CACHE / "src" / sha[:12]
    if not (dest / "pyproject.toml").exists():
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        archive = subprocess.Popen(
            ["git", "-C", str(REPO), "archive", sha], stdout=subprocess.PIPE
        )  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            raise CommandFailed(f"git archive {sha} failed")
    return sha[:12], dest


@dataclass
class Variant:
    """One storagekit under test: a name for the tables and its executable."""

    name: str
    storagekit: str

    @property
    def python(self) -> str:
        """The interpreter of the virtualenv the executable is in."""
        return str(Path(self.storagekit).parent / "python")

    @property
    def cli_module(self) -> str:
        """The module the ``storagekit`` console script imports its ``main`` from."""
        for line in Path(self.storagekit).read_text(errors="replace").splitlines():
            if line.startswith("from ") and line.endswith(" import main"):
                return line.split()[1]
        return "storagekit.cli.main"


def add_install_args(parser: argparse.ArgumentParser) -> None:
    """``--sk-venv``, ``--storagekit`` and ``--compare REV``."""
    parser.add_argument(
        "--sk-venv",
        type=Path,
        default=CACHE / f"sk-venv-{REPO.name}",
        help="virtualenv this checkout is installed into (non-editable) for the timed runs; "
        "one per checkout (several worktrees benchmarking at once must not share one)",
    )
    parser.add_argument(
        "--storagekit", help="time this storagekit executable instead of installing one"
    )
    parser.add_argument(
        "--compare",
        metavar="REV",
        help="also time the storagekit of git revision REV, interleaved with this one",
    )


def variants(args: argparse.Namespace) -> list[Variant]:
    """This checkout's storagekit, then REV's when ``--compare REV`` was given."""
    out = [Variant("now", args.storagekit or install_storagekit(args.sk_venv))]
    if args.compare:
        short, source = export_revision(args.compare)
        exe = install_storagekit(CACHE / f"sk-venv-{short}", source)
        out.append(Variant(f"{args.compare}" if args.compare == short else short, exe))
    return out


@dataclass
class DockerExplorer:
    """docker-explorer installed in its own virtualenv."""

    venv: Path
    version: str

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "de.py"

    def argv(self, root: Path) -> list[str]:
        """``de.py -r ROOT list all_containers``, run by the venv's interpreter."""
        return [str(self.python), str(self.script), "-r", str(root), "list", "all_containers"]


def docker_explorer(venv: Path) -> DockerExplorer:
    """Create ``venv`` and ``pip install docker-explorer`` unless it is already there."""
    python = venv / "bin" / "python"
    if not (python.exists() and (venv / "bin" / "de.py").exists()):
        log(f"installing {DE_PACKAGE} into {venv} …")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        _pip(python, DE_PACKAGE)
    version = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({DE_PACKAGE!r}))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return DockerExplorer(venv, version)


def bench_env(pycache: Path) -> dict[str, str]:
    """The environment for the timed commands: Python's bytecode cache on, as users have it.

    With ``PYTHONDONTWRITEBYTECODE`` set (as in some shells and CI images) every run would
    compile the storagekit sources again (about 70 ms) while docker-explorer's venv has the
    ``.pyc`` files pip wrote. Both tools therefore run with the cache on, kept under ``pycache``
    (``PYTHONPYCACHEPREFIX``) so that nothing is written beside the sources; the warm-up run
    fills it.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env
