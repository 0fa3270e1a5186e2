"""The human report: short by default, problems first and expanded, wrapped at the width, never cut in a word."""

from __future__ import annotations

import dataclasses
import re
import sys

import pytest

from llmdoctor.report import RenderOptions
from llmdoctor.report.text import render_plain, render_rich
from llmdoctor.results import Finding, Remedy, Status, fail, not_applicable, passed, unknown, warn

from conftest import SCENARIOS
from report.helpers import input_report, report_of, result, scenario_report

SCENARIO_NAMES = sorted(p.stem for p in SCENARIOS.glob("*.json"))
WIDTHS = (80, 160)


def plain(report, width=100, level=0):
    return render_plain(report, RenderOptions(width=width, verbosity=level))


@pytest.mark.parametrize("width", [100, 160])
def test_a_healthy_8_gpu_machine_is_short(width):
    """Header (at most 3 lines: what was examined and the configuration used), a blank, one line per area (9),
    the unknown and not-applicable checks summarised
    with why (how many lines depends on how many checks could not decide), a blank, the verdict."""
    report = scenario_report("h100x8_healthy")
    lines = plain(report, width).splitlines()
    summary = [i for i, line in enumerate(lines) if line.startswith(("? unknown:", "- not applicable:"))]
    body = lines[: summary[0]] if summary else lines[:-2]
    areas = {r.area for r in report.checks if r.status is not Status.NOT_APPLICABLE}
    assert len(body) <= 4 + len(areas), "\n".join(lines)
    # summaries (the not-applicable line names the checks that wait for an input: --deep, --dcgm, --model), blank, verdict
    assert len(lines) - len(body) <= (9 if width == 100 else 8), "\n".join(lines)
    assert not any("cuda.driver" in line for line in lines)  # passing checks are counted in their area, not listed


INPUTS = sorted(SCENARIOS.glob("*.json")) + sorted((SCENARIOS.parent / "dumps").iterdir())


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
@pytest.mark.parametrize("width", WIDTHS)
def test_a_failure_shows_within_the_first_10_lines(path, width):
    report = input_report(path)
    text = plain(report, width)
    if report.failed:  # the verdict is the last line (wrapped with a hanging indent)
        lines = text.splitlines()
        start = max(i for i, line in enumerate(lines) if not line.startswith(" "))
        assert lines[start].startswith(f"FAILED: {report.failures[0].id}"), lines[start:]
    for problem in [r for r in report.checks if r.status in (Status.FAIL, Status.ERROR)][:1]:
        first = next(i for i, line in enumerate(text.splitlines()) if problem.id in line)
        assert first < 10, text


def test_a_failure_in_the_last_area_comes_first():
    checks = [result(f"{area}.x", passed(f"{area} read and fine")) for area in "abcdefghijklm"]
    checks.append(result("zz.last", fail("the last area failed", remedy=Remedy("do this", ("run this",)))))
    lines = plain(report_of(*checks)).splitlines()
    assert any("zz.last" in line for line in lines[:6]), lines


def test_final_line_names_what_failed_and_what_to_run():
    report = report_of(result("cuda.driver", fail("driver too old")), result("nccl.shm", fail("shm small")),
                       result("gpu.ok", passed("8 GPUs")))
    last = plain(report).splitlines()[-1]
    assert last.startswith("FAILED: cuda.driver, nccl.shm — llmdoctor explain cuda.driver")


def test_final_line_says_the_report_is_incomplete():
    report = report_of(result("gpu.count", unknown("NVML could not be read: driver not loaded")),
                       result("cuda.x", passed("read")))
    assert "incomplete" in plain(report).splitlines()[-1]
    failed = report_of(*report.checks, fail_on="unknown")
    assert plain(failed).splitlines()[-1].startswith("FAILED: gpu.count")
    complete = report_of(result("cuda.x", passed("read")), result("gpu.na", not_applicable("no GPU here")))
    assert "incomplete" not in plain(complete)


def test_unknown_and_not_applicable_are_summarised_one_line_each_with_why():
    report = report_of(result("a.ok", passed("fine")),
                       result("gpu.count", unknown("NVML could not be read: driver not loaded")),
                       result("memory.fit", not_applicable("no model given (llmdoctor check --model MODEL)")))
    lines = plain(report, 160).splitlines()
    unknown_lines = [l for l in lines if l.startswith("? unknown:")]
    na_lines = [l for l in lines if l.startswith("- not applicable:")]
    assert len(unknown_lines) == 1 and "gpu.count (NVML could not be read: driver not loaded)" in unknown_lines[0]
    assert len(na_lines) == 1 and "memory.fit (no model given)" in na_lines[0]


def test_a_problem_is_expanded_with_evidence_fix_and_command_lines():
    finding = fail("Driver 470.82 supports CUDA ≤ 11.4, but torch needs 12.1", {"driver": "470.82.01"},
                   remedy="Upgrade the driver, or install torch built for cu118",
                   commands=["pip install torch==2.4.0 --index-url https://download.pytorch.org/whl/cu118"],
                   fix="pin")
    lines = plain(report_of(result("cuda.driver", finding)), 160).splitlines()
    assert any(l.strip() == "driver=470.82.01" for l in lines)
    assert any(l.strip() == "fix: Upgrade the driver, or install torch built for cu118" for l in lines)
    assert "$ pip install torch==2.4.0 --index-url https://download.pytorch.org/whl/cu118" in [l.strip() for l in lines]
    assert "$ llmdoctor fix pin" in [l.strip() for l in lines]
    narrow = [l.strip() for l in plain(report_of(result("cuda.driver", finding)), 40).splitlines()]
    assert "$ pip install torch==2.4.0 --index-url https://download.pytorch.org/whl/cu118" in narrow  # never wrapped


