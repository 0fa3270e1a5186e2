"""Known error messages (data/error_patterns.json): recognise them in texts, pure and cached.

Used by the dump parser (to keep the error texts it finds), by the checks (a recognised error becomes a
finding of the check it belongs to) and by ``llmdoctor explain-error``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Iterable

from . import data


@dataclass(frozen=True)
class KnownError:
    id: str
    check: str
    severity: str  # fail | warn
    cause: str
    fix: str
    sources: tuple[str, ...]
    regex: re.Pattern[str]
    dtype: str | None = None

    @property
    def row(self) -> dict[str, Any]:
        return {"id": self.id, "check": self.check, "severity": self.severity, "cause": self.cause, "fix": self.fix,
                "sources": list(self.sources)}


@dataclass(frozen=True)
class Match:
    error: KnownError
    text: str  # the error text it was found in
    groups: dict[str, str]

    @property
    def excerpt(self) -> str:
        return self.text if len(self.text) <= 400 else self.text[:397] + "..."

    @property
    def detail(self) -> str | None:
        """What the matched numbers say (e.g. 'found version 11040' = CUDA 11.4)."""
        g = self.groups
        if self.error.id == "A1" and g.get("found"):
            v = int(g["found"])
            return f"the driver supports CUDA ≤ {v // 1000}.{(v % 1000) // 10}"
        if self.error.id == "B2" and g.get("sm"):
            num = g["sm"].split("_", 1)[1]
            gpu = (g.get("gpu") or "").strip()
            return f"{gpu + ' has' if gpu else 'the GPU has'} compute capability {num[:-1]}.{num[-1]}"
        if self.error.id == "E1" and g.get("built"):
            return f"xformers was built for torch {g['built']}, but torch {g['have']} is installed"
        if self.error.id in ("F1", "F2") and g.get("nvcc"):
            return f"nvcc is CUDA {g['nvcc']}, torch was built with CUDA {g['torch']}"
        if self.error.id == "H3" and g.get("want"):
            return f"max_model_len {g['want']} tokens, KV cache holds {g['have']}"
        return None


@functools.lru_cache(maxsize=1)
def table() -> tuple[KnownError, ...]:
    rows = data.load("error_patterns")["patterns"]
    return tuple(KnownError(id=r["id"], check=r["check"], severity=r["severity"], cause=r["cause"], fix=r["fix"],
                            sources=tuple(r["sources"]), regex=re.compile(r["pattern"], re.I), dtype=r.get("dtype"))
                 for r in rows)


def flatten(text: str) -> str:
    return " ".join(text.split())


def recognise(texts: Iterable[str]) -> list[Match]:
    """Every (known error, text) pair, in table order; one match per error id and text."""
    out = []
    flat = [flatten(t) for t in texts if t]
    for err in table():
        for text in flat:
            m = err.regex.search(text)
            if m:
                out.append(Match(err, text, {k: v for k, v in m.groupdict().items() if v}))
    return out


def find_in(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the whole lines of ``text`` where a known error occurs (for the dump parser)."""
    spans = []
    for err in table():
        for m in err.regex.finditer(text):
            start = text.rfind("\n", 0, m.start()) + 1
            end = text.find("\n", m.end())
            spans.append((start, len(text) if end < 0 else end))
            if len(spans) > 200:
                return spans
    return spans
