"""Cross-node checks (``cluster.*``): pure functions of the Cluster; the most likely hang cause first."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

from ..engine import Context, Setting
from ..results import Finding, Status, fail, not_applicable, passed, unknown, warn
from ..snapshot import Snapshot
from ..units import format_bytes
from .compare import Split, by_value, describe, names, split
from .model import Cluster, NodeSnapshot, RankFacts
from .registry import cluster_check

NCCL_ENV_DOCS = "https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html"
# A multi-node hang where the NCCL developers' first question is "different NCCL versions on different nodes?"
# and where setting NCCL_PROTO changes whether it hangs.
HANG_CASE = "NVIDIA/nccl#354"
# Variables whose difference between ranks changes the wire protocol or the transport: ranks that disagree
# on them build incompatible communicators and typically hang in the first collective.
HANG_CLASS_ENV = ("NCCL_PROTO", "NCCL_ALGO", "NCCL_P2P_DISABLE", "NCCL_SHM_DISABLE", "NCCL_IB_DISABLE", "NCCL_NET",
                  "NCCL_NVLS_ENABLE", "NCCL_COLLNET_ENABLE", "NCCL_BUFFSIZE", "NCCL_MIN_NCHANNELS",
                  "NCCL_MAX_NCHANNELS", "NCCL_CROSS_NIC", "NCCL_NET_PLUGIN")
# Variables that differ per rank or per node by design.
PER_RANK_ENV = ("CUDA_VISIBLE_DEVICES", "NCCL_SOCKET_IFNAME", "NCCL_IB_HCA", "NCCL_DEBUG_FILE", "NCCL_TOPO_FILE")


def _drain(members: Iterable[str]) -> dict[str, list[str]]:
    return {"drain": sorted(set(members))}


# --------------------------------------------------------------------------- cluster.ranks


@cluster_check("cluster.ranks", "every rank joined and reported")
def check_ranks(cluster: Cluster, ctx: Context) -> list[Finding]:
    """Every rank of the job joined rank 0 and sent its facts in time.

    A rank that never joins, or hangs (in its probe, in CUDA initialisation, in the network), is what a
    training job would hang on too.  Rank 0 waits ``--timeout`` seconds, then names each missing rank, its
    host and the last step it reported, and the job exits non-zero instead of hanging.  A rank whose probe
    crashed still contributes its error, reported here.
    Fix: look at the named host (dmesg, nvidia-smi, the launcher's log for that rank); drain it if it keeps
    failing.
    """
    findings = [_missing_rank(cluster, m) for m in cluster.missing]
    if cluster.error:
        findings.append(fail(f"Gathering the ranks' facts over gloo failed: {cluster.error}", {"error": cluster.error},
                             remedy="A rank died or the network between nodes broke during the run; rerun, and "
                                    "look at the launcher's log for the rank that exited first."))
    findings += [warn(f"Rank {r.rank} on {r.host or '?'} reported an error while collecting its facts: {r.error}",
                      {"rank": r.rank, "host": r.host, "error": r.error, "last_step": r.last_step},
                      remedy="Run 'llmdoctor check' on that host to see which probe fails.", subject=r.host)
                 for r in cluster.ranks if r.error]
    findings += [warn(f"Node {n.name} could not be probed: {n.error}", {"node": n.name, "error": n.error},
                      remedy="Run 'llmdoctor check' on that node.", subject=n.name) for n in cluster.nodes if n.error]
    if cluster.missing or cluster.error:
        return findings
    count, nodes = len(cluster.ranks), len(cluster.nodes)
    expected = cluster.world_size
    if expected is not None and count < expected:
        return findings + [unknown(f"{count} of {expected} ranks are in the input", {"ranks": count, "world_size": expected})]
    if not cluster.live and count == 0:
        return findings or [not_applicable(f"No rank facts: the {nodes} node snapshot{'s were' if nodes != 1 else ' was'} "
                                           "collected outside the runner", {"nodes": nodes})]
    what = f"All {count} rank{'s' if count != 1 else ''} on {nodes} node{'s' if nodes != 1 else ''} reported"
    members = {n.name: [r.rank for r in n.ranks] for n in cluster.nodes}
    return findings or [passed(what, {"ranks": count, "nodes": nodes, "members": members})]


def _missing_rank(cluster: Cluster, m: Any) -> Finding:
    where = f" on {m.host}" if m.host else ""
    last = f"; its last step was '{m.last_step}'" if m.last_step else "; it never joined"
    return fail(f"Rank {m.rank}{where} did not report within the timeout{last}; a training job would hang on it.",
                {"rank": m.rank, "host": m.host, "last_step": m.last_step, **_drain([m.host] if m.host else [])},
                remedy="Check that rank's host and its launcher log (the process may be stuck in the driver or the "
                       "network); rerun with a longer --timeout if it is only slow.", subject=m.host)


# --------------------------------------------------------------------------- cluster.versions


def _torch_value(attr: str) -> Callable[[Snapshot], str | None]:
    def get(s: Snapshot) -> str | None:
        if s.torch is None:
            return None
        if not s.torch.installed:
            return "not installed"
        value = getattr(s.torch, attr)
        return "none" if value is None else str(value)
    return get


def _driver_value(attr: str) -> Callable[[Snapshot], str | None]:
    def get(s: Snapshot) -> str | None:
        if s.driver is None:
            return "none" if s.gpus == () else None
        value = getattr(s.driver, attr)
        return None if value is None else str(value)
    return get


# (label, status when nodes differ, why it matters, getter): the most likely cause of a hang first
NODE_FACTS: list[tuple[str, Status, str, Callable[[Snapshot], str | None]]] = [
    ("NCCL", Status.FAIL, "ranks with different NCCL versions can disagree on protocols and hang in the first "
     "collective", _torch_value("nccl")),
    ("torch", Status.FAIL, "different torch versions pickle and reduce differently", _torch_value("version")),
    ("torch CUDA build", Status.FAIL, "a CPU or other-CUDA build of torch on one node", _torch_value("cuda")),
    ("torch git commit", Status.WARN, "same version string, different build", _torch_value("git_version")),
    ("NVIDIA driver", Status.WARN, "the driver decides which CUDA runtime and NCCL features work",
     _driver_value("version")),
    ("driver CUDA", Status.WARN, "the driver's maximum CUDA version", _driver_value("cuda_version")),
    ("cuDNN", Status.WARN, "kernels and numerics differ by cuDNN version", _torch_value("cudnn")),
]


def _package_getter(name: str) -> Callable[[Snapshot], str | None]:
    def get(s: Snapshot) -> str | None:
        if s.packages is None:
            return None
        return s.packages.version(name) or "not installed"
    return get


def _package_facts(nodes: Sequence[NodeSnapshot]) -> list[tuple[str, Status, str, Callable[[Snapshot], str | None]]]:
    from ..diff import KEY_PACKAGES

    present = {d.name.lower() for n in nodes if n.snapshot and n.snapshot.packages
               for d in n.snapshot.packages.distributions}
    status = {"nvidia-nccl-cu12": Status.FAIL, "nvidia-nccl-cu13": Status.FAIL}
    return [(name, status.get(name, Status.WARN), f"{name} differs", _package_getter(name))
            for name in sorted(set(KEY_PACKAGES) & present)]


def _values(nodes: Sequence[NodeSnapshot], get: Callable[[Snapshot], str | None]) -> dict[str, str | None]:
    return {n.name: (get(n.snapshot) if n.snapshot is not None else None) for n in nodes}


def _difference(label: str, status: Status, why: str, s: Split, unit: str = "node") -> Finding:
    message = f"{label} differs: {describe(label, s, unit)}; {why}."
    evidence = {"fact": label, "majority": s.majority, "majority_count": len(s.majority_members),
                "outliers": dict(s.outliers)}
    remedy = (f"Make {label} the same on every node (decide which one is right), or drain the odd ones."
              if s.tied else f"Install the same {label} on every node (the majority has {s.majority}), or drain the "
                             "outliers.")
    subject = names(list(s.outliers)) if not s.tied else names([*s.majority_members, *s.outliers])
    if status is Status.FAIL:
        return fail(message, {**evidence, **_drain(s.blamed)}, remedy=remedy, subject=subject,
                    links=[HANG_CASE] if label.startswith(("NCCL", "nvidia-nccl")) else [])
    return warn(message, evidence, remedy=remedy, subject=subject)


@cluster_check("cluster.versions", "same driver, CUDA, torch, NCCL, cuDNN and key packages on every node")
def check_versions(cluster: Cluster, ctx: Context) -> list[Finding]:
    """Every node runs the same driver, CUDA, torch (and its build), NCCL, cuDNN and key packages.

    The classic multi-node hang: one node has a different NCCL (a different torch wheel, or an
    nvidia-nccl-cu12 pinned differently) and the ranks never agree on the first collective.  Differences
    are named per node, as the majority and the outliers; NCCL and torch differences fail, the others warn.
    Each rank's own view of torch and NCCL (from its process) is compared too.
    Fix: rebuild the outlier nodes from the same image or lock file, or drain them.
    Source: NVIDIA/nccl#354 (a 16-GPU hang; the NCCL developers' first question: different NCCL versions on
    different nodes?).
    """
    nodes = [n for n in cluster.nodes]
    findings: list[Finding] = []
    compared: list[str] = []
    for label, status, why, get in [*NODE_FACTS, *_package_facts(nodes)]:
        s = split(_values(nodes, get))
        if s.differs:
            findings.append(_difference(label, status, why, s))
        elif s.majority is not None:
            compared.append(f"{label} {s.majority}")
        if s.unknown:
            findings.append(unknown(f"{label} unknown on {names(s.unknown)} (not in its snapshot)",
                                    {"fact": label, "nodes": list(s.unknown)}))
    named = {node for f in findings if f.evidence.get("fact") in ("NCCL", "torch") for node in f.evidence["outliers"]}
    findings += _rank_versions(cluster.ranks, named)
    if any(f.status is not Status.UNKNOWN for f in findings) or not compared:
        return sorted(findings, key=lambda f: -f.status.severity) or [unknown("no node snapshot has version facts")]
    where = f"all {len(nodes)} nodes" if len(nodes) != 1 else f"the one node and its {len(cluster.ranks)} ranks"
    return findings + [passed(f"Identical on {where}: "
                              + ", ".join(compared[:8]) + (f" and {len(compared) - 8} more" if len(compared) > 8 else ""),
                              {"compared": compared})]


def _rank_label(r: RankFacts) -> str:
    return f"rank {r.rank} ({r.host or '?'})"


def _rank_versions(ranks: Sequence[RankFacts], named_nodes: set[str]) -> list[Finding]:
    """Ranks whose own torch/NCCL differs from the others', beyond the nodes already named for it."""
    out = []
    for label, attr in (("NCCL (rank's torch)", "nccl"), ("torch (rank's process)", "torch_version")):
        s = split({_rank_label(r): getattr(r, attr) for r in ranks if r.torch_version is not None})
        hosts = {_rank_label(r): r.host for r in ranks}
        if not s.differs or all(hosts.get(m) in named_nodes for m in s.outliers):
            continue  # the node-level finding already names these ranks' nodes
        f = _difference(label, Status.FAIL, "ranks of one job must load the same library", s, unit="rank")
        blamed = [h for m in s.blamed if (h := hosts.get(m))]
        out.append(Finding(f.status, f.message, {**f.evidence, **_drain(blamed)}, f.remedy, f.subject))
    return out


