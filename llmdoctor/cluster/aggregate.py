"""Rank 0's report: per-node checks on every node, summarised per check, then the cross-node checks.

The result is a normal ``Report`` (so every ``check`` format renders it).  Per-node results are grouped
by outcome: the majority is one finding ("1020 of 1024 nodes: ..."), the outliers are listed by node.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Sequence

from ..engine import CheckSpec, Context, run_checks, verdict
from ..results import CheckResult, Finding, Report
from ..snapshot import Snapshot
from .compare import names
from .model import Cluster
from .registry import run_cluster_checks

SHOWN_NODES = 20  # node names kept in a summarised finding's evidence


def run_node_checks(cluster: Cluster, specs: Sequence[CheckSpec], ctx: Context) -> dict[str, tuple[CheckResult, ...]]:
    """{node: its per-node CheckResults}; nodes without a snapshot are left out."""
    return {n.name: run_checks(n.snapshot, specs, ctx).checks for n in cluster.nodes if n.snapshot is not None}


def _key(f: Finding) -> tuple[Any, ...]:
    return (f.status, f.message, f.remedy)


def summarise(check_id: str, per_node: Mapping[str, CheckResult], total: int) -> CheckResult:
    """One CheckResult for ``check_id`` over every node: identical findings merged, nodes named."""
    groups: dict[tuple[tuple[Any, ...], ...], list[str]] = {}
    sample: dict[tuple[tuple[Any, ...], ...], CheckResult] = {}
    for node, result in per_node.items():
        key = tuple(_key(f) for f in result.findings)
        groups.setdefault(key, []).append(node)
        sample.setdefault(key, result)
    findings: list[Finding] = []
    for key, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0])):
        who = members[0] if total == 1 else (f"all {total} nodes" if len(members) == total
                                             else f"{len(members)} of {total} nodes: {names(members)}")
        for f in sample[key].findings:
            evidence = {**dict(f.evidence), "nodes": members[:SHOWN_NODES], "node_count": len(members)}
            findings.append(dataclasses.replace(f, message=f"[{who}] {f.message}" if total > 1 else f.message,
                                                evidence=evidence, subject=f.subject or names(members)))
    findings.sort(key=lambda f: -f.status.severity)
    first = next(iter(per_node.values()))
    seconds = sum(r.seconds for r in per_node.values())
    return CheckResult(check_id, first.title, verdict(findings), tuple(findings), seconds, first.origin)


def cluster_snapshot(cluster: Cluster, rank0_node: str | None = None) -> Snapshot:
    """The snapshot the report carries: rank 0's node (or the first), labelled as a cluster."""
    node = next((n for n in cluster.nodes if n.name == rank0_node and n.snapshot), None) or \
        next((n for n in cluster.nodes if n.snapshot), None)
    ranks = len(cluster.ranks)
    detail = f"cluster of {len(cluster.nodes)} node{'s' if len(cluster.nodes) != 1 else ''}" + \
        (f", {ranks} rank{'s' if ranks != 1 else ''}" if ranks else "") + (f" (shown: {node.name})" if node else "")
    base = node.snapshot if node and node.snapshot else Snapshot()
    meta = dataclasses.replace(base.meta, source="cluster", source_detail=detail)
    return dataclasses.replace(base, meta=meta)


def build_report(cluster: Cluster, specs: Sequence[CheckSpec], ctx: Context, options: Mapping[str, Any],
                 cluster_select: Iterable[str] = (), fail_on: str = "fail", rank0_node: str | None = None) -> Report:
    node_results = run_node_checks(cluster, specs, ctx)
    cluster = dataclasses.replace(cluster, node_results=node_results)
    cross = run_cluster_checks(cluster, options, cluster_select)
    per_check: dict[str, dict[str, CheckResult]] = {}
    for node, results in node_results.items():
        for r in results:
            per_check.setdefault(r.id, {})[node] = r
    total = len(node_results)
    summarised = [summarise(cid, per_node, total) for cid, per_node in per_check.items()]
    return Report(tuple([*cross, *summarised]), cluster_snapshot(cluster, rank0_node), fail_on)


def drain_list(report: Report) -> dict[str, list[str]]:
    """{node: reasons} from every failing finding that names nodes to drain."""
    out: dict[str, list[str]] = {}
    for check in report.checks:
        for f in check.findings:
            if f.status.value != "fail":
                continue
            for node in f.evidence.get("drain", ()) or ():
                reasons = out.setdefault(str(node), [])
                if check.id not in reasons:
                    reasons.append(check.id)
    node_table = next((c for c in report.checks if c.id == "cluster.node-failures"), None)
    for f in node_table.findings if node_table else ():
        for row in f.evidence.get("table", ()) or ():
            for cid in row.get("fail", ()):
                reasons = out.setdefault(row["node"], [])
                if cid not in reasons:
                    reasons.append(cid)
    return dict(sorted(out.items()))
