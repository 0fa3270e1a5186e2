"""``@frozen``: a frozen dataclass whose ``__eq__``, ``__hash__`` and ``__repr__`` are shared functions.

``@dataclass(frozen=True)`` compiles six methods per class from generated source.  For the ninety small
records of the snapshot, the results and the facts, that compilation was a fifth of a warm ``llmdoctor
check`` (about 60 ms of start-up on a 2-core machine).  Here the dataclass machinery still writes
``__init__`` and the frozen ``__setattr__``/``__delattr__``; equality, hashing and repr are three functions
shared by every class, with the dataclass semantics: the compared fields as one tuple in field order (so
``a == b`` exactly when the generated ``__eq__`` says so, and equal records hash alike), fields with
``compare=False`` left out, and the repr the dataclass would write (``Gpu(index=0, name='H100')``).

Type checkers read it as ``@dataclass(frozen=True)`` (PEP 681 ``dataclass_transform``).
"""

from __future__ import annotations

import dataclasses
import operator
import reprlib
from typing import TYPE_CHECKING, Any, Callable, TypeVar

_T = TypeVar("_T")

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_kwargs: Any) -> Callable[[_T], _T]:
        return lambda decorated: decorated

_Key = Callable[[Any], tuple[Any, ...]]
_COMPARED: dict[type, _Key] = {}
_HASHED: dict[type, _Key] = {}


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def frozen(cls: type[_T]) -> type[_T]:
    """``@dataclass(frozen=True)``, with the shared ``__eq__``, ``__hash__`` and ``__repr__``."""
    own = set(vars(cls))
    made = dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls)
    for name, method in (("__eq__", _eq), ("__hash__", _hash), ("__repr__", _repr)):
        if name not in own:  # a method the class writes itself wins, as with @dataclass
            setattr(made, name, method)
    return made


def _getter(names: tuple[str, ...]) -> _Key:
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        return lambda obj: (one(obj),)
    return operator.attrgetter(*names)


def _compared(cls: type) -> _Key:
    key = _COMPARED.get(cls)
    if key is None:
        key = _COMPARED[cls] = _getter(tuple(f.name for f in dataclasses.fields(cls) if f.compare))
    return key


def _hashed(cls: type) -> _Key:
    key = _HASHED.get(cls)
    if key is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if (f.compare if f.hash is None else f.hash))
        key = _HASHED[cls] = _getter(names)
    return key


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    key = _compared(self.__class__)
    return key(self) == key(other)


def _hash(self: Any) -> int:
    return hash(_hashed(self.__class__)(self))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr)
    return f"{self.__class__.__qualname__}({shown})"