# --------------------------------------------------------------------------- cluster.env


def _compared_env(name: str) -> bool:
    if name in PER_RANK_ENV:
        return False
    return name.startswith(("NCCL_", "TORCH_NCCL_", "CUDA_")) or name in ("PYTORCH_CUDA_ALLOC_CONF",
                                                                         "PYTORCH_ALLOC_CONF")


def _rank_envs(cluster: Cluster) -> dict[str, Mapping[str, str] | None]:
    envs: dict[str, Mapping[str, str] | None] = {}
    for node in cluster.nodes:
        if not node.ranks:  # snapshots collected outside the runner: the node's own environment
            envs[node.name] = node.snapshot.env if node.snapshot is not None else None
        for r in node.ranks:
            envs[_rank_label(r)] = r.env
    return envs


def _member_hosts(cluster: Cluster) -> dict[str, str]:
    hosts = {n.name: n.name for n in cluster.nodes}
    hosts.update({_rank_label(r): n.name for n in cluster.nodes for r in n.ranks})
    return hosts


@cluster_check("cluster.env", "same NCCL_*, CUDA_* and allocator variables on every rank")
def check_env(cluster: Cluster, ctx: Context) -> list[Finding]:
    """Every rank sees the same NCCL_*, TORCH_NCCL_*, CUDA_* and allocator (PYTORCH_CUDA_ALLOC_CONF) variables.

    A variable exported in one node's profile but not another's is a frequent cause of hangs: NCCL_PROTO,
    NCCL_ALGO, NCCL_P2P_DISABLE, NCCL_IB_DISABLE and the like change the protocol or transport, and ranks
    that disagree build incompatible communicators (those fail; other differences warn).  Variables that
    differ per rank or node by design (CUDA_VISIBLE_DEVICES, NCCL_SOCKET_IFNAME, NCCL_IB_HCA) are not compared.
    Fix: set them once, in the job script (sbatch, torchrun command, PyTorchJob spec), not per node.
    Sources: https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html; NVIDIA/nccl#354 (a multi-node
    hang that NCCL_PROTO changes).
    """
    envs = _rank_envs(cluster)
    unknown_members = [m for m, e in envs.items() if e is None]
    known = {m: e for m, e in envs.items() if e is not None}
    hosts = _member_hosts(cluster)
    findings: list[Finding] = []
    for name in sorted({k for e in known.values() for k in e if _compared_env(k)},
                       key=lambda k: (k not in HANG_CLASS_ENV, k)):
        s = split({m: e.get(name, "(unset)") for m, e in known.items()})
        if s.differs:
            findings.append(_env_difference(name, s, hosts))
    if unknown_members:
        findings.append(unknown(f"environment unknown for {names(unknown_members)}", {"members": unknown_members}))
    if findings or not known:
        return findings or [unknown("no rank reported its environment")]
    compared = sorted({k for e in known.values() for k in e if _compared_env(k)})
    return [passed(f"The {len(compared)} NCCL/CUDA/allocator variables set are identical on all {len(known)} "
                   f"ranks" + (f": {', '.join(compared[:6])}" if compared else " (none set anywhere)"),
                   {"compared": compared})]


