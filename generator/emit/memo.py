"""Per-model memo for what several steps of one run build from the same model.

A run builds a spec's rule groups for the PromQL contract, the rule files and the promtool tests, and its
promtool test cases for the testability check and the test files. ``per_model`` computes each once per
model: the memo lives as long as the model (keyed by its identity, dropped when it is collected), so a
tree of many services keeps every service's results until its files are built and no longer.

Memoised results are shared: callers must not change them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from obsgen.model import Model

P = ParamSpec("P")
R = TypeVar("R")
_memos: dict[int, dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]]] = {}


def _memo(model: Model) -> dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]]:
    memo = _memos.get(id(model))
    if memo is None:
        memo = _memos[id(model)] = {}
        weakref.finalize(model, _memos.pop, id(model), None)
    return memo


def per_model(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn(model, *args)`` computed once per model and arguments (compared by identity)."""

    @wraps(fn)
    def memoised(*args: P.args, **kwargs: P.kwargs) -> R:
        model = args[0]
        assert isinstance(model, Model), fn
        key = (fn, *map(id, args[1:]), *((name, id(value)) for name, value in sorted(kwargs.items())))
        memo = _memo(model)
        hit = memo.get(key)
        if hit is None:  # the arguments are kept with the result, so their ids cannot be reused meanwhile
            hit = memo[key] = ((args, tuple(kwargs.values())), fn(*args, **kwargs))
        return hit[1]  # type: ignore[no-any-return]

    return memoised
