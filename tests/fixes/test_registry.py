"""The fix contract: registered fixes, their declared options, and every finding naming a real fix."""

from __future__ import annotations

import pytest

from llmdoctor.engine import UsageError, load_registry, run_checks
from llmdoctor.fixes.registry import Artifact, FixSpec, load_fixes, run_fix

from conftest import SCENARIOS, load_scenario

SCENARIO_NAMES = sorted(p.stem for p in SCENARIOS.glob("*.json"))


def test_the_fixes_are_registered():
    fixes = load_fixes()
    assert {"pin", "nccl"} <= set(fixes)
    assert all(isinstance(spec, FixSpec) and spec.explanation for spec in fixes.values())


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_every_finding_names_a_registered_fix(name):
    snap = load_scenario(name)
    registry = load_registry()
    report = run_checks(snap, list(registry), registry=registry)
    fixes = load_fixes()
    wrong = [f"{result.id}: fix={finding.fix!r}" for result in report.checks for finding in result.findings
             if finding.fix is not None and finding.fix not in fixes]
    assert not wrong, f"remedy.fix must name a registered fix ({', '.join(fixes)}): " + "; ".join(wrong)


def test_options_are_validated_against_the_declaration():
    pin = load_fixes()["pin"]
    with pytest.raises(UsageError, match="unknown option 'colour'"):
        pin.resolve_options({"colour": "red"})
    with pytest.raises(UsageError, match="--format 'xml'"):
        pin.resolve_options({"format": "xml"})
    assert pin.resolve_options({"format": "UV"})["format"] == "uv"
    assert pin.resolve_options({}) == {"format": "requirements", "only": "all", "repair": False}


def test_fix_pin_reads_the_report_and_never_runs_checks(monkeypatch):
    import llmdoctor.engine

    snap = load_scenario("a100_driver470_cu121")
    registry = load_registry()
    report = run_checks(snap, list(registry), registry=registry)

    def no_checks(*args, **kwargs):
        raise AssertionError("a fix ran the checks")

    monkeypatch.setattr(llmdoctor.engine, "run_checks", no_checks)
    artifact = run_fix(load_fixes()["pin"], snap, report, {})
    assert isinstance(artifact, Artifact)
    assert "this environment fails cuda.driver" in artifact.text  # taken from the report
