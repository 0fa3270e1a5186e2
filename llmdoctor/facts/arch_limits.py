"""Extension-level architecture limits (data/arch_limits.json): GPU libraries that need a minimum (or
maximum) compute capability of their own, whatever kernels torch has.

``arch_limit_findings(packages, gpus, meta)`` returns one finding per (library in use, GPU outside its
range), plus nothing for libraries not in use or GPUs whose capability is unknown (never guessed).  A
library is in use when the package list has it, or when the input's format says so (a vLLM collect_env
dump means vLLM is in use).  Pure: no I/O.
"""

from __future__ import annotations

import functools
from typing import Any

from .. import data
from ..results import Finding, Remedy, Status
from ..snapshot import Gpu, Meta, Packages, normalize_name
from . import derived as F


@functools.lru_cache(maxsize=1)
def rows() -> tuple[dict[str, Any], ...]:
    return tuple(data.load("arch_limits")["rows"])


def _cc(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def _in_use(row: dict[str, Any], packages: Packages | None, meta: Meta | None) -> str | None:
    """How we know the library is in use ("vllm 0.5.4", "a vLLM collect_env dump"), or None."""
    if packages is not None:
        dist = packages.get(row["package"])
        if dist is not None:
            return f"{dist.name} {dist.version}"
    formats = set(meta.understood) if meta is not None else set()
    if formats & set(row.get("in_use_when", ())):
        return f"the input is a {row['label']} environment report"
    return None


def _outside(row: dict[str, Any], cc: str) -> str | None:
    have = _cc(cc)
    if have < _cc(row["min_cc"]):
        return f"below the {row['min_cc']} it needs"
    if row.get("max_cc") and have > _cc(row["max_cc"]):
        return f"above the {row['max_cc']} it supports"
    return None


def _finding(row: dict[str, Any], gpu: Gpu, cc: str, why: str, how: str) -> Finding:
    label = F.gpu_label(gpu)
    status = Status.FAIL if row["severity"] == "fail" else Status.WARN
    message = (f"{label} has compute capability {cc}, {why}: {row['label']} is in use ({how}). {row['note']}.")
    evidence = {"package": row["package"], "compute_capability": cc, "min_cc": row["min_cc"],
                "max_cc": row.get("max_cc"), "in_use": how, "source": row["source"]}
    remedy = Remedy(f"Run {row['label']} on a GPU with compute capability {row['min_cc']}"
                    + (f"-{row['max_cc']}" if row.get("max_cc") else "+")
                    + f", or use a code path without {row['label']}.",
                    commands=("nvidia-smi --query-gpu=name,compute_cap --format=csv",),
                    links=(row["source"],) if row["source"].startswith("http") else ())
    return Finding(status, message, evidence, remedy, subject=label)


def arch_limit_findings(packages: Packages | None, gpus: tuple[Gpu, ...] | None, meta: Meta | None) -> list[Finding]:
    """Findings for every library in use whose compute capability range excludes a GPU."""
    out: list[Finding] = []
    seen: set[tuple[str, int]] = set()
    for row in rows():
        how = _in_use(row, packages, meta)
        if how is None:
            continue
        for gpu in gpus or ():
            cc, _source = F.gpu_cc(gpu)
            why = _outside(row, cc) if cc else None
            key = (row["label"], gpu.index)
            if why and key not in seen:
                seen.add(key)
                out.append(_finding(row, gpu, cc or "", why, how))
    return out


def packages_in_use(packages: Packages | None, meta: Meta | None) -> list[str]:
    """The libraries of the table that are in use (for messages)."""
    return [normalize_name(r["package"]) for r in rows() if _in_use(r, packages, meta)]
