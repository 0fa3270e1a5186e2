"""The nccl-tests arithmetic, against figures computed by hand, and the groups the sweep measures."""

from __future__ import annotations

import pytest

from llmdoctor.cluster import bandwidth as bw
from llmdoctor.cluster.model import BusSample
from llmdoctor.data import load


def test_algbw_and_busbw_match_hand_computed_figures():
    # 1 GiB in 10 ms: algbw = 1073741824 / 0.010 / 1e9 = 107.3741824 GB/s
    assert bw.algbw(2**30, 0.010) == pytest.approx(107.3741824)
    # 8 ranks: factor 2*7/8 = 1.75 -> busbw 187.9048192 GB/s
    assert bw.busbw_factor(8) == pytest.approx(1.75)
    assert bw.busbw(2**30, 0.010, 8) == pytest.approx(187.9048192)
    # 2 ranks: factor 1 -> busbw == algbw; 1 rank: nothing crosses a bus
    assert bw.busbw(2**20, 0.001, 2) == pytest.approx(1.048576)
    assert bw.busbw(2**20, 0.001, 1) == 0.0


def test_invalid_inputs_are_refused():
    with pytest.raises(ValueError):
        bw.algbw(1, 0)
    with pytest.raises(ValueError):
        bw.busbw_factor(0)


def test_sweep_is_1mib_to_1gib_doubling():
    sizes = bw.sweep_sizes()
    assert sizes[0] == 2**20 and sizes[-1] == 2**30 and len(sizes) == 11
    assert bw.sweep_sizes(2**20, 4 * 2**20) == (2**20, 2 * 2**20, 4 * 2**20)


def test_peak_by_group_takes_the_best_size_and_lists_the_slowest_group_first():
    samples = [BusSample("intra:a", "intra", 8, 2**20, 0.001), BusSample("intra:a", "intra", 8, 2**30, 0.010),
               BusSample("intra:b", "intra", 8, 2**30, 0.020)]
    figs = bw.peak_by_group(samples)
    assert [f.group for f in figs] == ["intra:b", "intra:a"]
    assert figs[1].size == 2**30 and figs[1].busbw == pytest.approx(187.9048192)


def test_plan_groups_world_intra_inter_and_neighbour_pairs():
    plans = {p.name: p for p in bw.plan_groups(["a", "a", "b", "b", "c", "c"])}
    assert plans["world"].ranks == (0, 1, 2, 3, 4, 5)
    assert plans["intra:b"].ranks == (2, 3)
    assert plans["inter"].ranks == (0, 2, 4)
    assert plans["pair:c|a"].ranks == (4, 0)
    single = bw.plan_groups(["a", "a"])
    assert [(p.name, p.kind) for p in single] == [("world", "intra")]


def test_expected_rows_are_pinned_with_public_sources():
    h100 = bw.expected_intra("NVIDIA H100 80GB HBM3", 8)
    assert h100["busbw_gbps"] == 370 and h100["nvls_busbw_gbps"] == 480 and h100["source"] == "NVIDIA/nccl-tests#212"
    assert bw.expected_intra("NVIDIA A100-SXM4-80GB", 8)["busbw_gbps"] == 232
    assert bw.expected_intra("NVIDIA H100 80GB HBM3", 4) is None  # the figures are for 8 GPUs
    assert bw.expected_per_nic(200)["busbw_gbps"] == 24 and bw.expected_per_nic(200)["source"] == "NVIDIA/nccl#412"
    azure = bw.cloud_thresholds("NVIDIA H100 80GB HBM3", 8)
    assert [r["min_busbw_gbps"] for r in azure] == [460.0] and "azurehpc-health-checks" in azure[0]["source"]
    table = load("cluster_bandwidth")
    assert all(row.get("source") for row in table["intra_node"] + table["nic"] + table["cloud_health_thresholds"])
    assert "PERFORMANCE.md" in table["busbw_definition"]["source"]
