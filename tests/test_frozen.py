"""``@frozen`` behaves as ``@dataclass(frozen=True)``: equality, hashing, repr, immutability, replace."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmdoctor.frozen import frozen


@frozen
class Part:
    name: str
    count: int | None = None
    tags: tuple[str, ...] = ()
    note: str = field(default="", compare=False)


@dataclass(frozen=True)
class Reference:
    name: str
    count: int | None = None
    tags: tuple[str, ...] = ()
    note: str = field(default="", compare=False)


values = st.tuples(st.sampled_from(["a", "b"]), st.one_of(st.none(), st.integers(0, 2)),
                   st.lists(st.sampled_from(["x", "y"]), max_size=2).map(tuple), st.sampled_from(["", "n"]))


@given(values, values)
def test_equality_hash_and_repr_are_the_dataclass_ones(left, right):
    a, b, ra, rb = Part(*left), Part(*right), Reference(*left), Reference(*right)
    assert (a == b) == (ra == rb)
    assert (a != b) == (ra != rb)
    if a == b:
        assert hash(a) == hash(b)
    assert hash(a) == hash(ra)  # the same tuple of compared fields
    assert repr(a).replace("Part(", "Reference(", 1) == repr(ra)


def test_other_classes_are_never_equal_and_fields_stay_frozen():
    a = Part("a", 1)
    assert a != Reference("a", 1) and a != ("a", 1, ()) and a != "a"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "b"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del a.count  # type: ignore[misc]
    assert dataclasses.replace(a, count=2) == Part("a", 2)
    assert [f.name for f in dataclasses.fields(Part)] == ["name", "count", "tags", "note"]
    assert {Part("a", 1, note="x"), Part("a", 1, note="y")} == {Part("a", 1)}  # note is not compared


def test_a_nan_field_compares_as_in_a_tuple():
    @frozen
    class Measure:
        value: float

    nan = math.nan
    ref = dataclass(frozen=True)(type("Ref", (), {"__annotations__": {"value": "float"}}))
    assert (Measure(nan) == Measure(nan)) == (ref(nan) == ref(nan))  # same object: equal, as tuples compare


def test_a_method_the_class_writes_itself_is_kept():
    @frozen
    class Named:
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

    assert repr(Named("x")) == "<x>"
    assert Named("x") == Named("x") and hash(Named("x")) == hash(Named("x"))


def _with_init(decorate):
    """The same class body under ``@frozen`` and under ``@dataclass(frozen=True)`` (the oracle)."""

    class WithInit:
        first: str
        second: int = 2
        items: list[int] = field(default_factory=list)
        derived: str = field(default="d", init=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "derived", f"{self.first}{self.second}")

    return decorate(WithInit)


WithInit = _with_init(frozen)
WithInitReference = _with_init(dataclass(frozen=True))


def _build(cls, args, kwargs):
    try:
        made = cls(*args, **kwargs)
    except TypeError:
        return "TypeError"
    return tuple(getattr(made, f.name) for f in dataclasses.fields(made))


arguments = st.lists(st.sampled_from(["x", 3, [1]]), max_size=4)
keywords = st.dictionaries(st.sampled_from(["first", "second", "items", "derived", "other"]),
                           st.sampled_from(["y", 5]), max_size=3)


@given(arguments, keywords)
def test_init_binds_arguments_as_the_dataclass_init_does(args, kwargs):
    """Positional and keyword arguments, defaults, factories, init=False fields, __post_init__, and the
    same TypeError for too many, missing, unexpected or doubled arguments."""
    assert _build(WithInit, args, kwargs) == _build(WithInitReference, args, kwargs)


def test_each_instance_gets_its_own_default_factory_value():
    a, b = WithInit("a"), WithInit("b")
    assert a.items == [] and a.items is not b.items
    assert (a.derived, b.derived) == ("a2", "b2")
    assert dataclasses.replace(a, second=5).derived == "a5"
