"""``@frozen``: a frozen dataclass whose ``__eq__``, ``__hash__`` and ``__repr__`` are shared functions.

``@dataclass(frozen=True)`` compiles six methods per class from generated source.  For the ninety small
records of the snapshot, the results and the facts, that compilation was a fifth of a warm ``llmdoctor
check`` (about 60 ms of start-up on a 2-core machine).  Here the dataclass machinery reads the fields
(``dataclasses.fields``, ``replace``, ``asdict`` work as ever) and six functions shared by every class do
the rest, with the dataclass semantics: ``__init__`` binds positional and keyword arguments in field order
with the defaults and default factories, and calls ``__post_init__``; assigning or deleting a field raises
``FrozenInstanceError``; equality compares the compared fields as one tuple in field order (so ``a == b``
exactly when the generated ``__eq__`` says so, and equal records hash alike), fields with
``compare=False`` left out; the repr is the one the dataclass would write (``Gpu(index=0, name='H100')``).

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
    """``@dataclass(frozen=True)``, with the shared ``__init__``, ``__setattr__``, ``__delattr__``, ``__eq__``,
    ``__hash__`` and ``__repr__``."""
    own = set(vars(cls))
    made = dataclasses.dataclass(init=False, eq=False, repr=False)(cls)
    methods = (("__init__", _init), ("__setattr__", _setattr), ("__delattr__", _delattr), ("__eq__", _eq),
               ("__hash__", _hash), ("__repr__", _repr))
    for name, method in methods:
        if name not in own or (name == "__hash__" and vars(cls).get(name) is None):
            setattr(made, name, method)  # a method the class writes itself wins, as with @dataclass
    return made


class _Init:
    """How one class's ``__init__`` binds its arguments: the dataclass's own rules, read once per class."""

    __slots__ = ("qualname", "names", "name_set", "defaults", "factories", "later", "post_init")

    def __init__(self, cls: type) -> None:
        fields = dataclasses.fields(cls)
        missing = dataclasses.MISSING
        self.qualname = cls.__qualname__
        self.names = tuple(f.name for f in fields if f.init)
        self.name_set = frozenset(self.names)
        self.defaults = {f.name: f.default for f in fields if f.init and f.default is not missing}
        self.factories = {f.name: f.default_factory for f in fields if f.init and f.default_factory is not missing}
        # fields outside __init__ take their default (or factory) as dataclass's __init__ sets them
        self.later = tuple((f.name, f.default, f.default_factory) for f in fields if not f.init)
        self.post_init = getattr(cls, "__post_init__", None)

    def complete(self, given: dict[str, Any]) -> dict[str, Any]:
        """Every field's value, in field order: the given ones, else the default or a new factory value."""
        out = {}
        for name in self.names:
            if name in given:
                out[name] = given[name]
            elif name in self.defaults:
                out[name] = self.defaults[name]
            elif name in self.factories:
                out[name] = self.factories[name]()
            else:
                raise TypeError(f"{self.qualname}.__init__() missing 1 required positional argument: {name!r}")
        unexpected = [k for k in given if k not in self.name_set]
        if unexpected:
            raise TypeError(f"{self.qualname}.__init__() got an unexpected keyword argument {unexpected[0]!r}")
        return out


_INITS: dict[type, _Init] = {}


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = self.__class__
    spec = _INITS.get(cls) or _INITS.setdefault(cls, _Init(cls))
    given = kwargs
    if args:
        if len(args) > len(spec.names):
            raise TypeError(f"{spec.qualname}.__init__() takes {len(spec.names) + 1} positional arguments "
                            f"but {len(args) + 1} were given")
        given = dict(zip(spec.names, args))
        for name in kwargs:
            if name in given:
                raise TypeError(f"{spec.qualname}.__init__() got multiple values for argument {name!r}")
        given.update(kwargs)
    if len(given) != len(spec.names) or given.keys() != spec.name_set:
        given = spec.complete(given)  # defaults, factories; or the TypeError dataclass's __init__ raises
    self.__dict__.update(given)  # every field at once (frozen: not through __setattr__)
    for name, default, factory in spec.later:
        if factory is not dataclasses.MISSING:
            object.__setattr__(self, name, factory())
        elif default is not dataclasses.MISSING:
            object.__setattr__(self, name, default)
    if spec.post_init is not None:
        self.__post_init__()


def _setattr(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


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
