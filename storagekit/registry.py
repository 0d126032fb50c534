"""Engine and driver lookup through the ``storagekit.engines`` and ``storagekit.drivers`` groups.

Built-in engines and drivers register through the same entry-point groups a third-party package
would use, so the plugin path is exercised by every run. A plugin that fails to load is skipped
with a warning finding.

The group is read straight from the installed distributions' ``entry_points.txt`` files on
``sys.path`` (the format ``importlib.metadata`` reads, first distribution of a name wins), because
importing ``importlib.metadata`` alone costs more start-up time than reading a small root.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from functools import cache
from typing import TypeVar

from storagekit.driver import StorageDriver
from storagekit.engine import Engine
from storagekit.model import Findings

GROUP = "storagekit.drivers"
ENGINE_GROUP = "storagekit.engines"
P = TypeVar("P")
_DIST = re.compile(r"(?P<name>[^-]+)(-[^-]+)?\.(dist-info|egg-info)")
_SECTION = re.compile(r"\[\s*(?P<group>[^\]]+?)\s*\]")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def entry_points(group: str) -> list[tuple[str, str]]:
    """``(name, "module:attribute")`` for every entry point of ``group`` on ``sys.path``."""
    seen: set[str] = set()
    found: list[tuple[str, str]] = []
    for base in sys.path:
        try:
            names = sorted(os.listdir(base or "."))
        except OSError:
            continue
        for dist_dir in names:
            m = _DIST.fullmatch(dist_dir)
            if m is None or _normalise(m["name"]) in seen:
                continue
            seen.add(_normalise(m["name"]))
            try:
                with open(os.path.join(base or ".", dist_dir, "entry_points.txt")) as f:
                    text = f.read()
            except OSError:
                continue
            found.extend(_parse(text, group))
    return found


def _parse(text: str, group: str) -> list[tuple[str, str]]:
    current = None
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        section = _SECTION.fullmatch(line)
        if section:
            current = section["group"]
        elif current == group and "=" in line:
            name, _, value = line.partition("=")
            found.append((name.strip(), value.split("[")[0].strip()))
    return found


def _load_one(value: str, base: type[P]) -> type[P]:
    module, _, attr = value.partition(":")
    obj: object = importlib.import_module(module.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise TypeError(f"{value} is not a {base.__name__}")
    return obj


def _load(group: str, base: type[P], what: str) -> tuple[dict[str, type[P]], tuple[str, ...]]:
    """The group's classes by their own ``name``, and one problem line per plugin that failed."""
    found: dict[str, type[P]] = {}
    problems: list[str] = []
    for name, value in entry_points(group):
        try:
            cls = _load_one(value, base)
        except (ImportError, AttributeError, TypeError) as exc:
            problems.append(f"{what} plugin {name!r} ({value}) failed to load: {exc}")
            continue
        found.setdefault(getattr(cls, "name", name), cls)
    return found, tuple(problems)


@cache
def _drivers() -> tuple[dict[str, type[StorageDriver]], tuple[str, ...]]:
    return _load(GROUP, StorageDriver, "driver")  # type: ignore[type-abstract]


@cache
def _engines() -> tuple[dict[str, type[Engine]], tuple[str, ...]]:
    return _load(ENGINE_GROUP, Engine, "engine")  # type: ignore[type-abstract]


def driver_classes(findings: Findings | None = None) -> dict[str, type[StorageDriver]]:
    """All registered driver classes by Docker driver name; load problems become findings."""
    drivers, problems = _drivers()
    if findings is not None:
        for problem in problems:
            findings.warning("driver-plugin-error", None, problem)
    return dict(drivers)


def engine_classes() -> tuple[dict[str, type[Engine]], tuple[str, ...]]:
    """All registered engine classes by name, and one line per engine plugin that failed."""
    engines, problems = _engines()
    return dict(engines), problems


def clear() -> None:
    """Forget what was loaded (a test that registers plugins of its own calls this)."""
    _drivers.cache_clear()
    _engines.cache_clear()
