"""Every command's output on every sample root equals the golden record (see tests.golden).

Stdout, stderr and the exit status of 174 command lines per root, read as the archive and as the
extracted directory, must stay byte-identical across restructurings. A deliberate change of an
answer re-records the goldens (``python -m tests.golden --record``) in the same commit.
"""

from __future__ import annotations

import json

import pytest

from tests.golden import GOLDEN, NAMES, SAMPLES, commands, run_one


@pytest.mark.golden
@pytest.mark.parametrize("form", ["archive", "directory"])
@pytest.mark.parametrize("name", NAMES)
def test_every_command_is_unchanged(name, form, extracted):
    golden = json.loads((GOLDEN / f"{name}.json").read_text())[form]
    if form == "archive":
        root = str(SAMPLES / name / "root.tar.xz")
    elif name in extracted:
        root = str(extracted[name])
    else:
        pytest.skip("extracting a root with device nodes and xattrs needs root")
    cmds = commands(name)
    assert sorted(" ".join(c) for c in cmds) == sorted(golden)
    changed = [
        " ".join(cmd) for cmd in cmds if run_one(root, cmd) != golden[" ".join(cmd)]
    ]
    assert changed == []
