"""Driver lookup through the ``storagekit.drivers`` entry-point group.

Built-in drivers register through the same group a third-party package would use, so the plugin
path is exercised by every run. A plugin that fails to load is skipped with a warning finding.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from storagekit.driver import StorageDriver
from storagekit.model import Findings

GROUP = "storagekit.drivers"


@cache
def _load() -> tuple[dict[str, type[StorageDriver]], tuple[str, ...]]:
    drivers: dict[str, type[StorageDriver]] = {}
    problems: list[str] = []
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
        except (ImportError, AttributeError) as exc:
            problems.append(f"driver plugin {ep.name!r} ({ep.value}) failed to load: {exc}")
            continue
        if not (isinstance(cls, type) and issubclass(cls, StorageDriver)):
            problems.append(f"driver plugin {ep.name!r} ({ep.value}) is not a StorageDriver")
            continue
        drivers[cls.name] = cls
    return drivers, tuple(problems)


def driver_classes(findings: Findings | None = None) -> dict[str, type[StorageDriver]]:
    """All registered driver classes by Docker driver name; load problems become findings."""
    drivers, problems = _load()
    if findings is not None:
        for problem in problems:
            findings.warning("driver-plugin-error", None, problem)
    return dict(drivers)
