"""Cross-node checks on synthetic clusters: differences named per node, majority vs outliers, unknown when
a fact is missing, and the nodes to drain."""

from __future__ import annotations

import dataclasses

from llmdoctor.cluster.model import BusSample, MissingRank, RankFacts, StragglerSample
from llmdoctor.cluster.registry import cluster_checks, run_cluster_checks
from llmdoctor.results import Status

from .conftest import node


def result(cluster, check_id, options=None):
    return next(r for r in run_cluster_checks(cluster, options or {}) if r.id == check_id)


def test_every_cluster_check_has_an_explanation_and_a_cluster_id():
    specs = cluster_checks()
    assert [s.id for s in specs][:3] == ["cluster.ranks", "cluster.versions", "cluster.env"]
    assert all(s.id.startswith("cluster.") and len(s.explanation) > 80 for s in specs)


def test_identical_nodes_pass_and_the_pass_states_what_was_compared(make_cluster):
    c = make_cluster([node("a"), node("b"), node("c")])
    r = result(c, "cluster.versions")
    assert r.status is Status.PASS
    assert "NCCL 2.20.5" in r.findings[-1].message and "3 nodes" in r.findings[-1].message


def test_one_node_with_another_nccl_fails_and_is_named_as_the_outlier(make_cluster):
    c = make_cluster([node("a"), node("b", nccl="2.18.1", first_rank=1), node("c", first_rank=2), node("d", first_rank=3)])
    r = result(c, "cluster.versions")
    assert r.status is Status.FAIL
    first = r.findings[0]
    assert first.message.startswith("NCCL differs: b has NCCL 2.18.1; the other 3 nodes have 2.20.5")
    assert first.evidence["drain"] == ["b"]
    # the ranks of b are not listed a second time
    assert not any("rank 1 (b)" in f.message for f in r.findings)


def test_a_rank_whose_own_nccl_differs_from_its_node_is_named(make_cluster):
    a = node("a", ranks=2)
    odd = dataclasses.replace(a.ranks[1], nccl="2.18.1")  # e.g. launched from another virtual environment
    a = dataclasses.replace(a, ranks=(a.ranks[0], odd))
    c = make_cluster([a, node("b", first_rank=2), node("c", first_rank=3)])
    r = result(c, "cluster.versions")
    assert r.status is Status.FAIL
    assert r.findings[0].message.startswith("NCCL (rank's torch) differs: rank 1 (a) has NCCL (rank's torch) 2.18.1")
    assert r.findings[0].evidence["drain"] == ["a"]


def test_two_nodes_that_disagree_have_no_majority_and_nobody_is_drained(make_cluster):
    c = make_cluster([node("a"), node("b", nccl="2.18.1")])
    f = result(c, "cluster.versions").findings[0]
    assert "no majority" in f.message and f.evidence["drain"] == []


def test_nccl_proto_on_one_rank_is_a_hang_class_failure(make_cluster):
    c = make_cluster([node("a", ranks=2), node("b", ranks=2, first_rank=2)])
    b = c.nodes[1]
    ranks = (b.ranks[0], dataclasses.replace(b.ranks[1], env={**b.ranks[1].env, "NCCL_PROTO": "LL"}))
    c = dataclasses.replace(c, nodes=(c.nodes[0], dataclasses.replace(b, ranks=ranks)))
    r = result(c, "cluster.env")
    assert r.status is Status.FAIL
    assert "NCCL_PROTO differs between ranks: rank 3 (b): NCCL_PROTO=LL" in r.findings[0].message
    assert r.findings[0].subject == "b"


def test_a_non_protocol_variable_difference_only_warns(make_cluster):
    c = make_cluster([node("a"), node("b", env={"NCCL_DEBUG": "INFO"}), node("c")])
    # the env compared is the ranks' own: give rank 1 the variable too
    b = c.nodes[1]
    c = dataclasses.replace(c, nodes=(c.nodes[0], dataclasses.replace(
        b, ranks=(dataclasses.replace(b.ranks[0], env=dict(b.snapshot.env)),)), c.nodes[2]))
    r = result(c, "cluster.env")
    assert r.status is Status.WARN and "NCCL_DEBUG" in r.findings[0].message


