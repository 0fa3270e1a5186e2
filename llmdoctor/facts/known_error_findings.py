"""Known error messages as findings: the texts a dump (or the torch probe) saw, matched against
data/error_patterns.json, reported by the check each one belongs to.

A check opts in with ``@reports_known_errors`` under its ``@check``: after it ran, every recognised error
that belongs to it and that its own findings do not already cite becomes one more finding (status from
the table) when the check's facts gave no verdict (only pass/skip); when they did (warn/fail), the facts
decide and the error text is kept as evidence of that verdict.  Errors whose check is missing or cannot
run are reported by ``errors.known``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from typing import Any, Callable

from . import known_errors
from ..results import Finding, Status
from ..snapshot import Snapshot
from . import derived as F

MARK = "__llmdoctor_known_errors__"
_DRIVER_LIBCUDA = re.compile(r"^libcuda\.so(\.\d+)*$")
_LIB_PATH = re.compile(r"(?:[A-Za-z]:)?[\\/][^\s,;:'\"]*libcuda[^\s,;:'\"/\\]*")


def matches_for(snap: Snapshot, check_id: str | None = None) -> list[known_errors.Match]:
    found = known_errors.recognise(F.error_texts(snap))
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


def finding_for(match: known_errors.Match, snap: Snapshot, owner_note: str = "") -> Finding:
    err = match.error
    detail = match.detail
    message = f"Known error {err.id}: {err.cause}"
    if detail:
        message = f"Known error {err.id} ({detail}): {err.cause}"
    evidence: dict[str, Any] = {"error": match.excerpt, "known_error": err.id, "belongs_to": err.check,
                                "sources": list(err.sources)}
    if err.id in ("E5", "E7", "E8", "K2", "A5", "J2"):
        stray = stray_libcuda(snap)
        if stray:
            message += (f" The library search path holds libcuda files that are not the driver's: "
                        f"{', '.join(os.path.basename(s) for s in stray[:3])} ({stray[0]}).")
            evidence["stray_libcuda"] = stray
    if owner_note:
        message += f" {owner_note}"
    status = Status.FAIL if err.severity == "fail" else Status.WARN
    return Finding(status, message, evidence, remedy=err.fix)


def _cites(finding: Finding, text: str) -> bool:
    for value in finding.evidence.values():
        if isinstance(value, str) and len(value) > 20:
            v = " ".join(value.split())
            if v[:200] in text or text[:200] in v:
                return True
    return False


def merge(findings: list[Finding], matches: list[known_errors.Match], snap: Snapshot) -> list[Finding]:
    out = list(findings)
    for match in matches:
        if any(_cites(f, match.text) for f in out):
            continue
        verdicts = sorted((i for i, f in enumerate(out) if f.status in (Status.FAIL, Status.WARN)),
                          key=lambda i: -out[i].status.severity)
        if verdicts:
            # the facts already gave a verdict (they decide: PTX JIT may run a GPU torch warns about);
            # keep the error text as evidence of it
            i = verdicts[0]
            seen = list(out[i].evidence.get("errors_seen", ())) + [match.excerpt]
            out[i] = dataclasses.replace(out[i], evidence={**out[i].evidence, "errors_seen": seen})
            continue
        out.append(finding_for(match, snap))
    return out


def reports_known_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Legacy marker (below ``@check``): same as ``@check(..., known_errors=True)``; the engine merges."""
    setattr(func, MARK, True)
    return func
