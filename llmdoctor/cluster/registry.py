"""The registry of cross-node checks (``cluster.*``).

They take the whole ``Cluster`` (a list of node snapshots and rank facts), not one snapshot, so they
are not snapshot checks; otherwise the contract is the same: pure functions returning Findings with a
Remedy, ``unknown`` when a fact is missing, declared settings read through ``ctx.setting``, the
docstring as the explanation, and a check that raises becomes an ``error`` result.
"""

from __future__ import annotations

import inspect
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from ..engine import Context, Setting, UsageError, verdict
from ..results import CheckResult, Finding, Remedy, Status
from .model import Cluster
from ..frozen import frozen

ClusterCheckFunc = Callable[[Cluster, Context], "Finding | Iterable[Finding] | None"]


@frozen
class ClusterCheckSpec:
    id: str
    title: str
    func: ClusterCheckFunc
    settings: Mapping[str, Setting] = field(default_factory=dict)

    @property
    def explanation(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "").strip()


_SPECS: dict[str, ClusterCheckSpec] = {}


def cluster_check(id: str, title: str,
                  settings: Mapping[str, Setting] | None = None) -> Callable[[ClusterCheckFunc], ClusterCheckFunc]:
    """Register ``func(cluster, ctx)`` as the cross-node check ``id`` (must start with ``cluster.``)."""

    def decorate(func: ClusterCheckFunc) -> ClusterCheckFunc:
        if not id.startswith("cluster."):
            raise UsageError(f"cross-node check {id!r}: ids start with 'cluster.'")
        old = _SPECS.get(id)
        if old is not None and old.func is not func:
            raise UsageError(f"duplicate cluster check id {id!r} ({old.func.__module__} and {func.__module__})")
        _SPECS[id] = ClusterCheckSpec(id, title, func, dict(settings or {}))
        return func

    return decorate


def cluster_checks() -> list[ClusterCheckSpec]:
    """Every cross-node check, in report order (the most likely cause of a hang first)."""
    from . import checks  # noqa: F401  (registers them)

    return list(_SPECS.values())


def setting_flags() -> dict[str, tuple[str, Setting]]:
    """``{flag: (check id, setting name)}`` of every declared setting with a command-line flag."""
    out: dict[str, tuple[str, Setting]] = {}
    for spec in cluster_checks():
        for name, s in spec.settings.items():
            if s.flag:
                out[s.flag] = (f"{spec.id}.{name}", s)
    return out


def run_cluster_check(spec: ClusterCheckSpec, cluster: Cluster, options: Mapping[str, Any]) -> CheckResult:
    start = time.perf_counter()
    ctx = Context(options, spec.id, spec.settings)
    try:
        result = spec.func(cluster, ctx)
        findings = (result,) if isinstance(result, Finding) else tuple(result or ())
    except Exception as exc:  # a raising check is an error result; the report goes on
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
        finding = Finding(Status.ERROR, f"The check raised {type(exc).__name__}: {exc}{where}; its verdict is unknown.",
                          remedy=Remedy("This is a bug in llmdoctor; please report it with the node snapshots."))
        return CheckResult(spec.id, spec.title, Status.ERROR, (finding,), time.perf_counter() - start)
    if cluster.missing and spec.id != "cluster.ranks" and verdict(findings) is Status.PASS:
        # a pass over the ranks that reported is not a pass for the job: the missing ones were not compared
        who = ", ".join(str(m.rank) for m in cluster.missing[:10])
        findings += (Finding(Status.UNKNOWN, f"Ranks {who} did not report: they are not covered by this verdict",
                             {"missing_ranks": [m.rank for m in cluster.missing]}),)
    return CheckResult(spec.id, spec.title, verdict(findings), findings, time.perf_counter() - start)


def run_cluster_checks(cluster: Cluster, options: Mapping[str, Any] | None = None,
                       select: Iterable[str] = ()) -> list[CheckResult]:
    chosen = [p for p in select if p]
    specs = [s for s in cluster_checks() if not chosen or any(s.id == p or s.id.startswith(p + ".") for p in chosen)]
    return [run_cluster_check(spec, cluster, options or {}) for spec in specs]
