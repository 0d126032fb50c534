"""Results computed once per root, declared where the function that computes them is defined.

The evidence does not change while storagekit reads it, so an analysis that several commands
or several callers need (a container's measured size, an image's stack, a driver's short links)
is computed once per open root. ``@per_root(key=...)`` says so on the function itself; the
cache lives as long as the root object (weakly referenced), and forked workers inherit it.

    @per_root(key=lambda root, container: container.id)
    def container_size_rw(root: DockerRoot, container: Container) -> int | None: ...

A result computed elsewhere (by a forked worker) can be handed in with ``.seed``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar
from weakref import WeakKeyDictionary

R = TypeVar("R")
T = TypeVar("T")
P = ParamSpec("P")


class PerRoot(Generic[R, P, T]):
    """A function of a root (and more) whose result is kept per root and per key."""

    def __init__(
        self, fn: Callable[Concatenate[R, P], T], key: Callable[Concatenate[R, P], Hashable]
    ) -> None:
        self._fn = fn
        self._key = key
        self._cache: WeakKeyDictionary[Any, dict[Hashable, T]] = WeakKeyDictionary()
        functools.update_wrapper(self, fn)

    def __call__(self, root: R, *args: P.args, **kwargs: P.kwargs) -> T:
        """The cached result, computed on first use."""
        per = self._cache.setdefault(root, {})
        key = self._key(root, *args, **kwargs)
        try:
            return per[key]
        except KeyError:
            value = per[key] = self._fn(root, *args, **kwargs)
            return value

    def seed(self, root: R, value: T, *args: P.args, **kwargs: P.kwargs) -> None:
        """Keep ``value`` as the result for these arguments (computed elsewhere)."""
        self._cache.setdefault(root, {})[self._key(root, *args, **kwargs)] = value

    def known(self, root: R, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Whether the result for these arguments is already kept."""
        return self._key(root, *args, **kwargs) in self._cache.get(root, {})


def _no_key(root: object, *args: object, **kwargs: object) -> Hashable:
    return (args, tuple(sorted(kwargs.items())))


def per_root(
    key: Callable[..., Hashable] = _no_key,
) -> Callable[[Callable[Concatenate[R, P], T]], PerRoot[R, P, T]]:
    """Decorate a function whose first argument is a root: compute once per root and key.

    ``key`` takes the function's arguments and returns what identifies the result (the
    default: the arguments after the root, which must then be hashable).
    """

    def wrap(fn: Callable[Concatenate[R, P], T]) -> PerRoot[R, P, T]:
        return PerRoot(fn, key)

    return wrap
