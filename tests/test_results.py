"""Report semantics: what fails under each --fail-on, what is incomplete, what the JSON carries."""

from __future__ import annotations

import dataclasses

import pytest

from llmdoctor.results import EVIDENCE_LIMIT, FAIL_ON, Status, fail, not_applicable, passed, unknown, warn

from conftest import load_scenario, run_cli
from report.helpers import error_result, report_of, result


def _mixed():
    return (result("a.ok", passed("driver 550 read")), result("a.warn", warn("w")),
            result("b.unknown", unknown("NVML could not be read: driver not loaded")),
            result("c.na", not_applicable("no GPU on this host")))


@pytest.mark.parametrize("fail_on, exit_code, failing", [
    ("fail", 0, []),
    ("warn", 1, ["a.warn"]),
    ("unknown", 1, ["b.unknown"]),  # a check that could not decide fails the preflight; warnings don't
])
def test_fail_on_decides_what_fails(fail_on, exit_code, failing):
    report = report_of(*_mixed(), fail_on=fail_on)
    assert [r.id for r in report.failures] == failing
    assert report.exit_code == exit_code
    assert report.to_dict()["ok"] is (exit_code == 0)


def test_not_applicable_is_never_a_failure_nor_incomplete():
    report = report_of(result("c.na", not_applicable("no GPU")), result("a.ok", passed("x")), fail_on="unknown")
    assert not report.failed and not report.incomplete and report.exit_code == 0


def test_fail_on_unknown_makes_an_error_a_failure():
    report = report_of(result("a.ok", passed("x")), error_result("d.broken"), fail_on="unknown")
    assert report.exit_code == 1 and [r.id for r in report.failures] == ["d.broken"]
    assert report_of(result("a.ok", passed("x")), error_result("d.broken")).exit_code == 3


def test_summary_counts_unknown_and_not_applicable_apart():
    summary = report_of(*_mixed()).summary
    assert summary["unknown"] == 1 and summary["not_applicable"] == 1 and summary["pass"] == 1
    assert report_of(*_mixed()).incomplete


def test_failures_are_listed_worst_first():
    report = report_of(result("a.warn", warn("w")), result("z.fail", fail("f")), fail_on="warn")
    assert [r.id for r in report.failures] == ["z.fail", "a.warn"]


def test_fail_on_values_are_the_documented_ones():
    assert FAIL_ON == ("fail", "warn", "unknown")


def test_json_evidence_is_cut_at_a_word_with_an_ellipsis():
    long = "word " * 400
    finding = fail("x", {"log": long, "short": "kept", "n": 3})
    out = finding.to_dict()["evidence"]
    assert out["short"] == "kept" and out["n"] == 3
    assert len(out["log"]) <= EVIDENCE_LIMIT and out["log"].endswith("word…")
    assert finding.evidence["log"] == long  # the finding keeps its facts; only the report's copy is cut


def test_unknown_outranks_pass_in_a_checks_verdict():
    assert result("a.b", passed("x"), unknown("y")).status is Status.UNKNOWN


def test_cli_fail_on_unknown_fails_a_report_with_an_unknown_check(tmp_path):
    # GPUs not read (NVML failed): gpu.dtype, which needs them, is unknown
    snap = dataclasses.replace(load_scenario("h100x8_healthy"), gpus=None)
    path = tmp_path / "no_gpus_read.json"
    path.write_text(snap.to_json())
    ok = run_cli("check", "--from", str(path), "--select", "gpu.dtype", "--format", "plain")
    strict = run_cli("check", "--from", str(path), "--select", "gpu.dtype", "--format", "plain", "--fail-on", "unknown")
    assert ok.returncode == 0 and "incomplete" in ok.stdout.splitlines()[-1], ok.stdout
    assert strict.returncode == 1, strict.stdout
    assert strict.stdout.splitlines()[-1].startswith("FAILED: gpu.dtype — llmdoctor explain gpu.dtype")