def _whole_nodes(members: Sequence[str], hosts: Mapping[str, str]) -> list[str]:
    """Rank labels with the nodes all of whose ranks are among them folded: ['b (all 8 ranks)', 'rank 3 (c)']."""
    per_node: dict[str, int] = {}
    for host in hosts.values():
        per_node[host] = per_node.get(host, 0) + 1
    chosen: dict[str, list[str]] = {}
    for m in members:
        chosen.setdefault(hosts.get(m, m), []).append(m)
    out: list[str] = []
    for host, ranks in chosen.items():
        whole = len(ranks) == per_node.get(host, 0) - 1 and len(ranks) > 1  # hosts maps the node's own name too
        out.extend([f"{host} (all {len(ranks)} ranks)"] if whole else ranks)
    return out


def _env_difference(name: str, s: Split, hosts: Mapping[str, str]) -> Finding:
    parts = [f"{names(_whole_nodes(members, hosts))}: {name}={value}" for value, members in by_value(s.outliers).items()]
    n = len(s.majority_members)
    rest = (f"{names(list(s.majority_members))}: {name}={s.majority}" if s.tied
            else f"the other {n} {'have' if n != 1 else 'has'} {name}={s.majority}")
    message = f"{name} differs between ranks: {'; '.join(parts)}; {rest}"
    evidence = {"variable": name, "majority": s.majority, "outliers": dict(s.outliers)}
    remedy = f"Set {name} the same way for every rank, once, in the job script (or unset it everywhere)."
    subject = names(sorted({hosts.get(m, m) for m in s.outliers}))
    if name in HANG_CLASS_ENV:
        return fail(message + "; ranks that disagree on it can hang in the first collective.",
                    evidence, remedy=remedy, subject=subject,
                    links=[NCCL_ENV_DOCS, HANG_CASE])
    return warn(message + ".", evidence, remedy=remedy, subject=subject, links=[NCCL_ENV_DOCS])


