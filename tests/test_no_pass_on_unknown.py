"""Property: a check never passes on a fact it did not read.

For every check on the contract, every scenario, and every snapshot part the check needs, blanking that
part (making it unknown) must not leave the check passing: a pass needs every fact its verdict rests on.
A part declared optional (``X | None``) may be blanked with a pass only when the check's findings stay
exactly the same (the part did not matter for this snapshot); a pass that changes is one resting on it.
"""

from __future__ import annotations

import dataclasses

import pytest

from llmdoctor.engine import Context, load_registry, run_check
from llmdoctor.results import Status

from conftest import SCENARIOS, load_scenario

# Parts that are never "unknown" (always present, possibly empty): blanking them means nothing.
ALWAYS_PRESENT = {"errors", "meta", "probes"}
SCENARIO_NAMES = sorted(p.stem for p in SCENARIOS.glob("*.json"))


def _contract_specs():
    return [s for s in load_registry() if s.origin == "builtin"]


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_blanking_a_declared_part_never_leaves_a_pass(name):
    snap = load_scenario(name)
    offenders = []
    for spec in _contract_specs():
        for part in spec.params:
            if part in ALWAYS_PRESENT or not hasattr(snap, part) or getattr(snap, part) is None:
                continue
            blank = dataclasses.replace(snap, **{part: None})
            result = run_check(spec, blank, Context())
            if result.status is not Status.PASS:
                continue
            full = run_check(spec, snap, Context())
            if part in spec.needs or full.findings != result.findings:
                offenders.append(f"{spec.id} passes with {part} unknown: {result.findings[0].message}")
    assert not offenders, "\n".join(offenders)


def test_the_property_covers_checks():
    assert _contract_specs(), "no check is on the contract yet"
