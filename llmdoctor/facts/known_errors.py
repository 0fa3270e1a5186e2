"""Known error messages: the knowledge base (data/error_patterns.json + data/error_kb.json), recognised
in texts, pure and cached.

Every entry has llmdoctor's own stable code (``LD-CUDA-001``; codes are never reused), the check that owns
it, its patterns (every wording variant seen across versions), the root cause, the fix as text and as
commands, and public sources whose verbatim text is a fixture its patterns match (tests pin that).

Used by the dump parser (to keep the error texts it finds), by the checks (a recognised error becomes a
finding of the check it belongs to) and by ``llmdoctor explain-error``.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .. import data
from ..units import format_bytes
from ..frozen import frozen

INTERNAL_SOURCE = "shared/"  # the project's own notes: never shown to users


@frozen
class KnownError:
    id: str  # internal key used by checks (old catalog ids); never shown to users
    code: str  # llmdoctor's own stable code, shown everywhere
    check: str
    severity: str  # fail | warn
    cause: str
    fix: str
    sources: tuple[str, ...]
    patterns: tuple[str, ...]  # compiled (case-insensitive) on first use: a run compiles only what it tries
    dtype: str | None = None
    commands: tuple[str, ...] = ()
    title: str = ""
    area: str = ""
    rule: str | None = None  # a named condition the matched text must also meet (RULES)
    fixtures: tuple[tuple[str, str], ...] = ()  # (public source, verbatim text)

    @functools.cached_property
    def regexes(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p, re.I) for p in self.patterns)

    @property
    def regex(self) -> re.Pattern[str]:
        return self.regexes[0]

    @property
    def public_sources(self) -> tuple[str, ...]:
        return tuple(s for s in self.sources if not s.startswith(INTERNAL_SOURCE))

    @property
    def row(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title, "check": self.check, "severity": self.severity,
                "cause": self.cause, "fix": self.fix, "commands": list(self.commands),
                "sources": list(self.public_sources)}


@frozen
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
        func = DETAILS.get(self.error.id) or DETAILS.get(self.error.rule or "")
        return func(self) if func else None


def _detail_found_version(m: Match) -> str | None:
    found = m.groups.get("found")
    if not found:
        return None
    return f"the driver supports CUDA ≤ {data.cuda_version_text(int(found))}"


def _detail_sm(m: Match) -> str | None:
    sm = m.groups.get("sm")
    if not sm:
        return None
    num = sm.split("_", 1)[1]
    found = re.search(r"((?:NVIDIA |Tesla |Quadro )?[\w ()-]+?) with CUDA capability", m.text)
    gpu = re.sub(r"^.*Warning:\s*", "", found.group(1)).strip() if found else ""
    return f"{gpu + ' has' if gpu else 'the GPU has'} compute capability {num[:-1]}.{num[-1]}"


def _detail_xformers(m: Match) -> str | None:
    g = m.groups
    return f"xformers was built for torch {g['built']}, but torch {g['have']} is installed" if g.get("built") else None


def _detail_nvcc(m: Match) -> str | None:
    g = m.groups
    return f"nvcc is CUDA {g['nvcc']}, torch was built with CUDA {g['torch']}" if g.get("nvcc") else None


def _detail_kv(m: Match) -> str | None:
    g = m.groups
    return f"max_model_len {g['want']} tokens, KV cache holds {g['have']}" if g.get("want") else None


def _detail_oom(m: Match) -> str | None:
    oom = oom_figures(m.text)
    if oom is None:
        return None
    parts = []  # sizes written as PyTorch's message writes them: two decimals ("20.00 MiB")
    if oom.get("tried") is not None:
        parts.append(f"tried to allocate {format_bytes(oom['tried'], decimals=2)}")
    if oom.get("free") is not None:
        parts.append(f"{format_bytes(oom['free'], decimals=2)} free")
    if oom.get("unallocated") is not None:
        verdict = "fragmentation is the likely cause" if fragmented(oom) else "not fragmentation"
        parts.append(f"{format_bytes(oom['unallocated'], decimals=2)} reserved by PyTorch but unallocated: {verdict}")
    return "; ".join(parts) or None


DETAILS: dict[str, Callable[[Match], str | None]] = {
    "A1": _detail_found_version, "B2": _detail_sm, "E1": _detail_xformers, "F1": _detail_nvcc, "F2": _detail_nvcc,
    "H3": _detail_kv, "oom": _detail_oom, "fragmentation": _detail_oom,
}

# -- the OOM fragmentation rule ---------------------------------------------------------------------
_UNITS = {"b": 1, "bytes": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
          "kb": 2**10, "mb": 2**20, "gb": 2**30, "tb": 2**40}
_SIZE = r"([\d.]+) ?(bytes|[KMGT]i?B|B)"
_OOM_FIELDS = {
    "tried": re.compile(r"Tried to allocate " + _SIZE, re.I),
    "free": re.compile(r"of which " + _SIZE + r" is free|" + _SIZE + r" free;", re.I),
    "unallocated": re.compile(_SIZE + r" is reserved by PyTorch but unallocated", re.I),
    "reserved": re.compile(_SIZE + r" reserved in total by PyTorch", re.I),
    "allocated": re.compile(_SIZE + r" (?:is )?allocated by PyTorch|" + _SIZE + r" already allocated", re.I),
}


def _size(m: re.Match[str]) -> int | None:
    groups = [g for g in m.groups() if g is not None]
    if len(groups) < 2:
        return None
    try:
        return int(float(groups[0]) * _UNITS[groups[1].lower()])
    except (ValueError, KeyError):
        return None


def oom_figures(text: str) -> dict[str, int | None] | None:
    """The figures a CUDA out-of-memory message states (bytes), or None when it is no such message."""
    if not re.search(r"out of memory", text, re.I):
        return None
    out: dict[str, int | None] = {}
    for key, rx in _OOM_FIELDS.items():
        m = rx.search(text)
        out[key] = _size(m) if m else None
    reserved, allocated = out.get("reserved"), out.get("allocated")
    if out.get("unallocated") is None and reserved is not None and allocated is not None:
        out["unallocated"] = max(0, reserved - allocated)  # older messages: "X reserved in total by PyTorch"
    return out


def fragmented(oom: dict[str, int | None]) -> bool:
    """Fragmentation is the cause only when the memory PyTorch reserved but left unallocated could have held
    the request the GPU's free memory could not: free < requested <= free + reserved-but-unallocated.
    Only then does expandable_segments help (0 bytes unallocated, or a request larger than both, is not it)."""
    unalloc, tried, free = oom.get("unallocated"), oom.get("tried"), oom.get("free")
    if unalloc is None or tried is None or unalloc <= 0:
        return False
    if free is None:
        return unalloc >= tried
    return free < tried <= free + unalloc


def _rule_fragmentation(text: str) -> bool:
    oom = oom_figures(text)
    return oom is not None and fragmented(oom)


RULES: dict[str, Callable[[str], bool]] = {"fragmentation": _rule_fragmentation, "oom": lambda text: True}

# -- the table ------------------------------------------------------------------------------------------
KB_FILES = ("error_patterns", "error_kb")
# The owner the knowledge base gives errors that no narrower check reports (the check with this id triages them).
TRIAGE_CHECK = "errors.known"


def _patterns(row: dict[str, Any]) -> list[str]:
    pats = list(row.get("patterns") or [])
    if row.get("pattern"):
        pats.insert(0, row["pattern"])
    return pats


def _fixtures(row: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    out = [(str(f["source"]), str(f["text"])) for f in row.get("fixtures", ())]
    if row.get("example"):
        public = [s for s in row["sources"] if not s.startswith(INTERNAL_SOURCE)]
        out.insert(0, (public[0] if public else row["sources"][0], row["example"]))
    return tuple(out)


def _entry(row: dict[str, Any]) -> KnownError:
    code = row["code"]
    fixtures = _fixtures(row)
    sources = tuple(dict.fromkeys([*row["sources"], *(src for src, _ in fixtures)]))
    return KnownError(id=row.get("id", code), code=code, check=row["check"], severity=row["severity"],
                      cause=row["cause"], fix=row["fix"], sources=sources,
                      patterns=tuple(_patterns(row)), dtype=row.get("dtype"),
                      commands=tuple(row.get("commands", ())), title=row.get("title", ""),
                      area=row.get("area") or code.split("-")[1].lower(), rule=row.get("rule"),
                      fixtures=fixtures)


def rows() -> list[dict[str, Any]]:
    """Every knowledge-base row, as stored (both files, in order)."""
    out: list[dict[str, Any]] = []
    for name in KB_FILES:
        doc = data.load(name)
        out.extend(doc.get("patterns") or doc.get("entries") or [])
    return out


@functools.lru_cache(maxsize=1)
def table() -> tuple[KnownError, ...]:
    return tuple(_entry(r) for r in rows())


@functools.lru_cache(maxsize=1)
def by_code() -> dict[str, KnownError]:
    return {e.code: e for e in table()}


def lookup(key: str) -> KnownError | None:
    """An entry by its code (LD-CUDA-001, case-insensitive) or internal id."""
    key = key.strip()
    found = by_code().get(key.upper())
    return found or next((e for e in table() if e.id == key), None)


def flatten(text: str) -> str:
    return " ".join(text.split())


def _no_rule(text: str) -> bool:
    return True


def _first_match(err: KnownError, text: str, lower: str) -> re.Match[str] | None:
    for i, pattern in enumerate(err.patterns):
        needles = needles_of(pattern)
        if needles is not None and not any(n in lower for n in needles):
            continue  # no literal of the pattern is in the text: it is not even compiled
        m = err.regexes[i].search(text)
        if m and (err.rule is None or RULES.get(err.rule, _no_rule)(text)):
            return m
    return None


def recognise(texts: Iterable[str]) -> list[Match]:
    """Every (known error, text) pair, in table order; one match per entry and text."""
    out: list[Match] = []
    flat = [flatten(t) for t in texts if t]
    if not flat:  # nothing to recognise: the table (hundreds of patterns) is not even compiled
        return out
    lowered = [t.translate(_ASCII_LOWER) for t in flat]
    for err in table():
        for text, lower in zip(flat, lowered):
            m = _first_match(err, text, lower)
            if m:
                out.append(Match(err, text, {k: v for k, v in m.groupdict().items() if v}))
    return out


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_REACH = 1500  # how far around a needle a (multi-line) message is looked for
_MAX_SPANS = 200


def _regions(pattern: str, text: str, lower: str) -> list[tuple[int, int]]:
    needles = needles_of(pattern)
    if needles is None:
        return [(0, len(text))]
    regions: list[tuple[int, int]] = []
    for needle in needles:
        pos = lower.find(needle)
        while pos >= 0 and len(regions) < 50:
            regions.append((max(0, pos - _REACH), min(len(text), pos + len(needle) + _REACH)))
            pos = lower.find(needle, pos + len(needle))
    return regions


def _line_span(text: str, m: re.Match[str]) -> tuple[int, int]:
    """The whole lines of a match, but not more than a few hundred characters around it."""
    start = max(text.rfind("\n", 0, m.start()) + 1, m.start() - 300)
    end = text.find("\n", m.end())
    return start, min(len(text) if end < 0 else end, m.end() + 700)


def find_in(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the whole lines of ``text`` where a known error occurs (for the dump parser).

    Fast on megabytes: each pattern's longest literal (its needle) is searched with str.find on an ASCII
    lower-cased copy (same length as the text), and the regex only runs around the hits.
    """
    lower = text.translate(_ASCII_LOWER)
    spans: set[tuple[int, int]] = set()
    for err in table():
        for pattern in err.patterns:
            for lo, hi in _regions(pattern, text, lower):
                for m in _per_line(pattern).finditer(text, lo, hi):
                    spans.add(_line_span(text, m))
                    if len(spans) > _MAX_SPANS:
                        return sorted(spans)
    return sorted(spans)