# --------------------------------------------------------------------------- cluster.gpus


def _gpu_facts(s: Snapshot) -> dict[str, str | None]:
    gpus = s.gpus
    if gpus is None:
        return {"GPU count": None, "GPU model": None, "GPU memory": None, "MIG mode": None}
    mem = sorted({format_bytes(g.memory_total, unit="GiB", decimals=0) if g.memory_total else "?" for g in gpus})
    mig = sorted({"on" if g.mig_mode else ("off" if g.mig_mode is not None else "?") for g in gpus})
    return {"GPU count": str(len(gpus)), "GPU model": " + ".join(sorted({g.name or "?" for g in gpus})) or "none",
            "GPU memory": " + ".join(mem) or "none", "MIG mode": " + ".join(mig) or "none"}


@cluster_check("cluster.gpus", "same GPU model, count, memory and MIG mode on every node")
def check_gpus(cluster: Cluster, ctx: Context) -> list[Finding]:
    """Every node has the same GPU model, number of GPUs, memory per GPU and MIG mode.

    A node with a GPU missing (fallen off the bus, an Xid), a different SKU, or MIG enabled gives the job
    fewer or smaller ranks than planned: the launcher waits for ranks that never come, or one rank runs out
    of memory.  Count, model and MIG differences fail; memory differences warn.
    Fix: reset or repair the node (nvidia-smi -q, dmesg for Xid errors), or drain it.
    """
    facts = {n.name: _gpu_facts(n.snapshot) if n.snapshot else dict.fromkeys(("GPU count", "GPU model", "GPU memory",
                                                                               "MIG mode")) for n in cluster.nodes}
    if facts and all(f["GPU count"] == "0" for f in facts.values()):
        return [not_applicable(f"No NVIDIA GPU on any of the {len(facts)} nodes" if len(facts) != 1
                               else "No NVIDIA GPU on the node")]
    findings, same = [], []
    for label in ("GPU count", "GPU model", "MIG mode", "GPU memory"):
        s = split({node: f[label] for node, f in facts.items()})
        if s.differs:
            status = Status.WARN if label == "GPU memory" else Status.FAIL
            findings.append(_difference(label, status, "ranks are planned per node from the majority", s))
        elif s.majority is not None:
            same.append(f"{label} {s.majority}")
        if s.unknown:
            findings.append(unknown(f"{label} unknown on {names(s.unknown)} (NVML was not read there)",
                                    {"nodes": list(s.unknown)}))
    if findings:
        return sorted(findings, key=lambda f: -f.status.severity)
    return [passed(f"All {len(facts)} nodes have the same GPUs: " + ", ".join(same), {"same": same})]


# --------------------------------------------------------------------------- cluster.node-failures