def test_unknown_environment_is_unknown_not_pass(make_cluster):
    c = make_cluster([node("a"), node("b", env=None)])
    b = c.nodes[1]
    c = dataclasses.replace(c, nodes=(c.nodes[0], dataclasses.replace(
        b, ranks=(dataclasses.replace(b.ranks[0], env=None),))))
    assert result(c, "cluster.env").status is Status.UNKNOWN


def test_gpu_count_outlier_fails_and_unknown_gpus_are_unknown(make_cluster):
    a = node("a")
    short = dataclasses.replace(a.snapshot, gpus=a.snapshot.gpus[:7])
    c = make_cluster([a, node("b"), node("c", base=short)])
    r = result(c, "cluster.gpus")
    assert r.status is Status.FAIL
    assert r.findings[0].message.startswith("GPU count differs: c has GPU count 7; the other 2 nodes have 8")
    blind = dataclasses.replace(a.snapshot, gpus=None)
    r2 = result(make_cluster([a, node("b", base=blind)]), "cluster.gpus")
    assert r2.status is Status.UNKNOWN and "b" in r2.findings[0].message


def test_missing_ranks_fail_with_host_and_last_step_and_no_other_check_passes(make_cluster):
    c = make_cluster([node("a")], world_size=2, missing=(MissingRank(1, "b", "collecting rank facts"),))
    r = result(c, "cluster.ranks")
    assert r.status is Status.FAIL
    assert "Rank 1 on b did not report within the timeout; its last step was 'collecting rank facts'" in \
        r.findings[0].message
    never = make_cluster([node("a")], world_size=2, missing=(MissingRank(1),))
    assert "it never joined" in result(never, "cluster.ranks").findings[0].message
    # a pass over the ranks that reported is not a pass for the job
    assert result(c, "cluster.versions").status is Status.UNKNOWN


def test_a_crashed_rank_contributes_its_error(make_cluster):
    a = node("a")
    crashed = dataclasses.replace(a, ranks=(RankFacts(rank=0, host="a", error="RuntimeError: boom"),))
    r = result(make_cluster([crashed]), "cluster.ranks")
    assert r.status is Status.WARN and "RuntimeError: boom" in r.findings[0].message


def test_clock_skew_warns_above_the_setting(make_cluster):
    a, b = node("a"), node("b")
    b = dataclasses.replace(b, ranks=(dataclasses.replace(b.ranks[0], rank=1, clock=1005.0),))
    c = make_cluster([a, b])
    assert result(c, "cluster.clock-skew").status is Status.WARN
    assert result(c, "cluster.clock-skew", {"cluster.clock-skew.max_seconds": 10.0}).status is Status.PASS
    offline = dataclasses.replace(c, live=False)
    assert result(offline, "cluster.clock-skew").status is Status.NOT_APPLICABLE


def test_unresolvable_host_fails_reachability(make_cluster):
    a = node("a")
    a = dataclasses.replace(a, ranks=(dataclasses.replace(a.ranks[0], resolves={"a": None}),))
    r = result(make_cluster([a]), "cluster.reachability")
    assert r.status is Status.FAIL and "cannot resolve a" in r.findings[0].message


def test_bandwidth_below_the_fraction_of_the_h100_figure_fails(make_cluster):
    nodes = [node("a", ranks=8), node("b", ranks=8, first_rank=8)]
    # 1 GiB in 5.5 ms over 8 ranks: busbw = 1073741824/0.0055/1e9*1.75 = 341.6 GB/s (92% of 370): pass
    # 1 GiB in 10 ms: busbw 187.9 GB/s (51% of 370): fail
    samples = (BusSample("intra:a", "intra", 8, 2**30, 0.0055, "nccl", ("a",)),
               BusSample("intra:b", "intra", 8, 2**30, 0.010, "nccl", ("b",)))
    r = result(make_cluster(nodes, bandwidth=samples), "cluster.bandwidth")
    assert r.status is Status.FAIL
    bad = r.findings[0]
    assert "intra:b" in bad.message and "187.90 GB/s" in bad.message and "51% of the expected 370" in bad.message
    assert bad.evidence["drain"] == ["b"]
    assert "Azure ND96isr_H100_v5: 460.0 GB/s" in bad.evidence["cloud_health_thresholds"][0]
    assert any(f.status is Status.PASS and "intra:a" in f.message for f in r.findings)


