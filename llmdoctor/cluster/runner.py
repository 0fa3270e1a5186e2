"""The live runner: one process per rank, under torchrun / srun / mpirun / a PyTorchJob.

Protocol (all of it time-boxed by ``--timeout``):
1. every rank connects to the job's TCPStore (torchrun's agent store, or one rank 0 hosts) and records
   its steps there (``step/<rank>``: host and what it is doing), so rank 0 can say who is missing and where
   it stopped;
2. local rank 0 of each node probes the node once (``llmdoctor.probes.collect``); every rank collects its
   own facts; each posts them to the store and counts itself ready;
3. rank 0 waits until every rank is ready or the timeout passes: then it reports the missing ranks and
   tells the others to stop (exit 1), or tells them to go on;
4. everyone joins a **gloo** group (so the report works when NCCL is what is broken), measures the clock
   after a barrier, optionally bandwidth and stragglers, and gathers its facts to rank 0, which prints the
   report.  A watchdog ends any rank that is still running long after its deadline: the job never hangs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from .launch import Launch, from_environ
from .model import (
    BusSample,
    Cluster,
    MissingRank,
    NodeSnapshot,
    RankFacts,
    StragglerSample,
)
from .rankfacts import apply_override, collect_rank_facts, test_override


class ClusterAbort(Exception):
    """This rank cannot take part (no store, no word from rank 0): one line on stderr, exit 1."""


class _Steps:
    """This rank's progress, mirrored in the store for rank 0 to read."""

    def __init__(self, store: Any, rank: int, host: str) -> None:
        self.store, self.rank, self.host, self.current = store, rank, host, "starting"

    def __call__(self, step: str) -> None:
        self.current = step
        try:
            self.store.set(f"step/{self.rank}", json.dumps({"host": self.host, "step": step}))
        except Exception:  # the store is gone: rank 0 has given up; the watchdog ends us
            pass


def _watchdog(seconds: float, steps: "_Steps | None", rank: int) -> None:
    def fire() -> None:
        where = steps.current if steps is not None else "starting"
        sys.stderr.write(f"llmdoctor cluster: rank {rank}: still running after {seconds:.0f}s (at '{where}'); "
                         "giving up\n")
        sys.stderr.flush()
        os._exit(1)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


