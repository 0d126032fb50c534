"""Golden outputs: every command's stdout, stderr and exit status on every sample root.

Recorded from main before a restructuring and kept as a test, so that a change meant to keep
every answer (the engine seam) proves that it did, byte for byte, on each sample root read as
its archive and as the directory GNU tar extracts from it.

Record (as root, so that the directory form keeps device nodes and xattrs)::

    python -m tests.golden --record

Each entry is keyed by the command line; its value holds the exit status and the SHA-256 of
stdout and of stderr (with the root's path replaced by ``<ROOT>``), plus any file the command
wrote (``-o``, ``--tar``, ``--manifest``), hashed the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from storagekit.cli.main import main
from tests.conftest import NAMES, SAMPLES

GOLDEN = Path(__file__).resolve().parent / "golden"


def _expected(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name / "expected.json").read_text())


def commands(name: str) -> list[list[str]]:
    """The command lines recorded for one sample root (``{out}`` names a file to write)."""
    exp = _expected(name)
    cmds: list[list[str]] = []
    for fmt in ("table", "json"):
        f = ["--format", fmt]
        cmds += [
            ["audit", *f],
            ["containers", *f],
            ["containers", "--no-size", *f],
            ["containers", "-s", "--no-trunc", *f],
            ["images", *f],
            ["images", "-a", "--digests", "--no-trunc", *f],
            ["layers", *f],
            ["volumes", *f],
            ["df", *f],
            ["df", "-v", *f],
            ["orphans", *f],
            ["verify", *f],
        ]
    cmds += [["reclaim"], ["chain", "no-such-ref"], ["ls", "no-such-ref", "/"]]
    for c in exp["containers"]:
        ref = c["Name"].lstrip("/")
        for fmt in ("table", "json"):
            f = ["--format", fmt]
            cmds += [
                ["chain", ref, *f],
                ["diff", ref, *f],
                ["ls", ref, "/", "-R", *f],
                ["ls", ref, "/", "-R", "--deleted", *f],
                ["ls", ref, "/", "--with-mounts", *f],
            ]
        cmds += [
            ["inspect", ref],
            ["inspect", "--size", ref],
            ["cat", ref, "/etc/passwd"],
            ["cat", ref, "/no/such/file"],
            ["export", ref, "-o", "{out}"],
            ["extract", ref, "--tar", "{out}", "--manifest", "{out2}"],
            ["extract", ref, "/etc", "-o", "{dir}", "--manifest", "{out2}"],
        ]
    for i in exp["images"]:
        for fmt in ("table", "json"):
            cmds += [["chain", i["Id"], "--format", fmt], ["verify", i["Id"], "--format", fmt]]
        cmds += [["ls", i["Id"], "/", "-R", "--format", "json"], ["inspect", i["Id"]]]
        cmds += [["history", i["Id"], "--format", fmt] for fmt in ("table", "json")]
    tagged = [i["Id"] for i in exp["images"] if i.get("RepoTags")]
    if tagged:
        cmds.append(["save", *tagged[:2], "-o", "{out}"])
    return cmds


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tree_digest(top: Path) -> str:
    """A digest of a written tree: each path, its type, mode and content."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            p = Path(dirpath, n)
            st = p.lstat()
            h.update(f"{p.relative_to(top)}\0{st.st_mode:o}\0".encode())
            if p.is_symlink():
                h.update(os.readlink(p).encode())
            elif p.is_file():
                h.update(p.read_bytes())
    return h.hexdigest()


def run_one(root: str, cmd: list[str]) -> dict[str, Any]:
    """Run one command in-process and describe what it printed and wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        files = {"{out}": f"{tmp}/out", "{out2}": f"{tmp}/out2", "{dir}": f"{tmp}/dir"}
        args = [files.get(a, a) for a in cmd]
        out, err = io.BytesIO(), io.StringIO()
        stdout = io.TextIOWrapper(out, encoding="utf-8", errors="surrogateescape")
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(err):
            code = main(["-r", root, *args])
            stdout.flush()

        def norm(data: bytes) -> bytes:
            return data.replace(root.encode(), b"<ROOT>").replace(tmp.encode(), b"<TMP>")

        result: dict[str, Any] = {
            "code": code,
            "out": _digest(norm(out.getvalue())),
            "err": _digest(norm(err.getvalue().encode("utf-8", "surrogateescape"))),
        }
        for key, path in files.items():
            p = Path(path)
            if p.is_dir():
                result[key] = _tree_digest(p)
            elif p.exists():
                result[key] = _digest(norm(p.read_bytes()))
        return result


def extract(name: str, dest: Path) -> None:
    """Extract a sample root as the tests do (xattrs and device nodes kept)."""
    subprocess.run(
        # Directory times are set at the end, or a later member would leave some as "now".
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "--delay-directory-restore",
         "-xJf", str(SAMPLES / name / "root.tar.xz"), "-C", str(dest)],
        check=True,
    )


def record_root(name: str, root: str) -> dict[str, Any]:
    """Every command's description for one root."""
    return {" ".join(cmd): run_one(root, cmd) for cmd in commands(name)}


def record() -> None:
    """Write ``tests/golden/<name>.json`` for every sample root, archive and directory."""
    GOLDEN.mkdir(exist_ok=True)
    for name in NAMES:
        data = {"archive": record_root(name, str(SAMPLES / name / "root.tar.xz"))}
        tmp = Path(tempfile.mkdtemp())
        try:
            extract(name, tmp)
            data["directory"] = record_root(name, str(tmp))
        finally:
            shutil.rmtree(tmp)
        (GOLDEN / f"{name}.json").write_text(json.dumps(data, indent=0, sort_keys=True) + "\n")
        print(name, len(data["archive"]), file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python -m tests.golden --record")
    record()
