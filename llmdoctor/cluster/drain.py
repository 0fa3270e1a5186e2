"""Scheduler commands that take failing nodes out of service: text for a human to review (a dry run)."""

from __future__ import annotations

import shlex
from typing import Mapping

DRAIN_KINDS = ("slurm", "k8s")


def _reason(reasons: list[str]) -> str:
    return "llmdoctor: " + ", ".join(reasons)[:200]


def slurm_script(nodes: Mapping[str, list[str]]) -> str:
    """scontrol update NodeName=... State=DRAIN Reason=... per node (Slurm's drain command)."""
    lines = ["#!/bin/sh", "# llmdoctor cluster --drain-script slurm: DRY RUN, review before running.",
             f"# {len(nodes)} node(s) to drain; undo with: scontrol update NodeName=<node> State=RESUME"]
    for node, reasons in nodes.items():
        lines.append(f"scontrol update NodeName={shlex.quote(node)} State=DRAIN Reason={shlex.quote(_reason(reasons))}")
    return "\n".join(lines) + "\n"


def k8s_script(nodes: Mapping[str, list[str]]) -> str:
    """kubectl cordon + label + NoSchedule taint per node."""
    lines = ["#!/bin/sh", "# llmdoctor cluster --drain-script k8s: DRY RUN, review before running.",
             f"# {len(nodes)} node(s) to take out; undo with: kubectl uncordon <node> && "
             "kubectl taint nodes <node> llmdoctor/unhealthy- && kubectl label node <node> llmdoctor/health-"]
    for node, reasons in nodes.items():
        q = shlex.quote(node)
        checks = "_".join(r.replace("cluster.", "").replace(".", "-") for r in reasons)[:63].strip("_-.") or "failed"
        lines += [f"# {node}: {_reason(reasons)}",
                  f"kubectl cordon {q}",
                  f"kubectl label node {q} llmdoctor/health=failed llmdoctor/checks={shlex.quote(checks)} --overwrite",
                  f"kubectl taint nodes {q} llmdoctor/unhealthy=true:NoSchedule --overwrite"]
    return "\n".join(lines) + "\n"


def drain_script(kind: str, nodes: Mapping[str, list[str]]) -> str:
    if kind == "slurm":
        return slurm_script(nodes)
    if kind == "k8s":
        return k8s_script(nodes)
    raise ValueError(kind)