def test_gloo_bandwidth_on_cpu_is_reported_without_a_verdict(make_cluster):
    samples = (BusSample("world", "intra", 2, 2**20, 0.001, "gloo", ("a",)),)
    r = result(make_cluster([node("a", ranks=2)], bandwidth=samples), "cluster.bandwidth")
    assert r.status is Status.NOT_APPLICABLE and "1.05 GB/s" in r.findings[0].message


def test_the_slowest_node_pair_is_named_relative_to_the_others(make_cluster):
    nodes = [node(n, first_rank=i) for i, n in enumerate("abcd")]
    pairs = [("a|b", 0.1), ("b|c", 0.1), ("c|d", 0.4), ("d|a", 0.1)]
    samples = tuple(BusSample(f"pair:{p}", "pair", 2, 2**30, s, "nccl", tuple(p.split("|"))) for p, s in pairs)
    r = result(make_cluster(nodes, bandwidth=samples), "cluster.bandwidth")
    slow = [f for f in r.findings if "slowest link" in f.message]
    assert len(slow) == 1 and "pair:c|d" in slow[0].message


def test_straggler_is_named_with_node_and_gpu_health(make_cluster):
    a = node("a", ranks=3, device={"index": 0, "name": "NVIDIA H100 80GB HBM3"},
             health={"temperature_c": 91, "sm_clock_mhz": 1100})
    times = (StragglerSample(0, "a", 0.010, 0.001), StragglerSample(1, "a", 0.031, 0.001),
             StragglerSample(2, "a", 0.011, 0.001))
    r = result(make_cluster([a], stragglers=times), "cluster.stragglers")
    assert r.status is Status.FAIL
    assert r.findings[0].message.startswith("Rank 1 on a takes 31.0 ms per matmul, 2.8x the median 11.0 ms")
    assert "temperature_c 91" in r.findings[0].message
    assert result(make_cluster([a], stragglers=times), "cluster.stragglers",
                  {"cluster.stragglers.multiple": 3.0}).status is Status.PASS


def test_expect_names_the_nodes_that_differ_from_the_golden_snapshot(make_cluster):
    golden = node("golden").snapshot
    c = make_cluster([node("a"), node("b", nccl="2.18.1"), node("c")], golden=golden)
    r = result(c, "cluster.expect")
    assert r.status is Status.FAIL
    assert r.findings[0].message.startswith("b differs from the golden snapshot: NCCL (torch) 2.18.1 (golden 2.20.5)")
    assert any(f.status is Status.PASS and "2 nodes match" in f.message for f in r.findings)


def test_busy_gpu_on_one_node_is_named_but_the_jobs_own_processes_are_not(make_cluster):
    from tests.conftest import load_scenario

    busy = load_scenario("h100x8_busy_gpu0")
    pid = busy.gpus[0].processes[0].pid
    r = result(make_cluster([node("a"), node("b", base=busy)]), "cluster.busy-gpus")
    assert r.status is Status.WARN and r.findings[0].subject == "b"
    own = node("b", base=busy)
    own = dataclasses.replace(own, ranks=(dataclasses.replace(own.ranks[0], pid=pid),))
    assert result(make_cluster([node("a"), own]), "cluster.busy-gpus").status is Status.PASS


def test_a_whole_node_exporting_a_variable_is_named_once(make_cluster):
    nodes = [node("a", ranks=4), node("b", ranks=4, first_rank=4), node("c", ranks=4, first_rank=8)]
    b = nodes[1]
    nodes[1] = dataclasses.replace(b, ranks=tuple(dataclasses.replace(r, env={**r.env, "NCCL_ALGO": "Tree"})
                                                 for r in b.ranks))
    f = result(make_cluster(nodes), "cluster.env").findings[0]
    assert f.message.startswith("NCCL_ALGO differs between ranks: b (all 4 ranks): NCCL_ALGO=Tree; the other 8 have")


def test_the_report_stays_the_same_size_as_the_cluster_grows(make_cluster):
    from llmdoctor.cluster.aggregate import build_report
    from llmdoctor.engine import Context, load_registry, select
    from llmdoctor.report import RenderOptions, render

    def lines(n):
        nodes = [node(f"n{i:03d}", first_rank=i, nccl="2.18.1" if i == 3 else None) for i in range(n)]
        report = build_report(make_cluster(nodes), select(load_registry(), ["cuda", "nccl"]), Context(), {})
        return render(report, "plain", RenderOptions(width=120)).count("\n")

    assert lines(120) <= lines(12) + 2
