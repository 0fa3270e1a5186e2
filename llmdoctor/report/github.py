"""GitHub Actions: the plain report, workflow annotations, and a Markdown job summary.

``render_github`` prints the plain report (readable in the job log) followed by one
``::error``/``::warning`` workflow command per finding that is not fine, so each shows up as an
annotation on the run.  ``render_github_summary`` is the Markdown that the CLI appends to
``$GITHUB_STEP_SUMMARY`` (the renderer stays pure; the CLI does the write).

Sources: GitHub docs, "Workflow commands for GitHub Actions" (setting an error/warning message;
``%``, CR and LF escaped in data as ``%25``, ``%0D``, ``%0A``; ``:`` and ``,`` also in properties),
and "Adding a job summary" (``GITHUB_STEP_SUMMARY``).
"""

# (no ``from __future__ import annotations``: this module's public function is named ``annotations``; the
# annotations used here all evaluate on Python >= 3.10)
from ..results import Finding, Report, Status
from . import RenderOptions
from .vocabulary import ICONS, finding_line, headline, md_escape, remedy_text, verdict_line

_COMMAND = {Status.FAIL: "error", Status.ERROR: "error", Status.WARN: "warning"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _body(finding: Finding) -> str:
    text = finding_line(finding)
    if finding.remedy:
        text += f"\nFix: {remedy_text(finding)}"
    return text


def annotations(report: Report) -> list[str]:
    lines = []
    for result in report.checks:
        for finding in result.findings:
            command = _COMMAND.get(finding.status)
            if command is None:
                continue
            title = escape_property(f"llmdoctor {result.id}: {result.title}")
            lines.append(f"::{command} title={title}::{escape_data(_body(finding))}")
    return lines


def render_github(report: Report, options: RenderOptions) -> str:
    from .text import render_plain

    plain = render_plain(report, options)
    return plain + "".join(line + "\n" for line in annotations(report))


def render_github_summary(report: Report) -> str:
    """Markdown for the job summary: verdict, one table row per check, the fixes."""
    from ..sanitize import sanitize_report
    from .text import environment_line

    report = sanitize_report(report)

    verdict = "❌ FAILED" if report.failed else ("‼️ ERROR" if report.errored else "✅ OK")
    out = [f"## llmdoctor: {verdict}", "", md_escape(f"{environment_line(report.snapshot)} · {report.config_label}"), "",
           md_escape(verdict_line(report)), "", "| | check | result |", "|---|---|---|"]
    for result in report.checks:
        out.append(f"| {ICONS[result.status]} | `{result.id}` | {md_escape(headline(result))} |")
    fixes = [(r, f) for r in report.checks for f in r.findings
             if f.remedy and f.status in (Status.FAIL, Status.WARN, Status.ERROR)]
    if fixes:
        out += ["", "### What to do", ""]
        for result, finding in fixes:
            out.append(f"- **{result.id}**: {md_escape(remedy_text(finding))}")
    from ..redact import redact_value

    return redact_value("\n".join(out) + "\n")
