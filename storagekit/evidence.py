"""Open the evidence and find every engine's storage in it.

The evidence is a directory or an archive (:func:`storagekit.sources.open_source`). Each
registered engine (:func:`storagekit.registry.engine_classes`) looks for its roots in it; every
root of every engine present is opened, in the order of the engines' names, then in the order
each engine gives its roots (:meth:`~storagekit.engine.Engine.find_all`). Damage met while
opening the evidence (a truncated archive, skipped members) becomes an ``archive-damage`` finding
of each engine, a decompression limit reached an ``archive-limit`` one (the command then ends
with exit status 3).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from storagekit.engine import Engine
from storagekit.errors import NotAStorageRootError
from storagekit.registry import engine_classes
from storagekit.sources import open_source

if TYPE_CHECKING:
    from storagekit.sources.indexcache import IndexCache
    from storagekit.sources.limits import ArchiveLimits

def open_engines(
    path: str,
    only: Collection[str] = (),
    limits: ArchiveLimits | None = None,
    cache: IndexCache | None = None,
) -> list[Engine]:
    """Every engine whose storage the evidence at ``path`` holds, opened (of ``only``, if given).

    ``limits``: how far a compressed archive is decompressed; reaching them is an
    ``archive-limit`` finding of each engine. ``cache``: where an archive's index is kept
    between runs (``None``: nowhere).

    Raises:
        SourceError: the evidence cannot be read.
        NotAStorageRootError: no engine finds its storage there.
    """
    evidence = open_source(path, limits, cache)
    try:
        classes, problems = engine_classes()
        if only:
            classes = {name: cls for name, cls in classes.items() if name in only}
        engines = [
            engine for _, cls in sorted(classes.items()) for engine in cls.find_all(evidence, path)
        ]
        if not engines and evidence.cut is not None:
            # Cut short before any root could be recognised: partial answers, not a failure.
            engines = [
                engine
                for _, cls in sorted(classes.items())
                if (engine := cls.find_in_partial(evidence, path)) is not None
            ][:1]
        if not engines:
            absent = "; ".join(cls.absent for _, cls in sorted(classes.items()))
            if not absent and only:
                absent = "no engine named " + ", ".join(sorted(only))
            raise NotAStorageRootError(
                f"{evidence.description}: {absent or 'no engine is registered'}"
            )
    except BaseException:
        evidence.close()
        raise
    for engine in engines:
        for problem in problems:
            engine.findings.warning("engine-plugin-error", None, problem)
        for problem in evidence.problems:
            engine.findings.warning("archive-damage", None, problem)
        if evidence.limit_reached:
            engine.findings.error("archive-limit", None, evidence.limit_reached)
    return engines
