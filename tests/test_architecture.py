"""The architecture, enforced: core never names an engine or a driver, and the layers hold.

Core is every module of ``storagekit`` outside ``storagekit.engines`` (and outside the driver
readers in ``drivers/``). What differs between engines and drivers is a method of theirs: core
code (identifiers, imports and string literals; docstrings and comments may explain) never
mentions one by name. The import contracts in ``pyproject.toml`` (``[tool.importlinter]``) are
checked by ``lint-imports`` here too.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "storagekit"
#: Engines and storage drivers (Docker's graph drivers, containerd's snapshotters).
NAMES = re.compile(
    r"docker|containerd|podman|libpod|aufs|overlay|vfs|btrfs|zfs|devicemapper|devmapper"
    r"|windowsfilter|snapshotter",
    re.IGNORECASE,
)


#: What core may say all the same, with the reason.
ALLOWED = {
    # The command line's contract: the default root and the option for a separate
    # containerd root (cli-contract.md, "Invocation").
    ("storagekit/cli/main.py", "/var/lib/docker"),
    ("storagekit/cli/main.py", "--containerd-root"),
    ("storagekit/cli/main.py", "containerd_root"),
    ("storagekit/cli/common.py", "containerd_root"),
}
#: ... and the help text of that option.
ALLOWED_HELP = re.compile(r"containerd root\b")
#: The OCI reference grammar's default registry is named docker.io whatever the engine.
REGISTRY = re.compile(r"(index\.)?docker\.io/")


def core_modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if "engines" not in p.relative_to(PACKAGE).parts[:-1]
    )


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are docstrings."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def named(path: Path) -> list[str]:
    """Each identifier, import or string literal of a module that names an engine or driver."""
    tree = ast.parse(path.read_text())
    docs = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        texts: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            texts.append(node.value)
        elif isinstance(node, ast.Name):
            texts.append(node.id)
        elif isinstance(node, ast.Attribute):
            texts.append(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            texts.append(node.name)
        elif isinstance(node, ast.ImportFrom):
            texts.append(node.module or "")
            texts += [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            texts += [a.name for a in node.names]
        where = path.relative_to(PACKAGE.parent).as_posix()
        hits += [
            f"{where}:{node.lineno}: {t!r}"
            for t in texts
            if NAMES.search(REGISTRY.sub("", t))
            and (where, t) not in ALLOWED
            and not (where == "storagekit/cli/main.py" and ALLOWED_HELP.match(t))
        ]
    return hits


def test_core_modules_exist():
    names = {p.relative_to(PACKAGE).as_posix() for p in core_modules()}
    assert {"engine.py", "driver.py", "cli/main.py", "union/view.py"} <= names
    assert not any(n.startswith("engines/") for n in names)


def test_no_core_module_names_an_engine_or_a_driver():
    hits = [hit for path in core_modules() for hit in named(path)]
    assert hits == []


def test_the_names_check_would_see_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""Docs may say overlay2."""\nDRIVER = "overlay2"\nfrom x import docker\n')
    assert sorted(h.split(": ", 1)[1] for h in named_at(bad)) == ["'docker'", "'overlay2'"]


def named_at(path: Path) -> list[str]:
    global PACKAGE
    saved, PACKAGE = PACKAGE, path.parent  # noqa: PLW0603 - relative names for this check only
    try:
        return named(path)
    finally:
        PACKAGE = saved


@pytest.mark.skipif(shutil.which("lint-imports") is None and not Path(sys.executable).with_name(
    "lint-imports").exists(), reason="import-linter is not installed")
def test_import_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    run = subprocess.run([exe], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]
