"""The straggler rule: slower than a multiple of the median, per metric, slowest first."""

from __future__ import annotations

from llmdoctor.cluster.model import StragglerSample
from llmdoctor.cluster.stragglers import find_stragglers


def samples(times):
    return [StragglerSample(r, f"node-{r}", mm, ar) for r, (mm, ar) in enumerate(times)]


def test_one_slowed_rank_is_named():
    found = find_stragglers(samples([(0.010, 0.002), (0.011, 0.002), (0.030, 0.002), (0.010, 0.002)]), 1.5)
    assert [(s.rank, s.metric) for s in found] == [(2, "matmul")]
    assert round(found[0].ratio, 2) == round(0.030 / 0.0105, 2)


def test_just_under_the_multiple_is_not_a_straggler():
    assert find_stragglers(samples([(0.010, 0.002), (0.010, 0.002), (0.0149, 0.0029)]), 1.5) == []


def test_unknown_times_and_single_ranks_decide_nothing():
    assert find_stragglers(samples([(0.010, None)]), 1.5) == []
    assert find_stragglers(samples([(None, None), (0.010, 0.001)]), 1.5) == []
