"""Reports for the renderer tests: every scenario through the real registry, and small synthetic ones."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from llmdoctor.engine import Context, load_registry, run_checks, select
from llmdoctor.results import CheckResult, Finding, Report, Status

from conftest import SCENARIOS, load_scenario


def scenario_report(name: str, fail_on: str = "fail") -> Report:
    """The report ``llmdoctor check --from tests/data/scenarios/NAME.json`` makes (no configuration)."""
    from llmdoctor.config import Config, prune_unconfigured_expectations
    from llmdoctor.inputs import load_snapshot

    snap = load_snapshot(str(SCENARIOS / f"{name}.json"))
    # as the header reads from inside the folder, whatever the checkout's path
    snap = dataclasses.replace(snap, meta=dataclasses.replace(snap.meta, source_detail=f"{name}.json"))
    reg = load_registry()
    specs = prune_unconfigured_expectations(select(reg), Config(), ())
    return run_checks(snap, specs, Context(), registry=reg, fail_on=fail_on)


def result(check_id: str, *findings: Finding) -> CheckResult:
    """A check's result as the engine makes it: its status is its worst finding's."""
    status = max((f.status for f in findings), key=lambda s: s.severity)
    return CheckResult(check_id, f"title of {check_id}", status, tuple(findings))


def report_of(*results: CheckResult, fail_on: str = "fail", scenario: str = "h100x8_healthy") -> Report:
    return Report(tuple(results), load_scenario(scenario), fail_on)


def error_result(check_id: str) -> CheckResult:
    return result(check_id, Finding(Status.ERROR, "ZeroDivisionError: division by zero"))


def input_report(path: Path) -> Report:
    """The report ``llmdoctor check --from PATH`` makes for a scenario or a pasted dump."""
    from llmdoctor.config import Config, prune_unconfigured_expectations
    from llmdoctor.inputs import load_snapshot

    snap = load_snapshot(str(path))
    snap = dataclasses.replace(snap, meta=dataclasses.replace(snap.meta, source_detail=path.name))
    reg = load_registry()
    return run_checks(snap, prune_unconfigured_expectations(select(reg), Config(), ()), Context(), registry=reg)