@functools.lru_cache(maxsize=None)
def _per_line(pattern: str) -> re.Pattern[str]:
    """A table pattern with ^ and $ anchored at line boundaries (a whole-message pattern found inside a log)."""
    return re.compile(pattern, re.I | re.MULTILINE)


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


# One token of a pattern: an escape, a character class (``[]...]`` and ``[^]...]`` included), a counted
# repeat, a group bracket, an alternation, another metacharacter, a quantifier, or a run of plain characters.
_TOKEN = re.compile(r"(\\.?)|(\[\^?\]?(?:\\.|[^\]\\])*\]?)|(\{[^}]*\}?)|([()])|(\|)|([.^$])|([*?+])|([^\\\[\]{}()|.^$*?+]+|.)",
                    re.S)


def _split_top(p: str) -> list[str]:
    """The top-level alternatives of a pattern (a ``|`` inside a group or a class does not split it)."""
    parts, depth, start = [], 0, 0
    for m in _TOKEN.finditer(p):
        if m.group(4):
            depth += 1 if m.group(4) == "(" else -1
        elif m.group(5) and depth == 0:
            parts.append(p[start:m.start()])
            start = m.end()
    parts.append(p[start:])
    return parts


def _longest_literal(alt: str) -> str:
    """The longest run of literal characters outside groups that every match of ``alt`` contains."""
    runs, cur, depth = [], "", 0
    for m in _TOKEN.finditer(alt):
        escape, _cls, counted, bracket, bar, meta, quantifier, plain = m.groups()
        if escape is not None:
            if escape[1:].isalnum():  # \d \w \s \b ...: not a literal
                runs.append(cur)
                cur = ""
                continue
            lit = escape[1:]
        elif plain is not None:
            lit = plain
        elif bracket is not None:
            depth += 1 if bracket == "(" else -1
            runs.append(cur)
            cur = ""
            continue
        elif quantifier is not None or counted is not None:
            cur = cur[:-1]  # the quantified character may be absent
            runs.append(cur)
            cur = ""
            continue
        else:  # a class, | or . ^ $
            runs.append(cur)
            cur = ""
            continue
        if depth == 0:
            cur += lit
        else:
            runs.append(cur)
            cur = ""
    runs.append(cur)
    return max(runs, key=len)
