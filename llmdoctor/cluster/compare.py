"""Majority and outliers: the arithmetic behind every "same on all nodes" check (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence
from ..frozen import frozen

SHOWN = 5  # outliers named in a message; the evidence has them all


@frozen
class Split:
    """Values per member (node or rank): the majority value, the members that differ, those unknown."""

    majority: str | None
    majority_members: tuple[str, ...]
    outliers: Mapping[str, str]  # member -> its value
    unknown: tuple[str, ...]

    @property
    def differs(self) -> bool:
        return bool(self.outliers)

    @property
    def tied(self) -> bool:
        """No strict majority: another value has as many members as the majority's."""
        counts = [len(m) for m in by_value(self.outliers).values()]
        return bool(counts) and max(counts) >= len(self.majority_members)

    @property
    def blamed(self) -> list[str]:
        """The members to blame (drain): the outliers when there is a strict majority, nobody on a tie."""
        return [] if self.tied else list(self.outliers)


def split(values: Mapping[str, str | None]) -> Split:
    """The most common known value (ties: the lowest, for determinism) and who differs from it."""
    known = {m: v for m, v in values.items() if v is not None}
    unknown = tuple(m for m, v in values.items() if v is None)
    if not known:
        return Split(None, (), {}, unknown)
    counts = Counter(known.values())
    majority = min(counts, key=lambda v: (-counts[v], v))
    members = tuple(m for m, v in known.items() if v == majority)
    return Split(majority, members, {m: v for m, v in known.items() if v != majority}, unknown)


def names(members: Sequence[str], shown: int = SHOWN) -> str:
    """'a, b and c' / 'a, b, c, d, e and 12 more'."""
    members = list(members)
    if len(members) <= 1:
        return "".join(members)
    if len(members) <= shown:
        return ", ".join(members[:-1]) + f" and {members[-1]}"
    return ", ".join(members[:shown]) + f" and {len(members) - shown} more"


def by_value(outliers: Mapping[str, str]) -> dict[str, list[str]]:
    """{value: members having it}, the rarest value first."""
    groups: dict[str, list[str]] = {}
    for member, value in outliers.items():
        groups.setdefault(value, []).append(member)
    return dict(sorted(groups.items(), key=lambda kv: (len(kv[1]), kv[0])))


def describe(label: str, s: Split, unit: str = "node") -> str:
    """'node-b has NCCL 2.18.1; the other 3 nodes have 2.21.5' (on a tie: 'no majority: ...')."""
    if s.tied:
        groups: dict[str, list[str]] = {str(s.majority): list(s.majority_members), **by_value(s.outliers)}
        listed = "; ".join(f"{names(m)} {'has' if len(m) == 1 else 'have'} {label} {v}" for v, m in groups.items())
        return f"no majority: {listed}"
    parts = []
    for value, members in by_value(s.outliers).items():
        verb = "has" if len(members) == 1 else "have"
        parts.append(f"{names(members)} {verb} {label} {value}")
    n = len(s.majority_members)
    return f"{'; '.join(parts)}; the other {n} {unit}{'s' if n != 1 else ''} {'have' if n != 1 else 'has'} {s.majority}"
