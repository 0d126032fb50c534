"""Progress: on a terminal only, by bytes, handed over between steps, erased, never over output.

The command-line tests run storagekit with stderr (and stdout) on a pseudo-terminal, with
``STORAGEKIT_PROGRESS_DELAY=0`` so that every step draws as it starts: what they assert does not
depend on how long anything takes.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import tty
from pathlib import Path

import pytest

from storagekit import progress
from tests.conftest import SAMPLES
from tests.support.ttys import readable

ROOT = str(SAMPLES / "overlay2-20.10" / "root.tar.xz")
DRAW = re.compile(rb"\r([^\r\n\x1b]*)\x1b\[K")
ERASE = b"\r\x1b[K"


@pytest.fixture
def terminal():
    """A pseudo-terminal in raw mode: (the end a program writes to, the end read back)."""
    leader, follower = pty.openpty()
    tty.setraw(follower)
    yield follower, leader
    os.close(follower)
    os.close(leader)


def _read_all(fd: int) -> bytes:
    data = b""
    while readable([fd], 0):
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


class Tty:
    """A stream whose file descriptor is a terminal."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd


@pytest.fixture
def reporter(terminal, monkeypatch):
    """A reporter drawing on the pseudo-terminal, each step as it starts, the timer stopped."""
    follower, leader = terminal
    monkeypatch.setenv("STORAGEKIT_PROGRESS_DELAY", "0")
    monkeypatch.setenv("TERM", "xterm")
    found = progress.start("test", Tty(follower))
    import signal

    signal.setitimer(signal.ITIMER_REAL, 0)  # draws only when the test asks (tick)
    yield found, leader
    progress.stop()


def test_a_bytes_step_with_a_total(reporter):
    rep, leader = reporter
    with progress.step("verifying layers", total=2_000_000) as bar:
        bar.advance(500_000)
        rep.tick()
    progress.finish()
    out = _read_all(leader)
    draws = DRAW.findall(out)
    assert draws[0] == b"verifying layers  [........................]   0%  0B / 2MB"
    assert draws[1].startswith(b"verifying layers  [######..................]  25%  500kB / 2MB")
    assert out.endswith(ERASE)


def test_unknown_totals_and_items(reporter):
    rep, leader = reporter
    with progress.step("listing", noun="entries"):
        progress.count("entries", 41)
        progress.count("containers", 5)  # not what this step counts
        progress.advance(0)
        rep.tick()
    with progress.step("reading containers", items=8) as bar:
        bar.item(2)
        rep.tick()
    out = _read_all(leader)
    assert DRAW.findall(out) == [
        b"listing  0 entries",
        b"listing  41 entries",
        b"reading containers  [........................]   0%  0/8",
        b"reading containers  [######..................]  25%  2/8",
    ]


def test_steps_hand_over_and_nest(reporter):
    rep, leader = reporter
    outer = progress.step("extracting")
    with progress.step("reading layers", items=2):
        pass
    rep.tick()  # the outer step shows again, not the finished inner one
    outer.__exit__(None, None, None)
    rep.tick()  # between steps: the command is working
    assert [d.split(b"  ")[0] for d in DRAW.findall(_read_all(leader))] == [
        b"extracting",
        b"reading layers",
        b"extracting",
        b"test: working",
    ]


def test_nothing_without_a_terminal(monkeypatch):
    r, w = os.pipe()
    try:
        with os.fdopen(w, "w") as pipe:
            rep = progress.start("test", pipe)
            with progress.step("indexing the archive", total=10) as bar:
                bar.advance(10)
                rep.tick()
            assert bar is progress.current().top  # the one bar that counts nothing
            assert bar.done == 0
            assert progress.counted(sys.stdout.buffer) is sys.stdout.buffer
            assert progress.workers(2).counts is not None
            progress.stop()
        assert os.read(r, 100) == b""
    finally:
        os.close(r)


def test_workers_count_into_the_parents_step(reporter):
    rep, leader = reporter
    with progress.step("measuring", items=3) as bar:
        bar.advance(10)
        team = progress.workers(2)
        pids = []
        for k in range(2):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                team.enter(k)
                progress.advance(100 * (k + 1))
                progress.item()
                with progress.step("nested in a worker"):  # counts into the parent's step
                    progress.advance(1000)
                team.publish()
                os._exit(0)
            pids.append(pid)
        for pid in pids:
            os.waitpid(pid, 0)
        assert bar.counts() == (10 + 100 + 200 + 2000, 2)
        rep.tick()
        team.close()
        assert (bar.done, bar.items, bar.team) == (2310, 2, None)
    assert DRAW.findall(_read_all(leader))[-1].startswith(
        b"measuring  [################........]  66%  2.31kB"
    )


# --- the command line on a terminal ----------------------------------------------------------


