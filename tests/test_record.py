"""``obsgen.model.record`` classes answer ``==``, ``hash`` and ``repr`` as ``@dataclass(frozen=True)`` classes do."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest
from obsgen.model.record import record
from obsgen.spec import load_default


@record
class Point:
    x: int
    label: str = field(default="", compare=False)
    tags: tuple[str, ...] = ()


@record
class Labelled(Point):
    extra: int = 0


@record(kw_only=True)
class Named:
    name: str


@dataclass(frozen=True)
class Reference:
    x: int
    label: str = field(default="", compare=False)
    tags: tuple[str, ...] = ()


def test_equality_and_hash_follow_the_compared_fields() -> None:
    a, b = Point(1, "a", ("t",)), Point(1, "b", ("t",))
    assert a == b and hash(a) == hash(b)  # label is compare=False
    assert a != Point(2, "a", ("t",)) and a != Point(1, "a", ())
    assert Labelled(1) != Point(1) and Point(1) != Labelled(1)  # another class is never equal
    assert Point(1) != Reference(1) and (Point(1) == 1) is False
    assert {Point(1, "x"), Point(1, "y"), Point(3)} == {Point(1), Point(3)}


def test_repr_and_the_rest_are_a_frozen_dataclass() -> None:
    assert repr(Point(1, "a", ("t",))) == repr(Reference(1, "a", ("t",))).replace("Reference(", "Point(")
    assert repr(Labelled(1, extra=2)) == "Labelled(x=1, label='', tags=(), extra=2)"
    assert repr(Named(name="n")) == "Named(name='n')"
    with pytest.raises(TypeError):
        Named("n")  # type: ignore[misc] - keyword only
    with pytest.raises(dataclasses.FrozenInstanceError):
        Point(1).x = 2  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(Labelled)] == ["x", "label", "tags", "extra"]
    assert dataclasses.replace(Point(1, "a"), x=5) == Point(5)


def test_two_loads_of_a_spec_give_equal_models() -> None:
    first, second = load_default(), load_default()
    assert first is not second and first == second
    assert first.slos[0] is not second.slos[0] and first.slos[0] == second.slos[0]
    assert first != dataclasses.replace(first, source="another spec")