@cluster_check("cluster.node-failures", "per-node check failures, and the nodes to drain")
def check_node_failures(cluster: Cluster, ctx: Context) -> list[Finding]:
    """The per-node checks (the ones `llmdoctor check` runs) aggregated: which node fails which check.

    Each node's snapshot goes through every check; this table lists, per node, the checks that fail or
    warn, and the nodes with a failure are the ones to drain (`--drain-script slurm|k8s` prints the
    scheduler commands, as a dry run).
    """
    table: list[dict[str, Any]] = []
    for node in cluster.nodes:
        results = cluster.node_results.get(node.name, ())
        failed = [r.id for r in results if r.status in (Status.FAIL, Status.ERROR)]
        warned = [r.id for r in results if r.status is Status.WARN]
        if failed or warned:
            table.append({"node": node.name, "fail": failed, "warn": warned})
    unprobed = [n.name for n in cluster.nodes if n.name not in cluster.node_results]
    bad = [row for row in table if row["fail"]]
    findings: list[Finding] = []
    if bad:
        listed = "; ".join(f"{row['node']} ({', '.join(row['fail'][:4])})" for row in bad[:8])
        more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
        findings.append(fail(f"{len(bad)} of {len(cluster.nodes)} nodes fail per-node checks: {listed}{more}",
                             {"table": table, **_drain(row["node"] for row in bad)},
                             remedy="Fix or drain these nodes; add --drain-script slurm (or k8s) to print the "
                                    "commands.", subject=names([row["node"] for row in bad])))
    elif table:
        findings.append(warn(f"{len(table)} of {len(cluster.nodes)} nodes have per-node warnings (none fails): "
                             + names([row["node"] for row in table]), {"table": table}))
    if unprobed:
        findings.append(unknown(f"No snapshot from {names(unprobed)}: its per-node checks did not run",
                                {"nodes": unprobed}))
    return findings or [passed(f"No per-node check fails or warns on any of the {len(cluster.nodes)} nodes")]


# --------------------------------------------------------------------------- cluster.busy-gpus


def _busy_on(node: NodeSnapshot, fraction: float) -> tuple[list[str], bool]:
    """(descriptions of busy GPUs on the node, whether anything was unknown)."""
    own = {r.pid for r in node.ranks if r.pid is not None}
    busy, missing = [], False
    for g in (node.snapshot.gpus if node.snapshot else None) or ():
        if g.processes is not None:
            foreign = [p for p in g.processes if p.pid not in own]
            if foreign:
                busy.append(f"GPU {g.index}: " + ", ".join(f"pid {p.pid} {p.name or ''}".strip() for p in foreign[:3]))
            continue
        if g.memory_used is None or not g.memory_total:
            missing = True
        elif g.memory_used / g.memory_total > fraction:
            busy.append(f"GPU {g.index}: {format_bytes(g.memory_used, unit='GiB')} in use")
    return busy, missing


@cluster_check("cluster.busy-gpus", "no node's GPUs are in use by other processes",
               settings={"fraction": Setting(float, 0.05, "memory in use (fraction) above which a GPU without a "
                                                          "process list counts as busy")})
def check_busy_gpus(cluster: Cluster, ctx: Context) -> list[Finding]:
    """No GPU of the job's nodes is used by a process outside the job.

    A leftover process from a previous job (a zombie rank, a notebook) holds memory and SMs: the new job
    runs out of memory on that node only, or straggles.  Processes of this job's own ranks are ignored.
    Fix: kill the leftover processes (nvidia-smi lists them) or drain the node until they are gone.
    """
    findings: list[Finding] = []
    unknown_nodes = []
    with_gpus = [n for n in cluster.nodes if n.snapshot is not None and n.snapshot.gpus]
    for node in with_gpus:
        busy, missing = _busy_on(node, float(ctx.setting("fraction")))
        if busy:
            findings.append(warn(f"{node.name} has GPUs in use by other processes: {'; '.join(busy[:4])}",
                                 {"node": node.name, "busy": busy, **_drain([node.name])},
                                 remedy="Stop the leftover processes (nvidia-smi shows them), or drain the node.",
                                 subject=node.name))
        elif missing:
            unknown_nodes.append(node.name)
    if unknown_nodes:
        findings.append(unknown(f"GPU processes and memory use unknown on {names(unknown_nodes)}"))
    if not with_gpus:
        if any(n.snapshot is None or n.snapshot.gpus is None for n in cluster.nodes):
            return [unknown("GPUs unknown on " + names([n.name for n in cluster.nodes
                                                       if n.snapshot is None or n.snapshot.gpus is None]))]
        return [not_applicable("No NVIDIA GPU on any node")]
    return findings or [passed(f"No foreign process on the GPUs of the {len(with_gpus)} nodes with GPUs")]


# --------------------------------------------------------------------------- cluster.reachability

LIVE_ONLY = "measured by the live runner only (torchrun/srun/mpirun ... -m llmdoctor.cluster), not from files"