def _run(
    args: list[str], *, stderr_tty: bool, stdout_tty: bool = False
) -> tuple[int, bytes, bytes]:
    """(exit status, stdout, stderr) of storagekit; stderr (and stdout) on a pseudo-terminal."""
    env = dict(os.environ, STORAGEKIT_PROGRESS_DELAY="0", TERM="xterm")
    leader, follower = pty.openpty()
    tty.setraw(follower)
    cmd = [sys.executable, "-m", "storagekit.cli.main", "-r", ROOT, *args]
    proc = subprocess.Popen(
        cmd,
        stdout=follower if stdout_tty else subprocess.PIPE,
        stderr=follower if stderr_tty else subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    streams = {leader: b""}
    if not stdout_tty:
        assert proc.stdout is not None
        streams[proc.stdout.fileno()] = b""
    if not stderr_tty:
        assert proc.stderr is not None
        streams[proc.stderr.fileno()] = b""
    open_fds = list(streams)
    while open_fds:
        for fd in readable(open_fds):
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:  # the terminal's last writer is gone
                chunk = b""
            if not chunk:
                open_fds.remove(fd)
            streams[fd] += chunk
    code = proc.wait()
    os.close(leader)
    term = streams[leader]
    out = term if stdout_tty else streams[proc.stdout.fileno()]  # type: ignore[union-attr]
    err = term if stderr_tty else streams[proc.stderr.fileno()]  # type: ignore[union-attr]
    return code, out, err


def _without_bars(term: bytes) -> bytes:
    """What is left of a terminal's bytes without the progress lines and their erasing.

    Asserts that every progress line is erased (or replaced) before anything else is written.
    """
    kept = b""
    pos = 0
    drawn = False
    for m in re.finditer(rb"\r\x1b\[K|" + DRAW.pattern, term):
        if m.start() > pos:
            assert not drawn, f"output over the progress line: {term[pos : m.start()]!r}"
            kept += term[pos : m.start()]
        drawn = m.group(0) != ERASE
        pos = m.end()
    assert not drawn, "the progress line is left on the terminal"
    return kept + term[pos:]


def _labels(term: bytes) -> list[str]:
    found = []
    for draw in DRAW.findall(term):
        label = draw.split(b"  ")[0].decode()
        if not found or found[-1] != label:
            found.append(label)
    return found


@pytest.mark.parametrize(
    ("args", "step"),
    [
        (["ls", "sk-basec", "/", "-R", "--format", "json"], "listing"),
        (["ls", "sk-basec", "/", "-R"], "listing"),
        (["diff", "sk-basec"], "comparing with the image"),
        (["verify"], "verifying layers"),
        (["df", "--format", "json"], "measuring disk usage"),
        (["containers", "-s"], "reading containers"),
    ],
)
def test_listings_on_a_terminal(args, step):
    plain = _run(args, stderr_tty=False)
    code, out, term = _run(args, stderr_tty=True)
    assert plain[2] == b""  # not a terminal: not a byte on stderr
    assert (code, out) == plain[:2]  # results byte for byte the same
    assert step in _labels(term)
    assert _without_bars(term) == b""


def test_rows_on_the_same_terminal_are_never_drawn_over():
    plain = _run(["ls", "sk-basec", "/", "-R"], stderr_tty=False)
    code, both, _ = _run(["ls", "sk-basec", "/", "-R"], stderr_tty=True, stdout_tty=True)
    assert code == 0
    assert "listing" in _labels(both)
    assert _without_bars(both) == plain[1]


EXTRACTED = "extracted 8 files, 1982382 bytes"


@pytest.mark.parametrize(
    ("args", "step", "message"),
    [
        (["extract", "sk-basec", "--tar", "{out}"], "extracting", EXTRACTED),
        (["extract", "sk-basec", "-o", "{out}"], "extracting", EXTRACTED),
        (["export", "sk-basec", "-o", "{out}"], "exporting", ""),
        (["save", "sk-app:1.0", "-o", "{out}"], "saving", "saved 1 image(s) to {out}"),
    ],
)
def test_written_output_on_a_terminal(args, step, message, tmp_path):
    outputs = []
    for name, on_tty in (("plain", False), ("tty", True)):
        target = tmp_path / name
        code, out, err = _run([a.format(out=target) for a in args], stderr_tty=on_tty)
        assert (code, out) == (0, b"")
        outputs.append((target, err))
    (plain_file, plain_err), (tty_file, term) = outputs
    assert plain_err == (message.format(out=plain_file) + "\n" if message else "").encode()
    assert step in _labels(term)
    plain_err = plain_err.replace(str(plain_file).encode(), str(tty_file).encode())
    assert _without_bars(term) == plain_err
    assert _tree(tty_file) == _tree(plain_file)


def _tree(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes() if p.is_file() and not p.is_symlink() else b""
        for p in sorted(path.rglob("*"))
    }


def test_cat_counts_the_files_bytes():
    plain = _run(["cat", "sk-basec", "/etc/passwd"], stderr_tty=False)
    code, out, term = _run(["cat", "sk-basec", "/etc/passwd"], stderr_tty=True)
    assert (code, out, plain[2]) == (*plain[:2], b"")
    assert "reading the file" in _labels(term)
    assert _without_bars(term) == b""


def test_indexing_an_archive_shows_until_the_index_is_kept(tmp_path):
    cache = ["--cache-dir", str(tmp_path / "cache")]
    env_sync = os.environ.get("STORAGEKIT_CACHE_SYNC")
    assert env_sync == "1"  # the kept index is written before the first command returns
    plain = _run([*cache, "images"], stderr_tty=False)
    first = _run([*cache, "images"], stderr_tty=True)  # reads the kept index: no indexing
    fresh = _run(["--no-cache", "images"], stderr_tty=True)
    assert plain[2] == b""
    assert first[:2] == fresh[:2] == plain[:2]
    assert "indexing the archive" not in _labels(first[2])
    assert "indexing the archive" in _labels(fresh[2])
    assert _without_bars(fresh[2]) == b""
