"""How cluster aggregation grows with the number of nodes: time and peak memory, side by side.

Synthetic nodes: the healthy 8xH100 scenario (tests/data/scenarios/h100x8_healthy.json) per node with its
own host name and GPU UUIDs and 8 ranks each; about 1% of the nodes are outliers (another NCCL, a GPU
missing, NCCL_PROTO on one rank).  For each size: the node JSON is parsed (what ``--from DIR`` does), every
per-node check and every cross-node check runs, and the report is rendered as plain text.  Time is wall
clock of one run; peak memory is tracemalloc's peak over a second run.  Printed per node and as ratios to
the smallest size: linear growth keeps both ratios near 1.

    python bench/cluster_scale.py            # 64, 256, 1024 nodes
    python bench/cluster_scale.py 64 128     # other sizes
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import tracemalloc
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llmdoctor.cluster.main import parse, report_for  # noqa: E402
from llmdoctor.cluster.model import Cluster, NodeSnapshot, RankFacts  # noqa: E402
from llmdoctor.engine import load_registry  # noqa: E402
from llmdoctor.report import RenderOptions, render  # noqa: E402
from llmdoctor.snapshot import Snapshot  # noqa: E402

BASE = Snapshot.from_json((ROOT / "tests/data/scenarios/h100x8_healthy.json").read_text())
RANKS_PER_NODE = 8
OPTIONS = parse([])  # the defaults of llmdoctor cluster (configuration searched from the current directory)


def synthetic_node(i: int) -> dict[str, Any]:
    """One node's JSON, as a node file holds it (every 97th node is an outlier of some kind)."""
    name = f"gpu-{i:04d}"
    snap = dataclasses.replace(BASE, host=dataclasses.replace(BASE.host, hostname=name),
                               gpus=tuple(dataclasses.replace(g, uuid=f"GPU-{i:04d}-{g.index}") for g in BASE.gpus))
    if i % 97 == 5:
        snap = dataclasses.replace(snap, torch=dataclasses.replace(snap.torch, nccl="2.18.1"))
    if i % 97 == 50:
        snap = dataclasses.replace(snap, gpus=snap.gpus[:7])
    env = dict(snap.env or {})
    ranks = []
    for k in range(RANKS_PER_NODE):
        rank = i * RANKS_PER_NODE + k
        rank_env = {**env, "NCCL_PROTO": "LL"} if (i % 97 == 70 and k == 3) else env
        ranks.append(RankFacts(rank=rank, host=name, local_rank=k, pid=10000 + k, torch_version=snap.torch.version,
                               nccl=snap.torch.nccl, env=types.MappingProxyType(rank_env), clock=1.0e9 + i * 1e-4,
                               resolves={name: "10.0.0.1"}, master_reachable=True))
    return NodeSnapshot(name, snap, tuple(ranks)).to_dict()


def aggregate(documents: list[str]) -> tuple[int, int]:
    """Parse, check, render: (report lines, findings)."""
    nodes = tuple(NodeSnapshot.from_dict(json.loads(d)) for d in documents)
    cluster = Cluster(nodes=nodes, world_size=len(nodes) * RANKS_PER_NODE, live=True, master="10.0.0.1:29500")
    report = report_for(cluster, OPTIONS)  # what llmdoctor cluster does with the nodes
    text = render(report, "plain", RenderOptions(width=120))
    return text.count("\n"), sum(len(c.findings) for c in report.checks)


def measure(n: int) -> dict[str, float]:
    documents = [json.dumps(synthetic_node(i)) for i in range(n)]
    start = time.perf_counter()
    lines, findings = aggregate(documents)
    seconds = time.perf_counter() - start
    tracemalloc.start()
    aggregate(documents)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"nodes": n, "seconds": seconds, "peak_mib": peak / 2**20, "lines": lines, "findings": findings}


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [64, 256, 1024]
    load_registry()
    aggregate([json.dumps(synthetic_node(0))])  # warm caches (data tables, registry) outside the figures
    rows = [measure(n) for n in sizes]
    base = rows[0]
    print(f"{'nodes':>6} {'ranks':>6} {'seconds':>8} {'ms/node':>8} {'time ratio/node':>15} {'peak MiB':>9} "
          f"{'KiB/node':>9} {'mem ratio/node':>14} {'report lines':>12} {'findings':>8}")
    for r in rows:
        t_ratio = (r["seconds"] / r["nodes"]) / (base["seconds"] / base["nodes"])
        m_ratio = (r["peak_mib"] / r["nodes"]) / (base["peak_mib"] / base["nodes"])
        print(f"{r['nodes']:>6} {r['nodes'] * RANKS_PER_NODE:>6} {r['seconds']:>8.2f} "
              f"{1000 * r['seconds'] / r['nodes']:>8.2f} {t_ratio:>15.2f} {r['peak_mib']:>9.1f} "
              f"{1024 * r['peak_mib'] / r['nodes']:>9.1f} {m_ratio:>14.2f} {r['lines']:>12} {r['findings']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
