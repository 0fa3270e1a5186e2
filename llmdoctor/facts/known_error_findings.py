"""Known error messages as findings: the texts a dump (or the torch probe) saw, matched against
data/error_patterns.json, reported by the check each one belongs to.

A check opts in with ``@check(..., known_errors=True)``: after it ran, every recognised error
that belongs to it and that its own findings do not already cite becomes one more finding (status from
the table) when the check's facts gave no verdict (only pass/skip); when they did (warn/fail), the facts
decide and the error text is kept as evidence of that verdict.  An error whose check cannot run (a part
it needs is unknown) is still that check's finding; errors whose check is not in the run are reported by
``errors.known``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from typing import Any

from . import known_errors
from ..results import Finding, Remedy, Status
from ..snapshot import Snapshot
from . import derived as F

_DRIVER_LIBCUDA = re.compile(r"^libcuda\.so(\.\d+)*$")
_LIB_PATH = re.compile(r"(?:[A-Za-z]:)?[\\/][^\s,;:'\"]*libcuda[^\s,;:'\"/\\]*")


@functools.lru_cache(maxsize=8)
def _recognised(texts: tuple[str, ...]) -> tuple[known_errors.Match, ...]:
    """The known errors in these texts, matched once per run (every check asks for its own)."""
    return tuple(known_errors.recognise(texts)) if any(texts) else ()


def matches_for(snap: Snapshot, check_id: str | None = None) -> list[known_errors.Match]:
    found = _recognised(tuple(F.error_texts(snap)))
    first: dict[str, known_errors.Match] = {}
    for m in found:  # one finding per known error, even when several lines show it
        if check_id is None or m.error.check == check_id:
            first.setdefault(m.error.id, m)
    return list(first.values())


def stray_libcuda(snap: Snapshot) -> list[str]:
    """libcuda* files named in the texts seen that are not the driver's libcuda.so[.N] (libcuda-injection.so)."""
    out: list[str] = []
    for text in F.error_texts(snap):
        for path in _LIB_PATH.findall(text):
            base = re.split(r"[\\/]", path)[-1]
            if not base.startswith("libcudart") and not _DRIVER_LIBCUDA.match(base) and path not in out:
                out.append(path)
    return out


_STRAY_LIBCUDA_IDS = ("E5", "E7", "E8", "K2", "A5", "J2")


def _stray_note(match: known_errors.Match, snap: Snapshot, evidence: dict[str, Any]) -> str:
    if match.error.id not in _STRAY_LIBCUDA_IDS:
        return ""
    stray = stray_libcuda(snap)
    if not stray:
        return ""
    evidence["stray_libcuda"] = stray
    return (f" The library search path holds libcuda files that are not the driver's: "
            f"{', '.join(os.path.basename(s) for s in stray[:3])} ({stray[0]}).")


def remedy_for(err: known_errors.KnownError) -> Remedy:
    return Remedy(err.fix, commands=err.commands, links=tuple(s for s in err.public_sources if s.startswith("http")))


def finding_for(match: known_errors.Match, snap: Snapshot, owner_note: str = "") -> Finding:
    """The finding of one recognised error: it happened, so it is a FAIL of its check (warn rows: may be fine)."""
    err = match.error
    detail = match.detail
    message = f"Known error {err.code}" + (f" ({detail})" if detail else "") + f": {err.cause}"
    evidence: dict[str, Any] = {"error": match.excerpt, "known_error": err.code, "belongs_to": err.check,
                                "sources": list(err.public_sources), "from": "the error text"}
    message += _stray_note(match, snap, evidence)
    if owner_note:
        message += f" {owner_note}"
    status = Status.FAIL if err.severity == "fail" else Status.WARN
    return Finding(status, message, evidence, remedy=remedy_for(err))


def _cites(finding: Finding, text: str) -> bool:
    for value in finding.evidence.values():
        if isinstance(value, str) and len(value) > 20:
            v = " ".join(value.split())
            if v[:200] in text or text[:200] in v:
                return True
    return False


def merge(findings: list[Finding], matches: list[known_errors.Match], snap: Snapshot) -> list[Finding]:
    """The check's findings plus its recognised errors.  An error the user hit is a finding of its own unless
    the check's facts already gave at least as severe a verdict; then it is kept as that verdict's evidence."""
    out = [f for f in findings if not (f.status == Status.UNKNOWN and matches and _only_unknown(findings))]
    for match in matches:
        if any(_cites(f, match.text) for f in out):
            continue
        own = finding_for(match, snap)
        verdicts = sorted((i for i, f in enumerate(out) if f.status in (Status.FAIL, Status.WARN)),
                          key=lambda i: -out[i].status.severity)
        # live: the probe's own warnings, the facts decide; pasted input: an error the user hit outranks a warn
        hit = snap.meta.source != "live" and own.status.severity > out[verdicts[0]].status.severity if verdicts else True
        if verdicts and not hit:
            i = verdicts[0]
            seen = list(out[i].evidence.get("errors_seen", ())) + [match.excerpt]
            out[i] = dataclasses.replace(out[i], evidence={**out[i].evidence, "errors_seen": seen})
            continue
        out.append(own)
    return out or list(findings)


def _only_unknown(findings: list[Finding]) -> bool:
    return all(f.status == Status.UNKNOWN for f in findings)


_PATH = re.compile(r"(?<![\w.])(?:/[\w.+-]+){2,}")


def _torch_facts(snap: Snapshot) -> dict[str, str]:
    t = snap.torch
    if t is None or not t.installed:
        return {}
    out = {}
    if t.version:
        out["torch"] = t.version
    if t.cuda:
        out["torch CUDA"] = t.cuda
    if t.nccl:
        out["NCCL"] = t.nccl
    return out


def _gpu_facts(snap: Snapshot) -> dict[str, str]:
    gpus = [g for g in snap.gpus or () if g.name or g.compute_capability]
    if not gpus:
        return {}
    names = [f"{g.name or 'GPU'}" + (f" (compute capability {g.compute_capability})" if g.compute_capability else "")
             for g in gpus]
    return {"GPUs": ", ".join(dict.fromkeys(names))}


def stated_facts(snap: Snapshot) -> dict[str, str]:
    """What the input states that a report can still use: versions, GPU names, paths."""
    out: dict[str, str] = {}
    if snap.driver and snap.driver.version:
        out["driver"] = snap.driver.version
    if snap.driver and snap.driver.cuda_version:
        out["driver CUDA"] = snap.driver.cuda_version
    out.update(_torch_facts(snap))
    if snap.toolkit and snap.toolkit.nvcc_version:
        out["nvcc"] = snap.toolkit.nvcc_version
    out.update(_gpu_facts(snap))
    if snap.python and snap.python.version:
        out["python"] = snap.python.version
    if snap.packages and snap.packages.distributions:
        out["packages"] = ", ".join(f"{d.name} {d.version}" for d in snap.packages.distributions[:8])
    paths = list(dict.fromkeys(p for t in F.error_texts(snap) for p in _PATH.findall(t)))
    if paths:
        out["paths"] = ", ".join(paths[:5])
    return out
