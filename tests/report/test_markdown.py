"""The Markdown report: the one escaper, the verdict line, commands as a block to copy."""

from __future__ import annotations

from llmdoctor.report import RenderOptions
from llmdoctor.report.markdown import render_markdown
from llmdoctor.results import fail

from report.helpers import report_of, result, scenario_report


def test_commands_are_a_block_to_copy():
    report = report_of(result("cuda.driver", fail("driver too old", remedy="install torch for cu118",
                                                  commands=["pip install torch --index-url https://x/cu118"],
                                                  fix="pin")))
    md = render_markdown(report, RenderOptions())
    block = md.split("```sh", 1)[1].split("```", 1)[0]
    assert [l.strip() for l in block.strip().splitlines()] == ["pip install torch --index-url https://x/cu118",
                                                               "llmdoctor fix pin"]


def test_verdict_line_and_incomplete():
    md = render_markdown(scenario_report("h100x8_healthy"), RenderOptions())
    assert "OK, but incomplete" in md
    md = render_markdown(scenario_report("a100_driver470_cu121"), RenderOptions())
    assert "FAILED: cuda.driver — llmdoctor explain cuda.driver" in md


def test_passing_checks_state_what_was_found():
    report = scenario_report("h100x8_healthy")
    md = render_markdown(report, RenderOptions())
    driver = next(r for r in report.checks if r.id == "cuda.driver")
    line = next(l for l in md.splitlines() if "`cuda.driver`" in l)
    assert driver.title not in line and "535.104.05" in line
