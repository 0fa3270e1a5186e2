"""Hypothesis fuzzing of every parser and input, CI-sized (the whole module runs in a few seconds).

Each target (tests/hardening/fuzz_targets.py) runs the code a command runs on hostile input; only the
documented one-line error (``UsageError``, exit 2) may escape.  ``python bench/fuzz.py --report`` runs the
same targets longer.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from hardening.fuzz_targets import TARGETS, call
from llmdoctor.engine import UsageError


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_only_the_one_line_usage_error_escapes(name):
    target, strategy, examples = TARGETS[name]

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(value):
        try:
            call(target, value)
        except UsageError as exc:
            assert "\n" not in str(exc).strip(), f"more than one line: {exc}"

    run()
