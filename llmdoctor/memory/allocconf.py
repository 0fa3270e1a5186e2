"""Parse and validate a PYTORCH_CUDA_ALLOC_CONF / PYTORCH_ALLOC_CONF value against the option table (pure)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from .. import data
from ..frozen import frozen


@frozen
class Problem:
    severity: str  # "fail" | "warn"
    key: str
    message: str


def split_entries(value: str) -> list[tuple[str, str]]:
    """'a:1,b:[1:2,>:4]' -> [('a','1'), ('b','[1:2,>:4]')]; spaces dropped as torch's lexer does."""
    value = value.replace(" ", "")
    out, depth, cur = [], 0, ""
    for ch in value:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    pairs = []
    for entry in out:
        if not entry:
            continue
        key, sep, val = entry.partition(":")
        pairs.append((key, val if sep else ""))
    return pairs


_INT = r"\d{1,19}"  # torch reads these as size_t: more digits do not parse (input guard: no 4300-digit int())


def _pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def check_value(row: dict[str, Any], val: str) -> str | None:
    """None when valid, else why not (torch's own error text where known)."""
    t = row["type"]
    err = row.get("error")
    if t == "bool":
        return None if val in ("True", "False") else (err or f"expected True or False, got {val!r}")
    if t == "enum":
        return None if val in row["values"] else f"expected one of {', '.join(row['values'])}, got {val!r}"
    if t in ("int", "pow2"):
        if not re.fullmatch(_INT, val):
            return f"expected an integer, got {val!r}"
        n = int(val)
        if t == "pow2" and not _pow2(n):
            return err
        if "min" in row and n < row["min"]:
            return err or f"must be >= {row['min']}"
        return None
    if t in ("float_open01", "float_closed01"):
        try:
            x = float(val)
        except ValueError:
            return f"expected a number, got {val!r}"
        ok = 0.0 < x < 1.0 if t == "float_open01" else 0.0 <= x <= 1.0
        return None if ok else err
    if t == "roundup":
        if re.fullmatch(_INT, val):
            return None if _pow2(int(val)) or int(val) == 0 else err
        m = re.fullmatch(r"\[(.*)\]", val)
        if not m:
            return f"expected a power of 2 or [<MB>:<div>,...,>:<div>], got {val!r}"
        for item in m.group(1).split(","):
            size, _, div = item.partition(":")
            if not re.fullmatch(_INT, div or "") or not (int(div) == 0 or _pow2(int(div))):
                return err
            if size != ">" and not (re.fullmatch(_INT, size) and _pow2(int(size))):
                return "For roundups, the intervals have to be power of 2"
        return None
    return None


def parse(value: str, torch_version: str | None) -> tuple[dict[str, str], list[Problem]]:
    table = data.load("alloc_conf")
    rows = {r["key"]: r for r in table["options"]}
    aliases = {"release_lock_on_hipmalloc": "release_lock_on_cudamalloc",
               "pinned_use_hip_host_register": "pinned_use_cuda_host_register"}
    tv = data.version(torch_version)
    settings: dict[str, str] = {}
    problems: list[Problem] = []
    for key, val in split_entries(value):
        row = rows.get(aliases.get(key, key))
        if row is None:
            near = difflib.get_close_matches(key, list(rows), n=1, cutoff=0.6)
            problems.append(Problem("fail", key, f"unknown option {key!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
                                    + ": torch raises 'Unrecognized key' at the first CUDA allocation"))
            continue
        why = check_value(row, val)
        if why:
            problems.append(Problem("fail", key, f"{key}:{val} is invalid: {why}"))
            continue
        since = row.get("since")
        since_v = data.version(since) if since else None
        if since_v is not None and tv is not None and tv < since_v:
            confirmed = row.get("since_confirmed", True)
            problems.append(Problem("fail" if confirmed else "warn", key,
                                    f"{key} is new in torch {since}{'' if confirmed else ' (version estimated)'}; "
                                    f"torch {torch_version} {'rejects' if confirmed else 'may reject'} it"))
        settings[key] = val
    if settings.get("backend") == "cudaMallocAsync":
        ignored = [k for k in settings if rows[aliases.get(k, k)].get("native_only")]
        if ignored:
            problems.append(Problem("warn", "backend", f"backend:cudaMallocAsync ignores {', '.join(ignored)} "
                                    "(they apply to the native allocator only)"))
    return settings, problems


def expandable_setting(torch_version: str | None) -> str:
    """The line that turns on expandable segments for this torch, naming the variable it reads.

    torch < 2.9 reads only PYTORCH_CUDA_ALLOC_CONF; 2.9 and 2.10 read PYTORCH_ALLOC_CONF first but ignore
    expandable_segments there for CUDA (pytorch #183387), so the legacy name is the one that works; from 2.11
    the generic PYTORCH_ALLOC_CONF does.  Unknown torch: the legacy name, which every release reads when the
    generic one is unset.
    """
    table = data.load("alloc_conf")
    names = table["variables"]
    tv = data.version(torch_version) if torch_version else None
    fixed = data.version(table["expandable_ignored_in_generic"]["fixed"])
    since = data.version(names["generic_since"])
    if tv is not None and fixed is not None and tv >= fixed:
        return f"{names['generic']}=expandable_segments:True (torch {torch_version} reads it)"
    why = (f"torch {torch_version} reads only {names['legacy']}" if tv is not None and since is not None and tv < since
           else f"torch {torch_version} ignores expandable_segments in {names['generic']} (pytorch #183387)"
           if tv is not None else f"torch version unknown: every release reads {names['legacy']}")
    return f"{names['legacy']}=expandable_segments:True ({why})"