def _connect(dist: Any, launch: Launch, timeout: float) -> Any:
    try:
        return _open_store(dist, launch, timeout)
    except Exception as exc:  # rank 0 never came up, or the address is wrong
        raise ClusterAbort(f"rank {launch.rank}: cannot reach the store at {launch.master_addr}:{launch.master_port} "
                           f"within {timeout:.0f}s ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None


def _open_store(dist: Any, launch: Launch, timeout: float) -> Any:
    if launch.world_size == 1:
        return dist.HashStore()
    td = datetime.timedelta(seconds=timeout)
    if launch.agent_store:  # torchrun's agent hosts the store on MASTER_PORT: every rank is a client
        return dist.TCPStore(launch.master_addr, launch.master_port, is_master=False, timeout=td)
    return dist.TCPStore(launch.master_addr, launch.master_port, is_master=launch.rank == 0, timeout=td,
                         wait_for_workers=False)


def _probe_node(opts: argparse.Namespace) -> tuple[Any, str | None]:
    from ..probes import collect

    try:
        return collect(timeout=opts.probe_timeout), None
    except Exception as exc:  # a crashed probe is data
        return None, f"{type(exc).__name__}: {exc}"


def _wait_key(store: Any, key: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if store.check([key]):
            return True
        time.sleep(0.1)
    return False


def _collect(opts: argparse.Namespace, launch: Launch, store: Any, steps: _Steps, host: str, leader: bool,
             override: dict[str, Any]) -> tuple[RankFacts, NodeSnapshot | None]:
    node, snap, node_error = None, None, None
    if leader:
        steps("probing the node")
        snap, node_error = _probe_node(opts)
        store.set(f"probed/{host}", "1")
    else:  # let the node's probe read the GPUs before this rank touches CUDA
        steps("waiting for the node probe")
        _wait_key(store, f"probed/{host}", time.monotonic() + opts.probe_timeout + 10)
    steps("collecting rank facts")
    try:
        if override.get("sleep"):
            time.sleep(float(override["sleep"]))
        if override.get("crash"):
            raise RuntimeError(str(override["crash"]))
        facts = collect_rank_facts(launch.rank, int(override.get("local_rank", launch.local_rank)), host,
                                   launch.master_addr, launch.master_port, steps.current)
    except Exception as exc:  # the rank still contributes: its error
        facts = RankFacts(rank=launch.rank, host=host, local_rank=launch.local_rank, pid=os.getpid(),
                          error=f"{type(exc).__name__}: {exc}", last_step=steps.current)
    if leader:
        node = NodeSnapshot(name=host, snapshot=snap, error=node_error)
    return facts, node


def _from_store(store: Any, world: int) -> tuple[list[dict[str, Any]], list[MissingRank]]:
    """(payloads posted by ready ranks, the ranks that are not ready) as rank 0 finds them."""
    payloads, missing = [], []
    for r in range(world):
        if store.check([f"ready/{r}"]):
            payloads.append(json.loads(store.get(f"facts/{r}")))
            continue
        info = json.loads(store.get(f"step/{r}")) if store.check([f"step/{r}"]) else {}
        missing.append(MissingRank(r, info.get("host"), info.get("step")))
    return payloads, missing


def _cluster(payloads: list[dict[str, Any]], launch: Launch, **kw: Any) -> Cluster:
    ranks: dict[str, list[RankFacts]] = {}
    nodes: dict[str, NodeSnapshot] = {}
    for p in payloads:
        facts = RankFacts.from_dict(p["rank"])
        ranks.setdefault(facts.host or "?", []).append(facts)
        if p.get("node"):
            node = NodeSnapshot.from_dict(p["node"])
            nodes[node.name] = node
    out = []
    for host, members in ranks.items():
        base = nodes.get(host, NodeSnapshot(name=host, error="no rank of this node probed it (no local rank 0)"))
        out.append(NodeSnapshot(base.name, base.snapshot, tuple(sorted(members, key=lambda r: r.rank)), base.error))
    return Cluster(nodes=tuple(out), world_size=launch.world_size, master=f"{launch.master_addr}:{launch.master_port}",
                   **kw)


def _report(cluster: Cluster, opts: argparse.Namespace, host: str) -> int:
    import dataclasses

    from .main import emit, load_golden, report_for, save_nodes

    cluster = dataclasses.replace(cluster, golden=load_golden(opts.expect))
    if opts.save:
        save_nodes(cluster, opts.save)
    return emit(report_for(cluster, opts, rank0_node=host), opts)


def _rendezvous(store: Any, launch: Launch, opts: argparse.Namespace, started: float) -> list[MissingRank] | None:
    """Rank 0: wait for every rank; the missing ones (None: all ready).  Others: wait for rank 0's word."""
    if launch.rank == 0:
        deadline = started + opts.timeout
        while time.monotonic() < deadline and int(store.add("ready", 0)) < launch.world_size:
            time.sleep(0.1)
        if int(store.add("ready", 0)) >= launch.world_size:
            store.set("verdict", "go")
            return None
        store.set("verdict", "abort")
        return _from_store(store, launch.world_size)[1]
    if not _wait_key(store, "verdict", started + opts.timeout + 30):
        raise ClusterAbort(f"rank {launch.rank}: no word from rank 0 within {opts.timeout + 30:.0f}s")
    return [] if store.get("verdict") != b"go" else None


def run_live(opts: argparse.Namespace) -> int:
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # torchrun's stop: unwind, end our children
    launch = from_environ(os.environ)
    override = test_override(launch.rank, os.environ)
    apply_override(override)
    budget = opts.timeout * 2 + opts.probe_timeout + 60 + (600 if opts.bandwidth else 0) + (120 if opts.stragglers else 0)
    _watchdog(budget, None, launch.rank)
    import torch.distributed as dist

    # the node as the scheduler names it: LLMDOCTOR_NODE_NAME (Kubernetes: spec.nodeName), else the host name
    host = str(override.get("host") or os.environ.get("LLMDOCTOR_NODE_NAME") or socket.gethostname())
    leader = int(override.get("local_rank", launch.local_rank)) == 0
    store = dist.PrefixStore(f"llmdoctor/{launch.run_id}/", _connect(dist, launch, opts.timeout))
    steps = _Steps(store, launch.rank, host)
    _watchdog(budget + 5, steps, launch.rank)
    steps("joined")
    facts, node = _collect(opts, launch, store, steps, host, leader, override)
    payload = {"rank": facts.to_dict(), "node": node.to_dict() if node else None}
    store.set(f"facts/{launch.rank}", json.dumps(payload))
    store.set(f"ready/{launch.rank}", "1")
    store.add("ready", 1)
    steps("ready, waiting for rank 0")
    missing = _rendezvous(store, launch, opts, started)
    if missing is not None:  # some rank did not make it: rank 0 reports from the store, nobody hangs
        if launch.rank == 0:
            payloads, _ = _from_store(store, launch.world_size)
            _report(_cluster(payloads, launch, missing=tuple(missing), live=True), opts, host)
        return 1
    return _gloo_phase(dist, store, launch, opts, payload, steps, host, override)


def _gloo_phase(dist: Any, store: Any, launch: Launch, opts: argparse.Namespace, payload: dict[str, Any],
                steps: _Steps, host: str, override: dict[str, Any]) -> int:
    steps("joining the gloo group")
    try:
        dist.init_process_group("gloo", store=dist.PrefixStore("pg/", store), rank=launch.rank,
                                world_size=launch.world_size, timeout=datetime.timedelta(seconds=opts.timeout))
        dist.barrier()
        payload["rank"]["clock"] = time.time()
        payload["measure"] = _measure(dist, launch, opts, host, override, steps)
        steps("sending facts to rank 0")
        gathered: list[Any] = [None] * launch.world_size if launch.rank == 0 else []
        dist.gather_object(payload, gathered if launch.rank == 0 else None, dst=0)
    except Exception as exc:  # a rank died or the network broke: report what reached rank 0
        if launch.rank != 0:
            return 1
        payloads, missing = _from_store(store, launch.world_size)
        return max(1, _report(_cluster(payloads, launch, missing=tuple(missing), live=True, error=str(exc)[:500]),
                              opts, host))
    finally:
        steps("done")
    code = 0
    if launch.rank == 0:
        code = _report(_cluster(gathered, launch, live=True, **_measurements(gathered, opts)), opts, host)
    dist.destroy_process_group()
    return code


# --------------------------------------------------------------------------- measurements


def _device(torch: Any, launch: Launch) -> Any:
    if torch.cuda.is_available():
        return torch.device("cuda", launch.local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def _measure(dist: Any, launch: Launch, opts: argparse.Namespace, host: str, override: dict[str, Any],
             steps: _Steps) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {}
    if not (opts.bandwidth or opts.stragglers):
        return out
    device = _device(torch, launch)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    hosts: list[Any] = [None] * launch.world_size
    dist.all_gather_object(hosts, host)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if opts.bandwidth:
        steps("measuring bandwidth")
        try:
            out["bandwidth"] = _sweep(dist, torch, launch, opts, device, backend, hosts)
        except Exception as exc:
            out["bandwidth_error"] = f"{type(exc).__name__}: {exc}"[:500]
    if opts.stragglers:
        steps("timing fixed work")
        from .stragglers import time_fixed_work

        group = dist.new_group(backend=backend) if backend == "nccl" else None
        mm, ar = time_fixed_work(dist, torch, device, slow=float(override.get("slow", 1.0)), group=group)
        out["straggler"] = {"rank": launch.rank, "host": host, "matmul_seconds": mm, "allreduce_seconds": ar}
    return out


def _sweep(dist: Any, torch: Any, launch: Launch, opts: argparse.Namespace, device: Any, backend: str,
           hosts: list[Any]) -> list[dict[str, Any]]:
    from .bandwidth import GIB, plan_groups, sweep_sizes, time_allreduce

    gpu = device.type == "cuda"
    sizes = sweep_sizes(opts.min_size, opts.max_size or (GIB if gpu else 16 * 2**20))
    iters = opts.iters or (20 if gpu else 3)
    warmup = opts.warmup if opts.warmup is not None else (5 if gpu else 1)
    rows = []
    for plan in plan_groups([str(h) for h in hosts]):
        group = dist.new_group(ranks=list(plan.ranks), backend=backend)  # every rank creates every group
        if launch.rank not in plan.ranks:
            continue
        for size in (sizes[-1:] if plan.kind == "pair" else sizes):
            seconds = time_allreduce(dist, torch, group, size, device, warmup, iters)
            rows.append({"group": plan.name, "kind": plan.kind, "ranks": len(plan.ranks), "size": size,
                         "seconds": seconds, "backend": backend, "nodes": list(plan.nodes)})
    return rows


def _measurements(gathered: list[Any], opts: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    measures = [p.get("measure") or {} for p in gathered]
    if opts.bandwidth:
        errors = [m["bandwidth_error"] for m in measures if m.get("bandwidth_error")]
        slowest: dict[tuple[str, int], dict[str, Any]] = {}
        for m in measures:
            for row in m.get("bandwidth") or ():
                key = (row["group"], row["size"])
                if key not in slowest or row["seconds"] > slowest[key]["seconds"]:
                    slowest[key] = row  # a collective takes as long as its slowest rank
        kw["bandwidth"] = tuple(BusSample(r["group"], r["kind"], r["ranks"], r["size"], r["seconds"], r["backend"],
                                          tuple(r["nodes"])) for r in slowest.values())
        kw["bandwidth_error"] = errors[0] if errors else None
    if opts.stragglers:
        kw["stragglers"] = tuple(StragglerSample(**m["straggler"]) for m in measures if m.get("straggler"))
    return kw
