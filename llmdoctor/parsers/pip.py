"""``pip list``, ``pip freeze``, ``pip show`` and ``conda list``.

A dump lists some packages; a package missing from it is unknown, not absent, unless the dump holds a
whole listing: a ``pip list`` / ``pip freeze`` / ``conda list`` that is not cut short (no "...", "[truncated]"
or "N more" line) records ``facts.packages_complete``.  ``pip show`` names only the packages asked for: it
is always partial.
"""

from __future__ import annotations

import re

from ._accumulator import Facts

LIST, FREEZE, SHOW, CONDA = "pip_list", "pip_freeze", "pip_show", "conda_list"

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_LIST_HEAD = re.compile(r"^Package\s+Version(\s+.*)?$")
_LIST_RULE = re.compile(r"^-{3,}\s+-{3,}")
_LIST_ROW = re.compile(rf"^({_NAME})\s+(\d[^\s]*)(?:\s+(\S.*))?$")
_FREEZE = re.compile(rf"^({_NAME})(?:\[[^\]]*\])?\s*===?\s*(\d[^\s;#]*)\s*$")
_FREEZE_AT = re.compile(rf"^({_NAME})\s+@\s+\S+")
_CONDA_HEAD = re.compile(r"^#\s*packages in environment at\s+(.+?):?\s*$")
_CONDA_ROW = re.compile(rf"^({_NAME})\s+(\d[^\s]*)\s+(\S+)(?:\s+(\S+))?\s*$")
# a line that says the listing was cut: "...", "…", "[truncated]", "(12 more)", "and 40 more packages"
_CUT = re.compile(r"^\s*(?:\.{3,}|…+|\[?\(?\s*(?:output\s+)?truncated\b.*|.*\b\d+\s+more(?:\s+(?:lines|packages|rows))?\W*)\s*$",
                  re.IGNORECASE)


def is_cut(line: str) -> bool:
    """Whether a line in or right after a listing says that it was cut short."""
    return bool(_CUT.match(line))


def _mark_complete(facts: Facts, rows: int, cut: bool) -> None:
    if rows and not cut:
        facts.packages_complete = True


def detect_list(lines: list[str]) -> bool:
    return any(_LIST_HEAD.match(a) and _LIST_RULE.match(b) for a, b in zip(lines, lines[1:]))


def detect_freeze(lines: list[str]) -> bool:
    return sum(1 for line in lines if _FREEZE.match(line.strip())) >= 2


def detect_show(lines: list[str]) -> bool:
    return any(a.startswith("Name: ") and b.startswith("Version: ") for a, b in zip(lines, lines[1:]))


def detect_conda(lines: list[str]) -> bool:
    return any(_CONDA_HEAD.match(line) for line in lines)


def parse_list(lines: list[str], facts: Facts) -> None:
    inside, rows, cut = False, 0, False
    for line in lines:
        if _LIST_RULE.match(line):
            inside = True
            continue
        m = _LIST_ROW.match(line) if inside else None
        if m:
            facts.add_package(m.group(1), m.group(2), "pip", location=m.group(3))
            rows += 1
            facts.saw(LIST)
            continue
        inside = inside and not line.strip()
        cut = cut or (rows > 0 and is_cut(line))
    _mark_complete(facts, rows, cut)


def parse_freeze(lines: list[str], facts: Facts) -> None:
    n, cut = 0, False
    for line in lines:
        m = _FREEZE.match(line.strip())
        if m:
            facts.add_package(m.group(1), m.group(2), "pip")
            n += 1
        elif n and is_cut(line):
            cut = True
    if n:
        facts.saw(FREEZE)
    _mark_complete(facts, n, cut)


def parse_show(lines: list[str], facts: Facts) -> None:
    block: dict[str, str] = {}

    def flush() -> None:
        if block.get("Name") and block.get("Version"):
            requires = tuple(r.strip() for r in block.get("Requires", "").split(",") if r.strip())
            facts.add_package(block["Name"], block["Version"], "pip", location=block.get("Location"), requires=requires)
            facts.saw(SHOW)
        block.clear()

    for line in lines:
        m = re.match(r"^(Name|Version|Location|Requires|Editable project location):\s*(.*)$", line)
        if m:
            if m.group(1) == "Name" and block:
                flush()
            block[m.group(1)] = m.group(2).strip()
        elif line.strip() == "---":
            flush()
    flush()


def parse_conda(lines: list[str], facts: Facts) -> None:
    inside, rows, cut = False, 0, False
    for line in lines:
        h = _CONDA_HEAD.match(line)
        if h:
            inside = True
            facts.put(facts.python, "conda_env", h.group(1).strip())
            continue
        if not inside or line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        if len(parts) >= 3 and re.match(r"\d", parts[1]):
            conda_row(parts, facts)
            rows += 1
            facts.saw(CONDA)
        else:
            inside = False
            cut = cut or is_cut(line)
    _mark_complete(facts, rows, cut)


def conda_row(parts: list[str], facts: Facts) -> None:
    """One ``conda list`` row: name version build [channel]."""
    name, version = parts[0], parts[1]
    build = parts[2] if len(parts) > 2 else ""
    channel = parts[3] if len(parts) > 3 else None
    installer = "pip" if channel == "pypi" or build.startswith("pypi") else "conda"
    facts.add_package(name, version, installer)
    key = "torch" if name in ("pytorch", "torch") else None
    if key and installer == "conda" and key in facts.packages:
        m = re.search(r"cuda(\d+\.\d+)", build)
        if m:
            facts.packages[key].setdefault("cuda_build", m.group(1))
        elif "cpu" in build:
            facts.packages[key].setdefault("cuda_build", "")
    if name == "cpuonly" and "torch" in facts.packages:
        facts.packages["torch"].setdefault("cuda_build", "")
