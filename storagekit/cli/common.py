"""What every command of the command line shares: the root option's state and the output.

Results go to stdout; findings and errors go to stderr, after the results.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any, ClassVar

import click

from storagekit import progress
from storagekit.cli import render
from storagekit.engine import Engine
from storagekit.errors import NotAStorageRootError
from storagekit.jsontext import Record, to_json

if TYPE_CHECKING:
    from storagekit.sources.indexcache import IndexCache

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output for people (table) or one JSON document (json).",
)


#: Exit statuses beyond click's (``cli-contract.md``): the evidence is incomplete; a layer does
#: not match (``verify``, ``audit --verify``).
INCOMPLETE = 3
MISMATCH = 4


#: Set by the program's entry point (not for calls with arguments: tests, library use). What
#: is open lives as long as the command (an archive's index is a few objects per member), so
#: the collector need not walk it again, nor copy its pages in forked workers by walking it.
#: The entry point also keeps the collector off until then: its first pass after a large
#: archive was indexed walked every record (some 30 ms for 110,000 members), only for them
#: to be frozen.
FREEZE_AFTER_OPEN = False

class Context:
    """What the group passes to its commands: the evidence's engines, opened once.

    Attributes:
        status: the exit status the command asked for (0, or :data:`MISMATCH`).
        current: the context of the command running now (the entry point reads its status).
    """

    current: ClassVar[Context | None] = None

    def __init__(
        self,
        root_path: str,
        extra_root: str | None,
        engine_names: Sequence[str] = (),
        namespaces: Sequence[str] = (),
        archive_limit: int | None = None,
        archive_ratio: int | None = None,
    ) -> None:
        self.root_path = root_path
        self.extra_root = extra_root
        self.engine_names = tuple(engine_names)
        self.namespaces = tuple(namespaces)
        self.archive_limits = (archive_limit, archive_ratio)  # None: the default, 0: none
        #: Where archive indexes are kept: a directory, "" for the user's cache, None: nowhere.
        self.index_cache: str | None = ""
        self._engines: list[Engine] | None = None
        self._all: list[Engine] = []
        self.status = 0
        self.incomplete: str | None = None
        Context.current = self

    def _cache_for(self, evidence: str) -> IndexCache | None:
        """Where the index of the archive ``evidence`` is kept (never beside it).

        Raises:
            click.UsageError: the cache directory is the evidence's own directory.
        """
        if self.index_cache is None or os.path.isdir(evidence):
            return None  # (a directory has no index to keep: its readers are not even loaded)
        from storagekit.sources.indexcache import IndexCache, default_dir

        directory = self.index_cache or default_dir()
        if directory is None:
            return None  # no user cache directory known: nothing is kept
        where = os.path.dirname(os.path.realpath(evidence))
        if os.path.realpath(directory) == where:
            raise click.UsageError(
                f"--cache-dir {directory}: that is the evidence's own directory; nothing is "
                "written beside the evidence (choose another directory)"
            )
        return IndexCache(directory)

    def exit_status(self) -> int:
        """Incomplete evidence first (every answer is partial), then what the command asked."""
        return INCOMPLETE if self.incomplete else self.status

    def engines(self) -> list[Engine]:
        """Every engine found in the evidence (and in the extra root), narrowed as asked.

        Raises:
            NotAStorageRootError: no engine (of those named) finds its storage there.
        """
        if self._engines is None:
            from storagekit.evidence import open_engines
            from storagekit.sources.limits import ArchiveLimits

            size, ratio = self.archive_limits
            default = ArchiveLimits()
            limits = ArchiveLimits(
                size=default.size if size is None else size or None,
                ratio=default.ratio if ratio is None else ratio or None,
            )
            found: list[Engine] = []
            for path in (self.root_path, self.extra_root):
                if path is not None:  # each piece of evidence must hold some engine
                    found += open_engines(path, limits=limits, cache=self._cache_for(path))
            if FREEZE_AFTER_OPEN:
                gc.freeze()
                gc.enable()
            self._all = found
            for engine in found:
                engine.narrow(self.namespaces)
            for engine in found:  # every engine meets the others, even those not shown
                engine.attach(found)
            names = set(self.engine_names)
            chosen = [e for e in found if not names or e.name in names or e.speaks_for() & names]
            if not chosen:
                raise NotAStorageRootError(
                    f"{self.root_path}: no engine named {', '.join(self.engine_names)} here "
                    f"(found: {', '.join(e.name for e in found)})"
                )
            self._engines = chosen
            # Said first, before any result or finding: whatever follows is partial.
            lines = [line for e in found if (line := e.incomplete())]
            self.incomplete = lines[0] if lines else None
            if lines:
                progress.clear()
            for line in lines:
                click.echo(render.display(line), err=True)
        return self._engines

    def root(self) -> Engine:
        """The first engine found (commands that act on one root)."""
        return self.engines()[0]

    def limit_reached(self) -> bool:
        """Whether reading the evidence stopped at a limit (exit status 3)."""
        return any(
            f.code == "archive-limit" for engine in self._engines or () for f in engine.findings
        )

    def close(self) -> None:
        """Release the evidence."""
        for engine in self._all:
            engine.close()


def tagged(engine: Engine, records: Sequence[Record]) -> list[Record]:
    """Records of one engine, each with its ``engine`` key (first) if it has none."""
    return [r if "engine" in r else {"engine": engine.name, **r} for r in records]


def gather(
    engines: Sequence[Engine],
    records: Callable[[Engine], Sequence[Record]],
    names: Sequence[str] = (),
) -> list[Record]:
    """Every engine's records, concatenated in the engines' order (of engines ``names``)."""
    found = [r for e in engines for r in tagged(e, records(e))]
    return [r for r in found if r["engine"] in names] if names else found


def emit(
    root: Engine | Sequence[Engine],
    fmt: str,
    data: Any,
    as_table: Callable[[], str],
    *,
    shown: Callable[[], Iterable[str]] | None = None,
) -> None:
    """Print ``data`` as JSON or as the table ``as_table`` makes, then the findings.

    ``shown``: the finding lines the table lists itself; when the table goes to the same
    terminal as stderr, those are not printed a second time there.
    """
    text = to_json(data) if fmt == "json" else as_table()
    progress.finish()
    if text and fmt == "json":
        echo_json(text)
    elif text:
        click.echo(text)
    same = shown is not None and fmt != "json" and sys.stdout.isatty() and sys.stderr.isatty()
    emit_findings(root, skip=frozenset(shown()) if same and shown is not None else frozenset())


#: Characters of JSON text handed to the output stream per write (:func:`echo_json`).
JSON_CHUNK = 1 << 18


def echo_json(text: str) -> None:
    """Print JSON text and a newline as ``click.echo`` does, without copying the text whole.

    ``click.echo`` appends the newline to a copy of the text, scans it for terminal escape
    sequences to strip when the output is not a terminal (JSON text holds none: the encoder
    escapes every control character) and the stream encodes another copy: for 2.7 MB of
    records some 2,000 fresh pages and a 2-3 ms scan. Written in pieces, the stream's buffer
    and its encoder reuse their memory. A stream that cannot encode the text (an ASCII
    ``PYTHONIOENCODING``) gets the rest from ``click.echo``, which writes such a stream UTF-8.
    """
    out = sys.stdout
    if out is None:  # no standard output at all (as click.echo: nothing is written)
        return
    at = 0
    try:
        while at < len(text):
            out.write(text[at : at + JSON_CHUNK])  # encoded whole before any of it is written
            at += JSON_CHUNK
    except UnicodeEncodeError:
        out.flush()
        click.echo(text[at:])
        return
    out.write("\n")
    out.flush()


def emit_findings(
    root: Engine | Sequence[Engine], *, skip: frozenset[str] = frozenset()
) -> None:
    """Print every engine's findings to stderr, one line each, in their deterministic order.

    On incomplete evidence, the findings the missing part explains are marked as its
    consequences and come last (:meth:`Engine.settle`). Lines in ``skip`` (already on the
    terminal) are left out.
    """
    progress.finish()
    for engine in [root] if isinstance(root, Engine) else root:
        engine.settle()
        for finding in engine.findings.sorted():
            line = render.display(render.finding_line(finding.record()))
            if line not in skip:
                click.echo(line, err=True)


def listing(
    root: Engine | Sequence[Engine], fmt: str, records: Sequence[Record], columns: Any
) -> None:
    """Print a list of records as JSON or as a table of ``columns``, then the findings."""
    emit(root, fmt, list(records), lambda: render.table(records, render.scoped(records, columns)))


def state(ctx: click.Context) -> Context:
    """The group's :class:`Context`, which every command is given."""
    found = ctx.obj
    assert isinstance(found, Context)
    return found


class BinaryToTerminal(click.ClickException):
    """Binary output asked for on a terminal: refused, as ``docker export`` does (usage, 2)."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        """One line, the hint included."""
        click.echo(f"storagekit: error: {self.format_message()}", err=True)


def binary_stdout(what: str, hint: str) -> IO[bytes]:
    """Standard output for binary data; refused when it is a terminal.

    Raises:
        BinaryToTerminal: stdout is a terminal (``hint`` says what to do instead).
    """
    if sys.stdout.isatty():
        raise BinaryToTerminal(f"refusing to write {what} to a terminal; {hint}")
    return sys.stdout.buffer
