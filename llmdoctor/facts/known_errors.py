"""Known error messages (data/error_patterns.json): recognise them in texts, pure and cached.

Used by the dump parser (to keep the error texts it finds), by the checks (a recognised error becomes a
finding of the check it belongs to) and by ``llmdoctor explain-error``.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass
from typing import Any, Iterable

from .. import data


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
            m = re.search(r"((?:NVIDIA |Tesla |Quadro )?[\w ()-]+?) with CUDA capability", self.text)
            gpu = re.sub(r"^.*Warning:\s*", "", m.group(1)).strip() if m else ""
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


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_REACH = 1500  # how far around a needle a (multi-line) message is looked for


def find_in(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the whole lines of ``text`` where a known error occurs (for the dump parser).

    Fast on megabytes: each pattern's longest literal (its needle) is searched with str.find on an ASCII
    lower-cased copy (same length as the text), and the regex only runs around the hits.
    """
    lower = text.translate(_ASCII_LOWER)
    spans: set[tuple[int, int]] = set()
    for err in table():
        needles = needles_of(err.regex.pattern)
        if needles is None:
            regions = [(0, len(text))]
        else:
            regions = []
            for needle in needles:
                pos = lower.find(needle)
                while pos >= 0 and len(regions) < 50:
                    regions.append((max(0, pos - _REACH), min(len(text), pos + len(needle) + _REACH)))
                    pos = lower.find(needle, pos + len(needle))
        for lo, hi in regions:
            for m in err.regex.finditer(text, lo, hi):
                # the whole lines of the match, but not more than a few hundred characters around it
                start = max(text.rfind("\n", 0, m.start()) + 1, m.start() - 300)
                end = text.find("\n", m.end())
                spans.add((start, min(len(text) if end < 0 else end, m.end() + 700)))
                if len(spans) > 200:
                    return sorted(spans)
    return sorted(spans)


@functools.lru_cache(maxsize=None)
def needles_of(pattern: str) -> tuple[str, ...] | None:
    """Lower-case literals one of which every match contains (one per top-level alternative), or None."""
    out = []
    for alt in _split_top(pattern):
        lit = _longest_literal(alt)
        if len(lit) < 5:
            return None
        out.append(lit.lower())
    return tuple(out)


def _skip_class(p: str, i: int) -> int:
    j = i + 1
    if j < len(p) and p[j] == "^":
        j += 1
    if j < len(p) and p[j] == "]":
        j += 1
    while j < len(p) and p[j] != "]":
        j += 2 if p[j] == "\\" else 1
    return j + 1


def _split_top(p: str) -> list[str]:
    parts, depth, cur, i = [], 0, "", 0
    while i < len(p):
        c = p[i]
        if c == "\\":
            cur += p[i:i + 2]
            i += 2
            continue
        if c == "[":
            j = _skip_class(p, i)
            cur += p[i:j]
            i = j
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(cur)
            cur = ""
            i += 1
            continue
        cur += c
        i += 1
    parts.append(cur)
    return parts


def _longest_literal(alt: str) -> str:
    runs, cur, depth, i = [], "", 0, 0
    while i < len(alt):
        c = alt[i]
        if c == "\\":
            nxt = alt[i + 1:i + 2]
            i += 2
            if nxt.isalnum():  # \d \w \s \b ...: not a literal
                runs.append(cur)
                cur = ""
                continue
            lit = nxt
        elif c == "[":
            runs.append(cur)
            cur = ""
            i = _skip_class(alt, i)
            continue
        elif c in "()":
            runs.append(cur)
            cur = ""
            depth += 1 if c == "(" else -1
            i += 1
            continue
        elif c in ".^$|":
            runs.append(cur)
            cur = ""
            i += 1
            continue
        elif c in "*?+{":
            cur = cur[:-1]  # the quantified character may be absent
            runs.append(cur)
            cur = ""
            if c == "{":
                i = alt.find("}", i) + 1 or len(alt)
            else:
                i += 1
            continue
        else:
            lit = c
            i += 1
        if depth == 0:
            cur += lit
        else:
            runs.append(cur)
            cur = ""
    runs.append(cur)
    return max(runs, key=len)
