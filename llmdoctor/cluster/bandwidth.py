"""All-reduce bandwidth: the nccl-tests arithmetic (pure), expected figures, and the sweep (in the runner).

algbw = bytes / seconds; busbw = algbw x 2(n-1)/n for all-reduce, so that busbw is comparable with the
hardware's link speed whatever the number of ranks
(https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md).  GB/s here are 10**9 bytes/s, as
nccl-tests prints them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .model import BusSample
from ..frozen import frozen

MIB = 2**20
GIB = 2**30


def algbw(size: int, seconds: float) -> float:
    """Algorithm bandwidth in GB/s (10**9 bytes per second)."""
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    return size / seconds / 1e9


def busbw_factor(ranks: int) -> float:
    """nccl-tests' all-reduce bus factor 2(n-1)/n (0 for a single rank: nothing crosses a bus)."""
    if ranks < 1:
        raise ValueError("ranks must be >= 1")
    return 2 * (ranks - 1) / ranks


def busbw(size: int, seconds: float, ranks: int) -> float:
    return algbw(size, seconds) * busbw_factor(ranks)


def sweep_sizes(min_size: int = MIB, max_size: int = GIB, factor: int = 2) -> tuple[int, ...]:
    """Sizes from min_size to max_size (inclusive), multiplying by factor: 1 MiB, 2 MiB, ... 1 GiB."""
    if min_size <= 0 or max_size < min_size or factor < 2:
        raise ValueError("need 0 < min_size <= max_size and factor >= 2")
    sizes, size = [], min_size
    while size <= max_size:
        sizes.append(size)
        size *= factor
    return tuple(sizes)


@frozen
class GroupFigure:
    """The best figure of one group over the sweep."""

    group: str
    kind: str
    ranks: int
    nodes: tuple[str, ...]
    backend: str
    size: int
    seconds: float
    algbw: float
    busbw: float


def peak_by_group(samples: Iterable[BusSample]) -> list[GroupFigure]:
    """Per group, the size with the highest busbw (what nccl-tests users compare), slowest group first."""
    best: dict[str, GroupFigure] = {}
    for s in samples:
        fig = GroupFigure(s.group, s.kind, s.ranks, s.nodes, s.backend, s.size, s.seconds,
                          algbw(s.size, s.seconds), busbw(s.size, s.seconds, s.ranks))
        if s.group not in best or fig.busbw > best[s.group].busbw:
            best[s.group] = fig
    return sorted(best.values(), key=lambda f: (f.busbw, f.group))


# --------------------------------------------------------------------------- expected figures


def expected_intra(gpu_name: str | None, gpus: int | None) -> dict[str, Any] | None:
    """The data row for a node of ``gpus`` GPUs named ``gpu_name`` (NVML name), or None."""
    from ..data import load

    if not gpu_name or not gpus:
        return None
    for row in load("cluster_bandwidth")["intra_node"]:
        if row["gpus"] == gpus and re.search(row["gpu_pattern"], gpu_name):
            return dict(row)
    return None


def cloud_thresholds(gpu_name: str | None, gpus: int | None) -> list[dict[str, Any]]:
    """Cloud providers' per-SKU health thresholds for a node like this one (for the evidence)."""
    from ..data import load

    if not gpu_name or not gpus:
        return []
    return [dict(r) for r in load("cluster_bandwidth")["cloud_health_thresholds"]
            if r["gpus"] == gpus and re.search(r["gpu_pattern"], gpu_name)]


def expected_per_nic(gbit: int) -> dict[str, Any] | None:
    from ..data import load

    return next((dict(r) for r in load("cluster_bandwidth")["nic"] if r["gbit"] == gbit), None)


# --------------------------------------------------------------------------- measurement (runner only)


def time_allreduce(dist: Any, torch: Any, group: Any, size: int, device: Any, warmup: int, iters: int) -> float:
    """Seconds per all-reduce of ``size`` bytes on ``group`` (CUDA events on GPU, perf_counter on CPU)."""
    import time

    tensor = torch.ones(max(size // 4, 1), dtype=torch.float32, device=device)
    for _ in range(warmup):
        dist.all_reduce(tensor, group=group)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            dist.all_reduce(tensor, group=group)
        end.record()
        torch.cuda.synchronize(device)
        return float(start.elapsed_time(end)) / 1000.0 / iters
    t0 = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(tensor, group=group)
    return (time.perf_counter() - t0) / iters


@frozen
class GroupPlan:
    name: str
    kind: str
    ranks: tuple[int, ...]
    nodes: tuple[str, ...]


def plan_groups(rank_nodes: Sequence[str]) -> list[GroupPlan]:
    """The groups to measure, from each rank's node name (index = rank): the world, each node with
    several ranks (intra-node), the first rank of every node (inter-node), and neighbouring node pairs."""
    nodes: dict[str, list[int]] = {}
    for rank, node in enumerate(rank_nodes):
        nodes.setdefault(node, []).append(rank)
    plans = [GroupPlan("world", "world", tuple(range(len(rank_nodes))), tuple(nodes))]
    for node, ranks in nodes.items():
        if len(ranks) > 1 and len(nodes) > 1:
            plans.append(GroupPlan(f"intra:{node}", "intra", tuple(ranks), (node,)))
    if len(nodes) > 1:
        leaders = tuple(r[0] for r in nodes.values())
        names = tuple(nodes)
        if any(len(r) > 1 for r in nodes.values()):
            plans.append(GroupPlan("inter", "inter", leaders, names))
        if len(nodes) > 2:
            for i, name in enumerate(names):
                other = names[(i + 1) % len(names)]
                plans.append(GroupPlan(f"pair:{name}|{other}", "pair", (leaders[i], leaders[(i + 1) % len(names)]),
                                       (name, other)))
    if len(nodes) == 1:
        plans[0] = GroupPlan("world", "intra", plans[0].ranks, plans[0].nodes)
    return plans
