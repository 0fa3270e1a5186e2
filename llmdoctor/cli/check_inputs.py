"""Check inputs on the command line: the flags registered checks declare, as click options.

A check declares ``Setting(str, None, "the job's dtype", flag="--dtype", choices=DTYPES)``; ``llmdoctor
check`` then accepts ``--dtype``, validates it (type, choices through ``facts.vocabulary``), and puts the
value in ``Context.options`` under the flag's key (``"dtype"``).  Several checks may declare one flag;
they share its value.  Nothing here names a check or an option key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from typer.core import TyperOption

from ..engine import CheckSpec, Setting, UsageError
from ..frozen import frozen

DEST_PREFIX = "check_input__"  # click parameter names of these options, apart from the command's own


@frozen
class Flag:
    """A command-line flag that a check declares (``Setting(flag=...)``), with the checks that own it."""

    flag: str
    setting: Setting  # the first declaration (type, help, choices, requires)
    owners: tuple[str, ...]  # the checks that declare it

    @property
    def key(self) -> str:
        assert self.setting.key is not None
        return self.setting.key

    @property
    def dest(self) -> str:
        return DEST_PREFIX + self.key


def declared_flags(specs: Iterable[CheckSpec]) -> dict[str, Flag]:
    """Every flag the checks declare, by flag (the first declaration's type and help; every owner named)."""
    found: dict[str, Flag] = {}
    for spec in specs:
        for setting in spec.settings.values():
            if not setting.flag:
                continue
            old = found.get(setting.flag)
            found[setting.flag] = Flag(setting.flag, old.setting if old else setting, (*(old.owners if old else ()), spec.id))
    return dict(sorted(found.items()))


def click_option(flag: Flag) -> TyperOption:
    s = flag.setting
    help_ = s.help + (f" (one of: {', '.join(s.choices)})" if s.choices else "")
    if flag.owners:
        help_ += f" [{', '.join(flag.owners)}]"
    if s.type is bool:
        return TyperOption(param_decls=[flag.flag, flag.dest], is_flag=True, default=None, help=help_)
    kind = s.type if s.type in (int, float) else str
    metavar = flag.key.upper()
    return TyperOption(param_decls=[flag.flag, flag.dest], type=kind, default=None, metavar=metavar, help=help_)


def values(flags: Mapping[str, Flag], params: Mapping[str, Any]) -> dict[str, Any]:
    """``{key: value}`` for the flags given, validated; UsageError for a bad value or a missing partner flag."""
    given = {f.flag: params[f.dest] for f in flags.values() if _given(params.get(f.dest))}
    out: dict[str, Any] = {}
    for name, value in given.items():
        flag = flags[name]
        requires = flag.setting.requires
        if requires and requires not in given:
            raise UsageError(f"{name} only applies with {requires}; add {requires} (or drop {name})")
        out[flag.key] = _valid(flag, value)
    return out


def _given(value: Any) -> bool:
    return value is not None and value is not False  # 0 is a value given (and refused where it must be > 0)


def _valid(flag: Flag, value: Any) -> Any:
    s = flag.setting
    if s.type is int and isinstance(value, int) and value <= 0 and s.default is not None and s.default > 0:
        raise UsageError(f"{flag.flag} {value}: must be > 0")
    if not s.choices:
        return value
    from ..facts.vocabulary import canonical

    chosen = canonical(str(value), s.choices)
    if chosen is None:
        raise UsageError(f"{flag.flag} {value!r}: choose one of {', '.join(s.choices)}")
    return chosen