@cluster_check("cluster.reachability", "every host name and MASTER_ADDR resolves and is reachable")
def check_reachability(cluster: Cluster, ctx: Context) -> list[Finding]:
    """Every rank resolves its own host name and MASTER_ADDR, and reaches MASTER_ADDR:MASTER_PORT over TCP.

    A node whose host name does not resolve (a stale /etc/hosts, a pod without a headless service)
    makes NCCL's bootstrap and the rendezvous fail or stall.  Each rank tries, time-boxed; the gloo group
    the report travelled over proves that every pair of ranks could connect.
    Fix: DNS or /etc/hosts for the named hosts; in Kubernetes, a headless Service for the job's pods.
    """
    if not cluster.live:
        return [not_applicable(f"Name resolution and reachability are {LIVE_ONLY}")]
    findings: list[Finding] = []
    for r in cluster.ranks:
        bad = sorted(name for name, addr in (r.resolves or {}).items() if addr is None)
        if bad:
            findings.append(fail(f"Rank {r.rank} on {r.host or '?'} cannot resolve {', '.join(bad)}",
                                 {"rank": r.rank, "host": r.host, "unresolved": bad},
                                 remedy="Make these names resolvable on every node (DNS, /etc/hosts, a headless "
                                        "Service in Kubernetes).", subject=r.host))
        if r.master_reachable is False:
            findings.append(fail(f"Rank {r.rank} on {r.host or '?'} cannot connect to {cluster.master}: "
                                 f"{r.master_error or 'refused'}",
                                 {"rank": r.rank, "host": r.host, "master": cluster.master, "error": r.master_error},
                                 remedy="Open the port between the nodes (firewall, security group, NetworkPolicy).",
                                 subject=r.host))
    not_tried = [r.rank for r in cluster.ranks if r.resolves is None or r.master_reachable is None]
    if not_tried:
        findings.append(unknown(f"Ranks {', '.join(map(str, not_tried[:10]))} did not test name resolution",
                                {"ranks": not_tried}))
    return findings or [passed(f"All {len(cluster.ranks)} ranks resolved their host names and MASTER_ADDR and "
                               f"connected to {cluster.master}; the gloo group connected every pair of ranks")]


# --------------------------------------------------------------------------- cluster.clock-skew


@cluster_check("cluster.clock-skew", "node clocks agree",
               settings={"max_seconds": Setting(float, 2.0, "clock difference between ranks above which it warns",
                                                flag="--max-clock-skew")})
