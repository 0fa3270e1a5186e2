"""Markdown for a GitHub issue: a compact table of what is not fine, details in collapsible blocks.

Secrets are always redacted (llmdoctor.redact) even if something slipped into a message or evidence.
"""

from __future__ import annotations

from ..results import CheckResult, Finding, Report, Status
from ..redact import redact_value
from ..results import EVIDENCE_LIMIT
from ..units import truncate
from . import RenderOptions
from .text import _fmt_value, environment_line
from .vocabulary import ICONS, QUIET, commands_of, finding_line, headline, md_escape, verdict_line

_cell = md_escape


def _code(text: str) -> str:
    text = " ".join(str(text).split())
    ticks = "``" if "`" in text else "`"
    return f"{ticks}{text}{ticks}" if text else ""


def render_markdown(report: Report, options: RenderOptions) -> str:
    out: list[str] = []
    verdict = "FAILED" if report.failed else ("ERROR" if report.errored else "OK")
    out.append(f"### llmdoctor: {verdict}")
    out.append("")
    out.append(_cell(f"{environment_line(report.snapshot)} · {report.config_label}"))
    out.append("")
    out.append(_cell(verdict_line(report)))
    out.append("")
    shown = [r for r in report.checks if options.level >= 1 or r.status in (Status.FAIL, Status.ERROR, Status.WARN)]
    if shown:
        out.append("| | check | finding |")
        out.append("|---|---|---|")
        for r in shown:
            out.append(f"| {ICONS[r.status]} | `{r.id}` | {_cell(headline(r))} |")
        out.append("")
        out.append("<details><summary>Details and fixes</summary>")
        out.append("")
        for r in shown:
            out.extend(_details(r, options))
        out.append("</details>")
        out.append("")
    others = [r for r in report.checks if r not in shown]
    if others:
        out.append(f"<details><summary>{len(others)} other checks</summary>")
        out.append("")
        for r in others:
            out.append(f"- {ICONS[r.status]} `{r.id}`: {_cell(headline(r))}")
        out.append("")
        out.append("</details>")
        out.append("")
    return redact_value("\n".join(out)) + ("\n" if out else "")


def _details(result: CheckResult, options: RenderOptions) -> list[str]:
    lines = [f"**`{result.id}`** — {_cell(result.title)}", ""]
    for f in result.findings:
        if f.status is Status.PASS and not options.level >= 1:
            continue
        if f.status in QUIET and result.status not in QUIET and not options.level >= 1:
            continue
        lines.extend(_finding(f))
    lines.append("")
    return lines


def _finding(f: Finding) -> list[str]:
    lines = [f"- {ICONS[f.status]} {_cell(finding_line(f))}"]
    if f.remedy:
        lines.append(f"  - fix: {_cell(f.remedy.text)}" if f.remedy.text else "  - fix:")
        commands = commands_of(f)
        if commands:  # lines to copy, as they are
            lines += ["", "    ```sh", *(f"    {c}" for c in commands), "    ```", ""]
    if f.evidence:
        lines.append("  - evidence: " + "; ".join(f"{_cell(k)}={_code(truncate(_fmt_value(v), EVIDENCE_LIMIT))}"
                                                  for k, v in f.evidence.items()))
    return lines
