"""errors.known: known errors no check of the run reports, and errors llmdoctor does not know."""

from __future__ import annotations

import dataclasses

from llmdoctor.engine import Context, load_registry, run_check, run_checks, select
from llmdoctor.facts import known_errors
from llmdoctor.snapshot import Snapshot

from conftest import load_scenario

FOUND_VERSION = "RuntimeError: The NVIDIA driver on your system is too old (found version 11040)."


def _with_errors(*texts: str) -> Snapshot:
    return dataclasses.replace(load_scenario("h100x8_healthy"), errors=tuple(known_errors.flatten(t) for t in texts))


def _known(snap: Snapshot, *also: str):
    registry = load_registry()
    report = run_checks(snap, select(registry, ["errors.known", *also]), Context())
    return {c.id: c for c in report.checks}


def test_every_owner_the_knowledge_base_names_is_a_registered_check():
    # so errors.known needs only the ids of the run, never the registry
    owners = {e.check for e in known_errors.table()}
    assert owners - set(load_registry().ids()) == set()


def test_an_error_whose_check_runs_is_left_to_that_check():
    by_id = _known(_with_errors(FOUND_VERSION), "cuda.driver")
    assert by_id["cuda.driver"].status.value == "fail"
    assert by_id["errors.known"].status.value == "unknown"
    assert "reported by the check it belongs to" in by_id["errors.known"].findings[0].message


def test_an_error_whose_check_is_left_out_of_the_run_is_still_reported_naming_the_check():
    by_id = _known(_with_errors(FOUND_VERSION))
    (finding,) = by_id["errors.known"].findings
    assert finding.status.value == "fail" and finding.evidence["known_error"] == "LD-CUDA-001"
    assert "cuda.driver" in finding.message and "not part of this run" in finding.message


def test_an_unrecognised_error_warns_with_the_facts_the_input_states():
    result = run_check(load_registry().get("errors.known"), _with_errors("ValueError: something odd happened"),
                       Context())
    (finding,) = result.findings
    assert finding.status.value == "warn" and finding.evidence["recognised"] is False
    assert finding.evidence["facts"] and "llmdoctor check" in finding.message


def test_no_error_text_is_not_applicable():
    result = run_check(load_registry().get("errors.known"), load_scenario("h100x8_healthy"), Context())
    assert result.status.value == "not_applicable"