def check_clock_skew(cluster: Cluster, ctx: Context) -> list[Finding]:
    """The nodes' wall clocks agree (within ``--max-clock-skew`` seconds, default 2).

    Every rank reads its clock right after the same barrier, so the spread is the skew plus a few
    milliseconds.  Skewed clocks make logs and traces impossible to line up across nodes, break
    certificate and token checks, and confuse timeout-based watchdogs.
    Fix: run chrony/ntpd on every node.
    """
    if not cluster.live:
        return [not_applicable(f"Clock skew is {LIVE_ONLY}")]
    clocks = {r.rank: r.clock for r in cluster.ranks if r.clock is not None}
    if len(clocks) < len(cluster.ranks) or not clocks:
        return [unknown("Some ranks did not report their clock (the barrier was not reached)")]
    ref = sorted(clocks.values())[len(clocks) // 2]
    worst = max(clocks, key=lambda k: abs(clocks[k] - ref))
    skew = max(clocks.values()) - min(clocks.values())
    host = next((r.host for r in cluster.ranks if r.rank == worst), None)
    evidence = {"skew_seconds": round(skew, 6), "furthest_rank": worst, "furthest_host": host}
    if skew > float(ctx.setting("max_seconds")):
        return [warn(f"Clocks differ by {skew:.3f} s between ranks; rank {worst} on {host} is furthest from the "
                     "median", evidence, remedy="Synchronise the clocks (chrony or ntpd) on every node.",
                     subject=host)]
    return [passed(f"Clocks of the {len(clocks)} ranks agree within {skew * 1000:.1f} ms", evidence)]


# --------------------------------------------------------------------------- cluster.bandwidth


def _node(cluster: Cluster, name: str) -> NodeSnapshot | None:
    return next((n for n in cluster.nodes if n.name == name), None)


def _expected(cluster: Cluster, fig: Any, ctx: Context) -> tuple[float | None, str]:
    """(expected busbw GB/s, where the figure comes from) for one measured group."""
    from .bandwidth import expected_intra, expected_per_nic

    override = float(ctx.setting("expected_busbw") or 0)
    if fig.kind == "intra" and override:
        return override, "--expected-busbw"
    if fig.kind == "intra":
        node = _node(cluster, fig.nodes[0]) if fig.nodes else None
        gpus = node.snapshot.gpus if node and node.snapshot else None
        row = expected_intra(gpus[0].name if gpus else None, len(gpus) if gpus else None)
        return (float(row["busbw_gbps"]), f"{row['id']}, {row['source']}") if row else (None, "")
    gbit = int(ctx.setting("nic_gbit") or 0)
    row = expected_per_nic(gbit) if gbit else None
    if row is None:
        return None, ""
    nics = [len(n.snapshot.host.ib_devices) for name in fig.nodes if (n := _node(cluster, name)) is not None
            and n.snapshot is not None and n.snapshot.host is not None and n.snapshot.host.ib_devices]
    count = 1 if fig.kind == "pair" else (min(nics) if len(nics) == len(fig.nodes) and nics else 0)
    if not count:
        return None, ""
    return float(row["busbw_gbps"]) * count, f"{count} x {gbit} Gb/s NIC, {row['source']}"


def _figure_finding(cluster: Cluster, fig: Any, ctx: Context, fraction: float) -> Finding:
    what = (f"{fig.group} ({fig.ranks} ranks, {fig.backend}): peak busbw {fig.busbw:.2f} GB/s "
            f"(algbw {fig.algbw:.2f} GB/s at {fig.size / 2**20:.0f} MiB)")
    evidence = {"group": fig.group, "kind": fig.kind, "nodes": list(fig.nodes), "busbw_gbps": round(fig.busbw, 3),
                "algbw_gbps": round(fig.algbw, 3), "size": fig.size, "backend": fig.backend}
    if fig.backend == "gloo":
        return not_applicable(f"{what}; gloo over TCP on CPU has no expected figure", evidence, subject=fig.group)
    expected, source = _expected(cluster, fig, ctx)
    if expected is None:
        return unknown(f"{what}; no expected figure for this topology (give --expected-busbw, or --nic-gbit for "
                       "inter-node links)", evidence, subject=fig.group)
    evidence.update(expected_gbps=expected, expected_source=source)
    if fig.kind == "intra":
        from .bandwidth import cloud_thresholds

        node = _node(cluster, fig.nodes[0]) if fig.nodes else None
        gpus = node.snapshot.gpus if node and node.snapshot else None
        rows = cloud_thresholds(gpus[0].name if gpus else None, len(gpus) if gpus else None)
        if rows:
            evidence["cloud_health_thresholds"] = [f"{r['sku']}: {r['min_busbw_gbps']} GB/s ({r['source']})" for r in rows]
    if fig.busbw < fraction * expected:
        return fail(f"{what} is {fig.busbw / expected:.0%} of the expected {expected:.0f} GB/s ({source})",
                    {**evidence, **_drain(fig.nodes if fig.kind == "intra" else [])},
                    remedy="Look at the named nodes' links (nvidia-smi topo -m, nvidia-smi nvlink -s, ibstat); run "
                           "nccl-tests all_reduce_perf there with NCCL_DEBUG=INFO.", subject=names(list(fig.nodes)))
    return passed(f"{what}, {fig.busbw / expected:.0%} of the expected {expected:.0f} GB/s ({source})", evidence,
                  subject=fig.group)


def _relative_outliers(figs: Sequence[Any], fraction: float) -> list[Finding]:
    """Groups of one kind (each node's intra-node group, each node pair) far below their median."""
    from .stragglers import median_of

    out = []
    for kind in ("intra", "pair"):
        same = [f for f in figs if f.kind == kind]
        median = median_of(f.busbw for f in same)
        if len(same) < 3 or not median:
            continue
        for f in same:
            if f.busbw < fraction * median:
                out.append(fail(f"{f.group}: busbw {f.busbw:.2f} GB/s is {f.busbw / median:.0%} of the median "
                                f"{median:.2f} GB/s of the {len(same)} {kind} groups: the slowest link",
                                {"group": f.group, "busbw_gbps": round(f.busbw, 3), "median_gbps": round(median, 3),
                                 **_drain(f.nodes if kind == "intra" else [])},
                                remedy="Check the named nodes' links (NVLink, NIC, cabling, switch port).",
                                subject=names(list(f.nodes))))
    return out


@cluster_check("cluster.bandwidth", "all-reduce bus bandwidth meets the expected figure",
               settings={"fraction": Setting(float, 0.8, "fail below this fraction of the expected busbw",
                                             flag="--min-bandwidth-fraction"),
                         "nic_gbit": Setting(int, 0, "line rate of each inter-node NIC in Gb/s (100, 200, 400)",
                                             flag="--nic-gbit"),
                         "expected_busbw": Setting(float, 0.0, "expected intra-node busbw in GB/s (overrides the "
                                                               "table)", flag="--expected-busbw")})
def check_bandwidth(cluster: Cluster, ctx: Context) -> list[Finding]:
    """With ``--bandwidth``: an all-reduce sweep (1 MiB to 1 GiB) over the world, each node, and between nodes.

    busbw = algbw x 2(n-1)/n, the nccl-tests definition
    (https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md), compared with the expected
    figure of the topology: ~370 GB/s ring busbw for 8xH100 NVSwitch (~480 GB/s with NVLink SHARP) per
    NVIDIA/nccl-tests#212, ~232 GB/s for 8xA100 per NVIDIA/nccl-tests#175, ~24 GB/s per 200 Gb/s IB NIC per
    NVIDIA/nccl#412 (48 per 400 Gb/s NIC, NVIDIA/nccl-tests#267); cloud providers' per-SKU health thresholds
    (Azure: 460 GB/s for ND96isr H100 v5, https://github.com/Azure/azurehpc-health-checks) are shown beside.  A group below ``--min-bandwidth-fraction``
    (default 0.8) of its figure fails; a node or node pair far below the others is named as the slowest link.
    On CPU the sweep runs over gloo and is reported without a verdict.
    """
    from .bandwidth import peak_by_group

    if cluster.bandwidth_error:
        return [fail(f"The all-reduce sweep failed: {cluster.bandwidth_error}", {"error": cluster.bandwidth_error},
                     remedy="Rerun with NCCL_DEBUG=INFO to see which transport fails; the other checks ran over gloo.")]
    if cluster.bandwidth is None:
        return [not_applicable("Bandwidth not measured (add --bandwidth)")]
    figs = peak_by_group(cluster.bandwidth)
    fraction = float(ctx.setting("fraction"))
    findings = _relative_outliers(figs, fraction)
    findings += [_figure_finding(cluster, f, ctx, fraction) for f in figs]
    return sorted(findings, key=lambda f: -f.status.severity)


# --------------------------------------------------------------------------- cluster.stragglers


def _health_text(r: RankFacts | None) -> str:
    if r is None:
        return ""
    facts = dict(r.health or {})
    device = (r.device or {}).get("name")
    shown = ", ".join(f"{k} {v}" for k, v in facts.items() if v is not None)
    return "; ".join(x for x in (f"GPU {device}" if device else "", shown) if x)


@cluster_check("cluster.stragglers", "no rank is much slower than the others",
               settings={"multiple": Setting(float, 1.5, "a rank slower than this multiple of the median is a "
                                                          "straggler", flag="--straggler-multiple")})
def check_stragglers(cluster: Cluster, ctx: Context) -> list[Finding]:
    """With ``--stragglers``: every rank times the same matmul and the same all-reduce.

    A rank slower than ``--straggler-multiple`` (default 1.5) times the median is named with its node, its
    GPU and the health facts read there (temperature, clocks, PCIe link): one slow GPU (thermal or power
    throttling, a PCIe link trained at a lower width) slows every step of a synchronous job.
    Fix: look at that GPU (nvidia-smi -q -d PERFORMANCE,CLOCK,TEMPERATURE), reseat or replace it, or drain
    the node.
    """
    from .stragglers import find_stragglers, median_of

    if cluster.stragglers is None:
        return [not_applicable("Stragglers not measured (add --stragglers)")]
    multiple = float(ctx.setting("multiple"))
    facts = {r.rank: r for r in cluster.ranks}
    findings = []
    for s in find_stragglers(cluster.stragglers, multiple):
        health = _health_text(facts.get(s.rank))
        findings.append(fail(f"Rank {s.rank} on {s.host or '?'} takes {s.seconds * 1000:.1f} ms per {s.metric}, "
                             f"{s.ratio:.1f}x the median {s.median * 1000:.1f} ms" + (f" ({health})" if health else ""),
                             {"rank": s.rank, "host": s.host, "metric": s.metric, "seconds": s.seconds,
                              "median": s.median, "health": dict(facts[s.rank].health or {}) if s.rank in facts else {},
                              **_drain([s.host] if s.host else [])},
                             remedy="Check that GPU's clocks, temperature and PCIe link (nvidia-smi -q -d "
                                    "PERFORMANCE,CLOCK,TEMPERATURE), or drain the node.", subject=s.host))
    if findings:
        return findings
    mm = median_of(s.matmul_seconds for s in cluster.stragglers)
    ar = median_of(s.allreduce_seconds for s in cluster.stragglers)
    if mm is None or ar is None:
        return [unknown("No rank reported its timings")]
    return [passed(f"No rank is slower than {multiple}x the median over {len(cluster.stragglers)} ranks "
                   f"(matmul {mm * 1000:.1f} ms, all-reduce {ar * 1000:.2f} ms)",
                   {"matmul_median": mm, "allreduce_median": ar})]


# --------------------------------------------------------------------------- cluster.expect


@cluster_check("cluster.expect", "every node matches the golden snapshot")
def check_expect(cluster: Cluster, ctx: Context) -> list[Finding]:
    """With ``--expect golden.json``: every node is compared with a golden snapshot (a known-good node).

    The differences that matter (driver, CUDA, torch and its build, NCCL, cuDNN, GPUs, key packages,
    NCCL_*/CUDA_* variables) are listed per group of nodes that differ the same way.
    Fix: rebuild the nodes that differ from the golden node's image, or drain them.
    """
    from ..diff import diff_snapshots

    golden = cluster.golden
    if golden is None:
        return [not_applicable("No golden snapshot given (add --expect golden.json)")]
    groups: dict[tuple[str, ...], list[str]] = {}
    missing = []
    for node in cluster.nodes:
        if node.snapshot is None:
            missing.append(node.name)
            continue
        diffs = [d for d in diff_snapshots([golden, node.snapshot]) if not d.key.startswith("env.LLMDOCTOR")]
        key = tuple(f"{d.label} {d.values[1]} (golden {d.values[0]})" for d in diffs)
        groups.setdefault(key, []).append(node.name)
    findings = [fail(f"{names(members)} differ{'s' if len(members) == 1 else ''} from the golden snapshot: "
                     + "; ".join(key[:6]) + (f" and {len(key) - 6} more" if len(key) > 6 else ""),
                     {"differences": list(key), "nodes": members, **_drain(members)},
                     remedy="Rebuild these nodes from the golden node's image, or drain them.", subject=names(members))
                for key, members in groups.items() if key]
    if missing:
        findings.append(unknown(f"No snapshot from {names(missing)} to compare", {"nodes": missing}))
    matching = groups.get((), [])
    if matching and not findings:
        return [passed(f"All {len(matching)} nodes match the golden snapshot", {"nodes": len(matching)})]
    return findings + ([passed(f"{len(matching)} nodes match the golden snapshot")] if matching else [])
