"""Synthetic clusters: the healthy 8xH100 scenario copied per node, with the differences a test needs."""

from __future__ import annotations

import dataclasses
import types

import pytest

from llmdoctor.cluster.model import Cluster, NodeSnapshot, RankFacts
from llmdoctor.snapshot import Snapshot
from tests.conftest import load_scenario


def node(name: str, base: Snapshot | None = None, ranks: int = 1, first_rank: int = 0, env: dict | None = None,
         nccl: str | None = None, **rank_kw) -> NodeSnapshot:
    snap = base or load_scenario("h100x8_healthy")
    snap = dataclasses.replace(snap, host=dataclasses.replace(snap.host, hostname=name))
    if nccl is not None:
        snap = dataclasses.replace(snap, torch=dataclasses.replace(snap.torch, nccl=nccl))
    if env is not None:
        snap = dataclasses.replace(snap, env=types.MappingProxyType({**snap.env, **env}))
    facts = tuple(RankFacts(rank=first_rank + i, host=name, local_rank=i, pid=1000 + first_rank + i,
                            torch_version=snap.torch.version, nccl=snap.torch.nccl, env=dict(snap.env),
                            clock=1000.0, resolves={name: "10.0.0.1"}, master_reachable=True, **rank_kw)
                  for i in range(ranks))
    return NodeSnapshot(name, snap, facts)


@pytest.fixture
def make_cluster():
    def make(nodes, **kw) -> Cluster:
        world = sum(len(n.ranks) for n in nodes)
        kw.setdefault("world_size", world)
        kw.setdefault("live", True)
        kw.setdefault("master", "10.0.0.1:29500")
        return Cluster(nodes=tuple(nodes), **kw)
    return make
