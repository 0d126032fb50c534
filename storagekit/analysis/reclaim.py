"""Reclaiming what the orphan analysis found: a reviewable plan, and applying it safely.

The plan is a shell script with one ``rm`` per removable finding and the bytes it frees. Only
storage nothing refers to is ever in it: driver directories no layer, container or image
references, layer store entries no image or container uses, leftovers of interrupted deletes,
stale transaction directories and dangling overlay2 short links. Volumes (user data) and
dangling images (Docker's own ``docker image prune`` decides those) are listed as comments
only. ``--apply`` acts on a directory root, re-checks each path just before removing it (still
there, inside the root, not a link), logs every removal, and goes on after a removal that
fails, reporting it.

No line of the plan comes from the evidence: every path is quoted, a name a shell line cannot
hold (a newline, a control character, a byte that is not UTF-8) makes its step a comment and
never a command, the root's path is refused outright when it is such a name, and comments show
evidence text escaped (:func:`storagekit.termtext.display`).
"""

from __future__ import annotations

import os
import shlex
import stat as st
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from storagekit.analysis.orphans import REMOVABLE
from storagekit.errors import StoragekitError
from storagekit.source import normpath
from storagekit.termtext import display, shell_safe

#: Why a removable step is left as a comment.
UNQUOTABLE = "a name a shell line cannot hold safely"


@dataclass(frozen=True)
class Step:
    """One finding of the plan: the paths that make up its object and the bytes they hold."""

    path: str
    paths: tuple[str, ...]
    bytes: int
    kind: str
    reason: str
    remove: bool


def plan(orphans: Iterable[dict[str, Any]]) -> list[Step]:
    """The steps for the orphan records, removable ones first, each path once."""
    steps: dict[str, Step] = {}
    for o in orphans:
        path = normpath(o["path"])
        if not path or path in steps:
            continue
        paths = tuple(normpath(p) for p in o.get("paths") or [path])
        removable = o["kind"] in REMOVABLE and all(paths)
        reason = o["reason"]
        if removable and not all(shell_safe(p) for p in paths):
            removable, reason = False, f"{reason}; {UNQUOTABLE}"
        steps[path] = Step(path, paths, int(o.get("bytes") or 0), o["kind"], reason, removable)
    return sorted(steps.values(), key=lambda s: (not s.remove, s.path))


def script(
    steps: list[Step],
    root: str | None,
    *,
    title: str,
    daemon: str,
    archive: str = "",
    note: str = "",
) -> str:
    """The plan as a shell script a person can review and run.

    Args:
        steps: the plan.
        root: the root the plan is for: the one named on the command line, never a path
            recorded inside the evidence. None when that root is an archive: the plan then
            runs in ``$ROOT``, which the person sets to where they extracted it.
        title: what kind of root it is ("Docker").
        daemon: what must be stopped before the plan runs.
        archive: the archive, named in the header, when ``root`` is None.
        note: one more header line (incomplete evidence).

    Raises:
        StoragekitError: ``root`` is a name no shell line can hold safely.
    """
    if root is not None and not shell_safe(root):
        raise StoragekitError(f"reclaim: the root's path {display(root)!r} cannot be quoted safely")
    title = display(title)
    total = sum(s.bytes for s in steps if s.remove)
    if root is not None:
        where = f"# {title} root: {root} (the root named by -r; never a path recorded in it)"
        cd = f"cd {shlex.quote(root)}"
    else:
        where = (
            f"# {title} root: inside the archive {display(archive)}, not a directory: extract it "
            "and set "
            f"ROOT to the extracted {title} root (never a path recorded in the evidence)"
        )
        cd = f'cd "${{ROOT:?set ROOT to the {title} root extracted from the archive}}"'
    lines = [
        "#!/bin/sh",
        f"# storagekit reclaim plan: review before running; stop {daemon} first.",
        where,
        *([f"# {note}"] if note else []),
        f"# frees {total} bytes in {sum(s.remove for s in steps)} paths",
        "set -eu",
        cd,
    ]
    for s in steps:
        comment = display(f"# {s.bytes} bytes: {s.kind}: {s.reason}")
        if s.remove:
            lines += [comment, "rm -rf -- " + " ".join(shlex.quote(p) for p in s.paths)]
        else:
            lines += [f"{comment} (not removed by this plan)"]
            if s.kind in REMOVABLE:
                lines += ["# " + display(" ".join(s.paths))]
    return "\n".join(lines) + "\n"


def apply(steps: list[Step], root: str, log: Callable[[str], None]) -> tuple[int, int, int]:
    """Remove the removable steps below the directory ``root``.

    Returns (paths removed, bytes freed, paths that could not be removed). A removal that
    fails is logged and the remaining steps are still carried out.

    Raises:
        StoragekitError: ``root`` is not a directory.
    """
    if not os.path.isdir(root):
        raise StoragekitError(f"{display(root)}: reclaim --apply needs a directory root")
    real_root = os.path.realpath(root)
    removed = freed = failed = 0
    for s in steps:
        if not s.remove:
            continue
        done = []
        for p in s.paths:
            outcome = _remove(real_root, p, log)
            if outcome is None:
                failed += 1
            elif outcome:
                done.append(p)
        if done:
            removed += 1
            freed += s.bytes
            log(display(f"removed {' '.join(done)} ({s.bytes} bytes, {s.kind})"))
    return removed, freed, failed


def _remove(real_root: str, path: str, log: Callable[[str], None]) -> bool | None:
    """Remove one path below the root: never through a link, never outside the root.

    True when removed, False when skipped, None when the removal failed (logged).
    """
    target = os.path.join(real_root, path)
    parent = os.path.realpath(os.path.dirname(target))
    if parent != real_root and not parent.startswith(real_root + os.sep):
        log(display(f"skipped {path}: leaves the root"))
        return False
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        log(display(f"skipped {path}: already gone"))
        return False
    try:
        if st.S_ISDIR(info.st_mode):
            # rm(1) walks iteratively (deep trees), never follows links, stays on this fs.
            done = subprocess.run(
                ["rm", "-rf", "--one-file-system", "--", target],
                stderr=subprocess.PIPE,
                check=False,
            )
            if done.returncode:
                why = done.stderr.decode("utf-8", "replace").strip().splitlines()
                raise OSError(f"rm exited with status {done.returncode}: {why[-1] if why else ''}")
        else:
            os.unlink(target)
    except OSError as exc:
        log(display(f"FAILED to remove {path}: {exc}"))
        return None
    return True
