"""The cluster's data: what each rank and each node contributed, plain frozen data with a JSON form."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..snapshot import Snapshot
from ..frozen import frozen

NODE_SCHEMA = "llmdoctor.cluster-node/1"


@frozen
class RankFacts:
    """What one rank saw from its own process (its device, environment and NCCL view)."""

    rank: int
    host: str | None = None
    local_rank: int | None = None
    pid: int | None = None
    device: Mapping[str, Any] | None = None  # {"index", "name", "uuid"} of the rank's CUDA device; None = none/unknown
    torch_version: str | None = None
    torch_cuda: str | None = None
    nccl: str | None = None  # torch.cuda.nccl.version() as this rank sees it
    env: Mapping[str, str] | None = None  # allow-listed, redacted (probes.env)
    clock: float | None = None  # time.time() right after a common barrier
    resolves: Mapping[str, str | None] | None = None  # name -> address (None: does not resolve)
    master_reachable: bool | None = None  # TCP connect to MASTER_ADDR:MASTER_PORT
    master_error: str | None = None
    error: str | None = None  # this rank's probe crashed: the error, verbatim
    last_step: str | None = None
    health: Mapping[str, Any] | None = None  # the rank's GPU: temperature, clocks, PCIe link (NVML), when read

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RankFacts":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@frozen
class NodeSnapshot:
    """One node: its snapshot (probed once, by its local rank 0) and the facts of each of its ranks."""

    name: str
    snapshot: Snapshot | None = None
    ranks: tuple[RankFacts, ...] = ()
    error: str | None = None  # the node probe crashed: the error, verbatim

    def to_dict(self) -> dict[str, Any]:
        return {"schema": NODE_SCHEMA, "name": self.name,
                "snapshot": self.snapshot.to_dict() if self.snapshot is not None else None,
                "ranks": [r.to_dict() for r in self.ranks], "error": self.error}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NodeSnapshot":
        snap = data.get("snapshot")
        return cls(name=str(data["name"]), snapshot=Snapshot.from_dict(snap) if snap is not None else None,
                   ranks=tuple(RankFacts.from_dict(r) for r in data.get("ranks") or ()),
                   error=data.get("error"))


@frozen
class MissingRank:
    """A rank rank 0 did not hear from in time: who, where, and what it last did."""

    rank: int
    host: str | None = None
    last_step: str | None = None  # None: it never joined


@frozen
class BusSample:
    """One all-reduce size measured over one group: seconds per operation (slowest rank)."""

    group: str  # "world", "intra:<node>", "inter", "pair:<a>|<b>"
    kind: str  # world | intra | inter | pair
    ranks: int
    size: int  # bytes
    seconds: float
    backend: str = "gloo"
    nodes: tuple[str, ...] = ()


@frozen
class StragglerSample:
    """One rank's time for the same fixed work."""

    rank: int
    host: str | None
    matmul_seconds: float | None
    allreduce_seconds: float | None


@frozen
class Cluster:
    """Everything rank 0 knows: nodes, ranks it misses, measurements (None: not measured)."""

    nodes: tuple[NodeSnapshot, ...]
    world_size: int | None = None
    missing: tuple[MissingRank, ...] = ()
    live: bool = False  # gathered by the runner (clock, reachability measured) vs --from files
    master: str | None = None  # "addr:port"
    bandwidth: tuple[BusSample, ...] | None = None
    bandwidth_error: str | None = None
    stragglers: tuple[StragglerSample, ...] | None = None
    golden: Snapshot | None = None
    error: str | None = None  # the gather itself failed (rank 0 reports from what reached it)
    notes: tuple[str, ...] = ()
    node_results: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # node -> its CheckResults

    @property
    def ranks(self) -> tuple[RankFacts, ...]:
        return tuple(sorted((r for n in self.nodes for r in n.ranks), key=lambda r: r.rank))

    def node_of_rank(self, rank: int) -> NodeSnapshot | None:
        return next((n for n in self.nodes if any(r.rank == rank for r in n.ranks)), None)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value
