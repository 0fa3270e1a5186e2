"""The GitHub job summary escapes like the Markdown report (issue 11 defect: `<cu1XX>` printed raw)."""

from __future__ import annotations

from llmdoctor.report import RenderOptions
from llmdoctor.report.github import render_github_summary
from llmdoctor.report.markdown import render_markdown
from llmdoctor.results import fail

from report.helpers import report_of, result, scenario_report


def _cu_report():
    return report_of(result("torch.build", fail("torch was built for <cu1XX> | but the driver is older",
                                                remedy="install torch built for <cu118>")))


def test_job_summary_escapes_html_looking_text():
    summary = render_github_summary(_cu_report())
    assert "<cu1XX>" not in summary and "<cu118>" not in summary
    assert "&lt;cu1XX&gt;" in summary and "\\|" in summary


def test_job_summary_and_markdown_escape_the_same_way():
    report = _cu_report()
    row = next(l for l in render_github_summary(report).splitlines() if "`torch.build`" in l)
    md_row = next(l for l in render_markdown(report, RenderOptions()).splitlines() if "`torch.build`" in l)
    assert row.split("|", 3)[3] == md_row.split("|", 3)[3]  # same headline, same escaping


def test_job_summary_ends_with_the_verdict_line():
    summary = render_github_summary(scenario_report("a100_driver470_cu121"))
    assert "FAILED: cuda.driver — llmdoctor explain cuda.driver" in summary
