"""The model's value classes: frozen dataclasses whose ``__eq__``, ``__hash__`` and ``__repr__`` are shared.

Python 3.11's ``dataclasses`` writes the source of every method of every class and compiles each one apart
(``exec``: six per frozen class); for the model's ~60 classes that was a third of importing it. ``record`` lets
``dataclasses`` make what must be per class (``__init__``, the frozen ``__setattr__``/``__delattr__``) and gives
every class the same three functions, which read the class's field names (computed once, at decoration). They
answer as the generated ones do: equal when the class is the same and the compared fields are equal
(``field(compare=False)`` is left out), a hash of the hashed fields, ``Name(field=value, ...)``.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T", bound=type)


def _getter(names: tuple[str, ...]) -> Callable[[Any], Any]:
    return operator.attrgetter(*names) if names else (lambda _: ())


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    key = self.__class__._record_compared
    return key(self) == key(other)


def _hash(self: Any) -> int:
    return hash(self.__class__._record_hashed(self))


def _repr(self: Any) -> str:
    fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__class__._record_shown)
    return f"{self.__class__.__qualname__}({fields})"


@dataclass_transform(field_specifiers=(dataclasses.field,))
def record(cls: T | None = None, /, *, kw_only: bool = False) -> Any:
    """``@dataclass(frozen=True)`` (with ``kw_only``), its equality, hash and repr shared by all records."""

    def wrap(cls: T) -> T:
        made = dataclasses.dataclass(frozen=True, eq=False, repr=False, kw_only=kw_only)(cls)
        fields = dataclasses.fields(made)
        made._record_compared = _getter(tuple(f.name for f in fields if f.compare))
        made._record_hashed = _getter(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))
        made._record_shown = tuple(f.name for f in fields if f.repr)
        made.__eq__, made.__hash__, made.__repr__ = _eq, _hash, _repr
        return made

    return wrap if cls is None else wrap(cls)