def test_a_check_with_several_findings_does_not_repeat_its_first():
    text = plain(scenario_report("nccl_misconfigured"), 160)
    assert text.count("NCCL_IB_GDR_LEVEL is renamed") == 1


def test_verbose_lists_every_check_with_what_it_found():
    report = scenario_report("h100x8_healthy")
    text = plain(report, 160, level=1)
    for r in report.checks:
        assert r.id in text
    driver = next(r for r in report.checks if r.id == "cuda.driver")
    assert driver.findings[0].message in text and driver.title not in text


def test_vv_shows_the_full_evidence():
    long = "word " * 60
    report = report_of(result("errors.log", warn("a long log", {"log": long.strip()})))
    assert "…" in plain(report, 80, level=0)
    assert plain(report, 80, level=2).count("word") == 60


@pytest.mark.parametrize("name", SCENARIO_NAMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_lines_fit_the_width_and_wrap_with_a_hanging_indent(name, width):
    for level in (0, 1, 2):
        lines = plain(scenario_report(name), width, level).splitlines()
        for i, line in enumerate(lines):
            if len(line) > width:  # only a single word longer than the room (a path, a URL) may stick out
                assert " " not in line.strip() or line.strip().startswith("$ "), line
            if i and line.startswith(" ") and not lines[i - 1].startswith(" ") and lines[i - 1]:
                assert line.startswith("  "), line  # a continuation is indented under its line


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_wrapping_never_cuts_a_word(name):
    report = scenario_report(name)
    words = {w: plain(report, w, level=2).split() for w in (80, 160, 1000)}
    assert words[80] == words[160] == words[1000]


def test_rich_has_the_same_text_with_colour():
    report = scenario_report("a100_driver470_cu121")
    coloured = render_rich(report, RenderOptions(width=100, color=True))
    assert "\x1b[" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured).split() == plain(report, 100).split()


def test_header_names_the_interpreter_inspected_with_python():
    report = scenario_report("h100x8_healthy")
    snap = report.snapshot
    other = dataclasses.replace(snap, meta=dataclasses.replace(snap.meta, source="live"),
                                python=dataclasses.replace(snap.python, executable="/opt/other/bin/python3"))
    assert "/opt/other/bin/python3" in plain(dataclasses.replace(report, snapshot=other), 160).splitlines()[0]
    same = dataclasses.replace(other, python=dataclasses.replace(snap.python, executable=sys.executable))
    assert sys.executable not in plain(dataclasses.replace(report, snapshot=same), 160)


def test_ascii_marks_without_unicode():
    report = report_of(result("a.bad", Finding(Status.FAIL, "broken")))
    text = render_plain(report, RenderOptions(width=100, unicode=False))
    assert "X a.bad" in text and "✗" not in text
    assert all(ord(c) < 128 for c in render_plain(scenario_report("nccl_misconfigured"),
                                                 RenderOptions(width=80, unicode=False)))


def test_evidence_that_only_repeats_the_message_is_left_out():
    report = report_of(result("nccl.debug", warn("NCCL_DEBUG=INFO leaves verbose logging on", {"NCCL_DEBUG": "INFO"})))
    assert plain(report, 100).count("NCCL_DEBUG=INFO") == 1
    assert plain(report, 100, level=2).count("INFO") == 2  # -vv: the full evidence all the same


def test_a_fix_shared_by_every_finding_of_a_check_is_printed_once():
    text = plain(scenario_report("nccl_misconfigured"), 160)
    env_block = text.split("nccl.env", 1)[1].split("nccl.perf-switches", 1)[0]
    assert env_block.count("$ llmdoctor fix nccl") == 1


def test_a_check_with_many_findings_lists_three_and_says_how_to_see_the_rest():
    findings = [warn(f"requirement {i} is missing") for i in range(8)] + [fail("the one that fails")]
    text = plain(report_of(result("packages.pip-check", *findings)), 160)
    assert "the one that fails" in text  # worst first
    assert text.count("requirement") == 2 and "… 6 more: llmdoctor check -v --select packages.pip-check" in text
    assert plain(report_of(result("packages.pip-check", *findings)), 160, level=1).count("requirement") == 8


def test_checks_with_the_same_reason_share_it():
    na = [result("load.a", not_applicable("no model given")), result("load.b", not_applicable("no model given")),
          result("gpu.x", not_applicable("no GPU on this host"))]
    line = next(l for l in plain(report_of(*na, result("load.c", passed("read"))), 160).splitlines()
                if l.startswith("- not applicable:"))
    assert line == "- not applicable: load.a, load.b (no model given); gpu.x (no GPU on this host)"
    whole = plain(report_of(*na), 160).splitlines()
    assert "- not applicable: load.* (no model given); gpu.x (no GPU on this host)" in whole
    assert not any(l.startswith("- load") for l in whole)  # an area with nothing to check: said once
